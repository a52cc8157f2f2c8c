"""The auditor: verify every round of a federation from the chain and the aggregator's read API.

An auditor needs no secret and trusts neither the aggregator's database nor its disk. It reads

- the ledger's event log (paginated ``eth_getLogs`` from the deployment block up to one pinned
  block) and the contract state *at that block*, so a federation that keeps running while it is
  audited is judged consistently;
- the aggregator's public read API (parameters-only CKKS context, aggregates, models), and the
  individual update blobs, which the aggregator serves only to accounts holding ``AUDITOR_ROLE``
  on the ledger (signed GETs).

For every round it then checks, each with evidence (hashes, transaction hashes, addresses):

``base_model``        the bytes served for the round's base model hash to the on-chain base hash
``parameters``        the served parameters-only context hashes to ``encryptionParamsHash``
``update``            each included participant's stored update hashes to the commitment of its
                      ``UpdateCommitted`` event for that round (one result per participant)
``left_out``          no participant committed without being included (a possibly dropped
                      update is a failure naming the participant)
``aggregate``         the homomorphic sum of the included updates, recomputed here with the
                      parameters-only context, hashes to the on-chain aggregate hash
``served_aggregate``  the aggregate bytes participants download hash to the on-chain hash
``rewards``           the close transaction minted ``rewardPerUpdate`` to each included
                      participant and nothing else
``quorum``            the published model has at least the round's quorum of attestations
``model``             the bytes served for the published model hash to the published hash

and, for the whole federation, ``token_supply`` and ``balances`` (the token's supply and every
balance follow from the reward rule and the recorded transfers). Failed rounds (``RoundFailed``)
and rounds still open or awaiting attestations are reported as such, not as failures.

CKKS addition is exact modular arithmetic and TenSEAL serializes the same sum byte-identically,
so the recomputed aggregate must hash to exactly the on-chain value (DESIGN §2).
"""

from __future__ import annotations

import enum
import functools
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.aggregator.client import (
    AggregatorClient,
    AggregatorError,
    AggregatorUnavailableError,
    Blob,
)
from fedledger_platform.errors import ChainUnavailableError, ConfigurationError, LedgerError
from fedledger_platform.ledger import AUDITOR_ROLE, Ledger, LedgerEvent, RoundInfo
from fedledger_platform.protocol import RoundPhase

__all__ = [
    "CHECKS",
    "AuditConfigError",
    "AuditReport",
    "Auditor",
    "CheckResult",
    "CheckStatus",
    "RoundAudit",
    "Verdict",
    "parse_rounds",
    "quorum_for",
    "run_audit",
    "tokens",
]

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = bytes(32)
_BPS = 10_000
_AUDIT_FORMAT = 1

#: Every check the auditor runs, by id, with what passing means.
CHECKS: dict[str, str] = {
    "round": "the round's state on chain",
    "base_model": "the served base model hashes to the on-chain base model hash",
    "parameters": "the served CKKS parameters hash to the on-chain encryptionParamsHash",
    "update": "the stored update hashes to its on-chain commitment",
    "left_out": "every participant that committed an update was included",
    "aggregate": "the recomputed homomorphic sum hashes to the on-chain aggregate hash",
    "served_aggregate": "the served aggregate hashes to the on-chain aggregate hash",
    "rewards": "the close transaction minted the reward to each included participant only",
    "quorum": "the published model reached the attestation quorum",
    "model": "the served model bytes hash to the published model hash",
    "token_supply": "the token supply equals the rewards of every closed round",
    "balances": "every token balance follows from its mints and transfers",
}

ProgressCallback = Callable[[int, int, int], None]
"""``progress(round_number, rounds_done, rounds_total)``, called after each audited round."""


class AuditConfigError(ConfigurationError):
    """The audit cannot run as configured (wrong aggregator, no auditor role, bad range...)."""


