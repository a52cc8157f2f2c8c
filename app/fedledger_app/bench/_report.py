"""Shared plumbing for the benchmarks: medians, JSON output and docs/benchmarks.md sections."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

#: Where this package sits in a source checkout: <checkout>/app/fedledger_app/bench/.
_CHECKOUT = Path(__file__).resolve().parents[3]


def benchmarks_doc() -> Path | None:
    """docs/benchmarks.md of the source checkout this package runs from; None when fedledger is
    installed from a wheel (no checkout, no docs)."""
    if (_CHECKOUT / "app" / "fedledger_app").is_dir() and (_CHECKOUT / "docs").is_dir():
        return _CHECKOUT / "docs" / "benchmarks.md"
    return None


def require_checkout(parser: argparse.ArgumentParser) -> None:
    """Refuse ``--update-docs`` (before measuring anything) when there is no checkout to write."""
    if benchmarks_doc() is None:
        parser.error(
            "--update-docs rewrites docs/benchmarks.md of a fedledger source checkout, but this "
            f"fedledger is installed in {Path(__file__).resolve().parents[2]}, outside one: run "
            "the benchmark from a clone of the repository (`make bench`), or leave out "
            "--update-docs"
        )


def timed(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> tuple[float, T]:
    """Wall time of one call ``fn(*args, **kwargs)`` and its result."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


@contextlib.contextmanager
def native_stdout_to_stderr() -> Iterator[None]:
    """Send what native code prints on fd 1 to stderr, so stdout stays one JSON object."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def median(values: list[float]) -> float:
    """Median of several runs (timings on shared machines are noisy)."""
    return float(statistics.median(values))


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }


def busy_cpu_s() -> float | None:
    """CPU-seconds the whole machine has been busy since boot (Linux ``/proc/stat``), or None.

    The difference of two readings is the CPU every process used in between, whoever ran it.
    """
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    ticks = [int(f) for f in first[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def emit(result: dict[str, Any], *, as_json: bool) -> None:
    """Print the result: one JSON object, or indented JSON for humans."""
    sys.stdout.write(json.dumps(result, indent=None if as_json else 2, sort_keys=False) + "\n")


def update_section(name: str, markdown: str) -> None:
    """Replace the ``name`` section of docs/benchmarks.md (between its markers)."""
    doc = benchmarks_doc()
    if doc is None:
        raise RuntimeError("no source checkout: docs/benchmarks.md cannot be updated")
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
