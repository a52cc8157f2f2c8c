"""The real deployment as separate processes, exactly as the README's walkthrough runs it:
`fedledger devnet`, `keys new`, `deploy`, `keys fund`, `client init` × N, `federation admit`,
`federation appoint-dealer`, `federation init-model`, `serve`, `client run` × N, `audit`,
`dashboard`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web3 import Web3

from fedledger_platform.ledger.devnet import free_port

FEDLEDGER = [sys.executable, "-m", "fedledger_app.cli"]
FAST_KDF = ["--scrypt-n", "16384"]  # test-only: fast keystores
CLIENTS = 3


def fedledger(*args: str, cwd: Path, timeout: float = 300) -> str:
    result = subprocess.run(
        [*FEDLEDGER, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"fedledger {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


class Processes:
    """Background processes, stopped (by process group) at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str, cwd: Path) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [*FEDLEDGER, *args],
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.running.append((name, process))
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for _, process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        for _, process in reversed(self.running):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop()


def _wait_http(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"{url} did not answer")


@pytest.mark.slow
@pytest.mark.hardhat
def test_multi_process_devnet_walkthrough(tmp_path: Path, processes: Processes) -> None:
    chain_port, api_port = free_port(), free_port()
    rpc, api = f"http://127.0.0.1:{chain_port}", f"http://127.0.0.1:{api_port}"
    work = tmp_path
    # 1. the devnet
    processes.start("devnet", "devnet", "--port", str(chain_port), cwd=work)
    deadline = time.monotonic() + 120
    while True:
        try:
            reply = httpx.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
            if reply.json().get("result") == "0x7a69":
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, processes.log("devnet")
        time.sleep(0.25)
    # 2. the aggregator's account, the deployment, gas for the aggregator
    (work / "aggregator").mkdir()
    (work / "aggregator" / "passphrase").write_text("aggregator passphrase\n")
    aggregator = json.loads(
        fedledger(
            "keys",
            "new",
            "aggregator/keystore.json",
            "--passphrase-file",
            "aggregator/passphrase",
            *FAST_KDF,
            cwd=work,
        )
    )["address"]
    fedledger(
        "deploy",
        "--rpc-url",
        rpc,
        "--dev-account",
        "0",
        "--aggregator",
        aggregator,
        "--auditor",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",  # dev account 1
        "--out",
        "deployment.json",
        cwd=work,
    )
    fedledger(
        "keys",
        "fund",
        aggregator,
        "--amount",
        "10",
        "--rpc-url",
        rpc,
        "--dev-account",
        "0",
        cwd=work,
    )
    # 3. participants create their accounts; the operator admits them and appoints the dealer
    keys = []
    for i in range(CLIENTS):
        info = json.loads(
            fedledger(
                "client",
                "init",
                "--dir",
                f"client-{i}",
                "--aggregator",
                api,
                "--rpc-url",
                rpc,
                "--deployment",
                "deployment.json",
                "--task",
                "sentiment",
                "--client-index",
                str(i),
                "--num-clients",
                str(CLIENTS),
                *FAST_KDF,
                cwd=work,
            )
        )
        keys.append(info)
    admit = [
        "federation",
        "admit",
        "--rpc-url",
        rpc,
        "--deployment",
        "deployment.json",
        "--dev-account",
        "0",
    ]  # no --fund: participants hold zero ether, the aggregator relays their messages
    for info in keys:
        admit += ["--public-key", info["public_key"]]
    fedledger(*admit, cwd=work)
    fedledger(
        "federation",
        "appoint-dealer",
        keys[0]["address"],
        "--rpc-url",
        rpc,
        "--deployment",
        "deployment.json",
        "--dev-account",
        "0",
        cwd=work,
    )
    # 4. the aggregator
    fedledger(
        "federation",
        "init-model",
        "--task",
        "sentiment",
        "--out",
        "aggregator/initial.safetensors",
        cwd=work,
    )
    (work / "aggregator" / "aggregator.toml").write_text(
        f'chain = "{rpc}"\ndeployment = "../deployment.json"\nkeystore = "keystore.json"\n'
        'passphrase_file = "passphrase"\ndatabase_url = "sqlite:///aggregator.db"\n'
        'blob_dir = "blobs"\ninitial_model = "initial.safetensors"\n'
        f"port = {api_port}\n\n[rounds]\ncount = 2\nmin_updates = {CLIENTS}\ntimeout_s = 600\n"
    )
    processes.start("aggregator", "serve", "--config", "aggregator/aggregator.toml", cwd=work)
    _wait_http(f"{api}/v1/health")
    # 5. the participants' daemons, until the planned rounds are published
    clients = [
        processes.start(
            f"client-{i}", "client", "run", "--config", f"client-{i}/client.toml", cwd=work
        )
        for i in range(CLIENTS)
    ]
    for i, client in enumerate(clients):
        try:
            assert client.wait(480) == 0, processes.log(f"client-{i}")
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"client {i} did not finish:\n{processes.log(f'client-{i}')}\n"
                f"{processes.log('aggregator')}"
            )
    status = json.loads(
        fedledger("client", "status", "--config", "client-1/client.toml", "--json", cwd=work)
    )
    assert status["token_balance"] == 2.0 and len(status["rounds"]) == 2
    w3 = Web3(Web3.HTTPProvider(rpc))
    assert [w3.eth.get_balance(info["address"]) for info in keys] == [0] * CLIENTS
    # 6. the audit, from the chain and the aggregator's read API only
    # The chain, the deployment, the aggregator and the auditor account (dev account 1).
    auditing = ["--rpc-url", rpc, "--deployment", "deployment.json", "--aggregator", api]
    auditing += ["--dev-account", "1"]
    report = json.loads(
        fedledger(
            "audit",
            *auditing,
            "--json",
            "--html",
            "audit.html",
            cwd=work,
        )
    )
    assert report["ok"] is True, report
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    assert (work / "audit.html").is_file()
    # 7. the independent dashboard, from the chain and the aggregator's read API only; and the
    # aggregator's own
    board_port = free_port()
    processes.start(
        "dashboard",
        "dashboard",
        *auditing,
        "--port",
        str(board_port),
        cwd=work,
    )
    board = f"http://127.0.0.1:{board_port}/dashboard"
    _wait_http(f"{board}/rounds")
    deadline = time.monotonic() + 180
    while (page := httpx.get(f"{board}/rounds", timeout=30).text).count('"badge pass"') < 2:
        assert time.monotonic() < deadline, f"{page[-3000:]}\n{processes.log('dashboard')}"
        time.sleep(0.5)
    assert 'id="round-2"' in page and 'id="round-1"' in page
    own = httpx.get(f"{api}/dashboard/", timeout=30)
    assert own.status_code == 200 and "fedledger dashboard" in own.text
