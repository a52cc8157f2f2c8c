"""Sending transactions, and turning every backend failure into the project's exceptions.

Transactions are signed locally with eth-account and sent raw as plain JSON-RPC
(:meth:`~fedledger_platform.ledger.chain.Chain.request`), so the same code runs against the
embedded chain, a Hardhat node or any JSON-RPC endpoint. Off devnets each transaction is
simulated first (``eth_estimateGas``). A revert — at simulation, at sending, or mined and
replayed as a call — becomes a :class:`~fedledger_platform.errors.ContractRevertError`
carrying the contract's custom error name and arguments, whichever backend produced it.
Connection failures become :class:`~fedledger_platform.errors.ChainUnavailableError`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    ProviderConnectionError,
    Web3RPCError,
)

from fedledger_platform.errors import (
    ChainUnavailableError,
    ContractRevertError,
    LedgerError,
    TransactionFailedError,
)
from fedledger_platform.ledger.abi import ErrorDecoder, Receipt, as_bytes, as_int, revert_data
from fedledger_platform.ledger.chain import PRIORITY_FEE, Chain, RpcError

__all__ = ["Transactor", "gas_budget", "translate"]

_GAS_MARGIN = 1.2
#: Lower bounds of the gas limit (see _gas_limit); measured costs are in docs/contracts.md.
_GAS_FLOORS = {"attestModel": 150_000}
#: Gas limits used on devnets without estimating (generous: only gas used is charged). Batches
#: (admitParticipants, relayCommitments, relayAttestations) are not here: their gas grows with
#: the batch, so it is estimated on every chain.
_DEVNET_GAS = {
    "commitUpdate": 150_000,
    "attestModel": 200_000,
    "openRound": 300_000,
    "abandonRound": 200_000,
    "admitParticipant": 500_000,
    "removeParticipant": 200_000,
    "appointKeyDealer": 150_000,
    "commitEncryptionParams": 150_000,
    "relayEncryptionParams": 150_000,
    "configureMasking": 150_000,
    "setRewardPerUpdate": 150_000,
    "grantRole": 200_000,
}


def gas_budget(function: str) -> int:
    """The most gas a transaction calling ``function`` is given on any chain (its devnet
    limit, which covers the estimate plus margin elsewhere): what a sender must afford."""
    return max(_DEVNET_GAS.get(function, 0), _GAS_FLOORS.get(function, 0)) or 500_000


class Transactor:
    """Signs, sends and awaits the transactions of one binding, one at a time per sender."""

    def __init__(self, chain: Chain, errors: ErrorDecoder, *, receipt_timeout_s: float) -> None:
        self.chain = chain
        self.errors = errors
        self._timeout_s = receipt_timeout_s
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def send(
        self,
        sender: LocalAccount,
        function: str,
        *,
        to: str | None,
        data: bytes,
        gas_hint: int | None = None,
    ) -> Receipt:
        """Sign, send and await one transaction to ``to`` (``None``: a contract creation);
        translate every failure.

        Off devnets the transaction is simulated first (``eth_estimateGas``), so a revert costs
        nothing and its custom error is reported. On devnets, where gas is free and the node
        executes a transaction as it arrives, a known function gets a fixed generous limit
        (``gas_hint``, else the devnet table) instead; a revert then surfaces at sending, or in
        the receipt, and is decoded the same way.

        Requests go out as plain JSON-RPC (:meth:`Chain.request`): a third of the CPU of web3's
        contract functions, transport and receipt formatting per transaction on a node.
        """
        chain = self.chain
        target: dict[str, Any] = {"to": to} if to is not None else {}  # none: a contract creation
        call: dict[str, Any] = {"from": sender.address, **target, "data": data}
        hint = gas_hint if gas_hint is not None else _DEVNET_GAS.get(function)
        with self._lock_for(sender.address):  # one in-flight transaction keeps nonces consecutive
            try:
                params: dict[str, Any] = {
                    **target,
                    "data": data,
                    "value": 0,
                    "gas": _gas_limit(chain, call, function, hint),
                    "maxFeePerGas": chain.max_fee(),
                    "maxPriorityFeePerGas": PRIORITY_FEE,
                    "chainId": chain.chain_id,
                    "type": 2,
                }
                params["nonce"] = chain.next_nonce(sender.address)
                try:
                    raw = bytes(sender.sign_transaction(params).raw_transaction)
                    tx_hash = as_bytes(chain.request("eth_sendRawTransaction", ["0x" + raw.hex()]))
                except BaseException:
                    chain.forget_nonce(sender.address)
                    raise
            except LedgerError:
                raise
            except Exception as exc:
                raise translate(exc, function, self.errors) from exc
        receipt = self._await_receipt(tx_hash, function)
        if receipt.status != 1:
            # Replay as a call at the failing block to recover the revert reason.
            try:
                _eth_call(chain, call, receipt.block_number)
            except Exception as exc:
                raise translate(exc, function, self.errors) from exc
            raise TransactionFailedError(
                f"{function}: transaction 0x{tx_hash.hex()} failed (status 0)"
            )
        return receipt

    def _lock_for(self, address: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(address.lower(), threading.Lock())

    def _await_receipt(self, tx_hash: bytes, function: str) -> Receipt:
        """The receipt of ``tx_hash``, polled every 50 ms (a devnet mines at once: one request)."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                found = self.chain.request("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])
            except Exception as exc:
                raise translate(exc, function, self.errors) from exc
            if found is not None:
                return Receipt.of(found)
            if time.monotonic() > deadline:
                raise TransactionFailedError(
                    f"{function}: no receipt for 0x{tx_hash.hex()} within {self._timeout_s:.0f} s"
                )
            time.sleep(0.05)


