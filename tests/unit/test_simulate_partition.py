"""The partition a simulation asks of the sentiment task: checked, drawn alike by the driver,
the hosts and Flower's clients, and refused with the fix when it cannot be drawn."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from fedledger_app.bench.round import flower_side
from fedledger_app.bench.round.measure import SEED, TASK
from fedledger_app.scale import SimulationSpec
from fedledger_app.scale.spec import build_task, check_partition, check_simulation
from fedledger_clients.tasks import SentimentTask
from fedledger_platform.errors import ConfigurationError


def test_a_thousand_iid_shards_are_drawn_with_at_least_ten_posts_each() -> None:
    task = build_task("sentiment", "iid")

    shards = task.load_clients(num_clients=1000, seed=0)

    assert isinstance(task, SentimentTask)
    assert task.partition == "iid"
    assert len(shards) == 1000
    assert min(s.num_train for s in shards) >= 10
    assert max(s.num_train for s in shards) - min(s.num_train for s in shards) <= 2


def test_the_dirichlet_alpha_reaches_the_task() -> None:
    task = build_task("sentiment", "dirichlet", 5.0)

    assert isinstance(task, SentimentTask)
    assert (task.partition, task.dirichlet_alpha) == ("dirichlet", 5.0)
    assert build_task("sentiment").partition == "dirichlet"  # type: ignore[attr-defined]


def test_an_impossible_partition_is_refused_naming_the_fix(tmp_path: Path) -> None:
    spec = SimulationSpec(participants=1000, out=tmp_path)  # the task's Dirichlet(0.5)

    with pytest.raises(ConfigurationError) as refused:
        check_partition(spec)

    message = str(refused.value)
    assert "1000 participants" in message
    assert "--partition iid" in message
    assert "--dirichlet-alpha" in message


def test_too_many_recommendation_participants_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="fewer --participants"):
        check_partition(SimulationSpec(task="recommendation", participants=944, out=tmp_path))


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"partition": "random"}, "partition must be one of iid, dirichlet, topic"),
        ({"partition": "iid", "dirichlet_alpha": 2.0}, "applies to the dirichlet partition"),
        ({"dirichlet_alpha": 0.0}, "dirichlet_alpha must be > 0"),
        ({"task": "recommendation", "partition": "iid"}, "the recommendation task has its own"),
    ],
)
def test_a_bad_partition_option_is_refused(
    tmp_path: Path, options: dict[str, object], refusal: str
) -> None:
    with pytest.raises(ConfigurationError, match=refusal):
        check_simulation(SimulationSpec(out=tmp_path, **options))  # type: ignore[arg-type]


def test_flowers_clients_draw_the_same_partition() -> None:
    options = (("partition", "iid"),)
    context = SimpleNamespace(node_config={"partition-id": 3, "num-partitions": 50})

    task, shard = flower_side._client_shard(context, options)

    _, shards = flower_side._actor_cache()[(TASK, 50, SEED, options)]
    expected = build_task("sentiment", "iid").load_clients(num_clients=50, seed=SEED)
    assert task.partition == "iid"
    assert [s.num_train for s in shards] == [s.num_train for s in expected]
    assert shard.num_train == expected[3].num_train
