"""The auditor: verify every round of a federation from the chain and the aggregator's read API.

An auditor needs no secret and trusts neither the aggregator's database nor its disk. It reads

- the ledger's event log (paginated ``eth_getLogs`` from the deployment block up to one pinned
  block) and the contract state *at that block*, so a federation that keeps running while it is
  audited is judged consistently;
- the aggregator's public read API (parameters-only CKKS context, aggregates, models), and the
  individual update blobs, which the aggregator serves only to accounts holding ``AUDITOR_ROLE``
  on the ledger (signed GETs).

For every round it checks the served base model, the parameters, each included update, that
nobody was left out (or was dropped with its mask seeds revealed), a masked round's dropouts and
reveals, the recomputed (and corrected) and the served aggregate, the rewards, the quorum and the
published model; for the whole federation, the token supply and balances (the list, with what
passing means, is in :mod:`.checks` and ``docs/auditing.md``). Failed rounds and rounds still
open or awaiting attestations are reported as such, not as failures.

This module only orchestrates: :mod:`.history` reads the chain's events, :mod:`.evidence`
fetches what the aggregator serves, :mod:`.checks` judges them, :mod:`.results` holds the
outcome.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.api_client import AggregatorClient, AggregatorError
from fedledger_platform.audit import checks
from fedledger_platform.audit.evidence import Evidence, ServedRound
from fedledger_platform.audit.history import History, RoundEvents, read_history
from fedledger_platform.audit.results import AuditReport, CheckResult, RoundAudit, parse_rounds
from fedledger_platform.errors import ChainUnavailableError, ConfigurationError, LedgerError
from fedledger_platform.ledger import AUDITOR_ROLE, Ledger, LedgerEvent, Membership, RoundInfo
from fedledger_platform.protocol import RoundPhase

__all__ = ["AuditConfigError", "Auditor", "ProgressCallback", "run_audit"]

ProgressCallback = Callable[[int, int, int], None]
"""``progress(round_number, rounds_done, rounds_total)``, called after each audited round."""


class AuditConfigError(ConfigurationError):
    """The audit cannot run as configured (wrong aggregator, no auditor role, bad range...)."""


@dataclass(frozen=True)
class _Pinned:
    """What holds for every round of one audit: the block it is taken at, the quorum rule and
    the parameters check, with the context the aggregates are recomputed with."""

    block: int
    quorum_bps: int
    parameters: CheckResult
    context: Any


class Auditor:
    """Audits one federation: a ledger plus the aggregator client of an auditor account.

    ``client`` must carry an account holding ``AUDITOR_ROLE`` (individual updates are served to
    auditors only). ``from_block`` is where the event history starts (the deployment block);
    ``page_size`` is the ``eth_getLogs`` block range per request; ``prefetch`` is how many
    update blobs are downloaded ahead while the previous one is being summed; a fetch is
    retried ``retries`` times while the aggregator is unavailable, after ``retry_delay_s``
    doubling each time.
    """

    def __init__(
        self,
        ledger: Ledger,
        client: AggregatorClient,
        *,
        from_block: int = 0,
        page_size: int = 2_000,
        prefetch: int = 2,
        retries: int = 3,
        retry_delay_s: float = 0.5,
        progress: ProgressCallback | None = None,
    ) -> None:
        if page_size < 1:
            raise AuditConfigError("page_size must be at least 1")
        self.ledger = ledger
        self.client = client
        self.from_block = from_block
        self.page_size = page_size
        self.progress = progress
        self.evidence = Evidence(
            client, prefetch=prefetch, retries=retries, retry_delay_s=retry_delay_s
        )
        self.membership = Membership(ledger)

    def _preflight(self) -> str | None:
        """Check that the aggregator serves this ledger and the account may read updates;
        returns the federation's CKKS parameter set id."""
        account = self.client.account
        if account is None:
            raise AuditConfigError(
                "the aggregator client has no account: individual updates are served only to "
                "signed requests of an account holding AUDITOR_ROLE"
            )
        try:
            info = self.client.federation()
        except AggregatorError as exc:
            raise AuditConfigError(
                f"cannot read the federation from the aggregator at {self.client.base_url}: {exc}"
            ) from exc
        chain_id = self.ledger.chain.chain_id
        if int(info.get("chain_id", -1)) != chain_id or str(info.get("ledger", "")).lower() != (
            self.ledger.address.lower()
        ):
            raise AuditConfigError(
                f"the aggregator at {self.client.base_url} serves ledger {info.get('ledger')} on "
                f"chain {info.get('chain_id')}, not {self.ledger.address} on chain {chain_id}; "
                "check --aggregator and --deployment"
            )
        if not self.ledger.has_role(AUDITOR_ROLE, account.address):
            raise AuditConfigError(
                f"{account.address} does not hold AUDITOR_ROLE on ledger {self.ledger.address}; "
                "the ledger's admin grants it (`fedledger deploy --auditor ADDRESS`, or "
                "grantRole(AUDITOR_ROLE, ADDRESS))"
            )
        return str(info.get("params_id")) if info.get("params_id") else None

    def run(self, first: int = 1, last: int | None = None) -> AuditReport:
        """Audit rounds ``first..last`` (default: every round opened so far)."""
        started, clock = time.time(), time.perf_counter()
        try:
            block = int(self.ledger.w3.eth.block_number)
        except Exception as exc:
            raise ChainUnavailableError(f"cannot read the chain's block number: {exc}") from exc
        self.evidence.clear()
        params_id = self._preflight()
        current = self.ledger.current_round(block=block)
        if current and first > current:
            raise AuditConfigError(
                f"round {first} has not been opened: the latest round is {current}"
            )
        last = current if last is None else min(last, current)
        quorum_bps = self.ledger.quorum_bps(block=block)
        timings: dict[str, float] = {"setup": time.perf_counter() - clock}
        mark = time.perf_counter()
        history = read_history(self.ledger, self.from_block, block, self.page_size)
        timings["events"], mark = time.perf_counter() - mark, time.perf_counter()
        on_chain = self.ledger.encryption_params_hash(block=block)
        served, error = self.evidence.parameters()
        parameters, context = checks.check_parameters(
            on_chain,
            served,
            error,
            params_id=params_id,
            commit_tx=history.params_commit_tx,
        )
        pinned = _Pinned(block, quorum_bps, parameters, context)
        numbers = list(range(first, last + 1)) if current else []
        audits: list[RoundAudit] = []
        for done, number in enumerate(numbers, start=1):
            audits.append(self._audit_round(number, history, pinned))
            if self.progress is not None:
                self.progress(number, done, len(numbers))
        timings["rounds"], mark = time.perf_counter() - mark, time.perf_counter()
        federation = self._federation_checks(history, block)
        timings["federation"] = time.perf_counter() - mark
        return AuditReport(
            chain_id=self.ledger.chain.chain_id,
            ledger=self.ledger.address,
            token=self.ledger.token.address,
            aggregator=self.client.base_url,
            auditor=self.client.account.address if self.client.account else "",
            block_number=block,
            from_block=self.from_block,
            current_round=current,
            first_round=first,
            last_round=last,
            quorum_bps=quorum_bps,
            params_id=params_id,
            parameters_hash=parameters.evidence.get("served_hash"),
            rounds=tuple(audits),
            federation_checks=tuple(federation),
            started_at=started,
            duration_s=time.perf_counter() - clock,
            timings_s=timings,
        )

    def _audit_round(self, number: int, history: History, pinned: _Pinned) -> RoundAudit:
        info = self.ledger.get_round(number, block=pinned.block)
        events = history.round(number)
        state = info.status
        if state is RoundPhase.NONE:  # currentRound() says it was opened: the chain disagrees
            raise LedgerError(f"round {number} is {state.name} at block {pinned.block}")
        base = info.base_model_hash
        found = [
            checks.check_base_model(
                number, base, self.evidence.model(base), history.lineage(number)
            ),
            self._served_round(number, info, events),
        ]
        common: dict[str, Any] = {
            "number": number,
            "state": state,
            "base_model_hash": fc.hash_hex(base),
            "deadline": info.deadline,
            "min_updates": info.min_updates,
            "committed": events.committed,
            "transactions": events.transactions,
            "failure_reason": events.failure_reason,
        }
        closed = events.closed
        if closed is None:
            found.append(checks.check_unclosed_round(number, info, events, self.from_block))
            return RoundAudit(checks=tuple(found), **common)

        included = [Web3.to_checksum_address(a) for a in closed.args["included"]]
        found.append(dataclasses.replace(pinned.parameters, round_number=number))
        # The downloads run ahead while each update is hashed and summed.
        downloads = self.evidence.updates(number, included)
        updates, summed = checks.check_updates(number, downloads, events, pinned.context)
        found.extend(updates)
        unmasked = self._masking(number, info, closed, included)
        found.extend(unmasked.results)
        # The aggregator's upload list only matters for whoever was left out.
        accepted = self.evidence.accepted_uploads(number) if events.left_out(included) else None
        found.extend(
            checks.check_left_out(
                number, included, events, closed, accepted, revealed=unmasked.revealed
            )
        )
        found.append(
            checks.check_aggregate(
                number,
                closed,
                info.aggregate_hash,
                checks.corrected(pinned.context, summed, unmasked),
                parameters_usable=pinned.context is not None,
                dropped=unmasked.dropped,
                reveals_usable=unmasked.usable,
            )
        )
        found.append(checks.check_served_aggregate(number, closed, self.evidence.aggregate(number)))
        found.extend(checks.check_rewards(number, included, closed, history.mints))
        published = info.published_model_hash
        if state is RoundPhase.PUBLISHED:
            found.extend(checks.check_quorum(number, info, included, pinned.quorum_bps, events))
            publish_tx = events.published.tx_hash if events.published is not None else None
            served = self.evidence.model(published)
            found.append(checks.check_model(number, published, served, publish_tx))
        else:
            found.append(checks.quorum_pending(number, state, info.quorum, events))
            found.append(checks.model_not_published(number))
        return RoundAudit(
            checks=tuple(found),
            aggregate_hash=fc.hash_hex(bytes(closed.args["aggregateHash"])),
            published_model_hash=fc.hash_hex(published) if any(published) else None,
            included=tuple(included),
            quorum=info.quorum,
            reward_per_update=int(closed.args["rewardPerUpdate"]),
            **common,
        )

    def _served_round(self, number: int, info: RoundInfo, events: RoundEvents) -> CheckResult:
        """What ``GET /v1/rounds/{number}`` serves, against the chain. The aggregator records a
        change a moment after the chain makes it: a served phase behind the chain's is asked
        again before it is judged; one ahead of the audit's block is judged by the chain now."""

        def settled(served: ServedRound) -> bool:
            phase = served.phase
            return phase is None or phase.order >= info.status.order

        served = self.evidence.round(number, settled=settled)
        later = None
        phase = served.phase
        if phase is not None and phase.chain_status != info.status.chain_status:
            later = self.ledger.get_round(number)
        return checks.check_served_round(number, served, info, events, later)

    def _masking(
        self, number: int, info: RoundInfo, closed: LedgerEvent, included: Sequence[str]
    ) -> checks.Unmasked:
        """The ``dropped`` and ``reveals`` checks of a closed round, its members re-derived
        from the chain; the reveals are fetched only when the round has dropouts."""
        members = self.membership.of(number, info)
        served, error = (
            self.evidence.reveals(number) if closed.args["dropped"] else (None, "no dropouts")
        )
        return checks.check_masking(number, members, closed, included, served=served, error=error)

    def _federation_checks(self, history: History, block: int) -> list[CheckResult]:
        supply = self.ledger.token_supply(block=block)
        accounts = checks.Accounts.of(history)
        balances = {h: self.ledger.token_balance(h, block=block) for h in accounts.holders}
        published = {
            number: bytes(events.published.args["modelHash"])
            for number, events in history.rounds.items()
            if events.published is not None
        }
        served = self.evidence.latest_model()
        later = None
        label = served.round_number
        if label is not None and label not in published:
            info = self.ledger.get_round(label)  # published after the audit's block, maybe
            if info.status is RoundPhase.PUBLISHED:
                later = {label: info.published_model_hash}
        return [
            checks.check_token_supply(supply, history),
            *checks.check_balances(accounts, balances),
            checks.check_latest_model(published, served, later),
        ]


