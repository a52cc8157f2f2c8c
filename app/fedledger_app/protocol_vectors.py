"""The test vectors of docs/protocol.md (``docs/protocol-vectors.json``), made with the code.

``fedledger protocol vectors --out docs/protocol-vectors.json`` writes them; the tests check the
committed file against the code, so the specification and the implementation cannot drift.
Every section but ``blob`` is deterministic: fixed keys, timestamp, nonce, ephemeral key and
numbers. CKKS encryption is randomised, so ``blob`` fixes a serialized secret context and one
update blob made with it, with the header fields and the values it decrypts to: a test decrypts
it with the code rather than expecting an encryption to reproduce its bytes.

The sealed key is built here step by step as docs/protocol.md describes ECIES (with a fixed
ephemeral key and nonce, which ``eciespy`` cannot be given) and opened by the code's
:func:`~fedledger_crypto.open_sealed_key`: the description, not only the library, is checked.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import coincurve
import numpy as np
import torch
from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

import fedledger_crypto as fc
from fedledger_clients.participant import mean_update_next_state
from fedledger_clients.tasks.base import AggregateResult
from fedledger_platform.modelfile import encode_model

__all__ = ["PROTOCOL_VERSION", "SCOPE", "generate", "sealed_key_vector", "write_vectors"]

PROTOCOL_VERSION = "fedledger protocol 1.0"
#: The federation the vectors sign for (Hardhat's chain id, a fixed ledger address).
SCOPE = fc.RequestScope(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
_TIMESTAMP = 1_700_000_000
_NONCE = "00112233445566778899aabbccddeeff"
_TASK = "vectors"
_METRICS = ("correct", "total")


def _key(label: str) -> LocalAccount:
    """A fixed account: its private key is keccak256 of ``label``."""
    account: LocalAccount = Account.from_key(fc.keccak256(label.encode()))
    return account


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _f32(values: np.ndarray[Any, Any]) -> dict[str, Any]:
    """float32 values as JSON numbers and as their little-endian bytes (hex)."""
    array = np.ascontiguousarray(values, dtype="<f4")
    return {"values": [float(v) for v in array.reshape(-1)], "le_hex": array.tobytes().hex()}


def keys_vector() -> dict[str, Any]:
    """The accounts every other vector uses."""
    out = {}
    for role in ("participant", "dealer"):
        account = _key(f"fedledger vectors {role}")
        out[role] = {
            "private_key": "0x" + bytes(account.key).hex(),
            "public_key": "0x" + fc.public_key_of(account).hex(),
            "address": account.address,
        }
    return out


def _eip191_digest(text: str) -> bytes:
    """What an EIP-191 ``personal_sign`` signature signs: keccak256 of the prefixed message."""
    data = text.encode()
    return fc.keccak256(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data)


def _signed(method: str, path: str, body: bytes) -> dict[str, Any]:
    account = _key("fedledger vectors participant")
    text = fc.canonical_request(
        method=method, path=path, body=body, timestamp=_TIMESTAMP, nonce=_NONCE, scope=SCOPE
    )
    headers = fc.sign_request(
        account,
        method=method,
        path=path,
        body=body,
        scope=SCOPE,
        timestamp=_TIMESTAMP,
        nonce=_NONCE,
    )
    return {
        "method": method,
        "path": path,
        "body_hex": body.hex(),
        "body_keccak256": fc.hash_hex(fc.keccak256(body)),
        "canonical_request": text,
        "eip191_digest": fc.hash_hex(_eip191_digest(text)),
        "headers": headers,
    }


def signed_requests_vector() -> list[dict[str, Any]]:
    """An update upload (a body) and a signed GET with a query string (no body)."""
    return [
        _signed("PUT", "/v1/rounds/3/updates", b"an update blob"),
        _signed("GET", "/v1/keys/0xAbC0000000000000000000000000000000000001?x=1", b""),
    ]


def sealed_key_vector(secret: bytes = b"a serialized secret CKKS context") -> dict[str, Any]:
    """ECIES to the participant's key with a fixed ephemeral key and nonce, signed by the
    dealer (the construction of docs/protocol.md, step by step)."""
    recipient, dealer = _key("fedledger vectors participant"), _key("fedledger vectors dealer")
    ephemeral = coincurve.PrivateKey(fc.keccak256(b"fedledger vectors ephemeral"))
    nonce = fc.keccak256(b"fedledger vectors nonce")[:16]
    recipient_point = coincurve.PublicKey(b"\x04" + fc.public_key_of(recipient))
    ephemeral_public = ephemeral.public_key.format(compressed=False)
    shared = recipient_point.multiply(ephemeral.secret).format(compressed=False)
    key = HKDF(ephemeral_public + shared, 32, b"", SHA256, num_keys=1)
    assert isinstance(key, bytes)
    encrypted, tag = AES.new(key, AES.MODE_GCM, nonce=nonce).encrypt_and_digest(secret)
    ciphertext = ephemeral_public + nonce + tag + encrypted
    message = "\n".join(
        [
            "fedledger-sealed-key-v1",
            str(SCOPE.chain_id),
            SCOPE.ledger_address.lower(),
            recipient.address.lower(),
            fc.hash_hex(fc.keccak256(ciphertext)),
        ]
    )
    signature = dealer.sign_message(encode_defunct(text=message)).signature
    return {
        "recipient": recipient.address,
        "secret_hex": secret.hex(),
        "ephemeral_private_key": "0x" + ephemeral.secret.hex(),
        "ephemeral_public_key": "0x" + ephemeral_public.hex(),
        "shared_point": "0x" + shared.hex(),
        "aes_key": "0x" + key.hex(),
        "nonce": "0x" + nonce.hex(),
        "tag": "0x" + tag.hex(),
        "ciphertext": "0x" + ciphertext.hex(),
        "dealer": dealer.address,
        "signed_message": message,
        "dealer_signature": "0x" + bytes(signature).hex(),
        "json_body": {
            "ciphertext": "0x" + ciphertext.hex(),
            "dealer_signature": "0x" + bytes(signature).hex(),
        },
    }


def _state() -> dict[str, torch.Tensor]:
    return {
        "layer.weight": torch.tensor([[0.5, -1.25, 2.0], [0.1, 0.2, -0.3]], dtype=torch.float32),
        "layer.bias": torch.tensor([0.0, 1.0], dtype=torch.float32),
    }


def schema_vector() -> dict[str, Any]:
    """The schema digest of the vectors' model."""
    schema = fc.UpdateSchema(fc.TensorLayout.from_state(_state()), _METRICS)
    text = json.dumps(schema.describe(), sort_keys=True, separators=(",", ":"))
    return {"json": text, "digest": fc.hash_hex(schema.digest()), "extra_values": 1 + 2}


