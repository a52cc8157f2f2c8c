"""The key dealer: creates the federation's CKKS secret context and distributes it.

The dealer is a participant appointed on chain. It

1. creates the secret context (or reloads its own from its state folder);
2. publishes the parameters-only context to the aggregator with its signed
   ``EncryptionParams(keccak256(parameters))``, which the aggregator relays to commit the hash
   on chain (the dealer needs no ether; with ether it commits directly should the relay not
   happen);
3. seals the secret context to every admitted participant — to the public key *registered on
   chain*, never one served by the aggregator — signs each sealed copy, and uploads it;
4. keeps sealing for participants admitted later (:meth:`KeyDealer.seal_pending`, called from
   the dealer's daemon loop).

No key file is ever copied by hand.
"""

from __future__ import annotations

import logging

import fedledger_crypto as fc
from fedledger_clients.participant import Participant, ProtocolError
from fedledger_platform.api_client import AggregatorError
from fedledger_platform.ledger import sign_encryption_params

__all__ = ["KeyDealer"]

log = logging.getLogger("fedledger.keydealer")


class KeyDealer:
    """The dealer role of a :class:`Participant`."""

    def __init__(self, participant: Participant) -> None:
        self.participant = participant
        self.ledger = participant.ledger
        self.client = participant.client
        self._secret: bytes | None = None
        self._sealed: set[str] = set()

    def set_up(self) -> None:
        """Create (or reload) the context, have its hash committed, publish the parameters."""
        me = self.participant
        if self.ledger.key_dealer() != me.address:
            raise ProtocolError(f"{me.address} is not the key dealer on chain")
        key_path = me.state_dir / "ckks-secret-context.bin" if me.state_dir else None
        committed = self.ledger.encryption_params_hash()
        if key_path is not None and key_path.is_file():
            secret = key_path.read_bytes()
        elif committed != bytes(32) and me.has_key:
            secret = me.secret_context
        elif committed != bytes(32):
            raise ProtocolError(
                "the parameters hash is already committed but this dealer lost its secret "
                "context; the federation's key cannot be recovered — deploy a new federation"
            )
        else:
            secret = fc.serialize_secret_context(fc.create_secret_context(me.params))
        context = fc.load_secret_context(secret, me.params)
        public = fc.parameters_bytes(context)
        digest = fc.keccak256(public)
        if committed == bytes(32):
            if key_path is not None:  # keep the key before anything depends on it
                key_path.parent.mkdir(parents=True, exist_ok=True)
                key_path.touch(mode=0o600, exist_ok=True)
                key_path.write_bytes(secret)
            self._commit(public, digest)
        elif committed != digest:
            raise ProtocolError("the on-chain parameters hash is not this dealer's context")
        me.use_secret_context(secret)
        self._secret = secret
        self.client.publish_parameters(public)  # idempotent

    def _commit(self, public: bytes, digest: bytes) -> None:
        """Have ``digest`` committed: the aggregator relays the signed hash as it takes the
        parameters. Should the chain still lack it (the aggregator refused or failed), commit
        directly when this account can afford to; otherwise the refusal stands and the daemon
        tries again."""
        me = self.participant
        signature = sign_encryption_params(me.account, self.ledger.domain, digest)
        refusal: AggregatorError | None = None
        try:
            self.client.publish_parameters(public, params_signature=signature)
        except AggregatorError as exc:
            refusal = exc
        if self.ledger.encryption_params_hash() == digest:
            log.info("CKKS parameters hash %s committed by the relayer", fc.hash_hex(digest)[:10])
            return
        if not self.ledger.can_afford(me.address, "commitEncryptionParams"):
            if refusal is not None:
                raise refusal
            raise ProtocolError(
                "the aggregator took the parameters but the chain lacks their hash, and this "
                "account holds no ether to commit it itself; waiting for the relayer"
            )
        self.ledger.commit_encryption_params(me.account, digest)
        log.info("committed CKKS parameters hash %s directly", fc.hash_hex(digest)[:10])

    def seal_pending(self) -> int:
        """Seal the context to every admitted participant that lacks a copy; returns how many."""
        if self._secret is None:
            raise ProtocolError("call set_up() first")
        admitted = [a for a in self.ledger.participants() if a not in self._sealed]
        if not admitted:
            return 0  # the common case: one chain read, nothing to do
        stored = {p["address"] for p in self.client.participants() if p["has_sealed_key"]}
        count = 0
        for address in admitted:
            if address in stored:
                self._sealed.add(address)
                continue
            public_key = self.ledger.participant_public_key(address)  # from the chain
            sealed = fc.seal_key(
                self._secret,
                recipient_public_key=public_key,
                dealer=self.participant.account,
                scope=self.client.scope,
            )
            self.client.upload_sealed_key(sealed)
            self._sealed.add(address)
            count += 1
        if count:
            log.info("sealed the CKKS key to %d participant(s)", count)
        return count
