"""The client daemon end to end: key dealer + 3 participants + the aggregator on loopback + the
embedded chain, two rounds of each task, all through the daemon code path over real HTTP —
and the result equals the plaintext FedAvg pipeline on the same shards and seeds."""

from __future__ import annotations

import gc
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import torch
from daemon_helpers import make_daemons, run_daemons
from harness import make_federation, wait_for

import fedledger_crypto as fc
from fedledger_app.initial_model import initial_model_bytes
from fedledger_app.simulation import run_plaintext_fedavg
from fedledger_clients.slots import TrainingSlots
from fedledger_clients.tasks import get_task
from fedledger_clients.tasks.recommendation import ITEM_SIDE_KEYS
from fedledger_clients.tasks.server_optimizer import model_tensors
from fedledger_platform.audit import run_audit
from fedledger_platform.modelfile import decode_model
from fedledger_platform.protocol import RoundPhase

ROUNDS = 2


class RecordingSlots(TrainingSlots):
    """One training at a time, recording who asked with which job size."""

    def __init__(self, participants: int) -> None:
        super().__init__(1, participants)
        self.calls: list[tuple[int, float]] = []

    def slot(self, index: int, size: float) -> AbstractContextManager[None]:
        self.calls.append((index, size))
        return super().slot(index, size)


@pytest.mark.slow
@pytest.mark.parametrize("task_name", ["sentiment", "recommendation", "hashtags"])
def test_two_rounds_of_each_task_through_the_daemons(task_name: str, tmp_path: Path) -> None:
    # Prepare
    fed = make_federation(tmp_path)
    try:
        server = fed.serve(
            fed.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=ROUNDS),
            model=initial_model_bytes(task_name, 0),
        )
        # One daemon acts as if alone in its process: it freezes the heap after loading its
        # shard and after its first round (undone below: this process is pytest's).
        owner = 0 if task_name == "sentiment" else None
        frozen_before = gc.get_freeze_count()
        daemons = make_daemons(fed, server.url, task_name, tmp_path, owner=owner)
        slots = RecordingSlots(len(daemons))
        awaited: dict[int, list[tuple[int, str]]] = {i: [] for i in range(len(daemons))}
        for i, d in enumerate(daemons):
            d._training_slots = slots
            real = d.client.current_round

            def spy(*, after: tuple[int, str] | None = None, _i: int = i, _real=real, **kw):  # type: ignore[no-untyped-def]
                if after is not None:
                    awaited[_i].append(after)
                return _real(after=after, **kw)

            d.client.current_round = spy  # type: ignore[method-assign]
        # Execute
        run_daemons(daemons)
        if owner is not None:
            assert gc.get_freeze_count() > frozen_before
            assert daemons[owner]._freeze_pending == 0
        # Assert: after uploading, each daemon waited for the round to be closed, not woken
        # while it was summed; after round 1 it waited for round 2 to open, not for round 1's
        # publication; never past the last round's publication (nothing would follow it).
        for states in awaited.values():
            assert (1, "closing") in states and (2, "closing") in states
            assert (1, "published") in states and (2, "published") not in states
        # Each participant trained in the shared slots, sized by its shard
        assert sorted(slots.calls) == sorted(
            (d.config.task.client_index, d.data.num_train) for d in daemons for _ in range(ROUNDS)
        )
        # Both rounds published, everyone derived and attested the same model
        ledger = fed.ledger
        for number in range(1, ROUNDS + 1):
            info = ledger.get_round(number)
            assert info.status is RoundPhase.PUBLISHED and info.included_count == 3
            hashes = {d.rounds()[number].model_hash for d in daemons}
            assert hashes == {fc.hash_hex(info.published_model_hash)}
        for d in daemons:
            assert ledger.token_balance(d.account.address) == ROUNDS * 10**18
            assert not list(d.state_dir.glob("round-*.blob"))  # cleaned up after attesting
        final = decode_model(fed.client(server).latest_model().data)
        task = get_task(task_name)
        if task_name == "recommendation":
            # Only item-side parameters were ever encrypted and aggregated.
            assert set(model_tensors(final.state)) == set(ITEM_SIDE_KEYS)
            assert all((d.state_dir / "private").is_dir() for d in daemons)
        # The encrypted federation equals plaintext FedAvg on the same shards and seeds.
        clients = task.load_clients(num_clients=3, seed=0)
        plain = run_plaintext_fedavg(
            get_task(task_name),
            clients,
            rounds=ROUNDS,
            config=task.default_config(),
            seed=0,
            private_root=tmp_path / "plain",
        )
        for name, tensor in plain.final_state.items():
            if task_name == "hashtags":
                assert torch.equal(final.state[name].round(), tensor.round()), name
            else:
                torch.testing.assert_close(final.state[name], tensor, atol=1e-5, rtol=1e-5)
        metrics = daemons[0].rounds()[ROUNDS].metrics
        assert task.headline_metric in metrics or metrics  # federation-wide round metrics
    finally:
        gc.unfreeze()
        fed.close()


def test_daemons_reveal_for_a_member_that_dropped_after_committing(tmp_path: Path) -> None:
    # Prepare: three members; participant 2 has no daemon: it commits once round 1 opens and
    # never uploads, so the round closes at its deadline with it dropped.
    fed = make_federation(tmp_path)
    try:
        server = fed.serve(
            fed.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=1, min_updates=2, timeout_s=6),
            model=initial_model_bytes("hashtags", 0),
        )
        daemons = make_daemons(fed, server.url, "hashtags", tmp_path)[:2]
        events: list[tuple[str, dict[str, Any]]] = []
        for d in daemons:
            d.on_event = lambda kind, data: events.append((kind, data))
        gone = fed.accounts[2]

        def commit_and_vanish() -> None:
            wait_for(lambda: fed.ledger.get_round(1).status is RoundPhase.OPEN, what="round 1")
            fed.ledger.commit_update(gone, 1, b"\x01" * 32)

        committer = threading.Thread(target=commit_and_vanish, daemon=True)
        committer.start()
        # Execute
        run_daemons(daemons)
        committer.join(10)
        # Assert: each survivor revealed its seed with the dropped member, the round closed
        # with it dropped and the reveals' hash, and the audit passes.
        revealed = sorted(data["participant"] for kind, data in events if kind == "revealed")
        assert revealed == sorted(d.account.address for d in daemons)
        assert all(d.rounds()[1].revealed and d.rounds()[1].finished for d in daemons)
        (closed,) = fed.ledger.log.find("RoundClosed", [], from_block=0)
        assert [a.lower() for a in closed.args["dropped"]] == [gone.address.lower()]
        assert fed.ledger.get_round(1).status is RoundPhase.PUBLISHED
        report = run_audit(fed.ledger, server.url, fed.auditor)
        assert report.ok, [f.line() for f in report.failures]
    finally:
        fed.close()
