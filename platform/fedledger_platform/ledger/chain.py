"""Connecting to a chain: the embedded in-process chain or any JSON-RPC endpoint.

The embedded chain is eth-tester on py-evm (Prague rules), wrapped so that several threads — the
aggregator and in-process client daemons — can share it safely. Any other target is a JSON-RPC
URL: a Hardhat node, a testnet, an L2.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3
from web3.types import RPCEndpoint, RPCResponse, Wei

from fedledger_platform.accounts import DEVNET_CHAIN_IDS, development_accounts
from fedledger_platform.errors import ChainUnavailableError, ConfigurationError

__all__ = [
    "EMBEDDED",
    "PRIORITY_FEE",
    "Chain",
    "LockedTesterProvider",
    "RpcError",
    "connect",
    "is_rpc_url",
]

EMBEDDED = "embedded"
PRIORITY_FEE = 10**9
_TESTER_FAUCET_INDEX = 20  # eth-tester's first genesis account within development_accounts()
_HARDHAT_FAUCET_INDEX = 0


class LockedTesterProvider(EthereumTesterProvider):
    """eth-tester is not thread-safe; serialize every request through one lock."""

    def __init__(self, tester: EthereumTester) -> None:
        super().__init__(tester)
        self._tester = tester  # web3 types its own reference as optional
        self._lock = threading.RLock()
        self._chain_id: Any = None

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """Forward one JSON-RPC request under the lock (the chain id is answered from memory:
        web3's validation asks for it before every call and transaction)."""
        if method == "eth_chainId" and self._chain_id is not None:
            return {"jsonrpc": "2.0", "id": 0, "result": self._chain_id}
        with self._lock:
            response = super().make_request(method, params)
        if method == "eth_chainId" and "result" in response:
            self._chain_id = response["result"]
        return response

    def logs(
        self,
        from_block: int,
        to_block: int | None,
        address: str,
        topics: Sequence[bytes],
        *,
        latest_only: bool = False,
    ) -> list[dict[str, Any]]:
        """The logs of ``address`` whose first topics are ``topics``, in blocks ``from_block``
        to ``to_block`` (``None``: the head), in JSON-RPC form; with ``latest_only``, the
        latest such log only, found scanning back from the end.

        eth-tester's own ``eth_getLogs`` looks every transaction of the range up by hash,
        scanning back from the head each time: quadratic in the history (seconds per query
        after a few hundred blocks). This reads each block's receipts once, by number.
        """
        wanted = bytes.fromhex(address[2:].lower())
        with self._lock:
            chain = self._tester.backend.chain
            head = chain.get_canonical_head().block_number
            last = head if to_block is None else min(head, to_block)
            numbers = range(from_block, last + 1)
            found: list[dict[str, Any]] = []
            for number in reversed(numbers) if latest_only else numbers:
                block = chain.get_canonical_block_by_number(number)
                in_block = []
                receipts = block.get_receipts(chain.chaindb)
                for transaction, receipt in zip(block.transactions, receipts, strict=True):
                    for index, log in enumerate(receipt.logs):
                        log_topics = [t.to_bytes(32, "big") for t in log.topics]
                        if log.address == wanted and log_topics[: len(topics)] == list(topics):
                            in_block.append(
                                {
                                    "address": "0x" + log.address.hex(),
                                    "topics": log_topics,
                                    "data": bytes(log.data),
                                    "blockNumber": number,
                                    "transactionHash": bytes(transaction.hash),
                                    "logIndex": index,  # within its transaction, as eth-tester's
                                }
                            )
                if latest_only and in_block:
                    return in_block[-1:]
                found.extend(in_block)
            return found


class RpcError(Exception):
    """The node answered a JSON-RPC request with an error object (e.g. a reverted call)."""

    def __init__(self, method: str, error: Any) -> None:
        super().__init__(f"{method}: {error}")
        self.error = error


class _ConnectionPool:
    """Idle keep-alive HTTP connections to one JSON-RPC node, shared by threads."""

    _MAX_IDLE = 8

    def __init__(self, target: str, timeout_s: float) -> None:
        parts = urlsplit(target)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._host = parts.hostname or "localhost"
        self._port = parts.port
        self._https = parts.scheme == "https"
        self._timeout_s = timeout_s
        self.headers = {"Content-Type": "application/json"}
        if parts.username is not None:  # http://user:password@host/ as requests would send it
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(
                credentials.encode("utf-8")
            ).decode("ascii")
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def take(self, *, fresh: bool = False) -> http.client.HTTPConnection:
        """An idle connection (unless ``fresh``), or a new one."""
        with self._lock:
            if self._idle and not fresh:
                return self._idle.pop()
        factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return factory(self._host, self._port, timeout=self._timeout_s)

    def give(self, connection: http.client.HTTPConnection) -> None:
        """Return a connection whose answer was read completely."""
        with self._lock:
            if len(self._idle) < self._MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def __del__(self) -> None:
        # Close explicitly: a socket left to the garbage collector is reported as leaked.
        for connection in self._idle:
            connection.close()


@dataclass
class Chain:
    """A connected chain: the web3 handle plus what the rest of the platform needs to know."""

    w3: Web3
    chain_id: int
    target: str  # "embedded" or the JSON-RPC URL
    tester: EthereumTester | None = None
    _nonces: dict[str, int] = field(default_factory=dict, repr=False)
    _nonce_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _fee: tuple[float, int] = (0.0, 0)
    timeout_s: float = 30.0
    proxied: bool = False  # an HTTP(S) proxy from the environment applies to ``target``
    _connections: _ConnectionPool | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.tester is None:
            self._connections = _ConnectionPool(self.target, self.timeout_s)

    def rpc(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC request to a node, without web3's formatting and transport layers.

        For hot reads (``eth_call``): over HTTP it costs a tenth of the CPU of ``w3.eth.call``
        (measured on a Hardhat node: 0.1 vs 1.1 ms per call). Returns the answer's ``result``;
        raises :class:`RpcError` for an error answer and :class:`ChainUnavailableError` when
        the node cannot be reached. Keep-alive connections are shared by the threads (one
        request at a time each). Not for the embedded chain, whose requests go through web3's
        formatters.
        """
        if self.tester is not None:
            raise ConfigurationError(
                "Chain.rpc speaks JSON-RPC over HTTP; the embedded chain does not"
            )
        status, answer = (
            self._proxied_post(method, params) if self.proxied else self._post(method, params)
        )
        if isinstance(answer, dict) and "error" in answer:  # whatever the HTTP status
            raise RpcError(method, answer["error"])
        if status != 200 or not isinstance(answer, dict) or "result" not in answer:
            raise ChainUnavailableError(
                f"{self.target} answered {method} with HTTP {status} and no JSON-RPC result"
            )
        return answer["result"]

    def request(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC request, whichever the chain: to a node with :meth:`rpc`, to the embedded
        chain through web3's request manager (whose answers come partly formatted: ints and
        attribute dicts where a node sends hex strings). A node's error raises
        :class:`RpcError`; the embedded chain raises eth-tester's exceptions."""
        if self.tester is None:
            return self.rpc(method, params)
        return self.w3.manager.request_blocking(RPCEndpoint(method), params)

    def logs(
        self,
        address: str,
        topics: Sequence[bytes],
        *,
        from_block: int,
        to_block: int | None,
        latest_only: bool = False,
    ) -> list[dict[str, Any]]:
        """``eth_getLogs`` of one contract's logs whose first topics are ``topics``, from block
        ``from_block`` to ``to_block`` (``None``: the latest) — or only the latest of them —
        whichever the chain: a node answers from its index; the embedded chain reads the
        blocks' receipts by number (:meth:`LockedTesterProvider.logs`). Entries in JSON-RPC
        form (``Log.of`` reads them)."""
        if self.tester is None:
            query = {
                "address": address,
                "topics": ["0x" + t.hex() for t in topics],
                "fromBlock": hex(from_block),
                "toBlock": "latest" if to_block is None else hex(to_block),
            }
            found = list(self.rpc("eth_getLogs", [query]))
            return found[-1:] if latest_only else found
        provider = self.w3.provider
        assert isinstance(provider, LockedTesterProvider)  # made so by connect()
        return provider.logs(from_block, to_block, address, topics, latest_only=latest_only)

    def _post(self, method: str, params: list[Any]) -> tuple[int, Any]:
        """POST one request over a pooled connection; the HTTP status and the parsed body."""
        assert self._connections is not None  # made for every JSON-RPC target
        pool = self._connections
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        for attempt in (1, 2):  # a kept-alive connection the node has closed fails once
            connection = pool.take(fresh=attempt == 2)
            try:
                connection.request("POST", pool.path, body, pool.headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if attempt == 2:
                    raise ChainUnavailableError(
                        f"cannot reach the chain at {self.target}: {exc}"
                    ) from exc
                continue
            pool.give(connection)
            try:
                return response.status, json.loads(payload)
            except ValueError:
                return response.status, None
        raise AssertionError("unreachable")  # the loop returns or raises

    def _proxied_post(self, method: str, params: list[Any]) -> tuple[int, Any]:
        """The same through an HTTP(S) proxy, with web3's transport (it raises on HTTP errors)."""
        try:
            return 200, self.w3.provider.make_request(RPCEndpoint(method), params)
        except (requests.RequestException, OSError) as exc:
            raise ChainUnavailableError(f"cannot reach the chain at {self.target}: {exc}") from exc

    def next_nonce(self, address: str) -> int:
        """The nonce for ``address``'s next transaction, tracked locally after the first read.

        Callers send one transaction at a time per account (``Ledger`` holds a lock per sender)
        and call :meth:`forget_nonce` after any failure to send, which re-reads it.
        """
        with self._nonce_lock:
            nonce = self._nonces.get(address)
            if nonce is None:
                nonce = int(self.w3.eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]
            self._nonces[address] = nonce + 1
            return nonce

    def forget_nonce(self, address: str) -> None:
        """Re-read ``address``'s nonce from the chain before its next transaction."""
        with self._nonce_lock:
            self._nonces.pop(address, None)

    def max_fee(self) -> int:
        """``2 × base fee + priority fee``, with the base fee read at most every 5 seconds.

        The base fee can rise by at most 12.5 % per block, so twice a recent value stays above
        it for several blocks.
        """
        read_at, base_fee = self._fee
        if time.monotonic() - read_at > 5.0:
            base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
            self._fee = (time.monotonic(), base_fee)
        return 2 * base_fee + PRIORITY_FEE

    @property
    def is_embedded(self) -> bool:
        """Whether this is the in-process chain."""
        return self.tester is not None

    @property
    def is_devnet(self) -> bool:
        """A chain where the publicly known development keys may be used."""
        return self.is_embedded or self.chain_id in DEVNET_CHAIN_IDS

    def faucet(self) -> LocalAccount:
        """A pre-funded development account (devnets only) for funding test participants."""
        if not self.is_devnet:
            raise ConfigurationError(
                f"chain {self.chain_id} is not a devnet: there is no faucet; fund accounts yourself"
            )
        index = _TESTER_FAUCET_INDEX if self.is_embedded else _HARDHAT_FAUCET_INDEX
        return development_accounts()[index]

    def latest_timestamp(self) -> int:
        """Timestamp of the latest block (the contract's notion of now)."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_time(self, seconds: int) -> int:
        """Devnets only: move chain time forward by ``seconds`` and mine a block; returns it."""
        if not self.is_devnet:
            raise ConfigurationError("only a devnet's clock can be moved")
        target = self.latest_timestamp() + seconds
        if self.tester is not None:
            self.tester.time_travel(target)
        else:
            self.w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [target])
            self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        return self.latest_timestamp()

    def fund(self, address: str, amount_wei: int, *, sender: LocalAccount | None = None) -> None:
        """Send ``amount_wei`` to ``address`` from ``sender`` (the faucet by default)."""
        sender = sender or self.faucet()
        w3 = self.w3
        tx: dict[str, Any] = {
            "to": Web3.to_checksum_address(address),
            "value": Wei(amount_wei),
            "gas": 21_000,
            "nonce": self.next_nonce(sender.address),
            "maxFeePerGas": Wei(self.max_fee()),
            "maxPriorityFeePerGas": Wei(PRIORITY_FEE),
            "chainId": self.chain_id,
            "type": 2,
        }
        signed = sender.sign_transaction(tx)
        try:
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception:
            self.forget_nonce(sender.address)
            raise
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.05)


def is_rpc_url(target: str) -> bool:
    """Whether ``target`` is a JSON-RPC URL a node can be reached at (http or https)."""
    return target.startswith(("http://", "https://"))


def connect(target: str = EMBEDDED, *, timeout_s: float = 30.0) -> Chain:
    """Connect to ``target``: ``"embedded"`` for a fresh in-process chain, or a JSON-RPC URL."""
    if target == EMBEDDED:
        tester = EthereumTester(PyEVMBackend())
        w3 = Web3(LockedTesterProvider(tester))
        return Chain(w3=w3, chain_id=int(w3.eth.chain_id), target=EMBEDDED, tester=tester)
    if not is_rpc_url(target):
        raise ConfigurationError(
            f"chain target {target!r} is neither 'embedded' nor an http(s) JSON-RPC URL"
        )
    session, proxied = _session_for(target)
    # Cache the requests whose answers never change (eth_chainId): web3's validation asks for
    # the chain id before every call and transaction, which otherwise doubles the traffic.
    w3 = Web3(
        Web3.HTTPProvider(
            target,
            request_kwargs={"timeout": timeout_s},
            session=session,
            cache_allowed_requests=True,
            cacheable_requests={RPCEndpoint("eth_chainId")},
        )
    )
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:  # requests/urllib3 connection errors, HTTP errors, bad JSON
        raise ChainUnavailableError(f"cannot reach the chain at {target}: {exc}") from exc
    return Chain(w3=w3, chain_id=chain_id, target=target, timeout_s=timeout_s, proxied=proxied)


def _session_for(target: str) -> tuple[requests.Session, bool]:
    """A requests session for ``target`` with the environment's proxy and CA settings read
    once, here, instead of on every request (requests re-reads the whole environment per
    request: a fifth of a transaction's CPU, measured). Returns it and whether it proxies."""
    session = requests.Session()
    session.trust_env = False
    host = urlsplit(target).hostname or ""
    proxies = {
        scheme: url
        for scheme, url in urllib.request.getproxies().items()
        if scheme in ("http", "https")
    }
    if proxies and not urllib.request.proxy_bypass(host):
        session.proxies.update(proxies)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session, bool(session.proxies)
