"""A consumer's download of a published model, verified against the chain.

The chain's ``ModelPublished`` event names each published model's keccak256; the aggregator
only stores bytes. :func:`fetch_published_model` finds the publication on chain, downloads the
bytes by that hash (``GET /v1/models/{hash}``, never ``/latest``) and accepts them only when
they hash to it and decode as a model of that round. No response header is trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import fedledger_crypto as fc
from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.errors import FedledgerError
from fedledger_platform.ledger import Ledger
from fedledger_platform.modelfile import ModelFile, ModelFileError, decode_model

__all__ = ["PublishedModel", "PublishedModelError", "fetch_published_model"]


class PublishedModelError(FedledgerError):
    """No such publication on chain, or the served bytes are not the published model."""


@dataclass(frozen=True)
class PublishedModel:
    """A published model's bytes, checked against the chain, with where it was published."""

    round_number: int
    model_hash: bytes
    publish_tx: str
    data: bytes
    model: ModelFile


def _publications(ledger: Ledger, from_block: int) -> dict[int, tuple[bytes, str]]:
    """Each round's ``ModelPublished``: (model hash, transaction), by round."""
    return {
        int(event.args["round"]): (bytes(event.args["modelHash"]), event.tx_hash)
        for event in ledger.events(from_block=from_block, names=("ModelPublished",))
    }


def fetch_published_model(
    ledger: Ledger,
    client: AggregatorClient,
    *,
    round_number: int | None = None,
    from_block: int = 0,
) -> PublishedModel:
    """Round ``round_number``'s published model (default: the latest publication).

    ``from_block`` is where the ledger's event history starts (the deployment block). Raises
    :class:`PublishedModelError` when the round published no model, or the aggregator serves
    bytes that do not hash to the published hash or are not a model of that round.
    """
    published = _publications(ledger, from_block)
    if not published:
        raise PublishedModelError(f"ledger {ledger.address} has published no model yet")
    number = max(published) if round_number is None else round_number
    if number not in published:
        raise PublishedModelError(
            f"round {number} published no model (rounds with a published model: "
            f"{', '.join(str(n) for n in sorted(published))})"
        )
    digest, tx = published[number]
    data = client.model(digest).data
    actual = fc.keccak256(data)
    if actual != digest:
        raise PublishedModelError(
            f"the aggregator served bytes hashing to {fc.hash_hex(actual)} for round {number}'s "
            f"model; ModelPublished (tx {tx}) says {fc.hash_hex(digest)}: refusing them"
        )
    try:
        model = decode_model(data)
    except ModelFileError as exc:
        raise PublishedModelError(
            f"round {number}'s published bytes are not a model: {exc}"
        ) from exc
    if model.round_number != number:
        raise PublishedModelError(
            f"the published bytes of round {number} say they are round {model.round_number}'s"
        )
    return PublishedModel(number, digest, tx, data, model)
