"""The Python binding of ``FederationLedger`` and its ``ContributionToken``.

Transactions are signed locally with eth-account and sent raw, so the same code runs against
the embedded chain, a Hardhat node or any JSON-RPC endpoint. Calldata is encoded, and receipts'
events decoded, from selector and type tables computed once from the ABIs; a JSON-RPC node is
spoken to directly (:meth:`~fedledger_platform.ledger.chain.Chain.rpc`), the embedded chain
through web3. Off devnets each transaction is simulated first (``eth_estimateGas``). A revert —
at simulation, at sending, or mined and replayed as a call — becomes a
:class:`~fedledger_platform.errors.ContractRevertError` carrying the contract's custom error
name and arguments, whichever backend produced it. Connection failures become
:class:`~fedledger_platform.errors.ChainUnavailableError`.
"""

from __future__ import annotations

import ast
import contextlib
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_utils.abi import function_signature_to_4byte_selector
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    ProviderConnectionError,
    Web3RPCError,
)

from fedledger_platform.errors import (
    ChainUnavailableError,
    ContractRevertError,
    LedgerError,
    TransactionFailedError,
)
from fedledger_platform.ledger.artifacts import load_artifact
from fedledger_platform.ledger.chain import PRIORITY_FEE, Chain, RpcError
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
_GAS_MARGIN = 1.2
#: Lower bounds of the gas limit (see _gas_limit); measured costs are in docs/contracts.md.
_GAS_FLOORS = {"attestModel": 150_000}
#: Gas limits used on devnets without estimating (generous: only gas used is charged).
_DEVNET_GAS = {
    "commitUpdate": 150_000,
    "attestModel": 200_000,
    "openRound": 300_000,
    "abandonRound": 200_000,
    "admitParticipant": 500_000,
    "removeParticipant": 200_000,
    "appointKeyDealer": 150_000,
    "commitEncryptionParams": 150_000,
    "setRewardPerUpdate": 150_000,
    "grantRole": 200_000,
}
_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
_TESTER_REVERT = re.compile(r"execution reverted: (b['\"].*['\"])$", re.S)


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


def _plain(value: Any) -> Any:
    """Event/call values as plain Python: bytes instead of HexBytes, lists instead of tuples."""
    if isinstance(value, HexBytes | bytes):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _ErrorDecoder:
    """Maps revert data to (custom error name, decoded arguments) using the ABIs."""

    def __init__(self, abis: Sequence[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_abi_type(i) for i in item["inputs"]]
                selector = function_signature_to_4byte_selector(
                    f"{item['name']}({','.join(types)})"
                )
                self._errors[selector] = (item["name"], types)

    def decode(self, data: bytes) -> tuple[str, tuple[Any, ...]]:
        if len(data) < 4:
            return ("EmptyRevert", ())
        selector, payload = data[:4], data[4:]
        if selector == _ERROR_SELECTOR:
            return ("Error", tuple(abi_decode(["string"], payload)))
        if selector == _PANIC_SELECTOR:
            return ("Panic", tuple(abi_decode(["uint256"], payload)))
        known = self._errors.get(selector)
        if known is None:
            return (f"UnknownError(0x{selector.hex()})", (payload,))
        name, types = known
        values = abi_decode(types, payload)
        return (
            name,
            tuple(
                Web3.to_checksum_address(v) if t == "address" else _plain(v)
                for t, v in zip(types, values, strict=True)
            ),
        )


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


def _revert_data(exc: BaseException) -> bytes | None:
    """Revert data carried by a web3 or eth-tester exception, if any.

    JSON-RPC nodes put it in ``exc.data``; eth-tester chains py-evm's ``Revert(bytes)``
    through ``__context__``/``args`` and renders it into the message as a bytes literal.
    """
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        item = pending.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, bytes | bytearray):
            return bytes(item)
        if isinstance(item, dict):  # JSON-RPC responses and error objects
            pending.extend([item.get("data"), item.get("error")])
        elif isinstance(item, str):
            if item.startswith("0x"):
                try:
                    return bytes.fromhex(item[2:])
                except ValueError:
                    continue
            match = _TESTER_REVERT.search(item)
            if match:
                with contextlib.suppress(ValueError, SyntaxError):
                    value = ast.literal_eval(match.group(1))
                    if isinstance(value, bytes):
                        return value
        elif isinstance(item, BaseException):
            pending.extend(
                [
                    getattr(item, "data", None),
                    getattr(item, "rpc_response", None),
                    getattr(item, "error", None),  # RpcError: the node's error object
                    *item.args,
                ]
            )
            pending.extend([item.__cause__, item.__context__])
    return None


