"""The typed facade of ``FederationLedger`` and its ``ContributionToken``: one method per
contract function, typed results.

Calldata is encoded and answers and events decoded from tables computed once from the ABIs
(:mod:`~fedledger_platform.ledger.abi`); transactions are signed and sent, and failures
translated into :mod:`fedledger_platform.errors`, by
:mod:`~fedledger_platform.ledger.transactions`. Reads on a JSON-RPC node go out as plain
``eth_call`` (:meth:`~fedledger_platform.ledger.chain.Chain.rpc`), on the embedded chain
through web3.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from fedledger_platform.errors import ChainUnavailableError, TransactionFailedError
from fedledger_platform.ledger.abi import (
    ErrorDecoder,
    EventDecoder,
    Log,
    Receipt,
    creation_data,
    functions,
)
from fedledger_platform.ledger.artifacts import load_artifact
from fedledger_platform.ledger.chain import Chain
from fedledger_platform.ledger.transactions import Transactor, translate
from fedledger_platform.protocol import RoundPhase

__all__ = [
    "AGGREGATOR_ROLE",
    "AUDITOR_ROLE",
    "OPERATOR_ROLE",
    "Ledger",
    "LedgerEvent",
    "RoundInfo",
    "TxResult",
]

OPERATOR_ROLE = Web3.keccak(text="OPERATOR_ROLE")
AGGREGATOR_ROLE = Web3.keccak(text="AGGREGATOR_ROLE")
AUDITOR_ROLE = Web3.keccak(text="AUDITOR_ROLE")


@dataclass(frozen=True)
class RoundInfo:
    """One round as the ledger records it (hashes are 32 raw bytes; zero when unset)."""

    number: int
    status: RoundPhase
    deadline: int
    min_updates: int
    included_count: int
    quorum: int
    base_model_hash: bytes
    aggregate_hash: bytes
    published_model_hash: bytes


@dataclass(frozen=True)
class LedgerEvent:
    """A decoded contract event with where it happened."""

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int
    address: str


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction: hash, block, gas used and the events it emitted."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: tuple[LedgerEvent, ...]

    def event(self, name: str) -> LedgerEvent:
        """The first event called ``name`` (``LookupError`` when absent)."""
        for event in self.events:
            if event.name == name:
                return event
        raise LookupError(f"transaction {self.tx_hash} emitted no {name} event")


class Ledger:
    """A deployed ``FederationLedger`` (and its token) on one chain."""

    def __init__(self, chain: Chain, address: str, *, receipt_timeout_s: float = 120.0) -> None:
        self.chain = chain
        self.w3: Web3 = chain.w3
        ledger_artifact = load_artifact("FederationLedger")
        token_artifact = load_artifact("ContributionToken")
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = self.w3.eth.contract(
            address=self.address, abi=ledger_artifact.abi
        )
        self._errors = ErrorDecoder([ledger_artifact.abi, token_artifact.abi])
        self._functions = functions(ledger_artifact.abi)
        self._events = EventDecoder([ledger_artifact.abi, token_artifact.abi])
        self._transactor = Transactor(chain, self._errors, receipt_timeout_s=receipt_timeout_s)
        # eth-tester insists that a call's sender can afford its gas; JSON-RPC nodes need none.
        self._call_from: dict[str, Any] = (
            {"from": chain.faucet().address} if chain.is_embedded else {}
        )
        token_address = self._call("token")
        self.token: Contract = self.w3.eth.contract(
            address=Web3.to_checksum_address(token_address), abi=token_artifact.abi
        )

    # ------------------------------------------------------------------ deployment

    @classmethod
    def deploy(
        cls,
        chain: Chain,
        deployer: LocalAccount,
        *,
        reward_per_update: int,
        quorum_bps: int,
        admin: str | None = None,
    ) -> tuple[Ledger, TxResult]:
        """Deploy a new ledger (which creates its own token); returns it and the deploy receipt."""
        artifact = load_artifact("FederationLedger")
        data = creation_data(
            artifact.abi,
            artifact.bytecode,
            [Web3.to_checksum_address(admin or deployer.address), reward_per_update, quorum_bps],
        )
        errors = ErrorDecoder([artifact.abi, load_artifact("ContributionToken").abi])
        transactor = Transactor(chain, errors, receipt_timeout_s=120.0)
        receipt = transactor.send(deployer, "constructor", to=None, data=data)
        if receipt.contract_address is None:
            raise TransactionFailedError("deployment receipt carries no contract address")
        ledger = cls(chain, receipt.contract_address)
        return ledger, ledger._result(receipt)

    # ------------------------------------------------------------------ low level

    def _call(self, function: str, *args: Any, block: int | None = None) -> Any:
        view = self._functions[function]
        data = view.encode(args)
        if not self.chain.is_embedded:
            # The lean path. A revert or an undecodable answer is re-run through web3 below,
            # which reports it as precisely as ever; an unreachable node is reported at once.
            call = {"to": self.address, "data": "0x" + data.hex()}
            try:
                block_param = "latest" if block is None else hex(block)
                return view.decode(HexBytes(self.chain.rpc("eth_call", [call, block_param])))
            except ChainUnavailableError:
                raise
            except Exception:  # handled by the full path below
                pass
        try:
            raw = self.w3.eth.call(
                {**self._call_from, "to": self.address, "data": HexBytes(data)},  # type: ignore[typeddict-item]
                "latest" if block is None else block,
            )
            return view.decode(bytes(raw))
        except Exception as exc:
            raise translate(exc, function, self._errors) from exc

    def _transact(
        self, sender: LocalAccount, function: str, *args: Any, gas_hint: int | None = None
    ) -> TxResult:
        receipt = self._transactor.send(
            sender,
            function,
            to=self.address,
            data=self._functions[function].encode(args),
            gas_hint=gas_hint,
        )
        return self._result(receipt)

    def _result(self, receipt: Receipt) -> TxResult:
        return TxResult(
            tx_hash="0x" + receipt.tx_hash.hex(),
            block_number=receipt.block_number,
            gas_used=receipt.gas_used,
            events=tuple(e for e in (self._event(log) for log in receipt.logs) if e),
        )

    def _event(self, log: Log) -> LedgerEvent | None:
        """The ledger's or the token's event in ``log`` (``None`` for anything else)."""
        if log.address not in (self.address, self.token.address):
            return None
        decoded = self._events.decode(log)
        if decoded is None:
            return None
        name, args = decoded
        return LedgerEvent(
            name=name,
            args=args,
            block_number=log.block_number,
            tx_hash="0x" + log.tx_hash.hex(),
            log_index=log.log_index,
            address=log.address,
        )

    # ------------------------------------------------------------------ roles and set-up

    def grant_role(self, admin: LocalAccount, role: bytes, account: str) -> TxResult:
        """Grant ``role`` (e.g. :data:`AGGREGATOR_ROLE`) to ``account``."""
        return self._transact(admin, "grantRole", role, Web3.to_checksum_address(account))

    def has_role(self, role: bytes, account: str) -> bool:
        """Whether ``account`` holds ``role``."""
        return bool(self._call("hasRole", role, Web3.to_checksum_address(account)))

    def admit_participant(
        self, operator: LocalAccount, participant: str, public_key: bytes
    ) -> TxResult:
        """Admit ``participant`` with its 64-byte secp256k1 public key."""
        return self._transact(
            operator, "admitParticipant", Web3.to_checksum_address(participant), public_key
        )

    def remove_participant(self, operator: LocalAccount, participant: str) -> TxResult:
        """Remove an admitted participant."""
        return self._transact(operator, "removeParticipant", Web3.to_checksum_address(participant))

    def appoint_key_dealer(self, operator: LocalAccount, dealer: str) -> TxResult:
        """Appoint the participant that creates and distributes the CKKS keys."""
        return self._transact(operator, "appointKeyDealer", Web3.to_checksum_address(dealer))

    def commit_encryption_params(self, dealer: LocalAccount, params_hash: bytes) -> TxResult:
        """The key dealer commits the keccak256 of the public CKKS parameters."""
        return self._transact(dealer, "commitEncryptionParams", params_hash)

    def set_reward_per_update(self, operator: LocalAccount, amount: int) -> TxResult:
        """Change the reward minted per included update."""
        return self._transact(operator, "setRewardPerUpdate", amount)

    # ------------------------------------------------------------------ rounds

    def open_round(
        self,
        aggregator: LocalAccount,
        round_number: int,
        *,
        base_model_hash: bytes,
        deadline: int,
        min_updates: int,
    ) -> TxResult:
        """Open round ``round_number`` on ``base_model_hash`` until ``deadline`` (Unix s)."""
        return self._transact(
            aggregator, "openRound", round_number, base_model_hash, deadline, min_updates
        )

    def commit_update(
        self, participant: LocalAccount, round_number: int, update_hash: bytes
    ) -> TxResult:
        """Commit keccak256 of this participant's encrypted update for the round."""
        return self._transact(participant, "commitUpdate", round_number, update_hash)

    def close_round(
        self,
        aggregator: LocalAccount,
        round_number: int,
        *,
        aggregate_hash: bytes,
        included: Sequence[str],
    ) -> TxResult:
        """Close the round with the aggregate's hash; ``included`` is sorted here as required."""
        ordered = sorted({Web3.to_checksum_address(a) for a in included}, key=lambda a: int(a, 16))
        if len(ordered) != len(included):
            raise ValueError("included participants contain duplicates")
        return self._transact(
            aggregator,
            "closeRound",
            round_number,
            aggregate_hash,
            ordered,
            gas_hint=200_000 + 80_000 * len(ordered),  # per included: flag slot + first mint
        )

    def abandon_round(self, aggregator: LocalAccount, round_number: int, reason: str) -> TxResult:
        """Mark an open or closed (unpublished) round as failed."""
        return self._transact(aggregator, "abandonRound", round_number, reason)

    def attest_model(
        self, participant: LocalAccount, round_number: int, model_hash: bytes
    ) -> TxResult:
        """Attest the hash of the model this participant derived from the round's aggregate."""
        return self._transact(participant, "attestModel", round_number, model_hash)

    # ------------------------------------------------------------------ reads

    def current_round(self, *, block: int | None = None) -> int:
        """Number of the latest opened round (0 before the first); at ``block`` if given."""
        return int(self._call("currentRound", block=block))

    def get_round(self, round_number: int, *, block: int | None = None) -> RoundInfo:
        """The ledger's record of one round (at ``block`` if given, else the latest)."""
        r = self._call("getRound", round_number, block=block)
        return RoundInfo(
            number=round_number,
            status=RoundPhase.from_chain(int(r[0])),
            deadline=int(r[1]),
            min_updates=int(r[2]),
            included_count=int(r[3]),
            quorum=int(r[4]),
            base_model_hash=bytes(r[5]),
            aggregate_hash=bytes(r[6]),
            published_model_hash=bytes(r[7]),
        )

    def update_commitment(self, round_number: int, participant: str) -> bytes:
        """The participant's commitment for the round (32 zero bytes when none).

        Storage keeps each participant's latest commitment; for earlier rounds read the
        ``UpdateCommitted`` events (:meth:`events`).
        """
        return bytes(
            self._call("updateCommitment", round_number, Web3.to_checksum_address(participant))
        )

    def last_commit_round(self, participant: str) -> int:
        """The round of the participant's latest commitment (0 if it never committed)."""
        return int(self._call("lastCommitRound", Web3.to_checksum_address(participant)))

    def is_included(self, round_number: int, participant: str) -> bool:
        """Whether the participant's update went into the round's aggregate."""
        return bool(self._call("isIncluded", round_number, Web3.to_checksum_address(participant)))

    def has_attested(self, round_number: int, participant: str) -> bool:
        """Whether the participant attested a model hash for the round."""
        return bool(self._call("hasAttested", round_number, Web3.to_checksum_address(participant)))

    def attestation_count(self, round_number: int, model_hash: bytes) -> int:
        """How many included participants attested ``model_hash`` for the round."""
        return int(self._call("attestationCount", round_number, model_hash))

    def is_participant(self, address: str) -> bool:
        """Whether ``address`` is currently admitted."""
        return bool(self._call("isParticipant", Web3.to_checksum_address(address)))

    def participants(self) -> list[str]:
        """Currently admitted participants."""
        return [Web3.to_checksum_address(a) for a in self._call("participants")]

    def participant_public_key(self, address: str) -> bytes:
        """The 64-byte public key registered for ``address`` (empty when not admitted)."""
        return bytes(self._call("participantPublicKey", Web3.to_checksum_address(address)))

    def key_dealer(self) -> str:
        """The appointed key dealer (the zero address before appointment)."""
        return Web3.to_checksum_address(self._call("keyDealer"))

    def encryption_params_hash(self, *, block: int | None = None) -> bytes:
        """The committed public-parameters hash (zero bytes before the commitment)."""
        return bytes(self._call("encryptionParamsHash", block=block))

    def reward_per_update(self) -> int:
        """Tokens (base units) minted per included update."""
        return int(self._call("rewardPerUpdate"))

    def quorum_bps(self, *, block: int | None = None) -> int:
        """Attestation quorum in basis points of the included participants."""
        return int(self._call("quorumBps", block=block))

    def token_balance(self, address: str, *, block: int | None = None) -> int:
        """Contribution-token balance of ``address`` in base units (at ``block`` if given)."""
        fn = self.token.functions.balanceOf(Web3.to_checksum_address(address))
        try:
            return int(fn.call(block_identifier="latest" if block is None else block))
        except Exception as exc:
            raise translate(exc, "balanceOf", self._errors) from exc

    def token_supply(self, *, block: int | None = None) -> int:
        """Total contribution tokens minted (at ``block`` if given)."""
        fn = self.token.functions.totalSupply()
        try:
            return int(fn.call(block_identifier="latest" if block is None else block))
        except Exception as exc:
            raise translate(exc, "totalSupply", self._errors) from exc

    # ------------------------------------------------------------------ events

    def events(
        self,
        *,
        from_block: int = 0,
        to_block: int | None = None,
        names: Sequence[str] | None = None,
        page_size: int = 2_000,
    ) -> Iterator[LedgerEvent]:
        """Every event of the ledger and its token, in chain order.

        Reads ``eth_getLogs`` in pages of ``page_size`` blocks, so a long history never asks a
        node for more than one page at a time.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        try:
            last = self.w3.eth.block_number if to_block is None else to_block
        except Exception as exc:
            raise translate(exc, "eth_blockNumber", self._errors) from exc
        wanted = set(names) if names is not None else None
        start = from_block
        while start <= last:
            end = min(start + page_size - 1, last)
            try:
                logs = self.w3.eth.get_logs(
                    {
                        "address": [self.address, self.token.address],
                        "fromBlock": start,
                        "toBlock": end,
                    }
                )
            except Exception as exc:
                raise translate(exc, "eth_getLogs", self._errors) from exc
            for log in sorted(map(Log.of, logs), key=lambda x: (x.block_number, x.log_index)):
                event = self._event(log)
                if event is not None and (wanted is None or event.name in wanted):
                    yield event
            start = end + 1
