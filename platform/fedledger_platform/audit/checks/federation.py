"""``token_supply`` and ``balances``: the token's supply and every balance follow from the
reward rule and the recorded transfers, across the whole federation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from fedledger_platform.audit.history import ZERO_ADDRESS, History
from fedledger_platform.audit.results import CheckResult, CheckStatus, by_address, tokens

__all__ = ["Accounts", "check_balances", "check_token_supply"]


@dataclass(frozen=True)
class Accounts:
    """Each holder's token movements as the history records them."""

    #: Mints plus transfers in minus transfers out.
    flows: dict[str, int] = field(default_factory=dict)
    #: What was minted to it.
    minted: dict[str, int] = field(default_factory=dict)
    #: What the reward rule owes it: ``rewardPerUpdate`` of every closed round that included it.
    owed: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, history: History) -> Accounts:
        """The accounts of every holder and every rewarded participant in ``history``."""
        accounts = cls()
        for closed in history.closes.values():
            for address in closed.args["included"]:
                key = Web3.to_checksum_address(address)
                accounts.owed[key] = accounts.owed.get(key, 0) + int(closed.args["rewardPerUpdate"])
        for transfer in history.transfers:
            source = Web3.to_checksum_address(transfer.args["from"])
            target = Web3.to_checksum_address(transfer.args["to"])
            value = int(transfer.args["value"])
            if source != ZERO_ADDRESS:
                accounts.flows[source] = accounts.flows.get(source, 0) - value
            else:
                accounts.minted[target] = accounts.minted.get(target, 0) + value
            if target != ZERO_ADDRESS:
                accounts.flows[target] = accounts.flows.get(target, 0) + value
        return accounts

    @property
    def holders(self) -> list[str]:
        """Everyone with recorded movements or owed a reward, in address order."""
        return by_address(set(self.flows) | set(self.owed))


def check_token_supply(supply: int, history: History) -> CheckResult:
    """The token's total ``supply`` equals the sum of its mints, every mint happened in a
    ``closeRound`` transaction, and the mints add up to the rewards of every closed round."""
    closes = history.closes
    mints = history.mints
    minted = sum(int(m.args["value"]) for m in mints)
    owed = sum(
        int(closed.args["rewardPerUpdate"]) * len(closed.args["included"])
        for closed in closes.values()
    )
    stray = [m for m in mints if m.tx_hash not in closes]
    evidence: dict[str, Any] = {
        "total_supply": str(supply),
        "minted": str(minted),
        "owed_by_reward_rule": str(owed),
        "mints": len(mints),
        "closed_rounds": len(closes),
    }
    problems = []
    if supply != minted:
        problems.append(f"total supply {tokens(supply)} differs from the {tokens(minted)} minted")
    if minted != owed:
        problems.append(f"{tokens(minted)} minted but the reward rule owes {tokens(owed)}")
    if stray:
        problems.append(
            f"{len(stray)} mint(s) outside any closeRound transaction: "
            + ", ".join(m.tx_hash for m in stray[:5])
        )
    if problems:
        return CheckResult("token_supply", CheckStatus.FAIL, "; ".join(problems), evidence=evidence)
    message = f"supply {tokens(supply)} = the rewards of {len(closes)} closed rounds"
    return CheckResult("token_supply", CheckStatus.PASS, message, evidence=evidence)


def check_balances(accounts: Accounts, balances: Mapping[str, int]) -> list[CheckResult]:
    """Each holder's on-chain balance (``balances``, one per ``accounts.holders``) equals its
    recorded flows, and its mints equal what the reward rule owes it: a failure per holder
    that does not, or one pass."""
    failed = []
    for holder in accounts.holders:
        balance = balances[holder]
        flow = accounts.flows.get(holder, 0)
        minted = accounts.minted.get(holder, 0)
        owed = accounts.owed.get(holder, 0)
        problems = []
        if balance != flow:
            problems.append(
                f"balance {tokens(balance)} differs from its recorded mints and transfers "
                f"({tokens(flow)})"
            )
        if minted != owed:
            problems.append(f"was minted {tokens(minted)}, the reward rule owes it {tokens(owed)}")
        if problems:
            evidence = {
                "balance": str(balance),
                "from_transfers": str(flow),
                "minted": str(minted),
                "owed_by_reward_rule": str(owed),
            }
            failed.append(
                CheckResult(
                    "balances",
                    CheckStatus.FAIL,
                    "; ".join(problems),
                    participant=holder,
                    evidence=evidence,
                )
            )
    if failed:
        return failed
    return [
        CheckResult(
            "balances",
            CheckStatus.PASS,
            f"{len(accounts.holders)} token balance(s) equal their rewards and transfers",
            evidence={"holders": len(accounts.holders)},
        )
    ]
