"""Ethereum accounts: encrypted keystores, passphrases and the devnet-only key rule.

Every actor — operator, aggregator, participant, auditor — is an Ethereum account whose key
lives in a standard keystore v3 file, unlocked with a passphrase read from a file or from an
environment variable (never from the command line, where it would end up in shell history).

Publicly known development keys (Hardhat's default mnemonic, eth-tester's genesis keys) are
refused on every chain except a devnet: chain id 31337 or 1337, or the embedded chain.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from fedledger_platform.errors import ConfigurationError, DevelopmentKeyError

__all__ = [
    "DEVNET_CHAIN_IDS",
    "EMBEDDED_CHAIN_ID",
    "HARDHAT_MNEMONIC",
    "check_key_allowed",
    "create_keystore",
    "development_accounts",
    "is_development_key",
    "load_keystore",
    "read_passphrase",
]

HARDHAT_MNEMONIC = "test test test test test test test test test test test junk"
#: eth-tester's py-evm backend reports this chain id for the embedded in-process chain.
EMBEDDED_CHAIN_ID = 131277322940537
DEVNET_CHAIN_IDS = frozenset({31337, 1337, EMBEDDED_CHAIN_ID})
_HARDHAT_ACCOUNTS = 20
_TESTER_ACCOUNTS = 10
PASSPHRASE_ENV = "FEDLEDGER_PASSPHRASE"


@functools.cache
def development_accounts() -> tuple[LocalAccount, ...]:
    """Hardhat's 20 default accounts followed by eth-tester's 10 genesis accounts."""
    Account.enable_unaudited_hdwallet_features()
    hardhat = [
        Account.from_mnemonic(HARDHAT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        for i in range(_HARDHAT_ACCOUNTS)
    ]
    tester = [Account.from_key(i.to_bytes(32, "big")) for i in range(1, _TESTER_ACCOUNTS + 1)]
    return (*hardhat, *tester)


@functools.cache
def _development_addresses() -> frozenset[str]:
    return frozenset(a.address.lower() for a in development_accounts())


def is_development_key(account: LocalAccount | str) -> bool:
    """Whether the account (or address) is one of the publicly known development keys."""
    address = account if isinstance(account, str) else account.address
    return address.lower() in _development_addresses()


def check_key_allowed(account: LocalAccount, chain_id: int) -> None:
    """Refuse a well-known development key on any chain that is not a devnet."""
    if chain_id not in DEVNET_CHAIN_IDS and is_development_key(account):
        raise DevelopmentKeyError(
            f"{account.address} is a publicly known development key; refusing to use it on chain "
            f"id {chain_id}, which is not a devnet (devnets: {sorted(DEVNET_CHAIN_IDS)}). Create a "
            "keystore with `fedledger client init` or `fedledger keys new`."
        )


def read_passphrase(passphrase_file: Path | None = None, env: str = PASSPHRASE_ENV) -> str:
    """The keystore passphrase: from ``passphrase_file`` if given, else from ``$env``."""
    if passphrase_file is not None:
        try:
            return passphrase_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read passphrase file {passphrase_file}: {exc}"
            ) from exc
    value = os.environ.get(env)
    if value is None:
        raise ConfigurationError(
            f"no passphrase: pass --passphrase-file FILE or set the {env} environment variable"
        )
    return value


def create_keystore(
    path: Path, passphrase: str, *, account: LocalAccount | None = None, scrypt_n: int = 2**18
) -> LocalAccount:
    """Write a keystore v3 file for ``account`` (a new random one by default); never overwrites.

    ``scrypt_n`` is the scrypt work factor (eth-account's default; lower only for tests).
    """
    if path.exists():
        raise ConfigurationError(f"{path} already exists; refusing to overwrite a keystore")
    if len(passphrase) < 8:
        raise ConfigurationError("the keystore passphrase must have at least 8 characters")
    account = account or Account.create()
    keystore = Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=scrypt_n)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(keystore, handle)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    return account


def load_keystore(path: Path, passphrase: str) -> LocalAccount:
    """Unlock a keystore v3 file; :class:`ConfigurationError` names what is wrong."""
    try:
        keystore = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"keystore {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"keystore {path} is not a readable JSON file: {exc}") from exc
    try:
        key = Account.decrypt(keystore, passphrase)
    except ValueError as exc:
        raise ConfigurationError(
            f"cannot unlock keystore {path}: wrong passphrase ({exc})"
        ) from exc
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path} is not a keystore v3 file: missing {exc}") from exc
    account: LocalAccount = Account.from_key(key)
    return account