@dataclass(frozen=True)
class _Function:
    """A contract function's selector and ABI types, computed once."""

    selector: bytes
    inputs: list[str]
    outputs: list[str]


def _functions(abi: list[dict[str, Any]]) -> dict[str, _Function]:
    functions = {}
    for item in abi:
        if item.get("type") != "function":
            continue
        inputs = [_abi_type(i) for i in item["inputs"]]
        selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(inputs)})")
        functions[item["name"]] = _Function(
            selector, inputs, [_abi_type(o) for o in item["outputs"]]
        )
    return functions


def _as_bytes(value: Any) -> bytes:
    """A JSON-RPC hex string or web3's HexBytes as bytes."""
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


def _as_int(value: Any) -> int:
    """A JSON-RPC hex quantity or web3's int as int."""
    return int(value, 16) if isinstance(value, str) else int(value)


@dataclass(frozen=True)
class _Log:
    """One log entry, from a JSON-RPC answer (hex strings) or from web3 (formatted)."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    tx_hash: bytes
    log_index: int

    @classmethod
    def of(cls, log: Mapping[str, Any]) -> _Log:
        return cls(
            address=Web3.to_checksum_address(log["address"]),
            topics=tuple(_as_bytes(t) for t in log["topics"]),
            data=_as_bytes(log["data"]),
            block_number=_as_int(log["blockNumber"]),
            tx_hash=_as_bytes(log["transactionHash"]),
            log_index=_as_int(log["logIndex"]),
        )


@dataclass(frozen=True)
class _Receipt:
    """A transaction receipt, from a JSON-RPC answer or from web3."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    status: int
    contract_address: str | None
    logs: tuple[_Log, ...]

    @classmethod
    def of(cls, receipt: Mapping[str, Any]) -> _Receipt:
        created = receipt.get("contractAddress")
        return cls(
            tx_hash=_as_bytes(receipt["transactionHash"]),
            block_number=_as_int(receipt["blockNumber"]),
            gas_used=_as_int(receipt["gasUsed"]),
            status=_as_int(receipt["status"]),
            contract_address=Web3.to_checksum_address(created) if created else None,
            logs=tuple(_Log.of(log) for log in receipt["logs"]),
        )


@dataclass(frozen=True)
class _Event:
    """An event's name and ABI, split into the indexed (topic) and the data fields."""

    name: str
    indexed: list[tuple[str, str]]  # (name, type), in topic order
    fields: list[tuple[str, str]]  # (name, type), in data order
    types: dict[str, str]  # every argument's type by name, in declaration order


def _events(abis: Sequence[list[dict[str, Any]]]) -> dict[bytes, _Event]:
    events: dict[bytes, _Event] = {}
    for abi in abis:
        for item in abi:
            if item.get("type") != "event" or item.get("anonymous"):
                continue
            types = [_abi_type(i) for i in item["inputs"]]
            topic = bytes(Web3.keccak(text=f"{item['name']}({','.join(types)})"))
            pairs = [(i["name"], t) for i, t in zip(item["inputs"], types, strict=True)]
            flags = [bool(i["indexed"]) for i in item["inputs"]]
            events[topic] = _Event(
                name=item["name"],
                indexed=[p for p, f in zip(pairs, flags, strict=True) if f],
                fields=[p for p, f in zip(pairs, flags, strict=True) if not f],
                types=dict(pairs),
            )
    return events


