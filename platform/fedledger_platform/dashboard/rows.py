"""The rounds timeline as rows: each round's record on chain, its events (commitments,
inclusion, attestations, the lifecycle transactions), the gas of those transactions and the
sizes the aggregator lists. Pure functions of what was read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.audit import History, RoundEvents
from fedledger_platform.dashboard.model import Contribution, RoundRow
from fedledger_platform.ledger import LedgerEvent, RoundInfo
from fedledger_platform.protocol import RoundPhase

__all__ = ["model_points", "round_gas", "round_rows"]


def _hash(digest: bytes) -> str | None:
    return fc.hash_hex(digest) if any(digest) else None


def round_gas(events: RoundEvents, gas: Mapping[str, int]) -> dict[str, int]:
    """Gas used by the round's transactions: ``open``, ``commits``, ``close`` (which mints the
    rewards), ``attestations`` (the last one publishes) and ``fail``, with their ``total``;
    a transaction whose receipt was not read yet counts nothing. A relayed batch is one
    transaction for all its items: counted once."""

    def of(found: list[LedgerEvent | None]) -> int:
        return sum(gas.get(tx, 0) for tx in {e.tx_hash for e in found if e is not None})

    parts = {
        "open": of([events.opened]),
        "commits": of(list(events.commits.values())),
        "close": of([events.closed]),
        "attestations": of(list(events.attestations)),
        "fail": of([events.failed]),
    }
    found = {name: value for name, value in parts.items() if value}
    found["total"] = sum(found.values())
    return found


def round_rows(
    history: History,
    infos: Mapping[int, RoundInfo],
    gas: Mapping[str, int],
    sizes: Mapping[int, Mapping[str, int]],
    model_sizes: Mapping[str, int],
) -> tuple[RoundRow, ...]:
    """One row per round the chain opened (``infos``), oldest first.

    ``sizes`` holds, per round, the byte size of each accepted upload the aggregator lists;
    ``model_sizes`` the size of each stored model by hash.
    """
    rows = []
    for number in sorted(infos):
        info = infos[number]
        events = history.round(number)
        closed = events.closed
        included = (
            tuple(Web3.to_checksum_address(a) for a in closed.args["included"])
            if closed is not None
            else ()
        )
        attested = {
            str(Web3.to_checksum_address(a.args["participant"])): a for a in events.attestations
        }
        uploads = sizes.get(number, {})
        contributions = tuple(
            Contribution(
                participant=participant,
                commitment=fc.hash_hex(bytes(commit.args["updateHash"])),
                commit_tx=commit.tx_hash,
                commit_gas=gas.get(commit.tx_hash),
                included=participant in included if closed is not None else None,
                size=uploads.get(participant),
                attested=(
                    fc.hash_hex(bytes(attested[participant].args["modelHash"]))
                    if participant in attested
                    else None
                ),
                attest_tx=attested[participant].tx_hash if participant in attested else None,
            )
            for participant, commit in sorted(
                events.commits.items(), key=lambda item: int(item[0], 16)
            )
        )
        published = _hash(info.published_model_hash)
        rows.append(
            RoundRow(
                number=number,
                state=info.status,
                deadline=info.deadline,
                min_updates=info.min_updates,
                quorum=info.quorum,
                base_model_hash=fc.hash_hex(info.base_model_hash),
                aggregate_hash=_hash(info.aggregate_hash),
                published_model_hash=published,
                contributions=contributions,
                included=included,
                transactions=events.transactions,
                gas=round_gas(events, gas),
                reward_per_update=(
                    int(closed.args["rewardPerUpdate"]) if closed is not None else None
                ),
                failure_reason=events.failure_reason,
                model_size=model_sizes.get(published) if published else None,
                dropped=(
                    tuple(Web3.to_checksum_address(a) for a in closed.args["dropped"])
                    if closed is not None
                    else ()
                ),
            )
        )
    return tuple(rows)


def model_points(rows: Sequence[RoundRow]) -> list[tuple[int, str]]:
    """``(round, model hash)`` of the initial model (round 1's base, as round 0) and of each
    published model, in round order."""
    points: list[tuple[int, str]] = [(0, rows[0].base_model_hash)] if rows else []
    points += [
        (r.number, r.published_model_hash)
        for r in rows
        if r.state is RoundPhase.PUBLISHED and r.published_model_hash
    ]
    return points
