"""The dashboard's views: each renders a page body from a snapshot."""

from fedledger_platform.dashboard.views.metrics import metrics_page
from fedledger_platform.dashboard.views.models import models_page
from fedledger_platform.dashboard.views.overview import overview
from fedledger_platform.dashboard.views.participants import (
    participant_page,
    participants_page,
    record_of,
)
from fedledger_platform.dashboard.views.rounds import round_page, rounds_timeline

__all__ = [
    "metrics_page",
    "models_page",
    "overview",
    "participant_page",
    "participants_page",
    "record_of",
    "round_page",
    "rounds_timeline",
]
