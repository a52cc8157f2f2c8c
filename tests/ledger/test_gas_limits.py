"""Gas limits: the floor that keeps a racing attestation from running out of gas."""

from __future__ import annotations

from typing import Any

from fedledger_platform.ledger.transactions import _DEVNET_GAS, _gas_limit

CALL = {"from": "0x" + "11" * 20, "to": "0x" + "22" * 20, "data": b"\x01\x02"}


class _Node:
    """A JSON-RPC node that estimates ``gas`` for every call."""

    def __init__(self, gas: int, *, devnet: bool) -> None:
        self.gas = gas
        self.is_devnet = devnet
        self.requests: list[tuple[str, list[Any]]] = []

    def request(self, method: str, params: list[Any]) -> Any:
        self.requests.append((method, params))
        return hex(self.gas)


def test_attestation_limit_covers_the_quorum_path_off_devnets() -> None:
    # Estimated below quorum (~55k), but another attestation may land first and make this one
    # publish the model (~82k measured): the limit must cover that.
    node: Any = _Node(54_986, devnet=False)
    assert _gas_limit(node, CALL, "attestModel", _DEVNET_GAS["attestModel"]) >= 82_000
    assert node.requests == [("eth_estimateGas", [{**CALL, "data": "0x0102"}])]
    assert _gas_limit(_Node(36_757, devnet=False), CALL, "commitUpdate", None) == 54_108


def test_devnets_use_the_fixed_limit_without_estimating() -> None:
    node: Any = _Node(10**9, devnet=True)
    assert _gas_limit(node, CALL, "commitUpdate", 150_000) == 150_000
    assert node.requests == []
    assert _gas_limit(_Node(30_000, devnet=True), CALL, "grantRole", None) == 46_000


def test_a_devnet_hint_beyond_half_a_block_is_estimated() -> None:
    close_of_1000 = 200_000 + 60_000 * 1000  # closeRound's hint: above Hardhat's 60M block
    node: Any = _Node(31_000_000, devnet=True)  # about what 1,000 included cost

    limit = _gas_limit(node, CALL, "closeRound", close_of_1000)

    assert node.requests[0][0] == "eth_estimateGas"
    assert limit < 60_000_000
    small: Any = _Node(10**9, devnet=True)
    assert _gas_limit(small, CALL, "closeRound", 680_000) == 680_000  # a small close is kept
