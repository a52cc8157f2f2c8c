"""One participant's side of the round protocol, without the training loop.

:class:`Participant` is what the client daemon drives each round (and what integration tests
drive directly):

1. :meth:`receive_key` — fetch the sealed secret context, check the dealer's signature and the
   on-chain parameters hash, open it with the account key;
2. :meth:`base_model` — fetch the round's base model and check it against the chain;
3. :meth:`encrypt` (with this participant's pairwise mask for the round, :mod:`.masking`)
   and :meth:`submit` — sign the commitment to the keccak256 of the encrypted update (EIP-712
   ``UpdateCommitment``) and upload the update with it: the aggregator relays the commitment
   to the ledger, so the participant needs no ether (idempotent: after a restart the
   participant reads its own commitment from the chain and never commits twice);
4. :meth:`finish` — fetch the aggregate, check it against the chain, decrypt (flooded), build
   the next model and hand the aggregator its signed attestation (``ModelAttestation``) for
   relaying; the attester the aggregator asks uploads the model's bytes (:meth:`offer_model`
   lets any attester supply them, should that upload never arrive: the daemon does when the
   aggregator reports the round's base missing).

The direct path stays, for the censorship fallback (:mod:`fedledger_clients.fallback`): a
signed message not on chain in time is sent from this account when it holds ether
(:meth:`commit`, :meth:`attest_directly`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

import fedledger_crypto as fc
from fedledger_clients.errors import ProtocolError
from fedledger_clients.masking import ParticipantMasking
from fedledger_clients.tasks.base import AggregateResult, Aggregation, LocalResult, State
from fedledger_crypto.masking import RoundContext
from fedledger_platform.api_client import (
    AggregatorClient,
    AggregatorError,
    AggregatorUnavailableError,
)
from fedledger_platform.errors import ContractRevertError
from fedledger_platform.ledger import (
    Ledger,
    RoundInfo,
    sign_model_attestation,
    sign_update_commitment,
)
from fedledger_platform.modelfile import ModelFile, decode_model, encode_model
from fedledger_platform.protocol import RoundPhase

__all__ = ["Participant", "ProtocolError", "RoundOutcome", "SubmittedUpdate"]

log = logging.getLogger("fedledger.client")


@dataclass(frozen=True)
class SubmittedUpdate:
    """An update this participant committed (and uploaded) for a round."""

    round_number: int
    update_hash: bytes
    relayed: bool  # its signed commitment went with the upload; False: already on chain
    uploaded_now: bool  # False when the aggregator already had it


@dataclass(frozen=True)
class RoundOutcome:
    """What this participant derived from a round's aggregate."""

    round_number: int
    model_hash: bytes
    model: ModelFile
    aggregate: AggregateResult
    attested_now: bool  # the aggregator took its signed attestation now (False: already held)


