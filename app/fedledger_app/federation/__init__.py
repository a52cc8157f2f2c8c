"""A complete federation in one call, the engine behind ``fedledger demo`` and the benchmarks:
:func:`run_federation` runs a :class:`FederationSpec` and returns a :class:`FederationRun`."""

from fedledger_app.federation.runner import run_federation
from fedledger_app.federation.spec import (
    FederationRun,
    FederationSpec,
    Progress,
    RoundSummary,
    check_spec,
)

__all__ = [
    "FederationRun",
    "FederationSpec",
    "Progress",
    "RoundSummary",
    "check_spec",
    "run_federation",
]
