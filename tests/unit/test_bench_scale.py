"""The cost-curve plot of ``fedledger bench scale``, from given figures."""

from __future__ import annotations

from pathlib import Path

from fedledger_app.bench.scale import plot


def test_the_plot_shows_both_systems_and_the_memory_curve(tmp_path: Path) -> None:
    runs = [
        {
            "participants": n,
            "round_s_median": 0.1 * n,
            "flower_round_s_median": 0.05 * n,
            "aggregator_peak_increase_mib": 2.0,
            "update_bytes": 800_000,
        }
        for n in (10, 100, 1000)
    ]
    path = tmp_path / "scale.png"

    plot(runs, path)

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
