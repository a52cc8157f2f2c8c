"""The client daemon: ``fedledger client run``.

Each poll, the daemon looks at the latest round and does the next step it owes:

* **round open, nothing committed** — fetch the base model (hash-checked against the chain),
  train on the local shard, clip (and optionally noise) the update, encrypt it, *persist the
  blob*, sign its commitment (EIP-712) and upload it with the signature, which the aggregator
  relays to the chain: the participant needs no ether;
* **committed, not yet accepted** (e.g. after a crash or an aggregator outage) — re-upload the
  persisted blob, never a new one: the signature (or the chain) binds exactly those bytes;
* **round unmasking** (masked rounds with dropouts) — reveal the mask seeds shared with the
  dropped neighbours (:mod:`.masking` checks the claim first); dropped itself: never upload;
* **round closed and this participant included** — fetch and check the aggregate, decrypt, build
  the next model, hand its signed attestation to the aggregator, upload the model bytes if
  asked to or if the aggregator lacks them.

Signed messages the aggregator took are watched (:mod:`.fallback`): one not on chain after
``relay_timeout_s`` is sent from this account when it holds ether (the censorship fallback).

The key dealer additionally seals the CKKS key to participants admitted later. Network and
chain failures are retried with exponential backoff; all progress is either on chain or in the
state folder, so a restarted daemon resumes without committing or uploading twice.

Polling is cheap: the aggregator's view of the latest round (a database read on its side) tells
whether anything changed; only then does the daemon read the chain, and everything it acts on
is checked against the chain.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from eth_account.signers.local import LocalAccount

import fedledger_crypto as fc
from fedledger_clients.config import ClientConfig
from fedledger_clients.fallback import Fallback
from fedledger_clients.keydealer import KeyDealer
from fedledger_clients.participant import Participant, ProtocolError
from fedledger_clients.privacy import protect_update
from fedledger_clients.round_log import RoundLog, load_round_logs, save_round_logs
from fedledger_clients.slots import TrainingSlots
from fedledger_clients.tasks import get_task
from fedledger_clients.tasks.base import Aggregation, ClientData, Task, TrainConfig
from fedledger_platform.api_client import (
    AggregatorClient,
    AggregatorError,
    AggregatorUnavailableError,
)
from fedledger_platform.errors import ChainUnavailableError, LedgerError
from fedledger_platform.heap import freeze_heap
from fedledger_platform.ledger import Ledger, RoundInfo
from fedledger_platform.protocol import BaseModelMissing, RoundPhase, participant_wait_past

__all__ = ["ClientDaemon", "RoundLog"]

log = logging.getLogger("fedledger.client")
EventSink = Callable[[str, dict[str, Any]], None]


class ClientDaemon:
    """One participant's long-running loop (a thread in ``fedledger demo``, a process otherwise).

    ``owns_process`` says the daemon is alone in its process (``fedledger client run``, the
    client processes of :func:`~fedledger_app.federation.run_federation`), so it may tune
    process-wide state such as the garbage collector.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        account: LocalAccount,
        ledger: Ledger,
        client: AggregatorClient | None = None,
        task: Task | None = None,
        data: ClientData | None = None,
        on_event: EventSink | None = None,
        owns_process: bool = False,
        training_slots: TrainingSlots | None = None,
    ) -> None:
        self.config = config
        self.account = account
        self.ledger = ledger
        self.client = client or AggregatorClient(config.aggregator, account=account)
        self.task = task or get_task(config.task.name)
        self._data = data
        self.state_dir = config.state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.participant = Participant(
            account,
            ledger=ledger,
            client=self.client,
            max_clients=config.training.max_clients,
            state_dir=self.state_dir,
        )
        self.train_config: TrainConfig = config.training.train_config(
            self.task.default_config(), config.task.seed
        )
        self.fallback = Fallback(self.participant, timeout_s=config.relay_timeout_s)
        self._only_watching = False  # done but for a relayed message the fallback watches
        self._dealer: KeyDealer | None = None
        self._dealer_settled = False  # the dealer is fixed once the parameters are committed
        self._rounds_planned: int | None = None
        self._last_seen: tuple[int, RoundPhase] | None = None
        self._latest_hint: dict[str, Any] | None = None  # the last long-poll's answer
        self._offered: set[int] = set()  # rounds whose published model bytes were offered
        self._rounds: dict[int, RoundLog] = load_round_logs(self._state_path())
        self.on_event: EventSink = on_event or (lambda _kind, _data: None)
        self._training_slots = training_slots
        # A daemon alone in its process may freeze the process's heap (see _freeze_heap).
        self._freeze_pending = 2 if owns_process else 0
        self._stop = threading.Event()
        self._backoff = config.poll_interval_s
        seed = int.from_bytes(fc.keccak256(bytes(account.key))[:4], "big")
        self._rng = torch.Generator().manual_seed(seed)

    # ------------------------------------------------------------------ state

    def _state_path(self) -> Path:
        return self.state_dir / "state.json"

    def _save_state(self) -> None:
        save_round_logs(self._state_path(), self.account.address, self._rounds)

    def _blob_path(self, round_number: int) -> Path:
        return self.state_dir / f"round-{round_number}.blob"

    def rounds(self) -> dict[int, RoundLog]:
        """This participant's record of every round it took part in."""
        return dict(self._rounds)

    @property
    def data(self) -> ClientData:
        """This participant's private shard (loaded on first use)."""
        if self._data is None:
            clients = self.task.load_clients(
                num_clients=self.config.task.num_clients, seed=self.config.task.seed
            )
            self._data = clients[self.config.task.client_index]
        return self._data

    # ------------------------------------------------------------------ loop

    def stop(self) -> None:
        """Ask the loop to end after its current step."""
        self._stop.set()

    def run(self, *, max_rounds: int | None = None, until_done: bool = True) -> None:
        """Poll and act until stopped, until ``max_rounds`` were finished, or — with
        ``until_done`` — until the federation's planned rounds are all settled."""
        torch.set_num_threads(max(1, self.config.training.torch_threads))
        if self._freeze_pending:
            _ = self.data  # load the shard now: it is the bulk of the long-lived heap
            self._freeze_heap()
        while not self._stop.is_set():
            try:
                done = self.step(max_rounds=max_rounds, until_done=until_done)
                self._backoff = self.config.poll_interval_s
                if done:
                    return
                self._wait_for_change()
            except (AggregatorUnavailableError, ChainUnavailableError) as exc:
                delay = self._backoff * (0.5 + random.random())
                log.warning("%s: %s; retrying in %.1f s", self.account.address[:10], exc, delay)
                self._emit("retry", {"error": str(exc), "delay_s": delay})
                self._stop.wait(delay)
                self._backoff = min(self._backoff * 2, self.config.max_backoff_s)
            except (ProtocolError, AggregatorError, LedgerError) as exc:
                log.error("%s: %s", self.account.address[:10], exc)
                self._emit("error", {"error": str(exc)})
                self._stop.wait(max(self.config.poll_interval_s, 1.0))

    def _freeze_heap(self) -> None:
        """Exempt the long-lived heap from the cyclic GC (:func:`~fedledger_platform.heap.
        freeze_heap`): after start-up and after the first finished round. Only for a daemon
        that owns its process: freezing is process-wide."""
        freeze_heap()
        self._freeze_pending -= 1

    def _wait_for_change(self) -> None:
        """Block until the latest round moves on to a state this participant acts on (a
        long-poll, see :meth:`_awaited`), or poll after an interval.

        The dealer waits at most two seconds: it also watches for newly admitted participants.
        """
        look_in = self.fallback.next_look_in(self._rounds.values())
        if look_in is not None:  # a relayed message is due for a look then (not in a loop)
            look_in = max(look_in, self.config.poll_interval_s)
        if self._only_watching and look_in is not None:
            self._stop.wait(look_in)
            return
        if self._last_seen is None or self.config.long_poll_s <= 0:
            self._stop.wait(self.config.poll_interval_s)
            return
        wait_s = min(self.config.long_poll_s, 2.0) if self._dealer else self.config.long_poll_s
        if look_in is not None:
            wait_s = min(wait_s, look_in)
        # The answer is the latest round: the next step starts from it instead of asking again.
        self._latest_hint = self.client.current_round(
            after=self._awaited(self._last_seen), wait_s=wait_s
        )

    def _awaited(self, seen: tuple[int, RoundPhase]) -> tuple[int, RoundPhase]:
        """The round state to wait past: the next one this participant acts on
        (:func:`~fedledger_platform.protocol.participant_wait_past`)."""
        number, phase = seen
        entry = self._rounds.get(number)
        if entry is None:
            return seen
        return participant_wait_past(
            number,
            phase,
            uploaded=entry.uploaded,
            finished=entry.finished,
            last_round=self._rounds_planned,
            masking=self.participant.masking.members(number).masking,
            revealed=entry.revealed,
        )

    def step(self, *, max_rounds: int | None = None, until_done: bool = True) -> bool:
        """One poll: do whatever the latest round asks of this participant.

        Returns ``True`` when the daemon has nothing left to do.
        """
        if not self._dealer_settled:
            if self.ledger.key_dealer() == self.account.address:
                self._dealer = self._dealer or KeyDealer(self.participant)
                self._dealer.set_up()
            self._dealer_settled = self.ledger.encryption_params_hash() != bytes(32)
        if self._dealer is not None:
            self._dealer.seal_pending()
        if not self.participant.has_key:
            try:
                self.participant.receive_key()
            except AggregatorError as exc:
                if exc.status != 404:
                    raise
                return False  # the dealer has not sealed our copy yet
            self._emit("key", {})
        if self.fallback.watch(self._rounds.values()):
            self._save_state()
        latest, self._latest_hint = self._latest_hint or self.client.current_round(), None
        seen = (
            (int(latest["number"]), RoundPhase(latest["phase"])) if latest else (0, RoundPhase.NONE)
        )
        if seen == self._last_seen or seen[1] is RoundPhase.CLOSING:
            # Nothing moved since the last complete step, or the aggregator is summing: no
            # participant owes anything until the round is closed on chain.
            self._last_seen = seen
            return self._done(seen[0], max_rounds, until_done)
        if seen[1] is RoundPhase.UNMASKING:
            self._unmask(seen[0])
        # Finish any round we took part in that has closed (oldest first), then the latest.
        # The aggregator's round number is only a hint of where to look: every step below
        # reads the round's state from the chain before acting on it.
        advanced = set()
        for number in sorted(self._rounds):
            entry = self._rounds[number]
            if entry.committed and not entry.finished:
                self._advance(number)
                advanced.add(number)
        current = seen[0]
        latest_entry = self._rounds.get(current)
        if (
            current >= 1
            and current not in advanced
            and not (latest_entry and latest_entry.finished)
        ):
            self._advance(current)
        self._last_seen = seen
        return self._done(current, max_rounds, until_done)

    def _done(self, current: int, max_rounds: int | None, until_done: bool) -> bool:
        finished = [r for r in self._rounds.values() if r.finished]
        done = (max_rounds is not None and len(finished) >= max_rounds) or (
            until_done and self._federation_done(current)
        )
        # A signed message not on chain yet keeps the daemon for its fallback; nothing else
        # is owed, so it waits for the message's next look, not for the rounds to move.
        self._only_watching = done and self.fallback.next_look_in(self._rounds.values()) is not None
        return done and not self._only_watching

    def _federation_done(self, current: int) -> bool:
        if self._rounds_planned is None:
            self._rounds_planned = int(self.client.federation().get("rounds_planned", 0))
        planned = self._rounds_planned
        if planned == 0 or current < planned:
            return False
        status = self.ledger.get_round(planned).status
        if status is RoundPhase.FAILED:
            return True
        if status is not RoundPhase.PUBLISHED:
            return False
        entry = self._rounds.get(planned)
        if entry is None or not entry.committed:
            return True
        if entry.finished:
            self._offer_model(planned)  # the last model's bytes must reach the aggregator
        return entry.finished

    def _offer_model(self, number: int) -> None:
        """Supply round ``number``'s published model bytes if this participant attested them
        and the aggregator lacks them (once per round). Mid-federation, a participant does so
        when its next update is refused for the missing base (:meth:`_upload`)."""
        if number in self._offered:
            return
        info = self.ledger.get_round(number)
        if info.status is not RoundPhase.PUBLISHED:
            return
        self._offered.add(number)
        if self.participant.offer_model(number, info.published_model_hash):
            self._emit(
                "model", {"round": number, "model_hash": fc.hash_hex(info.published_model_hash)}
            )

    def _advance(self, number: int) -> None:
        info = self.ledger.get_round(number)  # read once per step, handed down
        entry = self._rounds.get(number)
        if info.status is RoundPhase.OPEN:
            if entry is None and not self.participant.masking.may_submit(number, info):
                return  # admitted after the round opened: no mask neighbours in it
            if entry is None or not entry.uploaded:
                self._submit(number, info)
        elif info.status in (RoundPhase.CLOSED, RoundPhase.PUBLISHED):
            if entry is not None and entry.committed and not entry.finished:
                self._finish(number, info)
        elif info.status is RoundPhase.FAILED and entry is not None and not entry.finished:
            entry.finished = True
            self._save_state()
            self._emit("failed", {"round": number})

    def _submit(self, number: int, info: RoundInfo) -> None:
        entry = self._rounds.setdefault(number, RoundLog(round=number))
        path = self._blob_path(number)
        on_chain = self.ledger.update_commitment(number, self.account.address)
        if path.is_file():
            blob = path.read_bytes()
        elif on_chain != bytes(32):
            raise ProtocolError(
                f"round {number}: committed {fc.hash_hex(on_chain)} on chain but the blob is not "
                f"in {self.state_dir}; this update cannot be uploaded"
            )
        else:
            blob = self._train_and_encrypt(number, entry, info)
            # Persist before committing: after a crash the committed bytes can still be uploaded.
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(blob)
            tmp.replace(path)
        digest = fc.keccak256(blob)
        entry.update_hash = fc.hash_hex(digest)
        signature = self.participant.commitment_for_upload(number, digest, on_chain=on_chain)
        entry.committed = True
        uploaded_now = self._upload(number, blob, digest, info, signature)
        entry.uploaded = True
        if signature is not None and entry.commit_pending_since is None:
            entry.commit_pending_since = time.time()  # handed over: the fallback watches it
        self._save_state()
        self._emit(
            "uploaded",
            {
                "round": number,
                "update_hash": entry.update_hash,
                "relayed": signature is not None,
                "uploaded_now": uploaded_now,
                "bytes": len(blob),
            },
        )

    def _upload(
        self, number: int, blob: bytes, digest: bytes, info: RoundInfo, signature: bytes | None
    ) -> bool:
        """Upload the committed blob (with its signed commitment, unless on chain). The
        aggregator opens a round before the model's bytes may have arrived (or the attester it
        asked for them stopped): when the upload is refused for the missing base, supply the
        bytes if this participant attested them, then upload again."""
        try:
            return self.participant.upload(number, blob, digest, signature=signature)
        except AggregatorUnavailableError as exc:
            if exc.code != BaseModelMissing.code or not self.participant.offer_model(
                number - 1, info.base_model_hash
            ):
                raise
            self._emit(
                "model", {"round": number - 1, "model_hash": fc.hash_hex(info.base_model_hash)}
            )
        return self.participant.upload(number, blob, digest, signature=signature)

    def _train_and_encrypt(self, number: int, entry: RoundLog, info: RoundInfo) -> bytes:
        base = self.participant.base_model(number, info)
        with self._training_slot():
            started = time.perf_counter()
            result = self.task.local_update(
                base.state,
                self.data,
                round_number=number,
                config=self.train_config,
                private_dir=self.state_dir / "private",
            )
        if self.task.aggregation is Aggregation.MEAN:
            result = protect_update(
                result,
                clip_norm=self.config.training.clip_norm,
                noise_multiplier=self.config.training.noise_multiplier,
                rng=self._rng,
            )
        entry.train_s = time.perf_counter() - started
        self._emit("trained", {"round": number, "seconds": entry.train_s, "weight": result.weight})
        return self.participant.encrypt(
            base, result, aggregation=self.task.aggregation, round_number=number, info=info
        )

    def _training_slot(self) -> contextlib.AbstractContextManager[None]:
        """A slot shared with co-located participants (see :mod:`.slots`), largest shard first;
        none for a participant alone on its machine."""
        if self._training_slots is None:
            return contextlib.nullcontext()
        return self._training_slots.slot(self.config.task.client_index, self.data.num_train)

    def _unmask(self, number: int) -> None:
        """The round is unmasking: a survivor reveals, a member without an accepted update is
        dropped (and never uploads it: its neighbours' seeds are being revealed)."""
        entry = self._rounds.get(number)
        if entry is None or entry.finished or entry.revealed:
            return
        if entry.uploaded:
            revealed = self.participant.masking.reveal(number)
            entry.revealed = True
            self._emit("revealed", {"round": number, "reveals": len(revealed)})
        else:
            entry.finished = entry.dropped = True
            self._blob_path(number).unlink(missing_ok=True)
            self._emit("dropped", {"round": number})
        self._save_state()

    def _finish(self, number: int, info: RoundInfo) -> None:
        entry = self._rounds[number]
        entry.commit_pending_since = None  # closed: every included commitment is on chain
        if not self.ledger.is_included(number, self.account.address):
            # Committed but left out (e.g. uploaded after the deadline): nothing to attest.
            entry.finished = True
            self._save_state()
            self._emit("excluded", {"round": number})
            return
        base = self.participant.base_model(number, info)
        outcome = self.participant.finish(
            number,
            base,
            aggregation=self.task.aggregation,
            next_state=self.task.next_state,
            info=info,
            included=True,
        )
        entry.finished = True
        entry.model_hash = fc.hash_hex(outcome.model_hash)
        if entry.attest_pending_since is None:
            entry.attest_pending_since = time.time()  # handed over: the fallback watches it
        entry.metrics = {k: float(v) for k, v in self.task.round_metrics(outcome.aggregate).items()}
        self._save_state()
        self._blob_path(number).unlink(missing_ok=True)
        if self._freeze_pending:
            self._freeze_heap()
        self._emit(
            "attested",
            {
                "round": number,
                "model_hash": entry.model_hash,
                "metrics": entry.metrics,
                "attested_now": outcome.attested_now,
            },
        )

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self.on_event(kind, {"participant": self.account.address, **data})
