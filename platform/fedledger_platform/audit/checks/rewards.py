"""``rewards``: a round's close transaction minted its reward to each included participant,
exactly once, and to nobody else."""

from __future__ import annotations

from collections.abc import Sequence

from web3 import Web3

from fedledger_platform.audit.results import CheckResult, CheckStatus, by_address, tokens
from fedledger_platform.ledger import LedgerEvent

__all__ = ["check_rewards"]


def check_rewards(
    number: int, included: Sequence[str], closed: LedgerEvent, mints: Sequence[LedgerEvent]
) -> list[CheckResult]:
    """The ``mints`` (token transfers from the zero address) of round ``number``'s close
    transaction against its ``rewardPerUpdate`` to each of ``included``: a failure per
    participant minted the wrong amount, or one pass."""
    reward = int(closed.args["rewardPerUpdate"])
    minted: dict[str, list[int]] = {}
    for mint in mints:
        if mint.tx_hash == closed.tx_hash:
            to = Web3.to_checksum_address(mint.args["to"])
            minted.setdefault(to, []).append(int(mint.args["value"]))
    expected = {p: reward for p in included} if reward else {}
    base = {"close_tx": closed.tx_hash, "reward_per_update": str(reward)}
    results = []
    for participant in by_address(set(expected) | set(minted)):
        amounts = minted.get(participant, [])
        want = expected.get(participant)
        if want is None:
            message = f"got {tokens(sum(amounts))} in the close transaction without being included"
        elif not amounts:
            message = f"included but minted nothing (expected {tokens(want)})"
        elif amounts != [want]:
            message = f"minted {' + '.join(map(tokens, amounts))}, expected exactly {tokens(want)}"
        else:
            continue
        evidence = {**base, "minted": [str(a) for a in amounts]}
        results.append(
            CheckResult("rewards", CheckStatus.FAIL, message, number, participant, evidence)
        )
    if results:
        return results
    return [
        CheckResult(
            "rewards",
            CheckStatus.PASS,
            f"{len(expected)} mint(s) of {tokens(reward)} in the close transaction, one per "
            "included participant",
            number,
            evidence={**base, "mints": len(expected)},
        )
    ]
