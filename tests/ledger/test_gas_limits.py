"""Gas limits: the floor that keeps a racing attestation from running out of gas."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fedledger_platform.ledger.binding import _DEVNET_GAS, _gas_limit


class _Estimate:
    def __init__(self, gas: int) -> None:
        self.gas = gas
        self.calls = 0

    def estimate_gas(self, _params: dict[str, Any]) -> int:
        self.calls += 1
        return self.gas


def test_attestation_limit_covers_the_quorum_path_off_devnets() -> None:
    # Estimated below quorum (~55k), but another attestation may land first and make this one
    # publish the model (~82k measured): the limit must cover that.
    chain: Any = SimpleNamespace(is_devnet=False)
    fn = _Estimate(54_986)
    sender: Any = SimpleNamespace(address="0x" + "11" * 20)
    assert _gas_limit(chain, sender, fn, "attestModel", _DEVNET_GAS["attestModel"]) >= 82_000
    assert fn.calls == 1
    assert _gas_limit(chain, sender, _Estimate(36_757), "commitUpdate", None) == 54_108


def test_devnets_use_the_fixed_limit_without_estimating() -> None:
    chain: Any = SimpleNamespace(is_devnet=True)
    fn = _Estimate(10**9)
    sender: Any = SimpleNamespace(address="0x" + "11" * 20)
    assert _gas_limit(chain, sender, fn, "commitUpdate", 150_000) == 150_000
    assert fn.calls == 0
    assert _gas_limit(chain, sender, _Estimate(30_000), "grantRole", None) == 46_000
