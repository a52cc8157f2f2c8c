"""`fedledger bench masking`: a k-regular masked round and a dropout round, in one process, whose
sums it checks against the true sums before reporting any figure."""

from __future__ import annotations

import math

import pytest

from fedledger_app.bench.masking import main, run


def test_a_k_regular_round_with_dropouts_is_measured_and_checked() -> None:
    # Execute: 34 members (above the complete-graph limit of 32), two dropped.
    result = run(members=34, params=2048, dropped=2)
    # Assert: the default degree, one reveal per surviving neighbour of each dropped member,
    # and both sums decrypted to the truth (run raises otherwise).
    degree = 2 * math.ceil(math.log2(34))
    assert result["degree"] == degree
    assert degree * 2 - 2 <= result["reveals"] <= degree * 2
    assert result["full_max_abs_error"] < 1e-6 and result["dropout_max_abs_error"] < 1e-6
    assert all(result[k] > 0 for k in ("encrypt_s_per_member", "correction_s", "aggregate_s"))


def test_impossible_rounds_are_refused() -> None:
    with pytest.raises(SystemExit):
        main(["--members", "5", "--dropped", "4"])
