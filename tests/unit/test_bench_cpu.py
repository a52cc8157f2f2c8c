"""`fedledger bench round`: CPU accounting (machine counters, the process tree by role) and
its training settings."""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from pathlib import Path

import pytest
from busy import spin

from fedledger_app.bench import round as round_bench
from fedledger_app.bench._report import busy_cpu_s
from fedledger_app.bench.round import CpuMeter

needs_proc = pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc")


@needs_proc
def test_machine_counter_sees_this_process_work() -> None:
    before = busy_cpu_s()
    spin(0.3)
    after = busy_cpu_s()
    assert before is not None and after is not None
    assert after - before >= 0.25


@needs_proc
def test_meter_splits_this_process_from_client_processes() -> None:
    meter = CpuMeter()
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=spin, args=(3.0,))
    child.start()
    try:
        time.sleep(1.5)  # past the child's interpreter start-up, into its spinning
        started = time.monotonic()
        meter.mark("start")
        meter.mark("start")  # the first mark of a name counts
        spin(0.4)
        time.sleep(0.5)
        meter.mark("end")
        wall = time.monotonic() - started
    finally:
        child.join(10)
    measured = meter.between("start", "end", per=2)
    assert measured is not None
    roles = measured["by_role"]
    # per=2 halves every figure
    assert 0.18 <= roles["this process"] <= 0.3
    assert roles["client daemons"] >= 0.1
    assert measured["machine"] >= roles["this process"] + roles["client daemons"] - 0.05
    # The wall time between the marks, halved (a loaded machine stretches it, so compare with
    # the wall time this test saw rather than with a constant).
    assert measured["wall_s"] == pytest.approx(wall / 2, abs=0.02)
    assert meter.between("start", "missing", per=1) is None


def test_local_epochs_change_only_the_epochs_of_the_task_defaults() -> None:
    default = round_bench.train_config(None)
    assert default.local_epochs == 2  # the sentiment task's default, documented in the docs
    assert round_bench.train_config(5) == dataclasses.replace(default, local_epochs=5)


def test_local_epochs_below_one_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        round_bench.main(["--local-epochs", "0"])
    assert exit_info.value.code == 2
    assert "--local-epochs must be at least 1" in capsys.readouterr().err
