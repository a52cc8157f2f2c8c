"""The exception tree of ``fedledger_crypto``, documented in one place.

::

    FedledgerCryptoError
    ├── ParameterError            an invalid or unknown CKKS parameter set
    ├── ContextError              a context of the wrong kind (secret vs. parameters-only) or set
    ├── BlobError                 an encrypted update or aggregate that must be rejected
    │   ├── MalformedBlobError        truncated, corrupted, wrong chunk count, trailing bytes
    │   ├── ParameterMismatchError    encrypted under other CKKS parameters or scale
    │   └── SchemaMismatchError       another tensor layout / metric set than expected
    ├── HeadroomExceededError     a value would overflow the data prime once summed
    ├── SignatureError            a request signature that does not verify
    │   ├── MissingSignatureError     a signature header is absent (the request is unsigned)
    │   ├── StaleRequestError         timestamp outside the accepted window
    │   └── ReplayedNonceError        nonce already used by that sender
    ├── SealingError              a sealed key that cannot be opened or is not the dealer's
    └── MaskingError              pairwise masking cannot proceed (bad graph, keys or context)
        └── RevealError               a dropout reveal that does not verify or does not belong

Every message names the cause and, where there is one, the fix.
"""

from __future__ import annotations

__all__ = [
    "BlobError",
    "ContextError",
    "FedledgerCryptoError",
    "HeadroomExceededError",
    "MalformedBlobError",
    "MaskingError",
    "MissingSignatureError",
    "ParameterError",
    "ParameterMismatchError",
    "ReplayedNonceError",
    "RevealError",
    "SchemaMismatchError",
    "SealingError",
    "SignatureError",
    "StaleRequestError",
]


class FedledgerCryptoError(Exception):
    """Root of every error raised by ``fedledger_crypto``."""


class ParameterError(FedledgerCryptoError, ValueError):
    """A CKKS parameter set is invalid (e.g. below 128-bit security) or unknown."""


class ContextError(FedledgerCryptoError, ValueError):
    """A TenSEAL context is of the wrong kind or does not match the expected parameter set."""


class BlobError(FedledgerCryptoError, ValueError):
    """An encrypted blob must be rejected."""


class MalformedBlobError(BlobError):
    """The blob is not a well-formed fedledger blob (truncated, corrupted, inconsistent)."""


class ParameterMismatchError(BlobError):
    """The blob was encrypted under other CKKS parameters (degree, modulus, scale, set id)."""


class SchemaMismatchError(BlobError):
    """The blob encodes another tensor layout or metric set than the federation expects."""


class HeadroomExceededError(FedledgerCryptoError, ValueError):
    """A value is too large: once summed over the federation it would wrap around the data prime."""


class SignatureError(FedledgerCryptoError):
    """A signed request is missing a header, malformed, or signed by someone else."""


class MissingSignatureError(SignatureError):
    """A signature header is absent: the request was not signed at all."""


class StaleRequestError(SignatureError):
    """The request's timestamp lies outside the accepted clock window."""


class ReplayedNonceError(SignatureError):
    """The request's nonce was already used by the same sender."""


class SealingError(FedledgerCryptoError):
    """A sealed secret cannot be opened with this key, or was not sealed by the key dealer."""


class MaskingError(FedledgerCryptoError, ValueError):
    """Pairwise masking cannot proceed: an invalid key, address, neighbour graph or round."""


class RevealError(MaskingError):
    """A dropout reveal fails its proof, or names a pair the round's graph does not link."""
