"""`fedledger demo` as a user runs it: one command, the embedded chain, a clean audit."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fedledger_app.simulation import run_plaintext_fedavg
from fedledger_clients.tasks import SentimentTask
from fedledger_clients.tasks.fairness import figures_from_metrics


def _demo(
    out: Path, report: Path, *, rounds: int, timeout_s: float, task: str = "sentiment"
) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fedledger_app.cli",
            "demo",
            "--task",
            task,
            "--clients",
            "3",
            "--rounds",
            str(rounds),
            "--out",
            str(out),
            "--json-report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={**os.environ, "COLUMNS": "200"},  # the tables' rows stay on one line each
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "audit PASSED" in result.stdout
    assert "dashboard: http://127.0.0.1:" in result.stdout and "/dashboard/" in result.stdout
    summary: dict[str, Any] = json.loads(report.read_text())
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["task"] == task
    assert summary["audit"] == {"ok": True, "failures": []}
    summary["stdout"] = result.stdout
    return summary


def _plaintext_fairness(*, clients: int, rounds: int) -> list[dict[str, Any]]:
    """Each round's fairness figures from the same task code and shards, without encryption."""
    task = SentimentTask()
    history = run_plaintext_fedavg(
        task, task.load_clients(num_clients=clients, seed=0), rounds=rounds, seed=0
    )
    found = [figures_from_metrics(r.round_metrics) for r in history.rounds]
    return [f.to_json() for f in found if f is not None]


@pytest.mark.slow
def test_demo_command_runs_an_audited_federation(tmp_path: Path) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    summary = _demo(out, report, rounds=2, timeout_s=600)
    assert [r["round"] for r in summary["per_round"]] == [1, 2]
    assert all(r["participants"] == 3 and r["gas"]["total"] > 0 for r in summary["per_round"])
    assert set(summary["balances"].values()) == {2.0}
    assert 0.5 < summary["per_round"][-1]["test"]["accuracy"] <= 1.0
    assert (out / "metric.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "fairness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "audit.html").read_text()
    assert "<html" in html.lower() and "http://" not in html.split("<body", 1)[0]

    # The fairness figures the participants decrypted equal the plaintext computation on the
    # same shards: the summary, the printed table and the audit report's labelled section.
    expected = _plaintext_fairness(clients=3, rounds=2)
    assert [r["fairness"] for r in summary["per_round"]] == expected
    assert "not verified by this audit" in html
    decrypted = html.split('id="decrypted"', 1)[1]
    for figures in expected:
        worst = figures["worst_group"]
        assert f"{worst['group']} ({worst['accuracy']:.4f} of" in decrypted
        assert f"{worst['group']} ({worst['accuracy']:.4f} of" in summary["stdout"]
        low, high = figures["worst_decile"]["low"], figures["worst_decile"]["high"]
        assert f"<td>{low:.2f}–{high:.2f}</td>" in decrypted
    united = [f"{r['groups']['united']['accuracy']:.4f}" for r in expected]
    assert (
        f"<tr><td>united</td><td>{expected[-1]['groups']['united']['total']}</td>"
        + "".join(f"<td>{a}</td>" for a in united)
        in decrypted
    )

    # Again into the same folder: a new federation on a fresh chain, not the old one's state
    # (its database, blobs and client keys); anything else in the folder is left alone.
    (out / "notes.txt").write_text("mine")
    again = _demo(out, report, rounds=1, timeout_s=300)
    assert [r["round"] for r in again["per_round"]] == [1]
    assert set(again["balances"].values()) == {1.0}
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_demo_runs_the_recommendation_and_hashtag_tasks(tmp_path: Path) -> None:
    rec = _demo(
        tmp_path / "rec", tmp_path / "rec.json", rounds=1, timeout_s=300, task="recommendation"
    )
    tags = _demo(
        tmp_path / "tags", tmp_path / "tags.json", rounds=1, timeout_s=300, task="hashtags"
    )

    (rec_round,) = rec["per_round"]
    assert 0.5 < rec_round["test"]["rmse"] < 1.5
    assert rec_round["federation"]["loss"] == pytest.approx(rec_round["federation"]["rmse"] ** 2)
    assert f"{rec_round['federation']['loss']:.4f}" in rec["stdout"]  # the table's loss column
    (tags_round,) = tags["per_round"]
    assert tags_round["test"]["exact"] == 1.0  # encrypted counting is exact
    assert "loss" not in tags_round["federation"] and "n/a" in tags["stdout"]
    assert all((d / "metric.png").is_file() for d in (tmp_path / "rec", tmp_path / "tags"))
    # Neither task has fairness slots: no fairness figures, plot or section.
    assert "fairness" not in rec_round and "fairness" not in tags_round
    assert not (tmp_path / "rec" / "fairness.png").exists()
    assert 'id="decrypted"' not in (tmp_path / "tags" / "audit.html").read_text()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--task", "nope"], "unknown task 'nope'; valid tasks: hashtags, recommendation"),
        (["--chain", "bogus"], "chain 'bogus' is neither 'embedded', 'hardhat' nor an http(s)"),
        (["--out", "{file}"], "exists and is not a folder"),
        (["--json-report", "{dir}"], "is a folder, not a file"),
    ],
)
def test_demo_refuses_bad_options_before_starting(
    tmp_path: Path, options: list[str], message: str
) -> None:
    (tmp_path / "a-file").write_text("kept")
    out = tmp_path / "out"
    options = [o.format(file=tmp_path / "a-file", dir=tmp_path) for o in options]
    if "--out" not in options:
        options += ["--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "fedledger_app.cli", "demo", *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not out.exists() and (tmp_path / "a-file").read_text() == "kept"


@pytest.mark.slow
def test_demo_with_serve_keeps_the_dashboard_up_until_interrupted(tmp_path: Path) -> None:
    # Prepare: the smallest demo, with --serve
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedledger_app.cli",
            "demo",
            "--task",
            "hashtags",
            "--clients",
            "2",
            "--rounds",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--serve",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert demo.stdout is not None
        lines: list[str] = []
        url = None
        for line in demo.stdout:  # until the final report says the dashboard stays up
            lines.append(line)
            match = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/dashboard/)", line)
            if match and "kept up until Ctrl-C" in line:
                url = match.group(1)
                break
        assert url is not None, "".join(lines)[-3000:]
        assert any("audit" in line and "PASSED" in line for line in lines)

        # Execute: after the run, the dashboard still answers, and catches up with the chain
        # (it starts reading when first asked) until it shows the published round
        deadline = time.monotonic() + 120
        while True:
            assert demo.poll() is None
            page = httpx.get(url + "rounds", timeout=30)
            assert page.status_code == 200
            if "published" in page.text or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "published" in page.text

        # Assert: Ctrl-C stops it cleanly
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 0, rest[-3000:]
    assert "stopping the aggregator and its dashboard" in rest
    assert "Traceback" not in "".join(lines) + rest
