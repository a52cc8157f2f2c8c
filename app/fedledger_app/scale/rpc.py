"""The embedded chain served as a JSON-RPC node on a loopback port.

The embedded chain (eth-tester on py-evm) lives inside one process; participants hosted by Ray
actors live in others and speak JSON-RPC over HTTP, as they would to a Hardhat node. Each
request goes through web3's request manager of the embedded chain (its formatters turn
eth-tester's answers into web3's types) and is written back in JSON-RPC form: quantities and
byte strings as ``0x`` hex. ``eth_getLogs`` is answered by the chain's own log reader
(:meth:`~fedledger_platform.ledger.Chain.logs`, linear in the blocks scanned), and a revert
becomes a JSON-RPC error carrying the revert data, as a node reports it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from web3.types import RPCEndpoint

from fedledger_platform.ledger import Chain
from fedledger_platform.ledger.abi import revert_data

__all__ = ["EmbeddedRpcServer", "to_json_rpc"]

log = logging.getLogger("fedledger.scale.rpc")

#: eth-tester refuses a call without a sender that can pay for its gas; nodes need none.
_CALLS = ("eth_call", "eth_estimateGas")


def to_json_rpc(value: Any) -> Any:
    """``value`` (web3's answer) in JSON-RPC form: integers and bytes as ``0x`` hex."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): to_json_rpc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_rpc(v) for v in value]
    raise TypeError(f"cannot write {type(value).__name__} as JSON-RPC")


class EmbeddedRpcServer:
    """Serve ``chain`` (embedded) at ``http://127.0.0.1:PORT/`` while the ``with`` block runs."""

    def __init__(self, chain: Chain, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not chain.is_embedded:
            raise ValueError(f"{chain.target} is a node already; only the embedded chain is served")
        self.chain = chain
        self._faucet = chain.faucet().address
        handler = type("Handler", (_Handler,), {"rpc": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="embedded-rpc", daemon=True
        )

    @property
    def url(self) -> str:
        """Where the chain answers."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def __enter__(self) -> EmbeddedRpcServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def answer(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON-RPC response to one request object."""
        ident = request.get("id")
        method = str(request.get("method", ""))
        params = list(request.get("params") or [])
        try:
            result = self._result(method, params)
        except Exception as exc:
            data = revert_data(exc)
            error: dict[str, Any] = {"code": 3 if data else -32000, "message": str(exc)}
            if data:
                error["message"] = "execution reverted"
                error["data"] = "0x" + data.hex()
            return {"jsonrpc": "2.0", "id": ident, "error": error}
        return {"jsonrpc": "2.0", "id": ident, "result": result}

    def _result(self, method: str, params: list[Any]) -> Any:
        if method == "eth_getLogs":
            return to_json_rpc(self._logs(params[0]))
        if method in _CALLS and params and "from" not in params[0]:
            params = [{**params[0], "from": self._faucet}, *params[1:]]
        return to_json_rpc(self.chain.w3.manager.request_blocking(RPCEndpoint(method), params))

    def _logs(self, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``eth_getLogs`` of one address: the chain's reader takes the leading exact topics;
        a position given as a list (any of) or ``null`` (any) is filtered here."""
        wanted: list[set[bytes] | None] = []
        for topic in query.get("topics") or []:
            given = topic if isinstance(topic, list) else [topic] if topic else None
            wanted.append(None if given is None else {bytes.fromhex(t[2:]) for t in given})
        exact = []
        for options in wanted:
            if options is None or len(options) != 1:
                break
            exact.append(next(iter(options)))
        to_block = query.get("toBlock", "latest")
        addresses = query["address"]
        found = []
        for address in addresses if isinstance(addresses, list) else [addresses]:
            found += self.chain.logs(
                str(address),
                exact,
                from_block=_block(query.get("fromBlock", "0x0")),
                to_block=None if to_block in ("latest", "pending") else _block(to_block),
            )
        if isinstance(addresses, list) and len(addresses) > 1:
            found.sort(key=self._chain_order())
        return [
            log
            for log in found
            if all(
                options is None or (i < len(log["topics"]) and log["topics"][i] in options)
                for i, options in enumerate(wanted)
            )
        ]

    def _chain_order(self) -> Callable[[dict[str, Any]], tuple[int, int, int]]:
        """Sort key putting logs of several addresses in chain order (block, transaction,
        log), reading each block's transaction order once."""
        positions: dict[int, dict[bytes, int]] = {}

        def key(log: dict[str, Any]) -> tuple[int, int, int]:
            number = int(log["blockNumber"])
            if number not in positions:
                block = self.chain.w3.eth.get_block(number)
                positions[number] = {bytes(h): i for i, h in enumerate(block["transactions"])}  # type: ignore[arg-type]
            return number, positions[number][bytes(log["transactionHash"])], int(log["logIndex"])

        return key


def _block(value: Any) -> int:
    """A block number given as JSON-RPC hex (or an integer)."""
    return value if isinstance(value, int) else int(str(value), 16)


class _Handler(BaseHTTPRequestHandler):
    """One HTTP request: a JSON-RPC request object or a batch of them."""

    rpc: EmbeddedRpcServer
    protocol_version = "HTTP/1.1"  # keep-alive: the clients pool their connections

    def do_POST(self) -> None:
        """Answer a JSON-RPC POST."""
        length = int(self.headers.get("Content-Length", "0"))
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            self._send(400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700}})
            return
        if isinstance(request, list):
            self._send(200, [self.rpc.answer(r) for r in request])
        else:
            self._send(200, self.rpc.answer(request))

    def _send(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would drown the output."""
