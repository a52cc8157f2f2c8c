"""`fedledger bench`: its own help, and a benchmark's options (help included) passed through."""

from __future__ import annotations

from typer.testing import CliRunner

from fedledger_app.cli import app


def test_bench_help_lists_the_benchmarks() -> None:
    # Execute
    result = CliRunner().invoke(app, ["bench", "--help"])

    # Assert
    assert result.exit_code == 0, result.output
    assert "crypto, gas, aggregator, quality, audit, round, all" in " ".join(result.output.split())


def test_help_after_a_benchmark_name_is_the_benchmarks_own() -> None:
    # Execute
    result = CliRunner().invoke(app, ["bench", "round", "--help"])

    # Assert: argparse's usage line of the round benchmark, not the outer command's help
    assert result.exit_code == 0, result.output
    assert "usage: fedledger bench round" in result.output
    assert "--rounds" in result.output


def test_an_unknown_benchmark_is_refused_by_name() -> None:
    # Execute
    result = CliRunner().invoke(app, ["bench", "nosuch"])

    # Assert
    assert result.exit_code != 0
    assert "nosuch" in result.output + str(result.exception)
