"""Reading another process's memory for ``fedledger simulate``: its resident size and its peak,
reset at a chosen moment, as the simulation reads its aggregator process."""

from __future__ import annotations

import subprocess
import sys

from fedledger_app.scale.aggregator import reset_peak, status_bytes

_MIB = 2**20

# For each line read: allocates and touches that many MiB, frees them, says so.
_CHILD = """
import sys
for line in sys.stdin:
    block = bytearray(int(line) * 2**20)
    del block
    print("freed", flush=True)
"""


def _allocate(child: subprocess.Popen[str], mib: int) -> None:
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(f"{mib}\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "freed"


def test_the_peak_after_a_reset_counts_only_what_was_allocated_since() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        _allocate(child, 96)
        resident = status_bytes(child.pid, "VmRSS")
        peak_before_reset = status_bytes(child.pid, "VmHWM")

        reset_peak(child.pid)
        peak_at_reset = status_bytes(child.pid, "VmHWM")
        _allocate(child, 32)
        peak = status_bytes(child.pid, "VmHWM")
        assert child.stdin is not None
        child.stdin.close()

    assert peak_before_reset - resident >= 95 * _MIB  # the 96 MiB block, freed, still counted
    assert peak_at_reset - resident < 4 * _MIB  # the reset brought the peak down to the RSS
    assert 31 * _MIB <= peak - peak_at_reset < 48 * _MIB  # the 32 MiB block only
