"""docs/protocol-vectors.json is what the code does: the deterministic vectors are made again and
compared, each one is also checked with the code that serves the protocol (signature
verification, sealed-key opening, the schema digest, the model file, the next-model rule), and
the CKKS blob is decrypted with the code."""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from eth_account import Account

import fedledger_crypto as fc
from fedledger_app import protocol_vectors
from fedledger_platform.modelfile import decode_model, encode_model

with warnings.catch_warnings():  # typer touches click APIs that Click 8.3 deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    from typer.testing import CliRunner

    from fedledger_app.cli import app

ROOT = Path(__file__).resolve().parents[2]
DETERMINISTIC = (
    "protocol",
    "scope",
    "keys",
    "signed_requests",
    "sealed_key",
    "schema",
    "model",
    "next_model",
    "parameters",
)


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "docs" / "protocol-vectors.json").read_text())
    return data


def _scope(vectors: dict[str, Any]) -> fc.RequestScope:
    return fc.RequestScope(vectors["scope"]["chain_id"], vectors["scope"]["ledger"])


def _floats(entry: dict[str, Any]) -> np.ndarray[Any, Any]:
    array = np.frombuffer(bytes.fromhex(entry["le_hex"]), dtype="<f4")
    assert array.tolist() == entry["values"]  # the two spellings agree
    return array


def test_the_committed_vectors_are_what_the_code_makes(vectors: dict[str, Any]) -> None:
    made = protocol_vectors.generate()
    for section in DETERMINISTIC:
        assert vectors[section] == made[section], f"{section}: run `fedledger protocol vectors`"
    assert vectors["protocol"] == "fedledger protocol 1.0"


def test_signed_requests_verify(vectors: dict[str, Any]) -> None:
    participant = vectors["keys"]["participant"]
    for request in vectors["signed_requests"]:
        body = bytes.fromhex(request["body_hex"])
        signer = fc.verify_request(
            request["headers"],
            method=request["method"],
            path=request["path"],
            body=body,
            scope=_scope(vectors),
            nonces=fc.MemoryNonceRegistry(),
            now=int(request["headers"][fc.HEADER_TIMESTAMP]),
        )
        assert signer == participant["address"]
        assert request["canonical_request"].split("\n")[3] == request["body_keccak256"]


def test_the_sealed_key_opens_with_the_code(vectors: dict[str, Any]) -> None:
    sealed = vectors["sealed_key"]
    copy = fc.SealedKey(
        recipient=sealed["recipient"],
        ciphertext=bytes.fromhex(sealed["ciphertext"][2:]),
        dealer_signature=bytes.fromhex(sealed["dealer_signature"][2:]),
    )
    account = Account.from_key(vectors["keys"]["participant"]["private_key"])
    assert copy.signed_message(_scope(vectors)) == sealed["signed_message"]
    opened = fc.open_sealed_key(
        copy, account=account, expected_dealer=sealed["dealer"], scope=_scope(vectors)
    )
    assert opened == bytes.fromhex(sealed["secret_hex"])


def test_schema_model_and_next_model(vectors: dict[str, Any]) -> None:
    # The schema digest is keccak256 of the JSON text given
    schema = vectors["schema"]
    assert fc.hash_hex(fc.keccak256(schema["json"].encode())) == schema["digest"]
    # The model file decodes to the tensors and metadata given, and hashes as given
    model = vectors["model"]
    data = bytes.fromhex(model["bytes_hex"])
    decoded = decode_model(data)
    assert fc.hash_hex(fc.keccak256(data)) == model["keccak256"]
    assert (decoded.task, list(decoded.metric_names), decoded.round_number) == (
        model["task"],
        model["metrics"],
        model["round"],
    )
    for name, tensor in model["tensors"].items():
        assert decoded.state[name].shape == tuple(tensor["shape"])
        assert decoded.state[name].reshape(-1).tolist() == _floats(tensor).tolist()
    assert fc.hash_hex(decoded.schema().digest()) == schema["digest"]
    # The next model: base + float32(Σ w·Δ / Σ w), in float32, tensor by tensor
    rule = vectors["next_model"]
    mean = np.asarray(rule["decrypted_values"]) / rule["decrypted_weight"]
    assert mean.astype(np.float32).tolist() == _floats(rule["mean_float32"]).tolist()
    state, offset = {}, 0
    for name in rule["layout_order"]:
        base = _floats(rule["base"][name])
        delta = mean[offset : offset + base.size].astype(np.float32)
        state[name] = base + delta
        offset += base.size
        assert state[name].tolist() == _floats(rule["next"][name]).tolist()
    shaped = {n: torch.from_numpy(state[n].reshape(decoded.state[n].shape).copy()) for n in state}
    again = encode_model(
        shaped,
        task=model["task"],
        metric_names=tuple(model["metrics"]),
        round_number=rule["next_model_round"],
    )
    assert fc.hash_hex(fc.keccak256(again)) == rule["next_model_keccak256"]


def test_the_parameters_hash_and_the_blob_decrypt(vectors: dict[str, Any]) -> None:
    params_vector, blob_vector = vectors["parameters"], vectors["blob"]
    params = fc.get_params(blob_vector["params_id"])
    assert params_vector["keccak256"] == fc.hash_hex(fc.parameters_hash(params))
    secret = base64.b64decode(blob_vector["secret_context_base64"])
    blob = base64.b64decode(blob_vector["blob_base64"])
    context = fc.load_secret_context(secret, params)
    assert fc.parameters_bytes(context).hex() == params_vector["bytes_hex"]
    assert fc.hash_hex(fc.keccak256(blob)) == blob_vector["blob_keccak256"]
    header = fc.parse_header(blob, params)
    expected = blob_vector["header"]
    assert blob[:4].decode() == expected["magic"]
    assert (header.version, header.kind, header.params_id) == (
        expected["version"],
        expected["kind"],
        expected["params_id"],
    )
    assert (
        fc.hash_hex(header.schema_digest)
        == expected["schema_digest"]
        == vectors["schema"]["digest"]
    )
    assert (header.value_count, header.extra_slots, header.contributors) == (
        expected["value_count"],
        expected["extra_values"],
        expected["contributors"],
    )
    assert [e - s for s, e in header.chunk_spans] == expected["chunk_lengths"]
    schema = decode_model(bytes.fromhex(vectors["model"]["bytes_hex"])).schema()
    encryptor = fc.UpdateEncryptor(context)
    try:
        decrypted = encryptor.decrypt(blob, schema)
    finally:
        encryptor.close()
    want = blob_vector["decrypts_to"]
    tolerance = want["tolerance"]
    assert np.allclose(decrypted.values, want["values"], rtol=0, atol=tolerance)
    assert abs(decrypted.weight - want["weight"]) < tolerance
    assert all(abs(decrypted.metrics[k] - v) < tolerance for k, v in want["metrics"].items())
    assert decrypted.contributors == want["contributors"]


def test_the_command_writes_the_vectors(tmp_path: Path, vectors: dict[str, Any]) -> None:
    out = tmp_path / "vectors.json"
    result = CliRunner().invoke(app, ["protocol", "vectors", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    written = json.loads(out.read_text())
    assert {k: written[k] for k in DETERMINISTIC} == {k: vectors[k] for k in DETERMINISTIC}