class CheckStatus(enum.StrEnum):
    """Outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"  # suspicious but within the protocol (e.g. a dissenting attestation)
    SKIP = "skip"  # not applicable yet (round open, awaiting attestations, failed round)


class Verdict(enum.StrEnum):
    """What the audit concludes about one round."""

    PASS = "pass"  # published, and every check passed
    FAIL = "fail"  # at least one check failed
    PENDING = "pending"  # open, or closed and awaiting attestations; nothing failed so far
    ROUND_FAILED = "round-failed"  # abandoned on chain (RoundFailed); nothing failed


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome with its evidence (JSON-friendly values: str, int, bool, lists)."""

    check: str
    status: CheckStatus
    message: str
    round_number: int | None = None
    participant: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """What the check verifies."""
        return CHECKS.get(self.check, self.check)

    def line(self) -> str:
        """One line naming the round and participant, e.g. for logs and the terminal."""
        where = f"round {self.round_number}" if self.round_number is not None else "federation"
        who = f" participant {self.participant}" if self.participant else ""
        return f"{self.status.upper()} {where} {self.check}{who}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        """The check as a JSON object."""
        return {
            "check": self.check,
            "status": str(self.status),
            "round": self.round_number,
            "participant": self.participant,
            "message": self.message,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class RoundAudit:
    """Everything the audit established about one round."""

    number: int
    state: RoundPhase
    checks: tuple[CheckResult, ...]
    base_model_hash: str
    deadline: int
    min_updates: int
    aggregate_hash: str | None = None
    published_model_hash: str | None = None
    committed: tuple[str, ...] = ()
    included: tuple[str, ...] = ()
    quorum: int = 0
    reward_per_update: int | None = None
    transactions: Mapping[str, str] = field(default_factory=dict)
    failure_reason: str | None = None

    @property
    def failures(self) -> list[CheckResult]:
        """Checks that failed."""
        return [c for c in self.checks if c.status is CheckStatus.FAIL]

    @property
    def verdict(self) -> Verdict:
        """Fail if any check failed; else by state."""
        if self.failures:
            return Verdict.FAIL
        if self.state is RoundPhase.FAILED:
            return Verdict.ROUND_FAILED
        if self.state is RoundPhase.PUBLISHED:
            return Verdict.PASS
        return Verdict.PENDING

    def to_json(self) -> dict[str, Any]:
        """The round as a JSON object, with every check."""
        return {
            "round": self.number,
            "state": str(self.state),
            "verdict": str(self.verdict),
            "base_model_hash": self.base_model_hash,
            "aggregate_hash": self.aggregate_hash,
            "published_model_hash": self.published_model_hash,
            "deadline": self.deadline,
            "min_updates": self.min_updates,
            "committed": list(self.committed),
            "included": list(self.included),
            "quorum": self.quorum,
            "reward_per_update": (
                str(self.reward_per_update) if self.reward_per_update is not None else None
            ),
            "transactions": dict(self.transactions),
            "failure_reason": self.failure_reason,
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass(frozen=True)
class AuditReport:
    """The result of one audit: per-round results plus federation-wide checks."""

    chain_id: int
    ledger: str
    token: str
    aggregator: str
    auditor: str
    block_number: int
    from_block: int
    current_round: int
    first_round: int
    last_round: int
    quorum_bps: int
    params_id: str | None
    parameters_hash: str | None
    rounds: tuple[RoundAudit, ...]
    federation_checks: tuple[CheckResult, ...]
    started_at: float
    duration_s: float
    #: Seconds per phase: ``setup``, ``events`` (reading the log), ``rounds``, ``federation``.
    timings_s: Mapping[str, float] = field(default_factory=dict)

    @property
    def failures(self) -> list[CheckResult]:
        """Every failed check, federation-wide ones first."""
        found = [c for c in self.federation_checks if c.status is CheckStatus.FAIL]
        for r in self.rounds:
            found.extend(r.failures)
        return found

    @property
    def ok(self) -> bool:
        """Whether no check failed."""
        return not self.failures

    @property
    def exit_code(self) -> int:
        """0 when everything passed, 1 when any check failed."""
        return 0 if self.ok else 1

    def counts(self) -> dict[str, dict[str, int]]:
        """How many rounds got each verdict and how many checks got each status."""
        verdicts = {str(v): 0 for v in Verdict}
        statuses = {str(s): 0 for s in CheckStatus}
        for r in self.rounds:
            verdicts[str(r.verdict)] += 1
            for c in r.checks:
                statuses[str(c.status)] += 1
        for c in self.federation_checks:
            statuses[str(c.status)] += 1
        return {"rounds": verdicts, "checks": statuses}

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON object: a summary, federation checks, one object per round."""
        return {
            "fedledger_audit": _AUDIT_FORMAT,
            "ok": self.ok,
            "chain_id": self.chain_id,
            "ledger": self.ledger,
            "token": self.token,
            "aggregator": self.aggregator,
            "auditor": self.auditor,
            "block_number": self.block_number,
            "from_block": self.from_block,
            "current_round": self.current_round,
            "rounds_audited": [self.first_round, self.last_round] if self.rounds else [],
            "quorum_bps": self.quorum_bps,
            "params_id": self.params_id,
            "parameters_hash": self.parameters_hash,
            "started_at": round(self.started_at, 3),
            "duration_s": round(self.duration_s, 3),
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "summary": self.counts(),
            "failures": [c.to_json() for c in self.failures],
            "federation": {"checks": [c.to_json() for c in self.federation_checks]},
            "rounds": [r.to_json() for r in self.rounds],
        }


def parse_rounds(text: str) -> tuple[int, int | None]:
    """``"N"``, ``"A..B"``, ``"A.."`` or ``"..B"`` as ``(first, last)`` (``last`` may be open).

    Raises ``ValueError`` naming the problem.
    """
    value = text.strip()
    if not value:
        raise ValueError("--rounds is empty: expected N, A..B, A.. or ..B")
    if ".." in value:
        left, _, right = value.partition("..")
    else:
        left = right = value
    try:
        first = int(left) if left.strip() else 1
        last = int(right) if right.strip() else None
    except ValueError:
        raise ValueError(f"--rounds {text!r}: expected N, A..B, A.. or ..B") from None
    if first < 1 or (last is not None and last < first):
        raise ValueError(f"--rounds {text!r}: rounds start at 1 and A must not exceed B")
    return first, last


