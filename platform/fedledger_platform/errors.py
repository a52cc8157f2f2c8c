"""The exception tree of ``fedledger_platform``, documented in one place.

::

    FedledgerError
    ├── ConfigurationError            a setting, deployment file or key that cannot be used
    │   └── DevelopmentKeyError           a well-known devnet key on a non-devnet chain
    ├── LedgerError                   anything that went wrong talking to the chain
    │   ├── ChainUnavailableError         the node does not answer (retry later)
    │   ├── ContractRevertError           the contract reverted; ``.error`` is its custom error
    │   └── TransactionFailedError        mined but failed, or no receipt in time
    └── CompilationError              the Solidity sources did not compile

Errors from ``fedledger_crypto`` keep their own tree (``fedledger_crypto.errors``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ChainUnavailableError",
    "CompilationError",
    "ConfigurationError",
    "ContractRevertError",
    "DevelopmentKeyError",
    "FedledgerError",
    "LedgerError",
    "TransactionFailedError",
]


class FedledgerError(Exception):
    """Root of every error raised by ``fedledger_platform``."""


class ConfigurationError(FedledgerError):
    """A setting, deployment file, keystore or passphrase cannot be used."""


class DevelopmentKeyError(ConfigurationError):
    """A publicly known development key was offered for a chain that is not a devnet."""


class CompilationError(FedledgerError):
    """Compiling the Solidity sources failed."""


class LedgerError(FedledgerError):
    """A chain interaction failed."""


class ChainUnavailableError(LedgerError):
    """The chain node cannot be reached or did not answer; retrying later may succeed."""


class ContractRevertError(LedgerError):
    """The contract reverted a call or transaction.

    ``error`` is the Solidity custom error name (e.g. ``LedgerRoundNotOpen``) or, for a
    plain ``require``/``revert`` message, ``Error``; ``args`` are the decoded arguments.
    """

    def __init__(self, function: str, error: str, args: tuple[Any, ...] = ()) -> None:
        self.function = function
        self.error = error
        self.args_ = args
        rendered = ", ".join(_render(a) for a in args)
        super().__init__(f"{function} reverted with {error}({rendered})")


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value) if isinstance(value, str) else str(value)


class TransactionFailedError(LedgerError):
    """A transaction was mined with status 0, or its receipt did not arrive in time."""
