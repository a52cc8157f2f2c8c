"""A read-only web dashboard of a federation, for auditors, participants and model consumers.

It is built from the chain and the aggregator's public REST API alone (with the auditor for
verdicts), so the same code runs at the aggregator (``/dashboard``, mounted by
``create_app``) and as an independent auditor's own server (``fedledger dashboard``) that
trusts nothing the aggregator says about itself. Inside: ``model`` (the snapshot the pages
show), ``chain`` and ``rows`` (following the chain), ``verdicts`` (audits cached per round),
``metrics`` (published models evaluated), ``live`` (the thread that keeps a snapshot current),
``html``, ``svg`` and ``views`` (server-side rendering), ``routes`` and ``app`` (HTTP).
"""

from fedledger_platform.dashboard.app import create_dashboard_app, mount_dashboard
from fedledger_platform.dashboard.live import Dashboard, DashboardConfig
from fedledger_platform.dashboard.metrics import ModelEvaluator
from fedledger_platform.dashboard.model import Evaluation, Snapshot
from fedledger_platform.dashboard.routes import PREFIX, DashboardHost

__all__ = [
    "PREFIX",
    "Dashboard",
    "DashboardConfig",
    "DashboardHost",
    "Evaluation",
    "ModelEvaluator",
    "Snapshot",
    "create_dashboard_app",
    "mount_dashboard",
]
