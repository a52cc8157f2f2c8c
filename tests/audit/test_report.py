"""Units of the auditor that need no federation: round ranges, the quorum rule, token amounts,
verdicts, and the rendering of a report (escaping, links, no external assets)."""

from __future__ import annotations

import pytest
from rich.console import Console

from fedledger_platform.audit import (
    AuditReport,
    CheckResult,
    CheckStatus,
    RoundAudit,
    Verdict,
    parse_rounds,
    quorum_for,
    render_html,
    render_table,
    tokens,
    validate_explorer,
)
from fedledger_platform.audit.report import DecryptedFigures
from fedledger_platform.protocol import RoundPhase

TX = "0x" + "ab" * 32
HASH = "0x" + "cd" * 32
WHO = "0x" + "12" * 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", (3, 3)), ("2..5", (2, 5)), ("2..", (2, None)), ("..4", (1, 4)), (" 1..1 ", (1, 1))],
)
def test_parse_rounds(text: str, expected: tuple[int, int | None]) -> None:
    assert parse_rounds(text) == expected


@pytest.mark.parametrize("text", ["", "a", "0", "3..1", "1...2", "-1..2"])
def test_parse_rounds_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="--rounds"):
        parse_rounds(text)


def test_quorum_rule_matches_the_contract_examples() -> None:
    # docs/contracts.md: 3 of 50 % → 2; 4 of 50 % → 2; 6 of 6666 → 4; 6 of 6667 → 5; 3 of 6667 → 3
    assert [quorum_for(n, bps) for n, bps in [(3, 5000), (4, 5000), (6, 6666), (6, 6667)]] == [
        2,
        2,
        4,
        5,
    ]
    assert quorum_for(3, 6667) == 3 and quorum_for(1000, 1) == 1 and quorum_for(0, 5001) == 1


def test_tokens() -> None:
    assert (
        tokens(10**18) == "1 FLC"
        and tokens(25 * 10**17) == "2.5 FLC"
        and tokens(1) == ("0.000000000000000001 FLC")
    )


def test_explorer_template_is_validated() -> None:
    assert validate_explorer(None) is None
    assert validate_explorer("https://e.test/tx/{tx}") == "https://e.test/tx/{tx}"
    for bad in ("https://e.test/tx/", "javascript:alert(1)//{tx}"):
        with pytest.raises(ValueError, match="must be an http"):
            validate_explorer(bad)


def _round(number: int, state: RoundPhase, *checks: CheckResult) -> RoundAudit:
    return RoundAudit(
        number=number,
        state=state,
        checks=checks,
        base_model_hash=HASH,
        deadline=1,
        min_updates=1,
        transactions={"open": TX},
    )


def _report(*rounds: RoundAudit) -> AuditReport:
    return AuditReport(
        chain_id=31337,
        ledger=WHO,
        token=WHO,
        aggregator="http://127.0.0.1:8000",
        auditor=WHO,
        block_number=42,
        from_block=1,
        current_round=len(rounds),
        first_round=1,
        last_round=len(rounds),
        quorum_bps=5001,
        params_id="ckks-n4096-q60-s35",
        parameters_hash=HASH,
        rounds=rounds,
        federation_checks=(),
        started_at=0.0,
        duration_s=0.5,
    )


def test_verdicts_and_rendering() -> None:
    hostile = '<script>alert("x")</script>'
    failing = CheckResult(
        "update", CheckStatus.FAIL, hostile, 2, WHO, {"commit_tx": TX, "attest_txs": [TX]}
    )
    report = _report(
        _round(1, RoundPhase.PUBLISHED, CheckResult("model", CheckStatus.PASS, "ok", 1)),
        _round(2, RoundPhase.PUBLISHED, failing),
        _round(3, RoundPhase.FAILED, CheckResult("round", CheckStatus.SKIP, "failed", 3)),
        _round(4, RoundPhase.OPEN),
        _round(5, RoundPhase.CLOSED, CheckResult("quorum", CheckStatus.WARN, "dissent", 5)),
    )
    assert [r.verdict for r in report.rounds] == [
        Verdict.PASS,
        Verdict.FAIL,
        Verdict.ROUND_FAILED,
        Verdict.PENDING,
        Verdict.PENDING,
    ]
    assert report.exit_code == 1 and report.failures == [failing]
    assert failing.line() == f"FAIL round 2 update participant {WHO}: {hostile}"
    assert report.counts()["rounds"] == {"pass": 1, "fail": 1, "pending": 2, "round-failed": 1}
    # HTML: escaped, self-contained, transaction links only with a template.
    page = render_html(report, explorer="https://e.test/tx/{tx}")
    assert hostile not in page and html_escaped(hostile) in page
    assert page.count(f'href="https://e.test/tx/{TX}"') == 2 + 5  # evidence ×2, open tx ×5
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert 'href="http' not in render_html(report)
    # The table names the failure.
    console = Console(record=True, width=200)
    render_table(report, console)
    text = console.export_text()
    assert "1 check(s) failed" in text and f"FAIL round 2 update participant {WHO}" in text


def html_escaped(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def test_decrypted_figures_render_in_their_own_labelled_section() -> None:
    # Prepare: a passing report and a table of figures the participants decrypted
    hostile = "<img src=x>"
    report = _report(
        _round(1, RoundPhase.PUBLISHED, CheckResult("model", CheckStatus.PASS, "ok", 1))
    )
    figures = DecryptedFigures(
        title="accuracy per topic",
        header=("topic", "round 1"),
        rows=(("United", "0.7100"), (hostile, "0.5000")),
        note="held-out posts of the model each round started from",
    )

    # Execute
    page = render_html(report, decrypted=[figures])
    plain = render_html(report)

    # Assert: after the rounds, labelled as not verified, escaped; absent when not given
    section = page.split('id="decrypted"', 1)[1]
    assert "Figures the participants decrypted (not verified by this audit)" in page
    assert "The auditor holds no secret key" in section
    assert "<h3>accuracy per topic</h3>" in section and "<td>0.7100</td>" in section
    assert hostile not in page and html_escaped(hostile) in section
    assert page.index('id="round-1"') < page.index('id="decrypted"')
    assert 'id="decrypted"' not in plain
    with pytest.raises(ValueError, match="a row has 1 cells for 2 columns"):
        DecryptedFigures(title="t", header=("a", "b"), rows=(("x",),))
