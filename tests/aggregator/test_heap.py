"""The aggregator exempts its long-lived heap from the cyclic GC only when it owns its process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import gc, sys, tempfile
    from pathlib import Path
    from fedledger_platform.aggregator import AggregatorSettings, create_app
    from fedledger_platform.aggregator.server import ServerThread
    from fedledger_platform.ledger import connect
    from fedledger_platform.ledger.deployment import create_devnet_federation

    chain = connect("embedded")
    fed = create_devnet_federation(chain, participants=2)
    out = Path(tempfile.mkdtemp())
    settings = AggregatorSettings(
        chain=chain.target, database_url=f"sqlite:///{out}/a.db", blob_dir=out / "blobs"
    )
    app = create_app(
        settings, ledger=fed.ledger, account=fed.aggregator, freeze_heap=sys.argv[1] == "1"
    )
    with ServerThread(app):
        serving = gc.get_freeze_count()
    print(serving, gc.get_freeze_count())
    """
)


@pytest.mark.parametrize(("freeze", "expect_frozen"), [("1", True), ("0", False)])
def test_freeze_heap_while_serving_and_unfreeze_at_stop(freeze: str, expect_frozen: bool) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, freeze],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    serving, stopped = (int(n) for n in result.stdout.split())
    # The libraries alone are well over 100,000 objects; nothing stays frozen after the stop.
    assert (serving > 100_000) is expect_frozen
    assert stopped == 0
