"""The auditor: verify every round of a federation from the chain and the aggregator's read API.

Library use (``fedledger demo`` does this on the embedded chain)::

    from fedledger_platform.audit import run_audit, write_html

    report = run_audit(ledger, aggregator_url, auditor_account, from_block=deployment_block)
    write_html(report, Path("audit.html"))
    report.exit_code  # 0 when every check passed, 1 otherwise

``fedledger audit`` is the command-line front end; see ``docs/auditing.md``. Inside:
``results`` (what an audit establishes and its JSON), ``history`` (the chain's events, read
once), ``evidence`` (what the aggregator serves), ``checks`` (one module per subject),
``auditor`` (the orchestration) and ``report`` (table and HTML). ``History`` is public for
readers that follow the chain themselves (the dashboard).
"""

from fedledger_platform.audit.auditor import (
    AuditConfigError,
    Auditor,
    ProgressCallback,
    run_audit,
)
from fedledger_platform.audit.history import EVENTS, ZERO_ADDRESS, History, RoundEvents
from fedledger_platform.audit.report import (
    render_html,
    render_table,
    to_json_text,
    validate_explorer,
    write_html,
)
from fedledger_platform.audit.results import (
    CHECKS,
    AuditReport,
    CheckResult,
    CheckStatus,
    RoundAudit,
    Verdict,
    parse_rounds,
    quorum_for,
    tokens,
)

__all__ = [
    "CHECKS",
    "EVENTS",
    "ZERO_ADDRESS",
    "AuditConfigError",
    "AuditReport",
    "Auditor",
    "CheckResult",
    "CheckStatus",
    "History",
    "ProgressCallback",
    "RoundAudit",
    "RoundEvents",
    "Verdict",
    "parse_rounds",
    "quorum_for",
    "render_html",
    "render_table",
    "run_audit",
    "to_json_text",
    "tokens",
    "validate_explorer",
    "write_html",
]