def _rpc_call(call: Mapping[str, Any]) -> dict[str, Any]:
    """A call object in JSON-RPC form (hex data)."""
    return {**call, "data": "0x" + bytes(call["data"]).hex()}


def _eth_call(chain: Chain, call: Mapping[str, Any], block: int) -> bytes:
    """``eth_call`` of ``call`` at ``block``; a revert raises."""
    return as_bytes(chain.request("eth_call", [_rpc_call(call), hex(block)]))


#: The largest devnet gas hint used as given (half a Hardhat block: 60M gas).
_DEVNET_HINT_MAX = 30_000_000


def _gas_limit(chain: Chain, call: Mapping[str, Any], function: str, hint: int | None) -> int:
    # A hint above _DEVNET_HINT_MAX is estimated instead: closeRound's for 1,000 included was
    # 60.2M, above Hardhat's 60M block gas limit, and the node refused it on every retry.
    if chain.is_devnet and hint is not None and hint <= _DEVNET_HINT_MAX:
        return hint
    estimate = as_int(chain.request("eth_estimateGas", [_rpc_call(call)]))
    # The floor covers state changes between estimate and inclusion: an attestation estimated
    # below the quorum can be the one that reaches it when others land first (and publishes).
    return max(int(estimate * _GAS_MARGIN) + 10_000, _GAS_FLOORS.get(function, 0))


def translate(exc: BaseException, function: str, errors: ErrorDecoder) -> LedgerError:
    """One exception type per failure, whatever the backend (eth-tester or JSON-RPC)."""
    if isinstance(exc, LedgerError):
        return exc
    if isinstance(
        exc, requests.ConnectionError | requests.Timeout | ProviderConnectionError | OSError
    ):
        return ChainUnavailableError(f"{function}: the chain node is unreachable ({exc})")
    reverted = isinstance(
        exc, ContractCustomError | ContractLogicError | ContractPanicError | TransactionFailed
    )
    if reverted or isinstance(exc, Web3RPCError | RpcError):
        data = revert_data(exc)
        if data:
            name, args = errors.decode(data)
            return ContractRevertError(function, name, args)
        if reverted:  # a revert without data: its message is all there is
            message = str(exc.args[0]) if exc.args else str(exc)
            return ContractRevertError(function, "Error", (message,))
        return TransactionFailedError(f"{function}: the node rejected the request: {exc}")
    return TransactionFailedError(f"{function}: {type(exc).__name__}: {exc}")
