"""The aggregator's composition root: one object holding the parts of one aggregator process.

::

    Intake       verify → store → add one update         (intake.py)
    RunningSums  per active round, the sum of its updates (sums.py)
    Unmasking    members, dropouts, reveals, corrections (unmasking.py)
    ModelStore   model bytes, base and published models  (model_store.py)
    KeyRing      parameters and sealed keys              (keyring.py)
    Attestations signed attestations held for relaying   (attestations.py)
    Relayer      the thread that relays signed messages  (relayer.py)
    Coordinator  the thread that drives the rounds       (coordinator.py)

They share the database, the blob store, the ledger with its cached reads, and the
federation's CKKS parameters context (enough to add ciphertexts, not to decrypt them). The
REST layer (``routers/``) calls them; none of them knows HTTP.
"""

from __future__ import annotations

import logging

from eth_account.signers.local import LocalAccount

import fedledger_crypto as fc
from fedledger_platform.aggregator.attestations import Attestations
from fedledger_platform.aggregator.chain_reads import ChainReads
from fedledger_platform.aggregator.coordinator import Coordinator
from fedledger_platform.aggregator.intake import Intake
from fedledger_platform.aggregator.keyring import KeyRing
from fedledger_platform.aggregator.model_store import ModelStore
from fedledger_platform.aggregator.relayer import Relayer
from fedledger_platform.aggregator.round_signal import RoundSignal
from fedledger_platform.aggregator.settings import AggregatorSettings
from fedledger_platform.aggregator.sums import RunningSums
from fedledger_platform.aggregator.unmasking import Unmasking
from fedledger_platform.ledger import Ledger, Membership
from fedledger_platform.protocol import RoundRules
from fedledger_platform.storage import BlobStore, Database

__all__ = ["AggregatorService"]

log = logging.getLogger("fedledger.aggregator")


def _load_parameters(settings: AggregatorSettings) -> bytes:
    """The parameters-only context: from ``parameters_file`` if set, else canonical bytes.

    A file holding a secret key is refused (``load_parameters_context`` raises).
    """
    if settings.parameters_file is not None:
        data = settings.parameters_file.read_bytes()
        fc.load_parameters_context(data, settings.params)  # refuses a secret key
        return data
    return fc.parameters_bytes(fc.create_secret_context(settings.params))


class AggregatorService:
    """The parts of one aggregator process and their start and stop."""

    def __init__(
        self,
        settings: AggregatorSettings,
        *,
        ledger: Ledger,
        account: LocalAccount,
        db: Database,
        blobs: BlobStore,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.chain = ledger.chain
        self.account = account
        self.db = db
        self.blobs = blobs
        self.params = settings.params
        self.scope = fc.RequestScope(self.chain.chain_id, ledger.address)
        self.parameters_bytes = _load_parameters(settings)
        self.parameters_hash = fc.keccak256(self.parameters_bytes)
        context = fc.load_parameters_context(self.parameters_bytes, self.params)
        self.chain_reads = ChainReads(
            ledger, parameters_hash=self.parameters_hash, params_id=self.params.id
        )
        self.round_signal = RoundSignal()
        self.models = ModelStore(db, blobs, self.chain_reads, self._wake_coordinator)
        self.sums = RunningSums(db, blobs, context, lambda r: self.models.base_model(r).schema())
        self.unmasking = Unmasking(db, Membership(ledger), self._wake_coordinator)
        self.relayer = Relayer(
            db=db,
            ledger=ledger,
            account=account,
            settings=settings.relay,
            sums=self.sums,
            on_change=self._wake_coordinator,
        )
        self.intake = Intake(
            db, blobs, self.chain_reads, self.sums, self.unmasking, wake=self._wake_both
        )
        self.attestations = Attestations(db, blobs, self.chain_reads, self.relayer.wake)
        self.keys = KeyRing(
            db,
            ledger,
            scope=self.scope,
            params=self.params,
            canonical=self.parameters_bytes,
            relay_parameters=self.relayer.relay_parameters,
        )
        rounds = settings.rounds
        self.coordinator = Coordinator(
            rules=RoundRules(
                count=rounds.count,
                min_updates=rounds.min_updates,
                timeout_s=rounds.timeout_s,
                attestation_timeout_s=rounds.attestation_timeout_s,
                reveal_timeout_s=rounds.reveal_timeout_s,
            ),
            poll_interval_s=settings.poll_interval_s,
            db=db,
            ledger=ledger,
            account=account,
            chain=self.chain_reads,
            models=self.models,
            sums=self.sums,
            unmasking=self.unmasking,
            signal=self.round_signal,
            relayer=self.relayer,
        )

    def _wake_coordinator(self) -> None:
        # Bound late: the parts that wake the coordinator are made before it.
        self.coordinator.wake()

    def _wake_both(self) -> None:
        self.relayer.wake()
        self.coordinator.wake()

    def start(self, initial_model: bytes | None = None, *, freeze_heap: bool = False) -> None:
        """Migrate, recover the running sums, store the initial model, start the coordinator.

        ``freeze_heap``: this process serves nothing else; exempt its long-lived heap from the
        cyclic GC now and after the first published round (:mod:`fedledger_platform.heap`).
        """
        self.db.migrate()
        swept = self.blobs.sweep_temporary()
        if swept:
            log.info("removed %d partial uploads left by an earlier run", swept)
        if initial_model is not None:
            self.models.store(initial_model, round_number=0, uploaded_by=None)
        self.sums.recover()
        self.coordinator.start(freeze_heap=freeze_heap)
        self.relayer.start()

    def stop(self) -> None:
        """Stop the relayer and the coordinator (the database is disposed by whoever made it;
        signed messages not relayed yet stay in it)."""
        self.relayer.stop()
        self.coordinator.stop()
