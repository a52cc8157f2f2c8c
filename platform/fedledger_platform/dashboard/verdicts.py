"""The auditor's verdicts, cached per round and kept current.

A round is audited again

* when its state on chain differs from the state its verdict was reached at (it closed, was
  published or failed since), or it has no verdict yet; and
* when its verdict is older than ``reaudit_s``: the audit downloads the stored updates, the
  aggregate and the models again, so bytes altered on the aggregator's disk after the round was
  judged turn its verdict to ``fail`` within that time, naming the round and the participant.

The rounds due are audited together, one :meth:`Auditor.run` per run of consecutive numbers
(each reads the event history once). Audits need an account holding ``AUDITOR_ROLE``: the
aggregator serves individual updates only to such accounts; without one there are no verdicts
and :attr:`AuditState.notice` says how to get them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.audit import AuditConfigError, Auditor, CheckResult
from fedledger_platform.dashboard.model import AuditState, RoundVerdict
from fedledger_platform.errors import FedledgerError
from fedledger_platform.ledger import Ledger
from fedledger_platform.protocol import RoundPhase

__all__ = ["NO_AUDITOR", "VerdictCache", "consecutive", "due_rounds"]

NO_AUDITOR = (
    "Audit verdicts need an account holding AUDITOR_ROLE on the ledger (the aggregator serves "
    "individual updates only to auditors): start the dashboard with --key FILE and "
    "--passphrase-file FILE, or --dev-account N on a devnet, as for `fedledger audit`."
)


def consecutive(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """``numbers`` as runs of consecutive values: ``[1, 2, 3, 7]`` → ``[(1, 3), (7, 7)]``."""
    runs: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if runs and runs[-1][1] == n - 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def due_rounds(
    kept: Mapping[int, RoundVerdict],
    states: Mapping[int, RoundPhase],
    *,
    now: float,
    reaudit_s: float,
) -> list[int]:
    """The rounds to audit at ``now``: those without a verdict, those whose state on chain
    (``states``) is not the one their verdict was reached at, and those whose verdict is
    ``reaudit_s`` old."""
    return sorted(
        number
        for number, state in states.items()
        if (verdict := kept.get(number)) is None
        or verdict.audit.state is not state
        or now - verdict.checked_at >= reaudit_s
    )


class VerdictCache:
    """Per-round verdicts of one federation; :meth:`refresh` audits the rounds that are due.

    ``client`` carries the auditor account (``None``: audits are off). ``clock`` gives Unix
    seconds (tests move it).
    """

    def __init__(
        self,
        ledger: Ledger,
        client: AggregatorClient | None,
        *,
        from_block: int,
        reaudit_s: float,
        page_size: int = 2_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if reaudit_s <= 0:
            raise ValueError(f"reaudit_s must be positive, got {reaudit_s}")
        self.reaudit_s = reaudit_s
        self._clock = clock
        self._auditor = (
            Auditor(ledger, client, from_block=from_block, page_size=page_size)
            if client is not None and client.account is not None
            else None
        )
        self._rounds: dict[int, RoundVerdict] = {}
        self._federation: tuple[CheckResult, ...] = ()
        self._notice: str | None = None if self._auditor is not None else NO_AUDITOR
        self._retry_at = 0.0

    @property
    def auditor(self) -> str | None:
        """The auditor account's address (``None`` when audits are off)."""
        if self._auditor is None or self._auditor.client.account is None:
            return None
        return str(self._auditor.client.account.address)

    def due(self, states: Mapping[int, RoundPhase]) -> list[int]:
        """The rounds to audit now (:func:`due_rounds`)."""
        return due_rounds(self._rounds, states, now=self._clock(), reaudit_s=self.reaudit_s)

    def refresh(self, states: Mapping[int, RoundPhase]) -> bool:
        """Audit the rounds that are due; ``True`` when anything was audited or the notice
        changed (a verdict shows when it was reached, so even an unchanged one is news)."""
        if self._auditor is None or self._clock() < self._retry_at:
            return False
        due = self.due(states)
        if not due:
            return False
        for first, last in consecutive(due):
            try:
                report = self._auditor.run(first, last)
            except (AuditConfigError, FedledgerError) as exc:
                # Retried, but not at every poll: a missing role or a stopped aggregator
                # rarely recovers within seconds.
                self._retry_at = self._clock() + min(self.reaudit_s, 10.0)
                self._notice = f"the last audit could not run: {exc}"
                return True
            checked_at = self._clock()
            for audit in report.rounds:
                self._rounds[audit.number] = RoundVerdict(audit, checked_at, report.block_number)
            self._federation = report.federation_checks
        self._notice = None
        return True

    def state(self) -> AuditState:
        """The cached verdicts as the pages show them."""
        return AuditState(
            auditor=self.auditor,
            reaudit_s=self.reaudit_s,
            rounds=dict(self._rounds),
            federation_checks=self._federation,
            notice=self._notice,
        )
