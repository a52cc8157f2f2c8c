"""The participant's side of the codec: an update's values to a blob, a blob back to values.

:class:`UpdateEncryptor` lays out ``[w·values…, w, metric sums…]`` two values per complex slot,
checks every slot against the headroom policy, encrypts chunk by chunk
(:class:`~fedledger_crypto.chunk.SealCodec`) and assembles the blob
(:mod:`fedledger_crypto.blob`); decryption validates a blob fully and returns a
:class:`DecryptedSum`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedledger_crypto.blob import BlobKind, assemble_blob, load_blob
from fedledger_crypto.chunk import SealCodec
from fedledger_crypto.commitments import keccak256
from fedledger_crypto.context import Context, context_params
from fedledger_crypto.errors import ContextError, SchemaMismatchError
from fedledger_crypto.flooding import flood_noise
from fedledger_crypto.layout import UpdateSchema
from fedledger_crypto.masking import Mask, RoundContext
from fedledger_crypto.params import HeadroomPolicy

__all__ = ["DecryptedSum", "UpdateEncryptor"]

FloatArray = npt.NDArray[np.float64]

# Masks are expanded for this many chunks at a time: one keystream call per seed and prime
# covers them all, and the working set stays small (16 chunks of N = 4096: 512 KiB per array).
_MASK_BLOCK = 16


@dataclass(frozen=True)
class DecryptedSum:
    """The decrypted content of an update or aggregate blob.

    ``values`` are the (weighted, when the encoder weighted them) summed model values,
    ``weight`` the summed weights, ``metrics`` the summed metric sums.
    """

    values: FloatArray
    weight: float
    metrics: dict[str, float]
    contributors: int

    def mean(self) -> FloatArray:
        """The weighted mean ``Σ w·x / Σ w`` of a weighted encoding."""
        if not self.weight > 0:
            raise ValueError(f"cannot take a weighted mean with total weight {self.weight}")
        return self.values / self.weight


class UpdateEncryptor:
    """A participant's side of the codec: encrypts updates and decrypts aggregates.

    Holds the shared secret context; never give one to the aggregator.
    """

    def __init__(self, secret_context: Context) -> None:
        if not secret_context.is_private():
            raise ContextError(
                "UpdateEncryptor needs a secret context (one holding the secret key)"
            )
        self._ctx = secret_context
        self.params = context_params(secret_context)
        self._seal = SealCodec(secret_context, self.params)

    def encrypt(
        self,
        schema: UpdateSchema,
        values: FloatArray,
        *,
        weight: float,
        metrics: Mapping[str, float] | None = None,
        headroom: HeadroomPolicy,
        weighted: bool = True,
        mask: Mask | None = None,
    ) -> bytes:
        """Encrypt one update into a blob.

        With ``weighted`` the values are multiplied by ``weight`` before encryption (FedAvg:
        the aggregate then holds ``Σ w·x`` and ``Σ w``). Every slot (a pair of encoded values)
        is checked against ``headroom`` by its modulus;
        :class:`~fedledger_crypto.errors.HeadroomExceededError` names the values. With
        ``mask`` (:func:`fedledger_crypto.masking.participant_mask`) each chunk's plaintext
        polynomial carries the participant's pairwise mask: the blob alone decrypts to noise,
        the round's sum to the true sum.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (schema.layout.size,):
            raise SchemaMismatchError(
                f"values of shape {values.shape} do not match the layout ({schema.layout.size})"
            )
        metrics = dict(metrics or {})
        if set(metrics) != set(schema.metric_names):
            raise SchemaMismatchError(
                f"metrics {sorted(metrics)} do not match the schema's {list(schema.metric_names)}"
            )
        if headroom.params != self.params:
            raise ContextError(
                f"headroom policy is for {headroom.params.id}, context is {self.params.id}"
            )
        # A weighted (FedAvg) update needs a positive weight; a summed statistic may carry 0
        # (e.g. a client with no posts in the window still reports, so others stay hidden).
        if not math.isfinite(weight) or weight < 0 or (weighted and weight == 0):
            raise ValueError(
                f"weight must be a {'positive' if weighted else 'non-negative'} finite number, "
                f"got {weight}"
            )
        n = schema.layout.size
        total = schema.total_values
        # Values 2k and 2k+1 become slot k's real and imaginary parts: a float64 array of even
        # length viewed as complex128 is exactly that pairing.
        flat = np.zeros(total + total % 2, dtype=np.float64)
        np.multiply(values, weight if weighted else 1.0, out=flat[:n])
        flat[n] = weight
        for i, name in enumerate(schema.metric_names):
            flat[n + 1 + i] = metrics[name]
        if not np.all(np.isfinite(flat)):
            raise ValueError("update contains NaN or infinite values")
        pairs = flat.view(np.complex128)
        peak = int(np.argmax(np.abs(pairs)))
        first = 2 * peak
        what = "weighted values" if first + 1 < n else "values (weight or metric sums)"
        headroom.check(float(abs(pairs[peak])), what=f"{what} {first}-{first + 1} (one slot)")
        size = self.params.slots
        count = -(-len(pairs) // size)
        chunks = []
        for first in range(0, count, _MASK_BLOCK):
            last = min(first + _MASK_BLOCK, count)
            polys = (
                None
                if mask is None
                else mask.polynomials(
                    self._seal.io.moduli, self.params.poly_modulus_degree, first, last
                )
            )
            for c in range(first, last):
                slots = pairs[c * size : (c + 1) * size]
                plain = self._seal.encode(slots)
                poly = None if polys is None else polys[c - first]
                chunks.append(self._seal.encrypt(plain, len(slots), poly))
        return assemble_blob(
            params=self.params,
            kind=BlobKind.UPDATE,
            schema_digest=schema.digest(),
            value_count=n,
            extra_slots=schema.extra_slots,
            contributors=1,
            chunks=chunks,
        )

    def decrypt(
        self,
        blob: bytes,
        schema: UpdateSchema,
        *,
        flood: RoundContext | None = None,
        blob_hash: bytes | None = None,
    ) -> DecryptedSum:
        """Validate and decrypt an update or aggregate blob of ``schema``.

        With ``flood`` (the round the blob belongs to) every decrypted value carries flooding
        noise (:mod:`fedledger_crypto.flooding`) that every holder of the shared key derives
        identically: decrypt this way whatever will be published. The noise is keyed by the blob's
        keccak256: pass it as ``blob_hash`` when it is at hand (a caller that just checked the
        blob against the chain), else it is computed here.
        """
        header, vectors = load_blob(blob, self._ctx, self.params, schema=schema)
        pairs = np.concatenate([self._seal.decrypt(v) for v in vectors])
        flat = pairs.view(np.float64)
        if flood is not None:
            secret = self._seal.secret_residues().tobytes()
            digest = keccak256(blob) if blob_hash is None else blob_hash
            flat = flat + flood_noise(secret, flood, digest, len(flat))
        n = header.value_count
        metrics = {name: float(flat[n + 1 + i]) for i, name in enumerate(schema.metric_names)}
        return DecryptedSum(flat[:n].copy(), float(flat[n]), metrics, header.contributors)

    def close(self) -> None:
        """Release the encryptor's scratch directory (also done when it is collected)."""
        self._seal.close()
