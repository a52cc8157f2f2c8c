"""From ABI JSON to tables, and from bytes to values.

Selectors and types are computed once per contract, so calldata is encoded and answers, logs
and revert data are decoded without web3's contract-function machinery (ABI lookup, argument
validation and normalization on every use). Receipts and logs are read from either backend: a
JSON-RPC answer (hex strings) or web3's formatted one (ints and ``HexBytes``).
"""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from hexbytes import HexBytes
from web3 import Web3

__all__ = [
    "ErrorDecoder",
    "EventDecoder",
    "Function",
    "Log",
    "Receipt",
    "as_bytes",
    "as_int",
    "creation_data",
    "functions",
    "revert_data",
]

_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
_TESTER_REVERT = re.compile(r"execution reverted: (b['\"].*['\"])$", re.S)

ABI = list[dict[str, Any]]


def _abi_type(item: Mapping[str, Any]) -> str:
    """The canonical type of an ABI input or output (tuples spelled out, as in signatures)."""
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


def as_bytes(value: Any) -> bytes:
    """A JSON-RPC hex string or web3's HexBytes as bytes."""
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


def as_int(value: Any) -> int:
    """A JSON-RPC hex quantity or web3's int as int."""
    return int(value, 16) if isinstance(value, str) else int(value)


def _plain(value: Any) -> Any:
    """Decoded values as plain Python: bytes instead of HexBytes, lists instead of tuples."""
    if isinstance(value, HexBytes | bytes):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _value(kind: str, value: Any) -> Any:
    """A decoded value as events and errors report it: checksummed addresses, bytes, lists."""
    if kind == "address":
        return Web3.to_checksum_address(value)
    if kind.endswith("[]"):
        return [_value(kind[:-2], v) for v in value]
    return _plain(value)


