"""A participant's side of pairwise masking: its mask for a round, and its reveals when mask
neighbours drop out (docs/protocol.md, §15).

Everything is read from the chain (:class:`~fedledger_platform.ledger.Membership`): the round's
members, its neighbour graph, the neighbours' registered keys. The aggregator only says which
members it dropped, and that claim is checked before anything is revealed: a participant never
reveals for a non-member or a non-neighbour, and refuses to reveal at all when the aggregator
lists it as dropped or leaves out its accepted update — a sign the aggregator holds an update it
claims is missing (docs/threat-model.md).
"""

from __future__ import annotations

import logging

from eth_account.signers.local import LocalAccount
from web3 import Web3

from fedledger_clients.errors import ProtocolError
from fedledger_crypto import masking as mk
from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.ledger import Ledger, Membership, RoundInfo, RoundMembers
from fedledger_platform.protocol import RoundPhase

__all__ = ["ParticipantMasking"]

log = logging.getLogger("fedledger.client")


class ParticipantMasking:
    """One participant's masking in one federation."""

    def __init__(self, account: LocalAccount, ledger: Ledger, client: AggregatorClient) -> None:
        self.account = account
        self.client = client
        self.membership = Membership(ledger)

    def members(self, number: int, info: RoundInfo | None = None) -> RoundMembers:
        """Round ``number``'s members and graph (``info``: the round just read, if at hand)."""
        return self.membership.of(number, info)

    def may_submit(self, number: int, info: RoundInfo | None = None) -> bool:
        """Whether this participant may submit in round ``number``: always without masking,
        else only as one of the round's members (admitted before it opened)."""
        members = self.members(number, info)
        return not members.masking or members.is_member(self.account.address)

    def mask(self, number: int, info: RoundInfo | None = None) -> mk.Mask | None:
        """This participant's mask in round ``number`` (``None`` when the round is unmasked)."""
        members = self.members(number, info)
        if not members.masking:
            return None
        if not members.is_member(self.account.address):
            raise ProtocolError(
                f"{self.account.address} was admitted after round {number} opened: it is not a "
                "member of that round's mask graph and takes part from the next round"
            )
        return members.mask(bytes(self.account.key), self.account.address)

    def reveal(self, number: int) -> list[mk.Reveal]:
        """In an unmasking round, reveal (signed) the points this participant shares with the
        dropped members among its neighbours; returns them (none outside ``unmasking``)."""
        served = self.client.round(number)
        if served["phase"] != RoundPhase.UNMASKING:
            return []
        me = self.account.address
        members = self.members(number)
        dropped = [Web3.to_checksum_address(d) for d in served["dropped"]]
        where = f"round {number}: the aggregator"
        if me in dropped or me not in served["participants"]:
            raise ProtocolError(
                f"{where} lists {me} as dropped (or not accepted) although it accepted its "
                "update: refusing to reveal; its neighbours' reveals would expose that update"
            )
        strangers = [d for d in dropped if not members.is_member(d)]
        if strangers:
            raise ProtocolError(
                f"{where} lists non-members {', '.join(strangers)} as dropped: refusing to reveal"
            )
        neighbours = set(members.neighbours(me))
        reveals = [
            mk.make_reveal(bytes(self.account.key), members.public_keys[d.lower()], members.context)
            for d in dropped
            if d in neighbours
        ]
        if reveals:
            self.client.submit_reveals(number, reveals)
            log.info("%s revealed %d mask seeds in round %d", me, len(reveals), number)
        return reveals
