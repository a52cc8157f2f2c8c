"""``fedledger simulate``: participants hosted by real Ray actors (a local Ray instance) against
the real aggregator on a loopback port and the embedded chain, served to the actors over
JSON-RPC. One run serves the tests below: 4 participants in 2 hosts for 1 round; when the round
opens the host without the key dealer is killed before its participants act, so the round
closes at its deadline with the 2 participants left (``min_updates`` = 2), and is audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fedledger_app.scale import SimulationResult, SimulationSpec, simulate
from fedledger_app.scale.rpc import to_json_rpc
from fedledger_app.scale.simulate import _chunks
from fedledger_platform.errors import ConfigurationError

pytestmark = [
    pytest.mark.timeout(240),
    # Ray leaves the Popen objects and /dev/null handles of the helper processes it starts to
    # the garbage collector, which reports them whenever it runs (here or in a later test).
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationResult, list[int]]:
    """Prepare and execute: the simulation, killing host 1 when round 1 opens."""
    import ray

    killed: list[int] = []

    def kill_second_host(number: int, hosts: list[Any]) -> None:
        if number == 1 and not killed:
            ray.kill(hosts[1], no_restart=True)
            killed.append(number)

    spec = SimulationSpec(
        participants=4,
        rounds=1,
        hosts=2,
        num_cpus=2,
        min_updates=2,
        round_timeout_s=20,
        local_epochs=1,
        out=tmp_path_factory.mktemp("simulate"),
    )
    return simulate(spec, on_round=kill_second_host), killed


def test_a_ray_hosted_federation_completes_and_its_audit_passes(
    run: tuple[SimulationResult, list[int]],
) -> None:
    result, _ = run
    (first,) = result.rounds
    assert first["uploaded_bytes"] > 0
    assert first["aggregate_bytes"] > 0
    assert first["bytes_moved"] == first["uploaded_bytes"] + 2 * first["aggregate_bytes"]
    assert first["gas"]["commits"] > 0
    assert set(first["phase_s"]) == {"train", "encrypt_commit_upload", "decrypt_attest"}
    assert result.audit_passed is True
    assert result.extra["audit_counts"]["rounds"]["pass"] == 1


def test_killing_a_host_mid_federation_drops_its_participants(
    run: tuple[SimulationResult, list[int]],
) -> None:
    result, killed = run
    assert killed == [1]
    assert len(result.dropped) == 2
    (first,) = result.rounds
    assert first["participants"] == 2
    assert first["attestations"] == 2
    assert first["collect_s"] >= 15  # closed at its deadline, not by the killed participants


def test_participants_are_spread_evenly_over_hosts() -> None:
    assert [len(r) for r in _chunks(10, 3)] == [4, 3, 3]
    assert [r.start for r in _chunks(10, 3)] == [0, 4, 7]


def test_a_simulation_that_cannot_run_is_refused_before_starting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="hosts must be between 1 and participants"):
        simulate(SimulationSpec(participants=4, hosts=5, out=tmp_path))
    with pytest.raises(ConfigurationError, match="database URL"):
        simulate(SimulationSpec(database_url="mysql://x", out=tmp_path))


def test_answers_are_written_in_json_rpc_form() -> None:
    assert to_json_rpc({"n": 16, "ok": True, "h": b"\x01\x02", "l": [0, None]}) == {
        "n": "0x10",
        "ok": True,
        "h": "0x0102",
        "l": ["0x0", None],
    }
