"""``fedledger simulate``: participants hosted by real Ray actors (a local Ray instance) against
the real aggregator on a loopback port and the embedded chain, served to the actors over
JSON-RPC. One run serves the tests below: 4 participants (the IID partition) in 2 hosts for 1
round, the aggregator in its own process; when the round opens the hosts' shard sizes are read
and the host without the key dealer is killed before its participants act, so the round closes
at its deadline with the 2 participants left (``min_updates`` = 2), and is audited."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import pytest

from fedledger_app.scale import SimulationResult, SimulationSpec, simulate
from fedledger_app.scale.rpc import to_json_rpc
from fedledger_app.scale.simulate import _chunks
from fedledger_app.scale.spec import build_task
from fedledger_platform.errors import ConfigurationError

pytestmark = [
    pytest.mark.timeout(240),
    # Ray leaves the Popen objects and /dev/null handles of the helper processes it starts to
    # the garbage collector, which reports them whenever it runs (here or in a later test).
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


Run = tuple[SimulationResult, list[int], list[int], list[int]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Prepare and execute: the simulation, killing host 1 when round 1 opens (after reading
    every host's shard sizes)."""
    import ray

    killed: list[int] = []
    train_sizes: list[int] = []
    readers: list[int] = []

    def kill_second_host(number: int, hosts: list[Any]) -> None:
        if number == 1 and not killed:
            for sizes in ray.get([host.train_sizes.remote() for host in hosts]):
                train_sizes.extend(sizes)
            readers.extend(ray.get([host.membership_readers.remote() for host in hosts]))
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
        partition="iid",
        out=tmp_path_factory.mktemp("simulate"),
    )
    result = simulate(spec, on_round=kill_second_host)
    gc.collect()  # Ray's leftover handles are reported here, under this module's filter
    return result, killed, train_sizes, readers


def test_a_ray_hosted_federation_completes_and_its_audit_passes(run: Run) -> None:
    result, _, _, _ = run
    (first,) = result.rounds
    assert first["uploaded_bytes"] > 0
    assert first["aggregate_bytes"] > 0
    assert first["bytes_moved"] == first["uploaded_bytes"] + 2 * first["aggregate_bytes"]
    assert first["gas"]["commits"] > 0
    assert set(first["phase_s"]) == {"train", "encrypt_commit_upload", "decrypt_attest"}
    assert result.audit_passed is True
    assert result.extra["audit_counts"]["rounds"]["pass"] == 1


def test_killing_a_host_mid_federation_drops_its_participants(run: Run) -> None:
    result, killed, _, _ = run
    assert killed == [1]
    assert len(result.dropped) == 2
    (first,) = result.rounds
    assert first["participants"] == 2
    assert first["attestations"] == 2
    assert first["collect_s"] >= 15  # closed at its deadline, not by the killed participants


def test_the_hosts_train_on_the_partition_asked_for(run: Run) -> None:
    _, _, train_sizes, _ = run
    expected = build_task("sentiment", "iid").load_clients(num_clients=4, seed=0)
    assert train_sizes == [shard.num_train for shard in expected]


def test_the_participants_of_a_host_share_one_membership_reader(run: Run) -> None:
    _, _, _, readers = run
    assert readers == [1, 1]  # each host: one read of the round's members, graph and keys


def test_the_aggregator_serves_from_its_own_process_whose_peak_is_measured(run: Run) -> None:
    result, _, _, _ = run
    pid = result.extra["aggregator_pid"]
    (first,) = result.extra["aggregator_memory"]
    assert pid != os.getpid()
    assert not Path(f"/proc/{pid}").exists()  # ended with the simulation
    assert first["round"] == 1
    assert first["rss_at_opening_bytes"] > 50 * 2**20  # a Python process serving FastAPI
    # The round summed two updates: its peak is above the size it opened with.
    assert first["peak_increase_bytes"] == first["peak_bytes"] - first["rss_at_opening_bytes"]
    assert first["peak_increase_bytes"] > 0


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