def _signature(item: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``name(type,...)`` of an ABI item, and its input types."""
    types = [_abi_type(i) for i in item["inputs"]]
    return f"{item['name']}({','.join(types)})", types


# ---------------------------------------------------------------------- functions


@dataclass(frozen=True)
class Function:
    """A contract function's selector and ABI types, computed once."""

    selector: bytes
    inputs: list[str]
    outputs: list[str]

    def encode(self, args: Sequence[Any]) -> bytes:
        """Calldata for a call with ``args``."""
        return self.selector + abi_encode(self.inputs, list(args))

    def decode(self, data: bytes) -> Any:
        """The call's answer: its single value, or the tuple of its values."""
        values = abi_decode(self.outputs, data)
        return values[0] if len(values) == 1 else values


def functions(abi: ABI) -> dict[str, Function]:
    """The contract's functions by name."""
    table = {}
    for item in abi:
        if item.get("type") == "function":
            signature, inputs = _signature(item)
            table[item["name"]] = Function(
                function_signature_to_4byte_selector(signature),
                inputs,
                [_abi_type(o) for o in item["outputs"]],
            )
    return table


def creation_data(abi: ABI, bytecode: str, args: Sequence[Any]) -> bytes:
    """A contract creation's data: the creation bytecode followed by the constructor's ``args``."""
    types = next(
        ([_abi_type(i) for i in item["inputs"]] for item in abi if item["type"] == "constructor"),
        [],
    )
    return as_bytes(bytecode) + abi_encode(types, list(args))


# ---------------------------------------------------------------------- receipts and logs


@dataclass(frozen=True)
class Log:
    """One log entry, from a JSON-RPC answer (hex strings) or from web3 (formatted)."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    tx_hash: bytes
    log_index: int

    @classmethod
    def of(cls, log: Mapping[str, Any]) -> Log:
        """Read a log entry from either backend's answer."""
        return cls(
            address=Web3.to_checksum_address(log["address"]),
            topics=tuple(as_bytes(t) for t in log["topics"]),
            data=as_bytes(log["data"]),
            block_number=as_int(log["blockNumber"]),
            tx_hash=as_bytes(log["transactionHash"]),
            log_index=as_int(log["logIndex"]),
        )


@dataclass(frozen=True)
class Receipt:
    """A transaction receipt, from a JSON-RPC answer or from web3."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    status: int
    contract_address: str | None
    logs: tuple[Log, ...]

    @classmethod
    def of(cls, receipt: Mapping[str, Any]) -> Receipt:
        """Read a receipt from either backend's answer."""
        created = receipt.get("contractAddress")
        return cls(
            tx_hash=as_bytes(receipt["transactionHash"]),
            block_number=as_int(receipt["blockNumber"]),
            gas_used=as_int(receipt["gasUsed"]),
            status=as_int(receipt["status"]),
            contract_address=Web3.to_checksum_address(created) if created else None,
            logs=tuple(Log.of(log) for log in receipt["logs"]),
        )


# ---------------------------------------------------------------------- events


@dataclass(frozen=True)
class _Event:
    """An event's name and ABI, split into the indexed (topic) and the data fields."""

    name: str
    indexed: list[tuple[str, str]]  # (name, type), in topic order
    fields: list[tuple[str, str]]  # (name, type), in data order
    types: dict[str, str]  # every argument's type by name, in declaration order


class EventDecoder:
    """Decodes the logs of the events declared in the ABIs, by topic."""

    def __init__(self, abis: Sequence[ABI]) -> None:
        self._events: dict[bytes, _Event] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                signature, types = _signature(item)
                pairs = [(i["name"], t) for i, t in zip(item["inputs"], types, strict=True)]
                flags = [bool(i["indexed"]) for i in item["inputs"]]
                self._events[bytes(Web3.keccak(text=signature))] = _Event(
                    name=item["name"],
                    indexed=[p for p, f in zip(pairs, flags, strict=True) if f],
                    fields=[p for p, f in zip(pairs, flags, strict=True) if not f],
                    types=dict(pairs),
                )

    def topic(self, name: str) -> bytes:
        """The first topic (keccak256 of the signature) of the event called ``name``."""
        for topic, event in self._events.items():
            if event.name == name:
                return topic
        raise KeyError(f"no event {name} in the ABIs")

    def decode(self, log: Log) -> tuple[str, dict[str, Any]] | None:
        """The event's name and arguments in declaration order (``None`` for an unknown one)."""
        if not log.topics:
            return None
        event = self._events.get(log.topics[0])
        if event is None or len(log.topics) != len(event.indexed) + 1:
            return None
        values = {
            name: abi_decode([kind], topic)[0]
            for (name, kind), topic in zip(event.indexed, log.topics[1:], strict=True)
        }
        values.update(
            zip(
                (name for name, _ in event.fields),
                abi_decode([t for _, t in event.fields], log.data),
                strict=True,
            )
        )
        return event.name, {name: _value(t, values[name]) for name, t in event.types.items()}


# ---------------------------------------------------------------------- reverts


class ErrorDecoder:
    """Maps revert data to (custom error name, decoded arguments) using the ABIs."""

    def __init__(self, abis: Sequence[ABI]) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") == "error":
                    signature, types = _signature(item)
                    self._errors[function_signature_to_4byte_selector(signature)] = (
                        item["name"],
                        types,
                    )

    def name_of(self, selector: bytes) -> str:
        """The name of the custom error with this 4-byte selector (``UnknownError(0x…)`` else)."""
        known = self._errors.get(bytes(selector))
        return known[0] if known is not None else f"UnknownError(0x{bytes(selector).hex()})"

    def decode(self, data: bytes) -> tuple[str, tuple[Any, ...]]:
        """The error's name and arguments: a custom error of the ABIs, ``Error(string)``,
        ``Panic(uint256)``, ``EmptyRevert`` or ``UnknownError(0x<selector>)``."""
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
        return (name, tuple(_value(t, v) for t, v in zip(types, values, strict=True)))


def revert_data(exc: BaseException) -> bytes | None:
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