def model_vector() -> dict[str, Any]:
    """The canonical model file of the vectors' state (round 2's model)."""
    data = encode_model(_state(), task=_TASK, metric_names=_METRICS, round_number=2)
    (length,) = struct.unpack("<Q", data[:8])
    return {
        "tensors": {
            name: {"shape": list(t.shape), **_f32(t.numpy())} for name, t in _state().items()
        },
        "task": _TASK,
        "metrics": list(_METRICS),
        "round": 2,
        "header_length": length,
        "header_json": data[8 : 8 + length].decode(),
        "bytes_hex": data.hex(),
        "keccak256": fc.hash_hex(fc.keccak256(data)),
    }


def next_model_vector() -> dict[str, Any]:
    """A MEAN round: decrypted sums (float64, with CKKS noise) to the next model (float32)."""
    base = _state()
    layout = fc.TensorLayout.from_state(base)
    # Σ w·Δ over two participants of weights 3 and 5, plus noise far below float32's precision
    values = np.array([1.5, -0.75, 0.3, 2e-9 + 0.8, 0.4, -0.1, 8.0, -4.0], dtype=np.float64)
    values += np.linspace(-3e-8, 3e-8, values.size)
    weight = 8.0 + 1.7e-8
    mean = values / weight
    update = layout.unflatten(mean)
    aggregate = AggregateResult(update=update, total_weight=weight, metrics={}, contributors=2)
    state = mean_update_next_state(base, aggregate)
    data = encode_model(state, task=_TASK, metric_names=_METRICS, round_number=3)
    return {
        "aggregation": "mean",
        "base": {name: _f32(t.numpy()) for name, t in base.items()},
        "layout_order": [spec.name for spec in layout.tensors],
        "decrypted_values": [float(v) for v in values],
        "decrypted_weight": weight,
        "mean_float32": _f32(mean.astype(np.float32)),
        "next": {name: _f32(t.numpy()) for name, t in state.items()},
        "next_model_round": 3,
        "next_model_keccak256": fc.hash_hex(fc.keccak256(data)),
    }