def quorum_for(included: int, quorum_bps: int) -> int:
    """The contract's quorum rule: ``max(1, ceil(included × quorumBps / 10000))``."""
    return max(1, (included * quorum_bps + _BPS - 1) // _BPS)


def _hex(digest: bytes) -> str:
    return fc.hash_hex(digest)


def tokens(amount: int) -> str:
    """A token amount in base units (10⁻¹⁸) as whole tokens, e.g. ``1.5 FLC``."""
    whole, frac = divmod(amount, 10**18)
    text = f"{whole}.{frac:018d}".rstrip("0").rstrip(".") if frac else str(whole)
    return f"{text} FLC"


def _short(text: str) -> str:
    return text[:10] + "…" if len(text) > 12 else text


# ---------------------------------------------------------------------- the event history


@dataclass
class _RoundEvents:
    opened: LedgerEvent | None = None
    commits: dict[str, LedgerEvent] = field(default_factory=dict)
    closed: LedgerEvent | None = None
    failed: LedgerEvent | None = None
    attestations: list[LedgerEvent] = field(default_factory=list)
    published: LedgerEvent | None = None


@dataclass
class _History:
    rounds: dict[int, _RoundEvents] = field(default_factory=dict)
    params_committed: list[LedgerEvent] = field(default_factory=list)
    transfers: list[LedgerEvent] = field(default_factory=list)

    def round(self, number: int) -> _RoundEvents:
        return self.rounds.setdefault(number, _RoundEvents())

    @property
    def mints(self) -> list[LedgerEvent]:
        return [t for t in self.transfers if t.args["from"] == ZERO_ADDRESS]


_EVENTS = (
    "EncryptionParamsCommitted",
    "RoundOpened",
    "UpdateCommitted",
    "RoundClosed",
    "RoundFailed",
    "ModelAttested",
    "ModelPublished",
    "Transfer",
)


def _read_history(ledger: Ledger, from_block: int, to_block: int, page_size: int) -> _History:
    history = _History()
    for event in ledger.events(
        from_block=from_block, to_block=to_block, names=_EVENTS, page_size=page_size
    ):
        if event.name == "Transfer":
            if event.address == ledger.token.address:
                history.transfers.append(event)
            continue
        if event.name == "EncryptionParamsCommitted":
            history.params_committed.append(event)
            continue
        r = history.round(int(event.args["round"]))
        if event.name == "RoundOpened":
            r.opened = event
        elif event.name == "UpdateCommitted":
            r.commits[Web3.to_checksum_address(event.args["participant"])] = event
        elif event.name == "RoundClosed":
            r.closed = event
        elif event.name == "RoundFailed":
            r.failed = event
        elif event.name == "ModelAttested":
            r.attestations.append(event)
        elif event.name == "ModelPublished":
            r.published = event
    return history


# ---------------------------------------------------------------------- the auditor


@dataclass(frozen=True)
class _Served:
    """What the aggregator served for a hash: the bytes' keccak256, size, or an error."""

    actual: bytes | None
    size: int | None
    error: str | None

    def evidence(self) -> dict[str, Any]:
        return {
            "served_hash": _hex(self.actual) if self.actual is not None else None,
            "served_size": self.size,
            **({"error": self.error} if self.error else {}),
        }


class Auditor:
    """Audits one federation: a ledger plus the aggregator client of an auditor account.

    ``client`` must carry an account holding ``AUDITOR_ROLE`` (individual updates are served to
    auditors only). ``from_block`` is where the event history starts (the deployment block);
    ``page_size`` is the ``eth_getLogs`` block range per request; ``prefetch`` is how many
    update blobs are downloaded ahead while the previous one is being summed.
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
        self.prefetch = max(1, prefetch)
        self.retries = max(0, retries)
        self.retry_delay_s = retry_delay_s
        self.progress = progress
        self._block = 0
        self._context: Any = None
        self._params_check: CheckResult | None = None
        self._params_id: str | None = None
        self._params_hash: str | None = None
        self._served_cache: dict[bytes, _Served] = {}

    # ------------------------------------------------------------------ plumbing

    def _round_info(self, number: int) -> RoundInfo:
        return self.ledger.get_round(number, block=self._block)

    def _retrying(self, fn: Callable[[], Blob]) -> Blob:
        delay = self.retry_delay_s
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except AggregatorUnavailableError:
                if attempt == self.retries:
                    raise
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch(self, fn: Callable[[], Blob]) -> tuple[Blob | None, str | None]:
        try:
            return self._retrying(fn), None
        except AggregatorError as exc:
            return None, f"{exc.status} {exc.code}: {exc.message}"

    def _served(self, digest: bytes, fetch: Callable[[], Blob]) -> _Served:
        cached = self._served_cache.get(digest)
        if cached is None:
            blob, error = self._fetch(fetch)
            cached = (
                _Served(fc.keccak256(blob.data), len(blob.data), None)
                if blob is not None
                else _Served(None, None, error)
            )
            self._served_cache[digest] = cached
        return cached

    def _served_model(self, digest: bytes) -> _Served:
        return self._served(digest, lambda: self.client.model(digest))

    # ------------------------------------------------------------------ set-up

    def _preflight(self) -> None:
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
        self._params_id = str(info.get("params_id")) if info.get("params_id") else None

    def _check_parameters(self, history: _History) -> None:
        """Fetch the parameters-only context once and check it against the chain."""
        on_chain = self.ledger.encryption_params_hash(block=self._block)
        evidence: dict[str, Any] = {
            "on_chain_hash": _hex(on_chain),
            "commit_tx": history.params_committed[-1].tx_hash if history.params_committed else None,
            "params_id": self._params_id,
        }
        try:
            data = self.client.parameters()
        except AggregatorError as exc:
            self._params_check = CheckResult(
                "parameters",
                CheckStatus.FAIL,
                f"the aggregator does not serve its parameters ({exc.status} {exc.code})",
                evidence=evidence,
            )
            return
        served = fc.keccak256(data)
        evidence["served_hash"] = _hex(served)
        self._params_hash = _hex(served)
        if served != on_chain:
            self._params_check = CheckResult(
                "parameters",
                CheckStatus.FAIL,
                f"served parameters hash to {_short(_hex(served))}, the chain committed "
                f"{_short(_hex(on_chain))}",
                evidence=evidence,
            )
            return
        try:
            params = fc.get_params(self._params_id or "")
            self._context = fc.load_parameters_context(data, params)
        except (fc.ParameterError, fc.ContextError) as exc:
            self._params_check = CheckResult(
                "parameters",
                CheckStatus.FAIL,
                f"the served parameters match the chain but cannot be used: {exc}",
                evidence=evidence,
            )
            return
        self._params_check = CheckResult(
            "parameters",
            CheckStatus.PASS,
            f"served parameters ({params.id}) hash to the on-chain {_short(_hex(on_chain))}",
            evidence=evidence,
        )

    # ------------------------------------------------------------------ the audit

    def run(self, first: int = 1, last: int | None = None) -> AuditReport:
        """Audit rounds ``first..last`` (default: every round opened so far)."""
        started, clock = time.time(), time.perf_counter()
        try:
            self._block = int(self.ledger.w3.eth.block_number)
        except Exception as exc:
            raise ChainUnavailableError(f"cannot read the chain's block number: {exc}") from exc
        self._served_cache.clear()
        self._preflight()
        current = self.ledger.current_round(block=self._block)
        if current and first > current:
            raise AuditConfigError(
                f"round {first} has not been opened: the latest round is {current}"
            )
        last = current if last is None else min(last, current)
        quorum_bps = self.ledger.quorum_bps(block=self._block)
        timings: dict[str, float] = {"setup": time.perf_counter() - clock}
        mark = time.perf_counter()
        history = _read_history(self.ledger, self.from_block, self._block, self.page_size)
        timings["events"], mark = time.perf_counter() - mark, time.perf_counter()
        self._check_parameters(history)
        numbers = list(range(first, last + 1)) if current else []
        audits: list[RoundAudit] = []
        for done, number in enumerate(numbers, start=1):
            audits.append(self._audit_round(number, history, quorum_bps))
            if self.progress is not None:
                self.progress(number, done, len(numbers))
        timings["rounds"], mark = time.perf_counter() - mark, time.perf_counter()
        federation = self._federation_checks(history)
        timings["federation"] = time.perf_counter() - mark
        return AuditReport(
            chain_id=self.ledger.chain.chain_id,
            ledger=self.ledger.address,
            token=self.ledger.token.address,
            aggregator=self.client.base_url,
            auditor=self.client.account.address if self.client.account else "",
            block_number=self._block,
            from_block=self.from_block,
            current_round=current,
            first_round=first,
            last_round=last,
            quorum_bps=quorum_bps,
            params_id=self._params_id,
            parameters_hash=self._params_hash,
            rounds=tuple(audits),
            federation_checks=tuple(federation),
            started_at=started,
            duration_s=time.perf_counter() - clock,
            timings_s=timings,
        )

    def _audit_round(self, number: int, history: _History, quorum_bps: int) -> RoundAudit:
        info = self._round_info(number)
        events = history.rounds.get(number, _RoundEvents())
        state = info.status
        if (
            state is RoundPhase.NONE
        ):  # currentRound() says it was opened: the chain disagrees with itself
            raise LedgerError(f"round {number} is {info.status.name} at block {self._block}")
        transactions = {
            name: event.tx_hash
            for name, event in (
                ("open", events.opened),
                ("close", events.closed),
                ("publish", events.published),
                ("fail", events.failed),
            )
            if event is not None
        }
        reason = str(events.failed.args["reason"]) if events.failed is not None else None
        checks: list[CheckResult] = [self._check_base_model(number, info, history)]
        closed = events.closed
        common: dict[str, Any] = {
            "number": number,
            "state": state,
            "base_model_hash": _hex(info.base_model_hash),
            "deadline": info.deadline,
            "min_updates": info.min_updates,
            "committed": tuple(sorted(events.commits, key=lambda a: int(a, 16))),
            "transactions": transactions,
            "failure_reason": reason,
        }
        if closed is None:
            status = CheckStatus.SKIP
            if state is RoundPhase.OPEN:
                message = (
                    f"open until {info.deadline} (Unix time): {len(events.commits)} "
                    f"commitment(s) so far, {info.min_updates} needed; audited once closed"
                )
            elif state is RoundPhase.FAILED:
                message = f"failed before closing: {reason or 'no reason recorded'}"
            else:  # closed or published in storage, yet no RoundClosed in the log
                status = CheckStatus.FAIL
                message = f"{state} on chain but no RoundClosed event since block {self.from_block}"
            checks.append(CheckResult("round", status, message, number, evidence=transactions))
            return RoundAudit(checks=tuple(checks), **common)

        included = [Web3.to_checksum_address(a) for a in closed.args["included"]]
        aggregate_hash = bytes(closed.args["aggregateHash"])
        reward = int(closed.args["rewardPerUpdate"])
        quorum = info.quorum
        assert self._params_check is not None
        checks.append(
            CheckResult(
                "parameters",
                self._params_check.status,
                self._params_check.message,
                number,
                evidence=self._params_check.evidence,
            )
        )
        update_checks, recomputed = self._check_updates(number, included, events)
        checks.extend(update_checks)
        checks.extend(self._check_left_out(number, included, events, closed))
        checks.append(self._check_aggregate(number, aggregate_hash, info, closed, recomputed))
        checks.append(self._check_served_aggregate(number, aggregate_hash, closed))
        checks.extend(self._check_rewards(number, included, reward, closed, history))
        if state is RoundPhase.PUBLISHED:
            checks.extend(self._check_quorum(number, info, included, quorum_bps, events))
            checks.append(self._check_model(number, info, events))
        else:
            best = _attestation_counts(events.attestations)
            leading = max(best.values(), default=0)
            why = (
                f"awaiting attestations: the leading model hash has {leading} of the {quorum} "
                "needed"
                if state is RoundPhase.CLOSED
                else f"round failed after closing: {reason or 'no reason recorded'}"
            )
            checks.append(CheckResult("quorum", CheckStatus.SKIP, why, number))
            checks.append(CheckResult("model", CheckStatus.SKIP, "no model published", number))
        published = _hex(info.published_model_hash) if any(info.published_model_hash) else None
        return RoundAudit(
            checks=tuple(checks),
            aggregate_hash=_hex(aggregate_hash),
            published_model_hash=published,
            included=tuple(included),
            quorum=quorum,
            reward_per_update=reward,
            **common,
        )

    # ------------------------------------------------------------------ per-round checks

    def _check_base_model(self, number: int, info: RoundInfo, history: _History) -> CheckResult:
        base = info.base_model_hash
        served = self._served_model(base)
        evidence: dict[str, Any] = {"base_model_hash": _hex(base), **served.evidence()}
        # Lineage: the aggregator continues from the latest published model (or the initial one).
        expected: bytes | None = None
        for earlier in range(number - 1, 0, -1):
            published = history.rounds.get(earlier, _RoundEvents()).published
            if published is not None:
                expected = bytes(published.args["modelHash"])
                break
        if expected is None:
            first = history.rounds.get(1, _RoundEvents()).opened
            expected = bytes(first.args["baseModelHash"]) if first is not None else None
        if expected is not None:
            evidence["expected_lineage"] = _hex(expected)
        if served.actual is None:
            return CheckResult(
                "base_model",
                CheckStatus.FAIL,
                f"the base model {_short(_hex(base))} is not served ({served.error})",
                number,
                evidence=evidence,
            )
        if served.actual != base:
            return CheckResult(
                "base_model",
                CheckStatus.FAIL,
                f"bytes served for the base model hash to {_short(_hex(served.actual))}, not "
                f"{_short(_hex(base))}",
                number,
                evidence=evidence,
            )
        if expected is not None and expected != base:
            return CheckResult(
                "base_model",
                CheckStatus.WARN,
                f"base model {_short(_hex(base))} does not continue from the latest published "
                f"model {_short(_hex(expected))}",
                number,
                evidence=evidence,
            )
        return CheckResult(
            "base_model",
            CheckStatus.PASS,
            f"served base model hashes to {_short(_hex(base))}",
            number,
            evidence=evidence,
        )

    def _downloads(
        self, number: int, participants: Sequence[str]
    ) -> Iterator[tuple[str, Blob | None, str | None]]:
        """Each participant's update blob, downloaded ``prefetch`` ahead of the caller."""
        with ThreadPoolExecutor(max_workers=self.prefetch, thread_name_prefix="audit") as pool:
            queue: deque[tuple[str, Future[tuple[Blob | None, str | None]]]] = deque()
            remaining = iter(participants)

            def fill() -> None:
                while len(queue) < self.prefetch:
                    participant = next(remaining, None)
                    if participant is None:
                        return
                    queue.append(
                        (
                            participant,
                            pool.submit(
                                self._fetch,
                                functools.partial(self.client.update_blob, number, participant),
                            ),
                        )
                    )

            fill()
            while queue:
                participant, future = queue.popleft()
                fill()
                blob, error = future.result()
                yield participant, blob, error

    def _check_updates(
        self, number: int, included: Sequence[str], events: _RoundEvents
    ) -> tuple[list[CheckResult], bytes | None]:
        """One ``update`` result per included participant, and the recomputed aggregate."""
        results: list[CheckResult] = []
        summer = fc.StreamingAggregator(self._context) if self._context is not None else None
        all_verified = True
        for participant, blob, error in self._downloads(number, included):
            commit = events.commits.get(participant)
            evidence: dict[str, Any] = {
                "commitment": _hex(bytes(commit.args["updateHash"])) if commit else None,
                "commit_tx": commit.tx_hash if commit else None,
            }
            if commit is None:
                all_verified = False
                results.append(
                    CheckResult(
                        "update",
                        CheckStatus.FAIL,
                        "included without an UpdateCommitted event in this round",
                        number,
                        participant,
                        evidence,
                    )
                )
                continue
            committed = bytes(commit.args["updateHash"])
            if blob is None:
                all_verified = False
                results.append(
                    CheckResult(
                        "update",
                        CheckStatus.FAIL,
                        f"stored update is missing: the aggregator answered {error}",
                        number,
                        participant,
                        {**evidence, "error": error},
                    )
                )
                continue
            actual = fc.keccak256(blob.data)
            evidence.update(served_hash=_hex(actual), served_size=len(blob.data))
            if actual != committed:
                all_verified = False
                results.append(
                    CheckResult(
                        "update",
                        CheckStatus.FAIL,
                        f"stored update hashes to {_short(_hex(actual))}, the on-chain "
                        f"commitment is {_short(_hex(committed))}",
                        number,
                        participant,
                        evidence,
                    )
                )
                continue
            if summer is not None:
                try:
                    # A participant's update is a single contribution: an aggregate-kind blob
                    # could claim any contributor count.
                    if fc.parse_header(blob.data, summer.params).kind != fc.BlobKind.UPDATE:
                        raise fc.MalformedBlobError("an aggregate blob committed as an update")
                    summer.add(blob.data)
                except fc.BlobError as exc:
                    all_verified = False
                    results.append(
                        CheckResult(
                            "update",
                            CheckStatus.FAIL,
                            f"matches its commitment but is not a valid update under the "
                            f"federation's parameters: {exc}",
                            number,
                            participant,
                            evidence,
                        )
                    )
                    continue
            results.append(
                CheckResult(
                    "update",
                    CheckStatus.PASS,
                    f"stored update hashes to its commitment {_short(_hex(committed))}",
                    number,
                    participant,
                    evidence,
                )
            )
        recomputed = (
            fc.keccak256(summer.result())
            if summer is not None and all_verified and summer.contributors
            else None
        )
        return results, recomputed

    def _check_left_out(
        self, number: int, included: Sequence[str], events: _RoundEvents, closed: LedgerEvent
    ) -> list[CheckResult]:
        left_out = sorted(set(events.commits) - set(included), key=lambda a: int(a, 16))
        if not left_out:
            return [
                CheckResult(
                    "left_out",
                    CheckStatus.PASS,
                    f"all {len(events.commits)} committed participants were included",
                    number,
                    evidence={"close_tx": closed.tx_hash, "committed": len(events.commits)},
                )
            ]
        try:
            accepted: set[str] | None = {
                Web3.to_checksum_address(u["participant"]) for u in self.client.updates(number)
            }
        except AggregatorError:
            accepted = None
        results = []
        for participant in left_out:
            commit = events.commits[participant]
            listed = None if accepted is None else participant in accepted
            note = {
                True: "the aggregator lists an accepted upload from it",
                False: "the aggregator lists no upload from it",
                None: "the aggregator's update list is unavailable",
            }[listed]
            results.append(
                CheckResult(
                    "left_out",
                    CheckStatus.FAIL,
                    f"committed {_short(_hex(bytes(commit.args['updateHash'])))} but was left "
                    f"out of the aggregate (possibly dropped; {note})",
                    number,
                    participant,
                    {
                        "commitment": _hex(bytes(commit.args["updateHash"])),
                        "commit_tx": commit.tx_hash,
                        "close_tx": closed.tx_hash,
                        "aggregator_lists_upload": listed,
                    },
                )
            )
        return results

    def _check_aggregate(
        self,
        number: int,
        aggregate_hash: bytes,
        info: RoundInfo,
        closed: LedgerEvent,
        recomputed: bytes | None,
    ) -> CheckResult:
        evidence: dict[str, Any] = {
            "on_chain_hash": _hex(aggregate_hash),
            "close_tx": closed.tx_hash,
            "recomputed_hash": _hex(recomputed) if recomputed is not None else None,
        }
        if info.aggregate_hash != aggregate_hash:
            evidence["stored_hash"] = _hex(info.aggregate_hash)
        if recomputed is None:
            why = (
                "the CKKS parameters could not be verified"
                if self._context is None
                else "not every included update could be verified (see the update checks)"
            )
            return CheckResult(
                "aggregate",
                CheckStatus.FAIL,
                f"the aggregate cannot be recomputed: {why}",
                number,
                evidence=evidence,
            )
        if recomputed != aggregate_hash:
            return CheckResult(
                "aggregate",
                CheckStatus.FAIL,
                f"the included updates sum to {_short(_hex(recomputed))}, the chain recorded "
                f"{_short(_hex(aggregate_hash))}",
                number,
                evidence=evidence,
            )
        return CheckResult(
            "aggregate",
            CheckStatus.PASS,
            f"recomputed sum of the included updates hashes to {_short(_hex(aggregate_hash))}",
            number,
            evidence=evidence,
        )

    def _check_served_aggregate(
        self, number: int, aggregate_hash: bytes, closed: LedgerEvent
    ) -> CheckResult:
        blob, error = self._fetch(lambda: self.client.aggregate(number))
        evidence: dict[str, Any] = {
            "on_chain_hash": _hex(aggregate_hash),
            "close_tx": closed.tx_hash,
        }
        if blob is None:
            return CheckResult(
                "served_aggregate",
                CheckStatus.FAIL,
                f"the aggregate is not served ({error})",
                number,
                evidence={**evidence, "error": error},
            )
        actual = fc.keccak256(blob.data)
        evidence.update(served_hash=_hex(actual), served_size=len(blob.data))
        if actual != aggregate_hash:
            return CheckResult(
                "served_aggregate",
                CheckStatus.FAIL,
                f"the served aggregate hashes to {_short(_hex(actual))}, the chain recorded "
                f"{_short(_hex(aggregate_hash))}",
                number,
                evidence=evidence,
            )
        return CheckResult(
            "served_aggregate",
            CheckStatus.PASS,
            f"served aggregate hashes to {_short(_hex(aggregate_hash))}",
            number,
            evidence=evidence,
        )

    def _check_rewards(
        self,
        number: int,
        included: Sequence[str],
        reward: int,
        closed: LedgerEvent,
        history: _History,
    ) -> list[CheckResult]:
        minted: dict[str, list[int]] = {}
        for mint in history.mints:
            if mint.tx_hash == closed.tx_hash:
                to = Web3.to_checksum_address(mint.args["to"])
                minted.setdefault(to, []).append(int(mint.args["value"]))
        expected = {p: reward for p in included} if reward else {}
        base = {"close_tx": closed.tx_hash, "reward_per_update": str(reward)}
        results = []
        for participant in sorted(set(expected) | set(minted), key=lambda a: int(a, 16)):
            amounts = minted.get(participant, [])
            want = expected.get(participant)
            evidence = {**base, "minted": [str(a) for a in amounts]}
            if want is None:
                message = (
                    f"got {tokens(sum(amounts))} in the close transaction without being included"
                )
            elif not amounts:
                message = f"included but minted nothing (expected {tokens(want)})"
            elif amounts != [want]:
                message = (
                    f"minted {' + '.join(map(tokens, amounts))}, expected exactly {tokens(want)}"
                )
            else:
                continue
            results.append(
                CheckResult("rewards", CheckStatus.FAIL, message, number, participant, evidence)
            )
        if results:
            return results
        return [
            CheckResult(
                "rewards",
                CheckStatus.PASS,
                f"{len(expected)} mint(s) of {tokens(reward)} in the close transaction, one "
                "per included participant",
                number,
                evidence={**base, "mints": len(expected)},
            )
        ]

    def _check_quorum(
        self,
        number: int,
        info: RoundInfo,
        included: Sequence[str],
        quorum_bps: int,
        events: _RoundEvents,
    ) -> list[CheckResult]:
        published = info.published_model_hash
        rule = quorum_for(len(included), quorum_bps)
        members = set(included)
        attesters = sorted(
            {
                Web3.to_checksum_address(a.args["participant"])
                for a in events.attestations
                if bytes(a.args["modelHash"]) == published
            },
            key=lambda a: int(a, 16),
        )
        evidence: dict[str, Any] = {
            "published_model_hash": _hex(published),
            "attestations": len(attesters),
            "quorum": info.quorum,
            "quorum_rule": rule,
            "attesters": attesters,
            "publish_tx": events.published.tx_hash if events.published is not None else None,
            "attest_txs": [
                a.tx_hash for a in events.attestations if bytes(a.args["modelHash"]) == published
            ],
        }
        problems = []
        if events.published is None:
            problems.append("no ModelPublished event")
        elif bytes(events.published.args["modelHash"]) != published:
            problems.append(
                "ModelPublished names "
                f"{_short(_hex(bytes(events.published.args['modelHash'])))}, the round records "
                f"{_short(_hex(published))}"
            )
        if info.quorum != rule:
            problems.append(f"the round's quorum {info.quorum} is not the rule's {rule}")
        outsiders = [a for a in attesters if a not in members]
        if outsiders:
            problems.append(f"attestations from participants not included: {', '.join(outsiders)}")
        counted = len([a for a in attesters if a in members])
        if counted < max(info.quorum, rule):
            needed = max(info.quorum, rule)
            problems.append(f"only {counted} attestation(s), the quorum is {needed}")
        results = []
        if problems:
            results.append(
                CheckResult("quorum", CheckStatus.FAIL, "; ".join(problems), number, None, evidence)
            )
        else:
            results.append(
                CheckResult(
                    "quorum",
                    CheckStatus.PASS,
                    f"{counted} of {len(included)} included participants attested "
                    f"{_short(_hex(published))} (quorum {info.quorum})",
                    number,
                    evidence=evidence,
                )
            )
        for attestation in events.attestations:
            model_hash = bytes(attestation.args["modelHash"])
            if model_hash != published:
                results.append(
                    CheckResult(
                        "quorum",
                        CheckStatus.WARN,
                        f"attested a different model hash {_short(_hex(model_hash))}",
                        number,
                        Web3.to_checksum_address(attestation.args["participant"]),
                        {"model_hash": _hex(model_hash), "attest_tx": attestation.tx_hash},
                    )
                )
        return results

    def _check_model(self, number: int, info: RoundInfo, events: _RoundEvents) -> CheckResult:
        published = info.published_model_hash
        served = self._served_model(published)
        evidence: dict[str, Any] = {
            "published_model_hash": _hex(published),
            "publish_tx": events.published.tx_hash if events.published is not None else None,
            **served.evidence(),
        }
        if served.actual is None:
            return CheckResult(
                "model",
                CheckStatus.FAIL,
                f"the published model is not served ({served.error})",
                number,
                evidence=evidence,
            )
        if served.actual != published:
            return CheckResult(
                "model",
                CheckStatus.FAIL,
                f"bytes served for the published model hash to {_short(_hex(served.actual))}, "
                f"not {_short(_hex(published))}",
                number,
                evidence=evidence,
            )
        return CheckResult(
            "model",
            CheckStatus.PASS,
            f"served model bytes hash to the published {_short(_hex(published))}",
            number,
            evidence=evidence,
        )

    # ------------------------------------------------------------------ federation-wide checks

    def _federation_checks(self, history: _History) -> list[CheckResult]:
        close_txs = {r.closed.tx_hash: (n, r.closed) for n, r in history.rounds.items() if r.closed}
        results: list[CheckResult] = []
        # Supply: every mint comes from a closeRound, and they add up to the total supply.
        supply = self.ledger.token_supply(block=self._block)
        minted = sum(int(m.args["value"]) for m in history.mints)
        owed = sum(
            int(closed.args["rewardPerUpdate"]) * len(closed.args["included"])
            for _, closed in close_txs.values()
        )
        stray = [m for m in history.mints if m.tx_hash not in close_txs]
        evidence: dict[str, Any] = {
            "total_supply": str(supply),
            "minted": str(minted),
            "owed_by_reward_rule": str(owed),
            "mints": len(history.mints),
            "closed_rounds": len(close_txs),
        }
        problems = []
        if supply != minted:
            problems.append(
                f"total supply {tokens(supply)} differs from the {tokens(minted)} minted"
            )
        if minted != owed:
            problems.append(f"{tokens(minted)} minted but the reward rule owes {tokens(owed)}")
        if stray:
            problems.append(
                f"{len(stray)} mint(s) outside any closeRound transaction: "
                + ", ".join(m.tx_hash for m in stray[:5])
            )
        results.append(
            CheckResult(
                "token_supply",
                CheckStatus.FAIL if problems else CheckStatus.PASS,
                "; ".join(problems)
                if problems
                else f"supply {tokens(supply)} = the rewards of {len(close_txs)} closed rounds",
                evidence=evidence,
            )
        )
        # Balances: each holder's balance = mints + transfers in - transfers out, and its mints
        # are exactly the rewards of the rounds that included it.
        owed_to: dict[str, int] = {}
        for _, closed in close_txs.values():
            for address in closed.args["included"]:
                key = Web3.to_checksum_address(address)
                owed_to[key] = owed_to.get(key, 0) + int(closed.args["rewardPerUpdate"])
        flows: dict[str, int] = {}
        mints_to: dict[str, int] = {}
        for transfer in history.transfers:
            source = Web3.to_checksum_address(transfer.args["from"])
            target = Web3.to_checksum_address(transfer.args["to"])
            value = int(transfer.args["value"])
            if source != ZERO_ADDRESS:
                flows[source] = flows.get(source, 0) - value
            else:
                mints_to[target] = mints_to.get(target, 0) + value
            if target != ZERO_ADDRESS:
                flows[target] = flows.get(target, 0) + value
        holders = sorted(set(flows) | set(owed_to), key=lambda a: int(a, 16))
        failed = []
        for holder in holders:
            balance = self.ledger.token_balance(holder, block=self._block)
            problems = []
            if balance != flows.get(holder, 0):
                problems.append(
                    f"balance {tokens(balance)} differs from its recorded mints and transfers "
                    f"({tokens(flows.get(holder, 0))})"
                )
            if mints_to.get(holder, 0) != owed_to.get(holder, 0):
                problems.append(
                    f"was minted {tokens(mints_to.get(holder, 0))}, the reward rule owes it "
                    f"{tokens(owed_to.get(holder, 0))}"
                )
            if problems:
                failed.append(
                    CheckResult(
                        "balances",
                        CheckStatus.FAIL,
                        "; ".join(problems),
                        participant=holder,
                        evidence={
                            "balance": str(balance),
                            "from_transfers": str(flows.get(holder, 0)),
                            "minted": str(mints_to.get(holder, 0)),
                            "owed_by_reward_rule": str(owed_to.get(holder, 0)),
                        },
                    )
                )
        if failed:
            results.extend(failed)
        else:
            results.append(
                CheckResult(
                    "balances",
                    CheckStatus.PASS,
                    f"{len(holders)} token balance(s) equal their rewards and transfers",
                    evidence={"holders": len(holders)},
                )
            )
        return results


def _attestation_counts(attestations: Sequence[LedgerEvent]) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for a in attestations:
        digest = bytes(a.args["modelHash"])
        counts[digest] = counts.get(digest, 0) + 1
    return counts


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
