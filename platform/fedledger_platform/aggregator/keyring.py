"""The key dealer's uploads: the federation's public CKKS parameters, and the secret context
sealed to each participant, which only that participant may read.

The aggregator stores the sealed copies but can open none. Knows nothing of HTTP: a refusal is
a typed :class:`~fedledger_platform.protocol.rejections.Rejection`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

import fedledger_crypto as fc
from fedledger_platform.aggregator.nonces import Sender, spending, use_up
from fedledger_platform.errors import ContractRevertError
from fedledger_platform.ledger import Ledger, SignatureFormatError, recover_signer
from fedledger_platform.protocol.rejections import (
    BadSealedKey,
    BadTypedSignature,
    CommitmentMismatch,
    DuplicateUpdate,
    MalformedRequest,
    NotAdmitted,
    NotAllowed,
    NotFound,
    WrongParameters,
)
from fedledger_platform.storage import Database, ParametersRecord, SealedKeyRecord, queries

__all__ = ["KeyRing", "Member"]


@dataclass(frozen=True)
class Member:
    """An admitted participant, its public key (from the chain) and whether its key is sealed."""

    address: str
    public_key: bytes
    has_sealed_key: bool


def _hex_bytes(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise MalformedRequest(f"{what} is not hex") from None


class KeyRing:
    """Parameters and sealed keys of one federation (``canonical``: its parameters-only
    context, the only parameters the key dealer may publish; ``relay_parameters`` commits the
    dealer's signed parameters hash on chain)."""

    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        *,
        scope: fc.RequestScope,
        params: fc.CKKSParams,
        canonical: bytes,
        relay_parameters: Callable[[bytes, bytes], None],
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.scope = scope
        self.params = params
        self.canonical = canonical
        self._relay_parameters = relay_parameters

    def publish_parameters(
        self, sender: Sender, body: bytes, signature: bytes | None = None
    ) -> bool:
        """The key dealer publishes the parameters-only context; returns whether it was new.

        The body must carry no secret key, be this federation's canonical parameters and hash
        to the parameters hash on chain. When none is committed yet, ``signature`` — the
        dealer's signed ``EncryptionParams(keccak256(body))`` — is relayed to commit it first:
        the dealer needs no ether.
        """
        if sender.address != self.ledger.key_dealer():
            raise NotAllowed(f"only the key dealer may publish parameters ({sender.address})")
        try:
            fc.load_parameters_context(body, self.params)
        except fc.ContextError as exc:
            raise WrongParameters(str(exc)) from exc
        digest = fc.keccak256(body)
        if body != self.canonical:
            raise WrongParameters("not the canonical parameters of this federation")
        if signature is not None and self.ledger.encryption_params_hash() == bytes(32):
            self._commit_signed(sender.address, digest, signature)
        if self.ledger.encryption_params_hash() != digest:
            raise CommitmentMismatch("keccak256 of the parameters differs from the on-chain hash")
        try:
            with spending(self.db, sender) as s:
                if queries.parameters(s) is not None:
                    return False
                s.add(
                    ParametersRecord(
                        id=1,
                        params_id=self.params.id,
                        data=body,
                        hash=fc.hash_hex(digest),
                        published_by=sender.address,
                        published_at=int(time.time()),
                    )
                )
        except IntegrityError:  # published concurrently: the same canonical bytes
            use_up(self.db, sender)
            return False
        return True

    def _commit_signed(self, dealer: str, digest: bytes, signature: bytes) -> None:
        """Relay the dealer's signed parameters hash (verified here first: the ledger would
        revert on a bad one)."""
        try:
            signer = recover_signer(self.ledger.domain, "EncryptionParams", None, signature, digest)
        except SignatureFormatError as exc:
            raise BadTypedSignature(f"the parameters signature is malformed: {exc}") from exc
        if signer != dealer:
            raise BadTypedSignature(
                f"the signature is not the key dealer's signature of EncryptionParams("
                f"{fc.hash_hex(digest)}) on this ledger and chain"
            )
        try:
            self._relay_parameters(digest, signature)
        except ContractRevertError as exc:
            if exc.error != "LedgerParamsAlreadyCommitted":  # committed meanwhile: checked next
                raise

    def store_sealed_key(
        self, sender: Sender, recipient: str, *, ciphertext: str, dealer_signature: str
    ) -> bool:
        """The key dealer uploads ``recipient``'s sealed copy (0x-hex fields); returns whether
        it was new. A re-sealed copy (e.g. after re-admission) replaces the stored one."""
        dealer = self.ledger.key_dealer()
        if sender.address != dealer:
            raise NotAllowed(f"only the key dealer ({dealer}) may upload sealed keys")
        if not self.ledger.is_participant(recipient):
            raise NotAdmitted(f"recipient {recipient} is not an admitted participant")
        copy = fc.SealedKey(
            recipient=recipient,
            ciphertext=_hex_bytes(ciphertext, "ciphertext"),
            dealer_signature=_hex_bytes(dealer_signature, "dealer_signature"),
        )
        # The aggregator cannot open the copy, but it checks the dealer's signature so that it
        # never stores (and participants never fetch) a copy the dealer did not make.
        try:
            recovered = fc.sealed_key_signer(copy, self.scope)
        except fc.SealingError as exc:
            raise BadSealedKey(str(exc)) from exc
        if recovered != dealer:
            raise BadSealedKey("the dealer signature does not match this copy")
        try:
            with spending(self.db, sender) as s:
                existing = queries.sealed_key(s, recipient)
                if existing is not None and existing.ciphertext == copy.ciphertext:
                    return False
                if existing is not None:
                    s.delete(existing)
                    s.flush()
                s.add(
                    SealedKeyRecord(
                        recipient=recipient,
                        ciphertext=copy.ciphertext,
                        dealer_signature=copy.dealer_signature,
                        dealer=dealer,
                        uploaded_at=int(time.time()),
                    )
                )
        except IntegrityError as exc:
            raise DuplicateUpdate(f"a concurrent upload for {recipient} won") from exc
        return True

    def sealed_key(self, sender: Sender, recipient: str) -> SealedKeyRecord:
        """``recipient``'s sealed copy, for ``recipient`` only; uses up the request's nonce."""
        if sender.address != recipient:
            raise NotAllowed("a participant may read only its own sealed key")
        with self.db.session() as s:
            record = queries.sealed_key(s, recipient)
        if record is None:
            raise NotFound(f"no sealed key for {recipient} yet (the key dealer seals it)")
        use_up(self.db, sender)
        return record

    def members(self) -> list[Member]:
        """The admitted participants with their public keys, in the chain's order."""
        with self.db.session() as s:
            sealed = queries.sealed_recipients(s)
        return [
            Member(address, self.ledger.participant_public_key(address), address in sealed)
            for address in self.ledger.participants()
        ]
