"""Federations of many participants on Ray: ``fedledger simulate`` and ``fedledger bench scale``.

:func:`simulate` sets a federation up at scale (batched admission), serves the real aggregator
in its own process (:class:`AggregatorProcess`), and hosts the participants' daemons on Ray
actors (:class:`ParticipantHost`), reaching the embedded chain through
:class:`EmbeddedRpcServer`.
"""

from fedledger_app.scale.aggregator import AggregatorProcess
from fedledger_app.scale.hosts import HostSpec, ParticipantHost, StepReport, work
from fedledger_app.scale.rpc import EmbeddedRpcServer
from fedledger_app.scale.simulate import SimulationResult, simulate
from fedledger_app.scale.spec import RoundHook, SimulationSpec, check_partition, check_simulation

__all__ = [
    "AggregatorProcess",
    "EmbeddedRpcServer",
    "HostSpec",
    "ParticipantHost",
    "RoundHook",
    "SimulationResult",
    "SimulationSpec",
    "StepReport",
    "check_partition",
    "check_simulation",
    "simulate",
    "work",
]
