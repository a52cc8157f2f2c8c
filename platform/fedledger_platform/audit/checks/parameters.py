"""``parameters``: the served parameters-only CKKS context is the one committed on chain, and
usable to recompute the aggregates."""

from __future__ import annotations

from typing import Any

import fedledger_crypto as fc
from fedledger_platform.audit.results import CheckResult, CheckStatus, short

__all__ = ["check_parameters"]


def check_parameters(
    on_chain: bytes,
    served: bytes | None,
    error: str | None,
    *,
    params_id: str | None,
    commit_tx: str | None,
) -> tuple[CheckResult, Any]:
    """Check the ``served`` context (or the aggregator's ``error``) against the on-chain
    ``encryptionParamsHash``; returns the result and, when it passed, the loaded context the
    aggregates are recomputed with (``None`` otherwise)."""
    evidence: dict[str, Any] = {
        "on_chain_hash": fc.hash_hex(on_chain),
        "commit_tx": commit_tx,
        "params_id": params_id,
    }

    def fail(message: str) -> tuple[CheckResult, Any]:
        return CheckResult("parameters", CheckStatus.FAIL, message, evidence=evidence), None

    if served is None:
        return fail(f"the aggregator does not serve its parameters ({error})")
    actual = fc.keccak256(served)
    evidence["served_hash"] = fc.hash_hex(actual)
    if actual != on_chain:
        return fail(
            f"served parameters hash to {short(fc.hash_hex(actual))}, the chain committed "
            f"{short(fc.hash_hex(on_chain))}"
        )
    try:
        params = fc.get_params(params_id or "")
        context = fc.load_parameters_context(served, params)
    except (fc.ParameterError, fc.ContextError) as exc:
        return fail(f"the served parameters match the chain but cannot be used: {exc}")
    passed = CheckResult(
        "parameters",
        CheckStatus.PASS,
        f"served parameters ({params.id}) hash to the on-chain {short(fc.hash_hex(on_chain))}",
        evidence=evidence,
    )
    return passed, context