def run_audit(
    ledger: Ledger,
    aggregator: AggregatorClient | str,
    account: LocalAccount | None = None,
    *,
    rounds: str | tuple[int, int | None] | None = None,
    from_block: int = 0,
    page_size: int = 2_000,
    prefetch: int = 2,
    progress: ProgressCallback | None = None,
) -> AuditReport:
    """Audit a federation: the library entry point behind ``fedledger audit``.

    ``ledger`` is an already-connected :class:`Ledger` (the embedded chain works: ``fedledger
    demo`` calls this directly). ``aggregator`` is a client carrying the auditor account, or the
    aggregator's base URL together with ``account`` (which must hold ``AUDITOR_ROLE``).
    ``rounds`` is ``"A..B"`` (see :func:`parse_rounds`) or ``(first, last)``; ``from_block`` is
    the block the ledger was deployed in (``Deployment.block_number``) or earlier.

    Raises :class:`AuditConfigError` when the audit cannot run as configured and
    :class:`~fedledger_platform.errors.ChainUnavailableError` when the chain stops answering.
    Check failures are never raised: they are in the returned report.
    """
    first, last = (
        parse_rounds(rounds) if isinstance(rounds, str) else rounds if rounds else (1, None)
    )
    owned = isinstance(aggregator, str)
    if isinstance(aggregator, str):
        if account is None:
            raise AuditConfigError("an auditor account is needed to read individual updates")
        client = AggregatorClient(
            aggregator,
            account=account,
            scope=fc.RequestScope(ledger.chain.chain_id, ledger.address),
        )
    else:
        client = aggregator
    try:
        auditor = Auditor(
            ledger,
            client,
            from_block=from_block,
            page_size=page_size,
            prefetch=prefetch,
            progress=progress,
        )
        return auditor.run(first, last)
    finally:
        if owned:
            client.close()
