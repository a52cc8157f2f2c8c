"""An independent fedledger participant, written from docs/protocol.md and contracts/ alone.

It imports nothing of fedledger (tests/interop/test_interop.py checks): TenSEAL for CKKS,
eth-account/eth-abi for keys, signatures and calldata, eciespy for the sealed key,
cryptography for HKDF and AES-CTR (the flood), httpx for JSON-RPC and REST, numpy for the
tensors. Section numbers (§) point into docs/protocol.md.

Its local "training" is one weight-decay step: the update of every tensor is ``-0.01 × base``
with weight 1 and zero metric sums. That is a valid mean-task update well within the headroom
rule (§8.2); the protocol does not care how an update was made. It holds no ether: it signs
its commitments and attestations (EIP-712) and the aggregator relays them (§16).

    python participant.py --deployment deployment.json --rpc-url URL --aggregator URL \\
        --key 0xPRIVATEKEY --rounds 2 --report report.json
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import ecies
import httpx
import numpy as np
import tenseal as ts
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_abi import decode, encode
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils import keccak
from tenseal import sealapi

# §6: the parameter sets (degree N, data prime bits, scale bits)
PARAMETER_SETS = {
    "ckks-n4096-q60-s35": (4096, 60, 35),
    "ckks-n4096-q40-s16": (4096, 40, 16),
    "ckks-n8192-q60-s40": (8192, 60, 40),
}
SERVER = "server/"  # §9: the server optimizer's tensors, outside the update schema
HYPER = ("learning_rate", "beta1", "beta2", "tau")  # §10
FLOOD_SCALE = 2.0**-12 * math.sqrt(12) / 2**33  # §10: the flood's deviation, per keystream unit
MAX_CLIENTS = 256  # §8.2: the headroom share the project's daemons use too
# §9: safetensors dtype codes of the tensors this participant handles
DTYPES = {"F32": np.float32, "F64": np.float64}
CODES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}
STATUS = ["none", "open", "closed", "published", "failed"]  # §3: RoundStatus
COMMITMENT_HEADER = "X-Fedledger-Commitment-Signature"  # §16.3


def hex32(digest: bytes) -> str:
    return "0x" + digest.hex()


def ok(response: httpx.Response) -> httpx.Response:
    """The response, or an error naming the request and the aggregator's refusal (§13)."""
    if response.is_error:
        request = response.request
        raise RuntimeError(
            f"{request.method} {request.url.path}: {response.status_code} {response.text[:500]}"
        )
    return response


class Chain:
    """JSON-RPC, calls encoded from the signatures in IFederationLedger.sol (§2, §3)."""

    def __init__(self, url: str, ledger: str, key: str) -> None:
        self.http = httpx.Client(timeout=60)
        self.url, self.ledger = url, ledger
        self.account = Account.from_key(key)
        self.chain_id = int(self.rpc("eth_chainId", []), 16)

    def rpc(self, method: str, params: list[Any]) -> Any:
        answer = self.http.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        ).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    @staticmethod
    def calldata(signature: str, types: list[str], args: list[Any]) -> str:
        return "0x" + (keccak(text=signature)[:4] + encode(types, args)).hex()

    def call(self, signature: str, types: list[str], args: list[Any], out: list[str]) -> Any:
        to = self.ledger
        if signature.startswith("balanceOf"):
            to = self.call("token()", [], [], ["address"])[0]
        data = self.calldata(signature, types, args)
        result = self.rpc("eth_call", [{"to": to, "data": data}, "latest"])
        return decode(out, bytes.fromhex(result[2:]))

    def sign_typed(
        self, primary: str, fields: list[tuple[str, str]], message: dict[str, Any]
    ) -> str:
        """§16.2: an EIP-712 signature of ``message`` under the ledger's domain, 0x + 130 hex."""
        data = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                primary: [{"name": name, "type": kind} for name, kind in fields],
            },
            "primaryType": primary,
            "domain": {
                "name": "FederationLedger",
                "version": "1",
                "chainId": self.chain_id,
                "verifyingContract": self.ledger,
            },
            "message": message,
        }
        signed = self.account.sign_message(encode_typed_data(full_message=data))
        return "0x" + bytes(signed.signature).hex()

    def round(self, number: int) -> dict[str, Any]:
        (info,) = self.call(
            "getRound(uint64)",
            ["uint64"],
            [number],
            ["(uint8,uint64,uint32,uint32,uint32,uint64,bytes32,bytes32,bytes32)"],
        )
        names = (
            "status",
            "deadline",
            "min_updates",
            "included",
            "quorum",
            "opened_block",
            "base",
            "aggregate",
            "published",
        )
        return {**dict(zip(names, info, strict=True)), "status": STATUS[info[0]]}


