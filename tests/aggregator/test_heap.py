"""The aggregator's process heap: exempted from the cyclic GC only when the service owns its
process; glibc's malloc arenas capped by ``fedledger serve``."""

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


def _run(script: str, argument: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter (the settings under test are process-wide)."""
    result = subprocess.run(
        [sys.executable, "-c", script, argument],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.parametrize(("freeze", "expect_frozen"), [("1", True), ("0", False)])
def test_freeze_heap_while_serving_and_unfreeze_at_stop(freeze: str, expect_frozen: bool) -> None:
    result = _run(SCRIPT, freeze)
    serving, stopped = (int(n) for n in result.stdout.split())
    # The libraries alone are well over 100,000 objects; nothing stays frozen after the stop.
    assert (serving > 100_000) is expect_frozen
    assert stopped == 0


ARENAS_SCRIPT = textwrap.dedent(
    """
    import ctypes, ctypes.util, sys, threading
    from fedledger_platform.heap import limit_malloc_arenas

    if sys.argv[1] == "1":
        assert limit_malloc_arenas(1)
    barrier = threading.Barrier(4)

    def work():
        barrier.wait()  # four threads allocating at once, as four concurrent uploads do
        blocks = [bytearray(50_000) for _ in range(20)]  # below the mmap threshold: arena memory
        barrier.wait()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()  # one "Arena N:" block each
    """
)


@pytest.mark.parametrize(("limit", "expect_one_arena"), [("1", True), ("0", False)])
def test_limit_malloc_arenas_keeps_threads_in_the_capped_arenas(
    limit: str, expect_one_arena: bool
) -> None:
    result = _run(ARENAS_SCRIPT, limit)
    arenas = [line for line in result.stderr.splitlines() if line.startswith("Arena ")]
    assert arenas, result.stderr[-3000:]
    assert (len(arenas) == 1) is expect_one_arena


def test_limit_malloc_arenas_refuses_zero() -> None:
    from fedledger_platform.heap import limit_malloc_arenas

    with pytest.raises(ValueError, match="at least 1"):
        limit_malloc_arenas(0)