class Participant:
    """A participant account bound to one federation (ledger + aggregator)."""

    def __init__(
        self,
        account: LocalAccount,
        *,
        ledger: Ledger,
        client: AggregatorClient,
        params: fc.CKKSParams = fc.DEFAULT_PARAMS,
        max_clients: int = 256,
        state_dir: Path | None = None,
    ) -> None:
        self.account = account
        self.address = account.address
        self.ledger = ledger
        self.client = client
        self.params = params
        self.headroom = fc.HeadroomPolicy(params, max_clients=max_clients)
        self.state_dir = state_dir
        self.masking = ParticipantMasking(account, ledger, client)
        self._encryptor: fc.UpdateEncryptor | None = None
        self._secret: bytes | None = None
        # The last base model fetched or built, by hash: a round's submit and finish both need
        # it, and the model a round publishes is the next round's base.
        self._base: tuple[bytes, ModelFile] | None = None
        # The bytes of the last model this participant attested, by hash (see offer_model).
        self._attested: tuple[bytes, bytes] | None = None

    # ------------------------------------------------------------------ keys

    @property
    def encryptor(self) -> fc.UpdateEncryptor:
        """The shared-key encryptor (after :meth:`receive_key` or :meth:`use_secret_context`)."""
        if self._encryptor is None:
            raise ProtocolError("no CKKS key yet: call receive_key() first")
        return self._encryptor

    @property
    def secret_context(self) -> bytes:
        """The serialized shared secret context (never leaves this participant unsealed)."""
        if self._secret is None:
            raise ProtocolError("no CKKS key yet: call receive_key() first")
        return self._secret

    @property
    def has_key(self) -> bool:
        """Whether the shared secret context is loaded."""
        return self._encryptor is not None

    def use_secret_context(self, secret: bytes) -> None:
        """Load a serialized secret context after checking it against the chain."""
        context = fc.load_secret_context(secret, self.params)
        committed = self.ledger.encryption_params_hash()
        if fc.keccak256(fc.parameters_bytes(context)) != committed:
            raise ProtocolError(
                f"the secret context's parameters do not hash to the on-chain value "
                f"{fc.hash_hex(committed)}"
            )
        self._encryptor = fc.UpdateEncryptor(context)
        self._secret = secret
        if self.state_dir is not None:
            self._key_path().parent.mkdir(parents=True, exist_ok=True)
            # The key file holds the shared secret: readable by this user only.
            path = self._key_path()
            path.touch(mode=0o600, exist_ok=True)
            path.write_bytes(secret)

    def _key_path(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / "ckks-secret-context.bin"

    def receive_key(self) -> None:
        """Fetch, verify and open the sealed secret context (or reload it from the state dir)."""
        if self.state_dir is not None and self._key_path().is_file():
            self.use_secret_context(self._key_path().read_bytes())
            return
        sealed = self.client.fetch_sealed_key()
        dealer = self.ledger.key_dealer()
        secret = fc.open_sealed_key(
            sealed, account=self.account, expected_dealer=dealer, scope=self.client.scope
        )
        self.use_secret_context(secret)
        log.info("%s received the CKKS key sealed by %s", self.address, dealer)

    # ------------------------------------------------------------------ rounds

    def base_model(self, round_number: int, info: RoundInfo | None = None) -> ModelFile:
        """The round's base model, fetched and checked against the on-chain base hash.

        ``info`` is the round as just read from the chain, when the caller has it.
        """
        info = info or self.ledger.get_round(round_number)
        if info.status is RoundPhase.NONE:
            raise ProtocolError(f"round {round_number} was never opened on chain")
        if self._base is not None and self._base[0] == info.base_model_hash:
            return self._base[1]  # fetched and checked against this same hash before
        try:
            blob = self.client.model(info.base_model_hash)
        except AggregatorError as exc:
            if exc.status != 404:
                raise
            # The round opened on chain before the publishing attester's upload arrived.
            raise AggregatorUnavailableError(
                404,
                "base_model_missing",
                f"round {round_number}'s base model {fc.hash_hex(info.base_model_hash)} is not "
                "stored at the aggregator yet",
            ) from exc
        try:
            blob.verify(info.base_model_hash)
        except ValueError as exc:
            raise ProtocolError(f"round {round_number} base model: {exc}") from exc
        model = decode_model(blob.data)
        self._base = (info.base_model_hash, model)
        return model

    def encrypt(
        self,
        base: ModelFile,
        result: LocalResult,
        *,
        aggregation: Aggregation,
        round_number: int,
        info: RoundInfo | None = None,
    ) -> bytes:
        """Encrypt a local result for round ``round_number`` under the base model's schema,
        with this participant's pairwise mask when the federation masks (``info``: the round
        as just read from the chain, when at hand)."""
        schema = base.schema()
        values = schema.layout.flatten(result.update)
        return self.encryptor.encrypt(
            schema,
            values,
            weight=float(result.weight),
            metrics={name: float(result.metrics[name]) for name in base.metric_names},
            headroom=self.headroom,
            weighted=aggregation is Aggregation.MEAN,
            mask=self.masking.mask(round_number, info),
        )

    def sign_commitment(self, round_number: int, digest: bytes) -> bytes:
        """This account's signed ``UpdateCommitment(round, digest)`` (65 bytes), which the
        aggregator relays with the upload."""
        return sign_update_commitment(
            self.account, self.ledger.domain, round_number, digest
        ).signature

    def commit(self, round_number: int, digest: bytes, *, on_chain: bytes) -> bool:
        """Commit ``digest`` (keccak256 of the update blob) for the round from this account —
        the direct path, which costs gas — unless the chain already holds it; returns whether
        it committed now.

        ``on_chain`` is this participant's commitment for the round as just read from the chain
        (zero when none). A different commitment already on chain (an earlier attempt with other
        bytes) is refused: the participant must upload the bytes it committed to.
        """
        if on_chain == digest:
            return False
        if on_chain != bytes(32):
            raise ProtocolError(
                f"round {round_number}: this account already committed {fc.hash_hex(on_chain)}; "
                "upload the bytes that were committed"
            )
        self.ledger.commit_update(self.account, round_number, digest)
        return True

    def upload(
        self, round_number: int, blob: bytes, digest: bytes, *, signature: bytes | None = None
    ) -> bool:
        """Upload ``blob`` with its signed commitment (``signature``, :meth:`sign_commitment`),
        or without when the chain holds this account's commitment to it; returns whether the
        aggregator stored it now (an identical re-upload is answered with the same receipt).

        Raises :class:`AggregatorUnavailableError` with code ``base_model_missing`` when the
        aggregator does not hold the round's base model bytes yet; an attester of that model
        supplies them (:meth:`offer_model`) and uploads again.
        """
        receipt = self.client.upload_update(
            round_number, blob, blob_hash=digest, commitment_signature=signature
        )
        return bool(receipt["new"])

    def submit(self, round_number: int, blob: bytes) -> SubmittedUpdate:
        """Upload ``blob`` with this account's signed commitment to ``keccak256(blob)``, which
        the aggregator relays; without it when the chain already holds that commitment.

        Safe to call again after a crash: a commitment already on chain is reused when it
        matches (another is refused), and the aggregator answers an identical re-upload with
        the same receipt.
        """
        digest = fc.keccak256(blob)
        on_chain = self.ledger.update_commitment(round_number, self.address)
        signature = self.commitment_for_upload(round_number, digest, on_chain=on_chain)
        uploaded_now = self.upload(round_number, blob, digest, signature=signature)
        return SubmittedUpdate(round_number, digest, signature is not None, uploaded_now)

    def commitment_for_upload(
        self, round_number: int, digest: bytes, *, on_chain: bytes
    ) -> bytes | None:
        """The signed commitment to ``digest`` for the upload, ``None`` when the chain holds it
        already (``on_chain``: this account's commitment as just read); another commitment on
        chain is refused: the participant must upload the bytes it committed to."""
        if on_chain == digest:
            return None
        if on_chain != bytes(32):
            raise ProtocolError(
                f"round {round_number}: this account already committed {fc.hash_hex(on_chain)}; "
                "upload the bytes that were committed"
            )
        return self.sign_commitment(round_number, digest)

    def finish(
        self,
        round_number: int,
        base: ModelFile,
        *,
        aggregation: Aggregation,
        next_state: Callable[[State, AggregateResult], State],
        info: RoundInfo | None = None,
        included: bool | None = None,
    ) -> RoundOutcome:
        """Decrypt the round's aggregate, build and attest the next model, upload its bytes.

        ``info`` (the round) and ``included`` (whether this participant is in it) may be passed
        when the caller just read them from the chain.
        """
        info = info or self.ledger.get_round(round_number)
        if info.status not in (RoundPhase.CLOSED, RoundPhase.PUBLISHED):
            raise ProtocolError(f"round {round_number} is {info.status.name}, not closed")
        blob = self.client.aggregate(round_number)
        try:
            blob.verify(info.aggregate_hash)
        except ValueError as exc:
            raise ProtocolError(f"round {round_number} aggregate: {exc}") from exc
        schema = base.schema()
        # Flooded: what is published must not give away the decryption noise (docs/crypto.md,
        # "Published models and key recovery"); every key holder derives the same noise.
        context = RoundContext(self.ledger.chain.chain_id, self.ledger.address, round_number)
        decrypted = self.encryptor.decrypt(
            blob.data, schema, flood=context, blob_hash=info.aggregate_hash
        )
        if decrypted.contributors != info.included_count:
            raise ProtocolError(
                f"round {round_number}: the aggregate sums {decrypted.contributors} updates, the "
                f"chain recorded {info.included_count} included participants"
            )
        values = decrypted.mean() if aggregation is Aggregation.MEAN else decrypted.values
        aggregate = AggregateResult(
            update=schema.layout.unflatten(values),
            total_weight=decrypted.weight,
            metrics=decrypted.metrics,
            contributors=decrypted.contributors,
        )
        state = next_state(base.state, aggregate)
        model_bytes = encode_model(
            state, task=base.task, metric_names=base.metric_names, round_number=round_number
        )
        model_hash = fc.keccak256(model_bytes)
        model = decode_model(model_bytes)
        # Once published, this is the next round's base: no need to fetch it back.
        self._base = (model_hash, model)
        attested_now = False
        if included is None:
            included = self.ledger.is_included(round_number, self.address)
        if included:
            self._attested = (model_hash, model_bytes)
            attested_now = self.attest(round_number, model_hash, model_bytes)
        return RoundOutcome(round_number, model_hash, model, aggregate, attested_now)

    def attest(self, round_number: int, model_hash: bytes, model_bytes: bytes) -> bool:
        """Hand the aggregator this account's signed ``ModelAttestation(round, model_hash)``
        for relaying, and upload the model's bytes when it asks (the first attester of a hash
        it lacks); returns whether the attestation was new to it (sending it again after a
        restart is answered with the same receipt)."""
        signed = sign_model_attestation(self.account, self.ledger.domain, round_number, model_hash)
        receipt = self.client.attest(round_number, model_hash, signed.signature)
        if receipt["upload_model"]:
            self.client.upload_model(model_hash, round_number, model_bytes)
        return bool(receipt["new"])

    def attest_directly(self, round_number: int, model_hash: bytes) -> bool:
        """Attest ``model_hash`` on chain from this account — the direct path, which costs gas;
        returns whether it attested now (``False``: its attestation is on chain already)."""
        try:
            self.ledger.attest_model(self.account, round_number, model_hash)
        except ContractRevertError as exc:
            if exc.error != "LedgerAlreadyAttested":
                raise
            return False
        return True

    def offer_model(self, round_number: int, published_hash: bytes) -> bool:
        """Upload the bytes of round ``round_number``'s published model if this participant
        attested that hash and the aggregator still lacks them; returns whether it uploaded.

        Only the attester that completes the quorum uploads in :meth:`finish`; should it stop
        before its upload, any other attester holding the same bytes supplies them here (the
        daemon does when its next upload is refused for the missing base, and at the end of the
        federation).
        """
        if self._attested is None or self._attested[0] != published_hash:
            return False
        try:
            self.client.model_info(published_hash)
            return False  # already stored
        except AggregatorError as exc:
            if exc.status != 404:
                raise
        self.client.upload_model(published_hash, round_number, self._attested[1])
        log.info("%s supplied the bytes of round %d's published model", self.address, round_number)
        return True


def mean_update_next_state(base: State, aggregate: AggregateResult) -> State:
    """FedAvg: ``w_new = w_base + Σ n·Δ / Σ n``, in each tensor's dtype."""
    return {name: (base[name] + aggregate.update[name]).to(base[name].dtype) for name in base}


def describe(outcome: RoundOutcome) -> dict[str, Any]:
    """A JSON-friendly summary of a round outcome."""
    return {
        "round": outcome.round_number,
        "model_hash": fc.hash_hex(outcome.model_hash),
        "contributors": outcome.aggregate.contributors,
        "total_weight": outcome.aggregate.total_weight,
        "metrics": dict(outcome.aggregate.metrics),
        "attested_now": outcome.attested_now,
    }
