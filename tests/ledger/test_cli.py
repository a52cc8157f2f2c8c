"""`fedledger devnet` and `fedledger deploy` as a user runs them: separate processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedledger_platform.ledger import Ledger, connect
from fedledger_platform.ledger.deployment import Deployment
from fedledger_platform.ledger.devnet import free_port

FEDLEDGER = [sys.executable, "-m", "fedledger_app.cli"]


@pytest.mark.hardhat
def test_devnet_then_deploy_then_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    devnet = subprocess.Popen(
        [*FEDLEDGER, "devnet", "--port", str(port), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert devnet.stdout is not None
        lines = []
        while not lines or lines[-1] != "}\n":  # the top-level object closes unindented
            line = devnet.stdout.readline()
            assert line, f"devnet exited: {devnet.stderr.read() if devnet.stderr else ''}"
            lines.append(line)
        info = json.loads("".join(lines))
        assert info["rpc_url"] == f"http://127.0.0.1:{port}" and info["chain_id"] == 31337
        assert len(info["accounts"]) == 20
        out = tmp_path / "deployment.json"
        result = subprocess.run(
            [
                *FEDLEDGER,
                "deploy",
                "--rpc-url",
                info["rpc_url"],
                "--dev-account",
                "0",
                "--out",
                str(out),
                "--json",
                "--reward",
                "2.5",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        printed = json.loads(result.stdout)
        deployment = Deployment.load(out)
        assert printed["ledger"] == deployment.ledger and deployment.chain_id == 31337
        ledger = Ledger(connect(info["rpc_url"]), deployment.ledger)
        assert ledger.reward_per_update() == 25 * 10**17
        # Ctrl-C stops the node cleanly, and with it the port.
        os.killpg(devnet.pid, signal.SIGINT)
        assert devnet.wait(timeout=30) == 0
        time.sleep(0.5)
        with pytest.raises(Exception, match="cannot reach"):
            connect(info["rpc_url"], timeout_s=2)
    finally:
        if devnet.poll() is None:
            os.killpg(devnet.pid, signal.SIGKILL)
            devnet.wait()
        for stream in (devnet.stdout, devnet.stderr):
            if stream is not None:
                stream.close()


def test_deploy_needs_an_account_and_names_the_fix(tmp_path: Path) -> None:
    result = subprocess.run(
        [*FEDLEDGER, "deploy", "--rpc-url", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot reach the chain" in result.stderr


def test_devnet_names_a_port_it_cannot_listen_on() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args, message in [
            (["--port", str(port)], f"cannot listen on 127.0.0.1:{port} (Address already in use)"),
            (["--port", "70000"], "port 70000 is not a TCP port (1-65535)"),
        ]:
            result = subprocess.run(
                [*FEDLEDGER, "devnet", *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={**os.environ, "COLUMNS": "200"},
            )
            assert result.returncode == 2, result.stdout + result.stderr
            output = result.stdout + result.stderr
            assert message in output and "Traceback" not in output
