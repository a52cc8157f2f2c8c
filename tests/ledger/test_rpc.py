"""The lean JSON-RPC path (``Chain.rpc``) behind the ledger's reads, and the HTTP session set-up."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from eth_account import Account

import fedledger_crypto as fc
from fedledger_platform.errors import ChainUnavailableError, ConfigurationError
from fedledger_platform.ledger import Chain, Ledger, connect
from fedledger_platform.ledger.chain import RpcError, _session_for
from fedledger_platform.ledger.deployment import deploy_federation
from fedledger_platform.ledger.devnet import free_port
from fedledger_platform.protocol import RoundPhase


@pytest.fixture(scope="module")
def hardhat(hardhat_url: str) -> Chain:
    return connect(hardhat_url)


@pytest.fixture(scope="module")
def ledger(hardhat: Chain) -> Ledger:
    admin = hardhat.faucet()
    aggregator = Account.create()
    hardhat.fund(aggregator.address, 10**18)
    ledger, _ = deploy_federation(
        hardhat, admin, aggregator=aggregator.address, reward_per_update=1, quorum_bps=5_001
    )
    participant = Account.create()
    ledger.admit_participant(admin, participant.address, fc.public_key_of(participant))
    return ledger


@pytest.mark.hardhat
def test_rpc_answers_as_web3_does(hardhat: Chain) -> None:
    assert int(hardhat.rpc("eth_blockNumber", []), 16) == hardhat.w3.eth.block_number
    assert int(hardhat.rpc("eth_chainId", []), 16) == hardhat.chain_id


@pytest.mark.hardhat
def test_error_answer_raises_rpc_error(hardhat: Chain) -> None:
    with pytest.raises(RpcError, match="eth_noSuchMethod") as caught:
        hardhat.rpc("eth_noSuchMethod", [])
    assert isinstance(caught.value.error, dict) and "message" in caught.value.error


@pytest.mark.hardhat
def test_ledger_reads_take_the_lean_path(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = Chain.rpc

    def counting(self: Chain, method: str, params: list[object]) -> object:
        calls.append(method)
        return real(self, method, params)

    monkeypatch.setattr(Chain, "rpc", counting)
    participants = ledger.participants()
    assert len(participants) == 1 and ledger.is_participant(participants[0])
    assert ledger.get_round(1).status is RoundPhase.NONE
    assert calls == ["eth_call"] * 3
    # The same reads through web3's own call path agree.
    raw = ledger.contract.functions.participantCount().call()
    assert raw == 1


@pytest.mark.hardhat
def test_reads_at_a_block_and_proxied_transport(ledger: Ledger, hardhat: Chain) -> None:
    block = hardhat.w3.eth.block_number
    count_then = len(ledger.participants())
    assert ledger.current_round(block=block) == ledger.current_round() == 0
    # The proxied branch goes through web3's provider (here without a proxy): same answers.
    proxied = Chain(w3=hardhat.w3, chain_id=hardhat.chain_id, target=hardhat.target, proxied=True)
    assert proxied.rpc("eth_blockNumber", []) == hardhat.rpc("eth_blockNumber", [])
    with pytest.raises(RpcError):
        proxied.rpc("eth_noSuchMethod", [])
    assert count_then == 1


def test_unreachable_node_is_chain_unavailable() -> None:
    chain = connect()  # a Chain whose target is then pointed at a closed port
    dead = Chain(w3=chain.w3, chain_id=chain.chain_id, target=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ChainUnavailableError, match="cannot reach"):
        dead.rpc("eth_blockNumber", [])


def test_embedded_chain_has_no_lean_path() -> None:
    with pytest.raises(ConfigurationError, match="embedded"):
        connect().rpc("eth_blockNumber", [])


def test_session_reads_proxies_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session, proxied = _session_for("http://127.0.0.1:8545")
    assert not proxied and not session.trust_env and session.verify is True

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/custom.pem")
    session, proxied = _session_for("https://rpc.example.org")
    assert proxied and session.proxies["https"] == "http://proxy.example:3128"
    assert session.verify == "/etc/ssl/custom.pem"

    monkeypatch.setenv("NO_PROXY", "rpc.example.org")
    _, proxied = _session_for("https://rpc.example.org")
    assert not proxied


class _Answers(http.server.BaseHTTPRequestHandler):
    """A JSON-RPC endpoint that answers from a script: (HTTP status, body) per request."""

    script: ClassVar[list[tuple[int, bytes]]] = []
    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:  # http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(dict(self.headers))
        status, body = type(self).script.pop(0)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Answers.script, _Answers.seen = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _chain_at(url: str) -> Chain:
    embedded = connect()
    return Chain(w3=embedded.w3, chain_id=embedded.chain_id, target=url)


def test_answers_by_status_and_body(endpoint: str) -> None:
    _Answers.script = [
        (200, b'{"jsonrpc":"2.0","id":1,"result":"0x2a"}'),
        (500, b'{"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"reverted","data":"0x01"}}'),
        (502, b"<html>bad gateway</html>"),
        (200, b'{"jsonrpc":"2.0","id":1}'),
    ]
    chain = _chain_at(endpoint)
    assert chain.rpc("eth_blockNumber", []) == "0x2a"
    with pytest.raises(RpcError) as caught:  # an error object, whatever the HTTP status
        chain.rpc("eth_call", [])
    assert caught.value.error["data"] == "0x01"
    with pytest.raises(ChainUnavailableError, match="HTTP 502"):
        chain.rpc("eth_call", [])
    with pytest.raises(ChainUnavailableError, match="no JSON-RPC result"):
        chain.rpc("eth_call", [])


def test_url_credentials_and_path_are_sent(endpoint: str) -> None:
    _Answers.script = [(200, b'{"jsonrpc":"2.0","id":1,"result":"0x1"}')] * 3
    url = endpoint.replace("http://", "http://user%40example:s3cret@") + "/v3/key?x=1"
    chain = _chain_at(url)
    for _ in range(3):  # kept alive, or reconnected when the server closed the connection
        assert chain.rpc("eth_chainId", []) == "0x1"
    expected = "Basic " + base64.b64encode(b"user@example:s3cret").decode()
    assert [h["Authorization"] for h in _Answers.seen] == [expected] * 3