class Aggregator:
    """The REST API (§13), with signed requests (§5)."""

    def __init__(self, url: str, chain: Chain) -> None:
        self.http = httpx.Client(base_url=url, timeout=120)
        self.chain = chain

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        signed: bool = False,
        headers: dict[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> httpx.Response:
        headers = dict(headers or {}) | ({"Content-Type": content_type} if body else {})
        if signed:
            account, nonce, timestamp = self.chain.account, secrets.token_hex(16), int(time.time())
            text = "\n".join(
                [
                    "fedledger-request-v1",
                    method,
                    path,
                    hex32(keccak(body)),
                    str(timestamp),
                    nonce,
                    str(self.chain.chain_id),
                    self.chain.ledger.lower(),
                ]
            )
            signature = account.sign_message(encode_defunct(text=text)).signature
            headers |= {
                "X-Fedledger-Address": account.address,
                "X-Fedledger-Timestamp": str(timestamp),
                "X-Fedledger-Nonce": nonce,
                "X-Fedledger-Signature": "0x" + bytes(signature).hex(),
            }
        return self.http.request(method, path, content=body or None, headers=headers)

    def checked(self, path: str, expected: bytes) -> bytes:
        """Bytes served at ``path`` that hash to ``expected`` (read from the chain)."""
        response = self.request("GET", path)
        ok(response)
        if keccak(response.content) != expected:
            raise ValueError(f"{path}: served bytes do not hash to {hex32(expected)}")
        return response.content

    def wait_past(self, number: int, phase: str) -> None:
        """Long-poll until the latest round moved past ``number:phase`` (§12), or 10 s."""
        self.request("GET", f"/v1/rounds/current?after={number}:{phase}&wait_s=10")


# ---------------------------------------------------------------------- formats


def parse_model(data: bytes) -> tuple[dict[str, np.ndarray[Any, Any]], dict[str, str]]:
    """A safetensors model file (§9): tensors by name, and the metadata."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    metadata = header.pop("__metadata__")
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = data[8 + length + begin : 8 + length + end]
        tensors[name] = np.frombuffer(raw, dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return tensors, metadata


def encode_model(tensors: dict[str, np.ndarray[Any, Any]], metadata: dict[str, str]) -> bytes:
    """The canonical model file (§9)."""
    header: dict[str, Any] = {"__metadata__": metadata}
    pieces, offset = [], 0
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name]).tobytes()
        header[name] = {
            "dtype": CODES[tensors[name].dtype],
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        pieces.append(raw)
        offset += len(raw)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(pieces)


def server_rule(
    state: dict[str, np.ndarray[Any, Any]], steps: dict[str, np.ndarray[Any, Any]]
) -> dict[str, np.ndarray[Any, Any]]:
    """§10: the next state from the base state and float32(mean) of every model tensor.

    Every operation is one float32 operation, left to right as written in §10."""
    if not any(name.startswith(SERVER) for name in state):  # FedAvg
        return {
            name: (state[name] + step).astype(state[name].dtype) for name, step in steps.items()
        }
    lr, beta1, beta2, tau = (np.float32(state[SERVER + h]) for h in HYPER)
    adam = any(name.startswith(SERVER + "v/") for name in state)
    one, out = np.float32(1.0), dict(state)
    for name, d in steps.items():
        x, m = state[name], state[f"{SERVER}m/{name}"]
        if adam:
            m = beta1 * m + (one - beta1) * d
            v = beta2 * state[f"{SERVER}v/{name}"] + (one - beta2) * (d * d)
            out[f"{SERVER}v/{name}"] = v
            x = x + lr * m / (np.sqrt(v) + tau)
        else:
            m = beta1 * m + d
            x = x + lr * m
        out[name], out[f"{SERVER}m/{name}"] = x, m
    return out


def schema_digest(tensors: dict[str, np.ndarray[Any, Any]], metrics: list[str]) -> bytes:
    """§8.1: keccak256 of the canonical JSON of the layout and the metric names."""
    names = {"F32": "float32", "F64": "float64"}
    layout = [
        {"name": n, "shape": list(tensors[n].shape), "dtype": names[CODES[tensors[n].dtype]]}
        for n in sorted(tensors)
    ]
    text = json.dumps({"layout": layout, "metrics": metrics}, sort_keys=True, separators=(",", ":"))
    return keccak(text.encode())


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


class Ckks:
    """The federation's secret context, encryption into chunks and decryption (§6, §8.3)."""

    def __init__(self, secret: bytes, params_id: str) -> None:
        self.ctx = ts.context_from(secret)
        self.params_id = params_id
        self.n, prime_bits, scale_bits = PARAMETER_SETS[params_id]
        self.scale = float(2**scale_bits)
        self.bound = 0.75 * 2.0 ** (prime_bits - 1 - scale_bits) / MAX_CLIENTS
        seal_context = self.ctx.data.seal_context()
        self.encoder = sealapi.CKKSEncoder(seal_context)
        self.encryptor = sealapi.Encryptor(seal_context, self.ctx.data.secret_key())
        self.decryptor = sealapi.Decryptor(seal_context, self.ctx.data.secret_key())

    def parameters_hash(self) -> bytes:
        public = self.ctx.serialize(
            save_public_key=False,
            save_secret_key=False,
            save_galois_keys=False,
            save_relin_keys=False,
        )
        return keccak(public)

    def chunk(self, slots: np.ndarray[Any, Any], scratch: Path) -> bytes:
        plain = sealapi.Plaintext()
        self.encoder.encode(slots.tolist(), self.scale, plain)
        path = scratch / "chunk.ct"
        self.encryptor.encrypt_symmetric(plain).save(str(path))  # the seeded form
        ciphertext = path.read_bytes()
        sizes = varint(len(slots))
        return (
            b"\x0a" + varint(len(sizes)) + sizes
            + b"\x12" + varint(len(ciphertext)) + ciphertext
            + b"\x19" + struct.pack("<d", self.scale)
        )  # fmt: skip

    def encrypt(self, values: np.ndarray[Any, Any], extra: list[float], digest: bytes) -> bytes:
        flat = np.concatenate([values, extra]).astype(np.float64)
        total = flat.size
        if total % 2:
            flat = np.append(flat, 0.0)
        slots = flat.view(np.complex128)
        if np.abs(slots).max() > self.bound:
            raise ValueError("the update breaks the headroom rule (§8.2)")
        half = self.n // 2
        with tempfile.TemporaryDirectory() as scratch:
            chunks = [
                self.chunk(slots[i : i + half], Path(scratch)) for i in range(0, slots.size, half)
            ]
        pid = self.params_id.encode()
        header = b"FLDG" + struct.pack("<HBB", 2, 1, len(pid)) + pid + digest
        header += struct.pack("<IHII", values.size, len(extra), 1, len(chunks))
        header += b"".join(struct.pack("<I", len(c)) for c in chunks)
        return header + b"".join(chunks)

    def secret_residues(self) -> bytes:
        """§10: the secret key's data-level residues in NTT form, little-endian words."""
        first = self.ctx.data.seal_context().first_context_data()
        count = len(first.parms().coeff_modulus()) * self.n
        key = self.ctx.data.secret_key().data()
        return np.fromiter((key[i] for i in range(count)), dtype="<u8", count=count).tobytes()

    def flood(self, blob: bytes, count: int, scope: bytes) -> np.ndarray[Any, Any]:
        """§10: the flooding noise of the decryption of ``blob`` (``scope``: chain, ledger,
        round), identical for every holder of the key."""
        info = scope + keccak(blob)
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fedledger-flooding-v1", info=info)
        key = hkdf.derive(self.secret_residues())
        stream = Cipher(algorithms.AES256(key), modes.CTR(bytes(16))).encryptor()
        words = np.frombuffer(stream.update(bytes(16 * count)), dtype="<i4").astype(np.int64)
        return words.reshape(count, 4).sum(axis=1).astype(np.float64) * FLOOD_SCALE

    def decrypt(self, blob: bytes, scope: bytes) -> tuple[np.ndarray[Any, Any], float, int]:
        """An aggregate's flooded (summed values, summed weight, contributors)."""
        assert blob[:4] == b"FLDG" and struct.unpack("<HB", blob[4:7]) == (2, 2)
        offset = 8 + blob[7]
        assert blob[8:offset].decode() == self.params_id
        values, extra, contributors, count = struct.unpack("<IHII", blob[offset + 32 : offset + 46])
        offset += 46
        lengths = struct.unpack(f"<{count}I", blob[offset : offset + 4 * count])
        assert count == math.ceil((values + extra) / self.n)
        position, slots = offset + 4 * count, []
        for length in lengths:
            vector = ts.ckks_vector_from(self.ctx, blob[position : position + length])
            plain = sealapi.Plaintext()
            self.decryptor.decrypt(vector.data.ciphertext()[0], plain)
            slots.extend(self.encoder.decode_complex(plain)[: vector.size()])
            position += length
        assert position == len(blob)
        flat = np.asarray(slots, dtype=np.complex128).view(np.float64)
        flat = flat + self.flood(blob, flat.size, scope)
        return flat[:values], float(flat[values]), contributors


# ---------------------------------------------------------------------- the participant


class Participant:
    def __init__(self, chain: Chain, rest: Aggregator) -> None:
        self.chain, self.rest = chain, rest
        self.address = chain.account.address
        self.held: dict[bytes, tuple[int, bytes]] = {}  # attested model: (round, bytes)
        self.ckks = self.receive_key()

    def receive_key(self) -> Ckks:
        """§7: fetch, verify and open the sealed key; §6: check the parameters hash."""
        while True:
            response = self.rest.request("GET", f"/v1/keys/{self.address}", signed=True)
            if response.status_code != 404:
                break
            time.sleep(0.5)  # not sealed yet
        ok(response)
        sealed = response.json()
        assert sealed["recipient"].lower() == self.address.lower()
        ciphertext = bytes.fromhex(sealed["ciphertext"][2:])
        text = "\n".join(
            [
                "fedledger-sealed-key-v1",
                str(self.chain.chain_id),
                self.chain.ledger.lower(),
                self.address.lower(),
                hex32(keccak(ciphertext)),
            ]
        )
        signer = Account.recover_message(
            encode_defunct(text=text), signature=bytes.fromhex(sealed["dealer_signature"][2:])
        )
        (dealer,) = self.chain.call("keyDealer()", [], [], ["address"])
        if signer.lower() != dealer.lower():
            raise ValueError(f"sealed key signed by {signer}, the key dealer is {dealer}")
        secret = ecies.decrypt(bytes(self.chain.account.key), ciphertext)
        params_id = self.rest.request("GET", "/v1/federation").json()["params_id"]
        ckks = Ckks(secret, params_id)
        (committed,) = self.chain.call("encryptionParamsHash()", [], [], ["bytes32"])
        if ckks.parameters_hash() != committed:
            raise ValueError("the secret context's parameters do not hash to the chain's")
        self.rest.checked("/v1/federation/parameters", committed)
        return ckks

    def supply(self, model_hash: bytes) -> None:
        """§11: upload the bytes of a model this participant attested."""
        number, data = self.held[model_hash]
        path = f"/v1/models/{hex32(model_hash)}?round={number}"
        ok(self.rest.request("PUT", path, data, signed=True))

    def base_model(self, info: dict[str, Any]) -> bytes:
        response = self.rest.request("GET", f"/v1/models/{hex32(info['base'])}")
        if response.status_code == 404 and info["base"] in self.held:
            self.supply(info["base"])
        return self.rest.checked(f"/v1/models/{hex32(info['base'])}", info["base"])

    def play(self, number: int) -> dict[str, Any]:
        """One round (§12); returns what happened."""
        while (info := self.chain.round(number))["status"] == "none":
            self.rest.wait_past(number - 1, "published")
        if info["status"] != "open":
            return {"round": number, "status": info["status"]}
        state, metadata = parse_model(self.base_model(info))
        tensors = {n: t for n, t in state.items() if not n.startswith(SERVER)}  # §8.1
        metrics = [m for m in metadata["fedledger.metrics"].split(",") if m]
        delta = np.concatenate([(-0.01 * tensors[n]).reshape(-1) for n in sorted(tensors)])
        weight = 1.0
        blob = self.ckks.encrypt(
            delta * weight, [weight] + [0.0] * len(metrics), schema_digest(tensors, metrics)
        )
        update_hash = keccak(blob)
        (before,) = self.chain.call("balanceOf(address)", ["address"], [self.address], ["uint256"])
        # §16.3: the signed commitment travels with the upload; the aggregator relays it
        commitment = self.chain.sign_typed(
            "UpdateCommitment",
            [("round", "uint64"), ("updateHash", "bytes32")],
            {"round": number, "updateHash": update_hash},
        )
        path, header = f"/v1/rounds/{number}/updates", {COMMITMENT_HEADER: commitment}
        upload = self.rest.request("PUT", path, blob, signed=True, headers=header)
        if upload.status_code == 503 and upload.json()["error"]["code"] == "base_model_missing":
            self.supply(info["base"])
            upload = self.rest.request("PUT", path, blob, signed=True, headers=header)
        ok(upload)
        while (info := self.chain.round(number))["status"] == "open":
            self.rest.wait_past(number, "closing")
        outcome = {"round": number, "update_hash": hex32(update_hash), "status": info["status"]}
        (included,) = self.chain.call(
            "isIncluded(uint64,address)", ["uint64", "address"], [number, self.address], ["bool"]
        )
        if info["status"] == "failed" or not included:
            return outcome | {"included": included}
        (after,) = self.chain.call("balanceOf(address)", ["address"], [self.address], ["uint256"])
        aggregate = self.rest.checked(f"/v1/rounds/{number}/aggregate", info["aggregate"])
        scope = (
            self.chain.chain_id.to_bytes(32, "big")
            + bytes.fromhex(self.chain.ledger[2:])
            + struct.pack(">Q", number)
        )
        values, total_weight, contributors = self.ckks.decrypt(aggregate, scope)
        assert contributors == info["included"]
        mean = values / total_weight  # §10: double precision, then float32, added in float32
        offset, steps = 0, {}
        for name in sorted(tensors):
            base = tensors[name]
            steps[name] = mean[offset : offset + base.size].astype(np.float32).reshape(base.shape)
            offset += base.size
        next_state = server_rule(state, steps)
        model = encode_model(next_state, {**metadata, "fedledger.round": str(number)})
        model_hash = keccak(model)
        self.held[model_hash] = (number, model)
        # §16.3: the signed attestation goes to the aggregator, which relays it
        signature = self.chain.sign_typed(
            "ModelAttestation",
            [("round", "uint64"), ("modelHash", "bytes32")],
            {"round": number, "modelHash": model_hash},
        )
        body = json.dumps({"model_hash": hex32(model_hash), "signature": signature}).encode()
        answer = self.rest.request(
            "POST",
            f"/v1/rounds/{number}/attestations",
            body,
            signed=True,
            content_type="application/json",
        )
        asked = bool(ok(answer).json()["upload_model"])
        if asked:
            self.supply(model_hash)
        wei = int(self.chain.rpc("eth_getBalance", [self.address, "latest"]), 16)
        return outcome | {
            "wei": wei,
            "included": True,
            "reward": after - before,
            "balance": after,
            "contributors": contributors,
            "model_hash": hex32(model_hash),
            "asked_to_upload": asked,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployment", type=Path, required=True)
    parser.add_argument("--rpc-url", required=True)
    parser.add_argument("--aggregator", required=True)
    parser.add_argument("--key", required=True, help="0x-hex private key of an admitted account")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    deployment = json.loads(args.deployment.read_text())
    chain = Chain(args.rpc_url, deployment["ledger"], args.key)
    assert chain.chain_id == deployment["chain_id"]
    me = Participant(chain, Aggregator(args.aggregator, chain))
    rounds = [me.play(number) for number in range(1, args.rounds + 1)]
    args.report.write_text(json.dumps({"address": me.address, "rounds": rounds}, indent=2))


if __name__ == "__main__":
    main()