def parameters_vector() -> dict[str, Any]:
    """The parameters-only context of the default set and its hash (committed on chain)."""
    ctx = fc.create_secret_context(fc.DEFAULT_PARAMS)
    data = fc.parameters_bytes(ctx)
    return {
        "params_id": fc.DEFAULT_PARAMS.id,
        "bytes_hex": data.hex(),
        "keccak256": fc.hash_hex(fc.keccak256(data)),
    }


def blob_vector() -> dict[str, Any]:
    """A secret context and one update blob of the vectors' schema (randomised: see above)."""
    params = fc.DEFAULT_PARAMS
    ctx = fc.create_secret_context(params)
    schema = fc.UpdateSchema(fc.TensorLayout.from_state(_state()), _METRICS)
    values = np.array([0.25, -0.5, 1.0, 0.125, -2.0, 3.5, 0.0, 1e-3], dtype=np.float64)
    encryptor = fc.UpdateEncryptor(ctx)
    try:
        blob = encryptor.encrypt(
            schema,
            values,
            weight=3.0,
            metrics={"correct": 2.0, "total": 3.0},
            headroom=fc.HeadroomPolicy(params, max_clients=16),
        )
    finally:
        encryptor.close()
    header = fc.parse_header(blob, params)
    return {
        "params_id": params.id,
        "secret_context_base64": _b64(fc.serialize_secret_context(ctx)),
        "blob_base64": _b64(blob),
        "blob_keccak256": fc.hash_hex(fc.keccak256(blob)),
        "header": {
            "magic": "FLDG",
            "version": header.version,
            "kind": header.kind,
            "params_id": header.params_id,
            "schema_digest": fc.hash_hex(header.schema_digest),
            "value_count": header.value_count,
            "extra_values": header.extra_slots,
            "contributors": header.contributors,
            "chunk_count": header.chunk_count,
            "chunk_lengths": [end - start for start, end in header.chunk_spans],
        },
        "update_values": [float(v) for v in values],
        "weight": 3.0,
        "weighted": True,
        "decrypts_to": {
            "values": [float(v) for v in values * 3.0],
            "weight": 3.0,
            "metrics": {"correct": 2.0, "total": 3.0},
            "contributors": 1,
            "tolerance": 1e-6,
        },
    }


def generate() -> dict[str, Any]:
    """Every vector, as the JSON object of docs/protocol-vectors.json."""
    return {
        "protocol": PROTOCOL_VERSION,
        "scope": {"chain_id": SCOPE.chain_id, "ledger": SCOPE.ledger_address},
        "keys": keys_vector(),
        "signed_requests": signed_requests_vector(),
        "sealed_key": sealed_key_vector(),
        "schema": schema_vector(),
        "model": model_vector(),
        "next_model": next_model_vector(),
        "parameters": parameters_vector(),
        "blob": blob_vector(),
    }


def write_vectors(path: Path) -> None:
    """Write the vectors to ``path`` (indented JSON, keys in a fixed order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(generate(), indent=1) + "\n")
