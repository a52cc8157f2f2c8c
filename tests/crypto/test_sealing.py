"""Key sealing: only the right account opens it, and only the dealer's copies are accepted."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

import fedledger_crypto as fc

SCOPE = fc.RequestScope(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


def test_public_key_derives_the_address() -> None:
    account = Account.create()
    assert fc.address_of_public_key(fc.public_key_of(account)) == account.address


def test_sealed_context_opens_only_with_the_right_key(secret_context: Any) -> None:
    dealer, alice, bob = Account.create(), Account.create(), Account.create()
    secret = fc.serialize_secret_context(secret_context)
    sealed = fc.seal_key(
        secret, recipient_public_key=fc.public_key_of(alice), dealer=dealer, scope=SCOPE
    )
    assert sealed.recipient == alice.address
    opened = fc.open_sealed_key(sealed, account=alice, expected_dealer=dealer.address, scope=SCOPE)
    assert opened == secret
    assert fc.load_secret_context(opened, fc.DEFAULT_PARAMS).is_private()
    with pytest.raises(fc.SealingError, match="not for"):
        fc.open_sealed_key(sealed, account=bob, expected_dealer=dealer.address, scope=SCOPE)
    # Bob re-labels Alice's copy as his own: the dealer's signature no longer matches.
    relabelled = dataclasses.replace(sealed, recipient=bob.address)
    with pytest.raises(fc.SealingError):
        fc.open_sealed_key(relabelled, account=bob, expected_dealer=dealer.address, scope=SCOPE)


def test_a_copy_not_sealed_by_the_dealer_is_refused() -> None:
    dealer, impostor, alice = Account.create(), Account.create(), Account.create()
    forged = fc.seal_key(
        b"attacker context",
        recipient_public_key=fc.public_key_of(alice),
        dealer=impostor,
        scope=SCOPE,
    )
    with pytest.raises(fc.SealingError, match="not by the key dealer"):
        fc.open_sealed_key(forged, account=alice, expected_dealer=dealer.address, scope=SCOPE)


def test_other_federation_is_refused() -> None:
    dealer, alice = Account.create(), Account.create()
    sealed = fc.seal_key(
        b"k", recipient_public_key=fc.public_key_of(alice), dealer=dealer, scope=SCOPE
    )
    other = fc.RequestScope(1, SCOPE.ledger_address)
    with pytest.raises(fc.SealingError, match="key dealer"):
        fc.open_sealed_key(sealed, account=alice, expected_dealer=dealer.address, scope=other)


def test_corrupted_ciphertext_is_refused() -> None:
    dealer, alice = Account.create(), Account.create()
    sealed = fc.seal_key(
        b"k" * 100, recipient_public_key=fc.public_key_of(alice), dealer=dealer, scope=SCOPE
    )
    flipped = bytearray(sealed.ciphertext)
    flipped[-1] ^= 1
    bad = dataclasses.replace(sealed, ciphertext=bytes(flipped))
    # Re-signed by the dealer, so only the authenticated encryption can catch the flip.
    signature = dealer.sign_message(encode_defunct(text=bad.signed_message(SCOPE))).signature
    bad = dataclasses.replace(bad, dealer_signature=bytes(signature))
    with pytest.raises(fc.SealingError, match="cannot be opened"):
        fc.open_sealed_key(bad, account=alice, expected_dealer=dealer.address, scope=SCOPE)
