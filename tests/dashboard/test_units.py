"""The dashboard's pure pieces: chart ticks and markup, when a round is audited again, how rows
count gas and name dropped participants, and `fedledger dashboard`'s usage errors."""

from __future__ import annotations

import itertools
import math
import re
import warnings
from pathlib import Path

import pytest
from web3 import Web3

from fedledger_platform.audit import History, RoundAudit
from fedledger_platform.dashboard.model import Contribution, RoundRow, RoundVerdict
from fedledger_platform.dashboard.rows import model_points, round_rows
from fedledger_platform.dashboard.svg import Series, line_chart, nice_ticks
from fedledger_platform.dashboard.verdicts import consecutive, due_rounds
from fedledger_platform.ledger import LedgerEvent, RoundInfo
from fedledger_platform.protocol import RoundPhase

with warnings.catch_warnings():  # typer touches click APIs that Click 8.3 deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    from typer.testing import CliRunner

    from fedledger_app.cli import app

H = "0x" + "ab" * 32


@pytest.mark.parametrize(
    ("low", "high"), [(0.3293, 0.7351), (522_000, 588_835), (2.47, 2.47), (0, 1), (-3, 7)]
)
def test_ticks_are_round_values_that_cover_the_data(low: float, high: float) -> None:
    ticks = nice_ticks(low, high)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert ticks[0] <= low and ticks[-1] >= high
    assert len(steps) == 1 and 3 <= len(ticks) <= 12
    (step,) = steps
    assert re.fullmatch(r"[125]", f"{step / 10 ** math.floor(math.log10(step)):.0f}")


def test_ticks_refuse_an_infinite_range() -> None:
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(0, math.inf)


def test_a_chart_labels_its_axes_plots_finite_points_and_escapes_names() -> None:
    svg = line_chart(
        [Series("<acc>", [(0, 0.3), (1, math.nan), (2, 0.7)])],
        title="accuracy & co",
        x_label="round",
        y_label="accuracy",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert ">round</text>" in svg and ">accuracy</text>" in svg
    assert svg.count('class="point series-0"') == 2  # the NaN is left out
    assert "&lt;acc&gt;" in svg and "accuracy &amp; co" in svg
    assert "style=" not in svg  # the page's CSP forbids inline styles


def test_an_empty_chart_says_so() -> None:
    svg = line_chart([Series("x", [])], title="t", x_label="round", y_label="y")
    assert "no data yet" in svg and "<circle" not in svg


def test_consecutive_numbers_make_one_audit_each() -> None:
    assert consecutive([7, 1, 3, 2, 2]) == [(1, 3), (7, 7)]
    assert consecutive([]) == []


def _verdict(number: int, state: RoundPhase, at: float) -> RoundVerdict:
    audit = RoundAudit(number, state, (), base_model_hash=H, deadline=0, min_updates=1)
    return RoundVerdict(audit, checked_at=at, block=1)


def test_a_round_is_audited_when_unseen_when_its_state_changed_and_when_its_verdict_is_old() -> (
    None
):
    kept = {
        1: _verdict(1, RoundPhase.PUBLISHED, at=100.0),  # fresh, same state
        2: _verdict(2, RoundPhase.CLOSED, at=100.0),  # published since
        3: _verdict(3, RoundPhase.PUBLISHED, at=40.0),  # 60 s old
    }
    states = {
        1: RoundPhase.PUBLISHED,
        2: RoundPhase.PUBLISHED,
        3: RoundPhase.PUBLISHED,
        4: RoundPhase.OPEN,  # never audited
    }
    assert due_rounds(kept, states, now=100.0, reaudit_s=60.0) == [2, 3, 4]
    assert due_rounds(kept, states, now=99.0, reaudit_s=60.0) == [2, 4]


def _row(number: int, state: RoundPhase, contributions: tuple[Contribution, ...]) -> RoundRow:
    return RoundRow(
        number=number,
        state=state,
        deadline=0,
        min_updates=1,
        quorum=1,
        base_model_hash=f"0x{number:064x}",
        aggregate_hash=None,
        published_model_hash=f"0x{number + 100:064x}" if state is RoundPhase.PUBLISHED else None,
        contributions=contributions,
        included=(),
        transactions={},
        gas={},
        reward_per_update=None,
        failure_reason=None,
    )


def test_rows_name_the_dropped_and_the_models_to_evaluate() -> None:
    kept = Contribution("0xA", H, H, 1, included=True, size=10)
    left = Contribution("0xB", H, H, 1, included=False, size=None)
    rows = (
        _row(1, RoundPhase.PUBLISHED, (kept, left)),
        _row(2, RoundPhase.FAILED, ()),
        _row(3, RoundPhase.PUBLISHED, ()),
    )
    assert rows[0].left_out == ("0xB",) and rows[0].update_bytes == 10
    assert model_points(rows) == [(0, f"0x{1:064x}"), (1, f"0x{101:064x}"), (3, f"0x{103:064x}")]


def test_a_rounds_dropped_are_those_its_close_records() -> None:
    # Prepare: a masked round closed with one member dropped (it never committed).
    history = History()
    kept, gone = (Web3.to_checksum_address(f"0x{i:040x}") for i in (0xA1, 0xB2))
    closed = LedgerEvent(
        "RoundClosed",
        {
            "round": 1,
            "aggregateHash": b"\x01" * 32,
            "included": [kept],
            "rewardPerUpdate": 1,
            "dropped": [gone.lower()],
            "correctionsHash": b"\x02" * 32,
        },
        block_number=5,
        tx_hash="0x" + "c1" * 32,
        log_index=0,
        address="0xLedger",
    )
    history.record(closed, token="0xToken")
    info = RoundInfo(1, RoundPhase.CLOSED, 0, 1, 1, 1, b"\x03" * 32, b"\x01" * 32, bytes(32))
    # Execute
    (row,) = round_rows(history, {1: info}, {}, {}, {})
    # Assert
    assert row.dropped == (gone,) and row.left_out == () and row.included == (kept,)


def test_dashboard_command_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = str(tmp_path / "missing.json")
    result = runner.invoke(app, ["dashboard", "--deployment", missing])
    assert result.exit_code == 2 and "fedledger deploy" in result.stderr
    result = runner.invoke(app, ["dashboard", "--explorer", "https://x.example/tx/"])
    assert result.exit_code == 2 and "{tx}" in result.stderr
    help_text = runner.invoke(app, ["dashboard", "--help"]).stdout
    for option in ("--rpc-url", "--deployment", "--aggregator", "--key", "--dev-account"):
        assert option in help_text