def _event_value(abi_type: str, value: Any) -> Any:
    """A decoded value as events report it: checksummed addresses, bytes, lists."""
    if abi_type == "address":
        return Web3.to_checksum_address(value)
    if abi_type.endswith("[]"):
        return [_event_value(abi_type[:-2], v) for v in value]
    return _plain(value)


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
        self._errors = _ErrorDecoder([ledger_artifact.abi, token_artifact.abi])
        # Calls and transactions skip web3's contract-function machinery (ABI lookup, argument
        # validation and normalization on every use): selectors and types are computed once,
        # calldata is encoded directly, and events are decoded from the same tables.
        self._functions = _functions(ledger_artifact.abi)
        self._events = _events([ledger_artifact.abi, token_artifact.abi])
        # eth-tester insists that a call's sender can afford its gas; JSON-RPC nodes need none.
        self._call_from: dict[str, Any] = (
            {"from": chain.faucet().address} if chain.is_embedded else {}
        )
        self._receipt_timeout_s = receipt_timeout_s
        self._send_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
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
        constructor = next(item for item in artifact.abi if item["type"] == "constructor")
        data = _as_bytes(artifact.bytecode) + abi_encode(
            [_abi_type(i) for i in constructor["inputs"]],
            [Web3.to_checksum_address(admin or deployer.address), reward_per_update, quorum_bps],
        )
        errors = _ErrorDecoder([artifact.abi, load_artifact("ContributionToken").abi])
        receipt = _send(
            chain, deployer, "constructor", errors, to=None, data=data, timeout_s=120.0, lock=None
        )
        if receipt.contract_address is None:
            raise TransactionFailedError("deployment receipt carries no contract address")
        ledger = cls(chain, receipt.contract_address)
        return ledger, ledger._result(receipt)

    # ------------------------------------------------------------------ low level

    def _lock_for(self, address: str) -> threading.Lock:
        with self._locks_guard:
            return self._send_locks.setdefault(address.lower(), threading.Lock())

    def _call(self, function: str, *args: Any, block: int | None = None) -> Any:
        view = self._functions[function]
        data = view.selector + abi_encode(view.inputs, list(args))
        if not self.chain.is_embedded:
            # The lean path. A revert or an undecodable answer is re-run through web3 below,
            # which reports it as precisely as ever; an unreachable node is reported at once.
            call = {"to": self.address, "data": "0x" + data.hex()}
            try:
                result = self.chain.rpc("eth_call", [call, _block_param(block)])
                values = abi_decode(view.outputs, HexBytes(result))
                return values[0] if len(values) == 1 else values
            except ChainUnavailableError:
                raise
            except Exception:  # handled by the full path below
                pass
        try:
            raw = self.w3.eth.call(
                {**self._call_from, "to": self.address, "data": HexBytes(data)},  # type: ignore[typeddict-item]
                "latest" if block is None else block,
            )
            values = abi_decode(view.outputs, bytes(raw))
        except Exception as exc:
            raise _translate(exc, function, self._errors) from exc
        return values[0] if len(values) == 1 else values

    def _transact(
        self, sender: LocalAccount, function: str, *args: Any, gas_hint: int | None = None
    ) -> TxResult:
        spec = self._functions[function]
        receipt = _send(
            self.chain,
            sender,
            function,
            self._errors,
            to=self.address,
            data=spec.selector + abi_encode(spec.inputs, list(args)),
            timeout_s=self._receipt_timeout_s,
            lock=self._lock_for(sender.address),
            gas_hint=gas_hint if gas_hint is not None else _DEVNET_GAS.get(function),
        )
        return self._result(receipt)

    def _result(self, receipt: _Receipt) -> TxResult:
        return TxResult(
            tx_hash="0x" + receipt.tx_hash.hex(),
            block_number=receipt.block_number,
            gas_used=receipt.gas_used,
            events=tuple(e for e in (self._decode(log) for log in receipt.logs) if e),
        )

    def _decode(self, log: _Log) -> LedgerEvent | None:
        """The ledger's or the token's event in ``log`` (``None`` for anything else)."""
        if not log.topics or log.address not in (self.address, self.token.address):
            return None
        event = self._events.get(log.topics[0])
        if event is None or len(log.topics) != len(event.indexed) + 1:
            return None
        values = {
            name: abi_decode([abi_type], topic)[0]
            for (name, abi_type), topic in zip(event.indexed, log.topics[1:], strict=True)
        }
        values.update(
            zip(
                (name for name, _ in event.fields),
                abi_decode([t for _, t in event.fields], log.data),
                strict=True,
            )
        )
        return LedgerEvent(
            name=event.name,
            args={name: _event_value(t, values[name]) for name, t in event.types.items()},
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
            raise _translate(exc, "balanceOf", self._errors) from exc

    def token_supply(self, *, block: int | None = None) -> int:
        """Total contribution tokens minted (at ``block`` if given)."""
        fn = self.token.functions.totalSupply()
        try:
            return int(fn.call(block_identifier="latest" if block is None else block))
        except Exception as exc:
            raise _translate(exc, "totalSupply", self._errors) from exc

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
            raise _translate(exc, "eth_blockNumber", self._errors) from exc
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
                raise _translate(exc, "eth_getLogs", self._errors) from exc
            for log in sorted(map(_Log.of, logs), key=lambda x: (x.block_number, x.log_index)):
                event = self._decode(log)
                if event is not None and (wanted is None or event.name in wanted):
                    yield event
            start = end + 1


def _block_param(block: int | None) -> str:
    return "latest" if block is None else hex(block)


def _send(
    chain: Chain,
    sender: LocalAccount,
    function: str,
    errors: _ErrorDecoder,
    *,
    to: str | None,
    data: bytes,
    timeout_s: float,
    lock: threading.Lock | None,
    gas_hint: int | None = None,
) -> _Receipt:
    """Sign, send and await one transaction to ``to`` (``None``: a contract creation); translate
    every failure.

    Off devnets the transaction is simulated first (``eth_estimateGas``), so a revert costs
    nothing and its custom error is reported. On devnets, where gas is free and the node
    executes a transaction as it arrives, a known function gets a fixed generous limit instead
    (a revert then surfaces at sending, or in the receipt, and is decoded the same way).

    Requests go out as plain JSON-RPC (:meth:`Chain.request`): a third of the CPU of web3's
    contract functions, transport and receipt formatting per transaction on a node.
    """
    target: dict[str, Any] = {"to": to} if to is not None else {}  # none: a contract creation
    call: dict[str, Any] = {"from": sender.address, **target, "data": data}
    guard = lock or threading.Lock()
    with guard:  # one in-flight transaction per sender keeps nonces consecutive
        try:
            params: dict[str, Any] = {
                **target,
                "data": data,
                "value": 0,
                "gas": _gas_limit(chain, call, function, gas_hint),
                "maxFeePerGas": chain.max_fee(),
                "maxPriorityFeePerGas": PRIORITY_FEE,
                "chainId": chain.chain_id,
                "type": 2,
            }
            params["nonce"] = chain.next_nonce(sender.address)
            try:
                raw = bytes(sender.sign_transaction(params).raw_transaction)
                tx_hash = _as_bytes(chain.request("eth_sendRawTransaction", ["0x" + raw.hex()]))
            except BaseException:
                chain.forget_nonce(sender.address)
                raise
        except LedgerError:
            raise
        except Exception as exc:
            raise _translate(exc, function, errors) from exc
    receipt = _await_receipt(chain, tx_hash, function, errors, timeout_s)
    if receipt.status != 1:
        # Replay as a call at the failing block to recover the revert reason.
        try:
            _eth_call(chain, call, receipt.block_number)
        except Exception as exc:
            raise _translate(exc, function, errors) from exc
        raise TransactionFailedError(f"{function}: transaction 0x{tx_hash.hex()} failed (status 0)")
    return receipt


def _await_receipt(
    chain: Chain, tx_hash: bytes, function: str, errors: _ErrorDecoder, timeout_s: float
) -> _Receipt:
    """The receipt of ``tx_hash``, polled every 50 ms (a devnet mines at once: one request)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = chain.request("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])
        except Exception as exc:
            raise _translate(exc, function, errors) from exc
        if found is not None:
            return _Receipt.of(found)
        if time.monotonic() > deadline:
            raise TransactionFailedError(
                f"{function}: no receipt for 0x{tx_hash.hex()} within {timeout_s:.0f} s"
            )
        time.sleep(0.05)


def _rpc_call(call: Mapping[str, Any]) -> dict[str, Any]:
    """A call object in JSON-RPC form (hex data)."""
    return {**call, "data": "0x" + bytes(call["data"]).hex()}


def _eth_call(chain: Chain, call: Mapping[str, Any], block: int) -> bytes:
    """``eth_call`` of ``call`` at ``block``; a revert raises."""
    return _as_bytes(chain.request("eth_call", [_rpc_call(call), hex(block)]))


def _gas_limit(chain: Chain, call: Mapping[str, Any], function: str, hint: int | None) -> int:
    if chain.is_devnet and hint is not None:
        return hint
    estimate = _as_int(chain.request("eth_estimateGas", [_rpc_call(call)]))
    # The floor covers state changes between estimate and inclusion: an attestation estimated
    # below the quorum can be the one that reaches it when others land first (and publishes).
    return max(int(estimate * _GAS_MARGIN) + 10_000, _GAS_FLOORS.get(function, 0))


def _translate(exc: BaseException, function: str, errors: _ErrorDecoder) -> LedgerError:
    """One exception type per failure, whatever the backend (eth-tester or JSON-RPC)."""
    if isinstance(exc, LedgerError):
        return exc
    if isinstance(
        exc, requests.ConnectionError | requests.Timeout | ProviderConnectionError | OSError
    ):
        return ChainUnavailableError(f"{function}: the chain node is unreachable ({exc})")
    if isinstance(
        exc, ContractCustomError | ContractLogicError | ContractPanicError | TransactionFailed
    ):
        data = _revert_data(exc)
        if data:
            name, args = errors.decode(data)
            return ContractRevertError(function, name, args)
        message = str(exc.args[0]) if exc.args else str(exc)
        return ContractRevertError(function, "Error", (message,))
    if isinstance(exc, Web3RPCError | RpcError):
        data = _revert_data(exc)
        if data:
            name, args = errors.decode(data)
            return ContractRevertError(function, name, args)
        return TransactionFailedError(f"{function}: the node rejected the request: {exc}")
    return TransactionFailedError(f"{function}: {type(exc).__name__}: {exc}")
