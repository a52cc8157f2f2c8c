"""CPU accounting of `fedledger bench round`: machine counters, the process tree by role."""

from __future__ import annotations

import multiprocessing
import sys
import time
from pathlib import Path

import pytest
from busy import spin

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

from _report import busy_cpu_s
from round import CpuMeter

pytestmark = pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc")


def test_machine_counter_sees_this_process_work() -> None:
    before = busy_cpu_s()
    spin(0.3)
    after = busy_cpu_s()
    assert before is not None and after is not None
    assert after - before >= 0.25


def test_meter_splits_this_process_from_client_processes() -> None:
    meter = CpuMeter()
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=spin, args=(3.0,))
    child.start()
    try:
        time.sleep(1.5)  # past the child's interpreter start-up, into its spinning
        meter.mark("start")
        meter.mark("start")  # the first mark of a name counts
        spin(0.4)
        time.sleep(0.5)
        meter.mark("end")
    finally:
        child.join(10)
    measured = meter.between("start", "end", per=2)
    assert measured is not None
    roles = measured["by_role"]
    # per=2 halves every figure
    assert 0.18 <= roles["this process"] <= 0.3
    assert roles["client daemons"] >= 0.1
    assert measured["machine"] >= roles["this process"] + roles["client daemons"] - 0.05
    assert meter.between("start", "missing", per=1) is None
