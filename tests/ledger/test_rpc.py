"""The lean JSON-RPC path (``Chain.rpc``) behind the ledger's reads, and the HTTP session set-up."""

from __future__ import annotations

import pytest
from eth_account import Account

import fedledger_crypto as fc
from fedledger_platform.errors import ChainUnavailableError, ConfigurationError
from fedledger_platform.ledger import Chain, Ledger, RoundStatus, connect
from fedledger_platform.ledger.chain import RpcError, _session_for
from fedledger_platform.ledger.deployment import deploy_federation
from fedledger_platform.ledger.devnet import free_port


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
    assert ledger.get_round(1).status is RoundStatus.NONE
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
