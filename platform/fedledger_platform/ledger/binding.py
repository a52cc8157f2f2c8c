"""The typed facade of ``FederationLedger`` and its ``ContributionToken``: one method per
contract function, typed results.

Calldata is encoded and answers and events decoded from tables computed once from the ABIs
(:mod:`~fedledger_platform.ledger.abi`); transactions are signed and sent, and failures
translated into :mod:`fedledger_platform.errors`, by
:mod:`~fedledger_platform.ledger.transactions`. Reads on a JSON-RPC node go out as plain
``eth_call`` (:meth:`~fedledger_platform.ledger.chain.Chain.rpc`), on the embedded chain
through web3. What the ledger emits without storing it (update hashes, public keys) is read
from its event log (:mod:`~fedledger_platform.ledger.eventlog`); messages that participants
sign for a relayer are made by :mod:`~fedledger_platform.ledger.relay`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from fedledger_platform.errors import ChainUnavailableError, TransactionFailedError
from fedledger_platform.ledger.abi import (
    ErrorDecoder,
    EventDecoder,
    Receipt,
    creation_data,
    functions,
)
from fedledger_platform.ledger.artifacts import load_artifact
from fedledger_platform.ledger.chain import Chain
from fedledger_platform.ledger.eventlog import EventLog, address_topic, uint_topic
from fedledger_platform.ledger.relay import LedgerDomain, SignedItem
from fedledger_platform.ledger.results import (
    LedgerEvent,
    MaskingConfig,
    RejectedItem,
    RelayResult,
    RoundInfo,
    TxResult,
)
from fedledger_platform.ledger.transactions import Transactor, gas_budget, translate
from fedledger_platform.protocol import RoundPhase

__all__ = [
    "AGGREGATOR_ROLE",
    "AUDITOR_ROLE",
    "OPERATOR_ROLE",
    "RELAYER_ROLE",
    "Ledger",
]

OPERATOR_ROLE = Web3.keccak(text="OPERATOR_ROLE")
AGGREGATOR_ROLE = Web3.keccak(text="AGGREGATOR_ROLE")
RELAYER_ROLE = Web3.keccak(text="RELAYER_ROLE")
AUDITOR_ROLE = Web3.keccak(text="AUDITOR_ROLE")


def _sorted_unique(accounts: Sequence[str], what: str) -> list[str]:
    """``accounts`` checksummed and ascending as uint160, as the ledger requires."""
    ordered: list[str] = sorted(
        {Web3.to_checksum_address(a) for a in accounts}, key=lambda a: int(a, 16)
    )
    if len(ordered) != len(accounts):
        raise ValueError(f"{what} participants contain duplicates")
    return ordered


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
        self.domain = LedgerDomain(chain.chain_id, self.address)
        self._transactor = Transactor(chain, self._errors, receipt_timeout_s=receipt_timeout_s)
        # eth-tester insists that a call's sender can afford its gas; JSON-RPC nodes need none.
        self._call_from: dict[str, Any] = (
            {"from": chain.faucet().address} if chain.is_embedded else {}
        )
        token_address = self._call("token")
        self.token: Contract = self.w3.eth.contract(
            address=Web3.to_checksum_address(token_address), abi=token_artifact.abi
        )
        self.log = EventLog(chain, self.address, self.token.address, self._events, self._errors)

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
            events=tuple(e for log in receipt.logs for e in self.log.decode(log)),
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

    def admit_participants(
        self, operator: LocalAccount, participants: Sequence[str], public_keys: Sequence[bytes]
    ) -> TxResult:
        """Admit many participants in one transaction (all or none), each with its 64-byte
        public key at the same position of ``public_keys``."""
        if len(participants) != len(public_keys):
            raise ValueError(f"{len(participants)} participants but {len(public_keys)} public keys")
        accounts = [Web3.to_checksum_address(p) for p in participants]
        # No devnet limit for a batch: its gas is estimated, as it grows with the batch.
        return self._transact(operator, "admitParticipants", accounts, list(public_keys))

    def remove_participant(self, operator: LocalAccount, participant: str) -> TxResult:
        """Remove an admitted participant."""
        return self._transact(operator, "removeParticipant", Web3.to_checksum_address(participant))

    def appoint_key_dealer(self, operator: LocalAccount, dealer: str) -> TxResult:
        """Appoint the participant that creates and distributes the CKKS keys."""
        return self._transact(operator, "appointKeyDealer", Web3.to_checksum_address(dealer))

    def commit_encryption_params(self, dealer: LocalAccount, params_hash: bytes) -> TxResult:
        """The key dealer commits the keccak256 of the public CKKS parameters."""
        return self._transact(dealer, "commitEncryptionParams", params_hash)

    def relay_encryption_params(
        self, relayer: LocalAccount, params_hash: bytes, signature: bytes
    ) -> TxResult:
        """Commit the parameters hash the key dealer signed
        (:func:`~fedledger_platform.ledger.relay.sign_encryption_params`)."""
        return self._transact(relayer, "relayEncryptionParams", params_hash, signature)

    def set_reward_per_update(self, operator: LocalAccount, amount: int) -> TxResult:
        """Change the reward minted per included update."""
        return self._transact(operator, "setRewardPerUpdate", amount)

    def configure_masking(
        self, operator: LocalAccount, *, enabled: bool, complete_up_to: int = 32, degree: int = 0
    ) -> TxResult:
        """Set the federation's masking rule; only before the first round opens."""
        return self._transact(operator, "configureMasking", enabled, complete_up_to, degree)

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

    def relay_commitments(
        self, relayer: LocalAccount, round_number: int, items: Sequence[SignedItem]
    ) -> RelayResult:
        """Commit the signed commitments of ``items``
        (:func:`~fedledger_platform.ledger.relay.sign_update_commitment`) in one transaction;
        the result names the items the ledger refused (the others are committed)."""
        return self._relay(relayer, "relayCommitments", round_number, items)

    def relay_attestations(
        self, relayer: LocalAccount, round_number: int, items: Sequence[SignedItem]
    ) -> RelayResult:
        """Record the signed attestations of ``items``
        (:func:`~fedledger_platform.ledger.relay.sign_model_attestation`) in one transaction;
        the result names the items the ledger refused (the others are recorded)."""
        return self._relay(relayer, "relayAttestations", round_number, items)

    def _relay(
        self, relayer: LocalAccount, function: str, round_number: int, items: Sequence[SignedItem]
    ) -> RelayResult:
        # No devnet limit for a batch: its gas is estimated, as it grows with the batch.
        tx = self._transact(relayer, function, round_number, [i.as_abi() for i in items])
        rejected = tuple(
            RejectedItem(
                index=int(event.args["index"]),
                signer=event.args["signer"],
                reason=self._errors.name_of(event.args["reason"]),
            )
            for event in tx.all("RelayedItemRejected")
        )
        return RelayResult(tx, rejected)

    def close_round(
        self,
        aggregator: LocalAccount,
        round_number: int,
        *,
        aggregate_hash: bytes,
        included: Sequence[str],
        dropped: Sequence[str] = (),
        corrections_hash: bytes = bytes(32),
    ) -> TxResult:
        """Close the round with the aggregate's hash. ``included`` and ``dropped`` (the mask
        graph's participants whose updates were not included) are sorted here as required;
        ``corrections_hash`` is keccak256 of the revealed seeds applied (zero: none)."""
        ordered = _sorted_unique(included, "included")
        return self._transact(
            aggregator,
            "closeRound",
            round_number,
            aggregate_hash,
            ordered,
            _sorted_unique(dropped, "dropped"),
            corrections_hash,
            gas_hint=200_000 + 60_000 * len(ordered),  # per included: at most a first mint
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
            opened_block=int(r[5]),
            base_model_hash=bytes(r[6]),
            aggregate_hash=bytes(r[7]),
            published_model_hash=bytes(r[8]),
        )

    def update_commitment(self, round_number: int, participant: str) -> bytes:
        """The participant's commitment for the round (32 zero bytes when none), whichever
        way it came (its own transaction or a relayed batch).

        The ledger stores who committed, not the hash: this reads the round's relayed batches
        (``UpdatesCommitted``, a few per round) for the participant, then its own
        ``UpdateCommitted`` event, from the block the round opened in. A participant commits
        once per round, so at most one of them holds it.
        """
        info = self.get_round(round_number)
        if info.status is RoundPhase.NONE:
            return bytes(32)
        address = Web3.to_checksum_address(participant)
        batches = self.log.find(
            "UpdatesCommitted", [uint_topic(round_number)], from_block=info.opened_block
        )
        found = [e for e in batches if e.args["participant"] == address]
        if not found:
            found = self.log.find(
                "UpdateCommitted",
                [uint_topic(round_number), address_topic(address)],
                from_block=info.opened_block,
                latest_only=True,
            )
        return bytes(found[-1].args["updateHash"]) if found else bytes(32)

    def has_committed(self, round_number: int, participant: str) -> bool:
        """Whether the participant committed in the round; always right for the open round
        (storage keeps each group's latest round: for earlier ones use the event log)."""
        return bool(self._call("hasCommitted", round_number, Web3.to_checksum_address(participant)))

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

    def participants(self, *, block: int | None = None) -> list[str]:
        """Admitted participants, in order of first admission (at ``block`` if given)."""
        return [Web3.to_checksum_address(a) for a in self._call("participants", block=block)]

    def admission_block(self, address: str, *, block: int | None = None) -> int:
        """The block ``address`` was admitted in (0 when it is not admitted; at ``block``)."""
        checksummed = Web3.to_checksum_address(address)
        return int(self._call("admissionBlock", checksummed, block=block))

    def block_hash(self, number: int) -> bytes:
        """The hash of block ``number`` (32 bytes)."""
        try:
            return bytes(self.w3.eth.get_block(number)["hash"])
        except Exception as exc:
            raise translate(exc, "eth_getBlockByNumber", self._errors) from exc

    def participant_public_key(self, address: str) -> bytes:
        """The 64-byte public key registered for ``address`` (empty when not admitted).

        The ledger checks the key against the address at admission and emits it, without
        storing it: this reads the ``ParticipantAdmitted`` event of the admission block.
        """
        block = self.admission_block(address)
        if block == 0:
            return b""
        found = self.log.find(
            "ParticipantAdmitted",
            [address_topic(address)],
            from_block=block,
            to_block=block,
            latest_only=True,
        )
        if not found:
            raise TransactionFailedError(
                f"no ParticipantAdmitted event of {address} in block {block}: "
                "the node does not serve that block's logs"
            )
        return bytes(found[-1].args["publicKey"])

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

    def masking(self, *, block: int | None = None) -> MaskingConfig:
        """The federation's masking rule."""
        enabled, complete_up_to, degree = self._call("masking", block=block)
        return MaskingConfig(bool(enabled), int(complete_up_to), int(degree))

    def update_commitment_digest(self, round_number: int, update_hash: bytes) -> bytes:
        """The EIP-712 digest of a commitment, as the ledger computes it."""
        return bytes(self._call("updateCommitmentDigest", round_number, update_hash))

    def model_attestation_digest(self, round_number: int, model_hash: bytes) -> bytes:
        """The EIP-712 digest of an attestation, as the ledger computes it."""
        return bytes(self._call("modelAttestationDigest", round_number, model_hash))

    def encryption_params_digest(self, params_hash: bytes) -> bytes:
        """The EIP-712 digest of the key dealer's parameters commitment, as the ledger
        computes it."""
        return bytes(self._call("encryptionParamsDigest", params_hash))

    def can_afford(self, address: str, function: str) -> bool:
        """Whether ``address`` holds the ether to send a ``function`` transaction itself (its
        gas budget at the current fee cap): what a participant checks before its fallback."""
        needed = gas_budget(function) * self.chain.max_fee()
        try:
            balance = int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))
        except Exception as exc:
            raise translate(exc, "eth_getBalance", self._errors) from exc
        return balance >= needed

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
        """Every event of the ledger and its token, in chain order, read in pages of
        ``page_size`` blocks (:meth:`EventLog.pages`)."""
        return self.log.pages(
            from_block=from_block, to_block=to_block, names=names, page_size=page_size
        )
