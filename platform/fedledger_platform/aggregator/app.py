"""``create_app(settings)``: the aggregator as a FastAPI application.

The app refuses to start with a CKKS context that holds a secret key, with a publicly known
development key on a chain that is not a devnet, or with an account that lacks the ledger's
AGGREGATOR_ROLE or RELAYER_ROLE (it relays the participants' signed messages). OpenAPI is
served at ``/openapi.json`` and the interactive docs at ``/docs``; the read-only dashboard
(:mod:`fedledger_platform.dashboard`) at ``/dashboard/``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from fedledger_platform.accounts import check_key_allowed, load_keystore, read_passphrase
from fedledger_platform.aggregator.errors import install_error_handlers
from fedledger_platform.aggregator.openapi import install_openapi
from fedledger_platform.aggregator.routers import (
    attestations,
    federation,
    health,
    keys,
    models,
    reveals,
    rounds,
)
from fedledger_platform.aggregator.routers.round_views import LatestRoundCache
from fedledger_platform.aggregator.service import AggregatorService
from fedledger_platform.aggregator.settings import AggregatorSettings
from fedledger_platform.dashboard import DashboardConfig, mount_dashboard
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.ledger import (
    AGGREGATOR_ROLE,
    EMBEDDED,
    RELAYER_ROLE,
    Deployment,
    Ledger,
    connect,
)
from fedledger_platform.storage import BlobStore, Database

__all__ = ["API_VERSION", "build_service", "create_app"]

API_VERSION = "1.0.0"
_DESCRIPTION = (
    "The aggregator of a fedledger federation, fedledger protocol 1.0 (docs/protocol.md is the "
    "normative specification: request signing, the blob and model formats, every error code "
    "and what a participant does about it). Writes, and the reads that need an identity, are "
    "signed: the four `X-Fedledger-*` headers of the security schemes, required together. "
    "Never trust a hash header: verify downloaded bytes against the chain."
)
log = logging.getLogger("fedledger.aggregator")


def build_service(
    settings: AggregatorSettings,
    *,
    ledger: Ledger | None = None,
    account: LocalAccount | None = None,
) -> AggregatorService:
    """Connect to the chain, unlock the aggregator account, open the database and blob store."""
    if ledger is None:
        if settings.chain == EMBEDDED:
            raise ConfigurationError(
                "the embedded chain exists only inside one process: run `fedledger demo`, or "
                "set `chain` to a JSON-RPC URL (e.g. the devnet at http://127.0.0.1:8545)"
            )
        if settings.deployment is None:
            raise ConfigurationError("`deployment` is required: the file `fedledger deploy` wrote")
        deployment = Deployment.load(settings.deployment)
        chain = connect(settings.chain)
        if chain.chain_id != deployment.chain_id:
            raise ConfigurationError(
                f"{settings.chain} is chain {chain.chain_id}, the deployment is on chain "
                f"{deployment.chain_id}"
            )
        ledger = Ledger(chain, deployment.ledger)
    if account is None:
        if settings.keystore is None:
            raise ConfigurationError("`keystore` is required: the aggregator account's keystore")
        account = load_keystore(settings.keystore, read_passphrase(settings.passphrase_file))
    check_key_allowed(account, ledger.chain.chain_id)
    for role, name in ((AGGREGATOR_ROLE, "AGGREGATOR_ROLE"), (RELAYER_ROLE, "RELAYER_ROLE")):
        if not ledger.has_role(role, account.address):
            raise ConfigurationError(
                f"{account.address} lacks {name} on ledger {ledger.address}; deploy with "
                "`--aggregator` set to this account (it gets both roles), or grant the role"
            )
    return AggregatorService(
        settings,
        ledger=ledger,
        account=account,
        db=Database(settings.database_url),
        blobs=BlobStore(settings.blob_dir),
    )


def create_app(
    settings: AggregatorSettings,
    *,
    ledger: Ledger | None = None,
    account: LocalAccount | None = None,
    initial_model: bytes | None = None,
    freeze_heap: bool = False,
    dashboard: DashboardConfig | None = None,
) -> FastAPI:
    """The aggregator app; ``ledger``/``account`` may be injected (embedded chain, tests).

    ``dashboard`` configures the dashboard at ``/dashboard/`` (its deployment block, auditor
    account and model evaluator); by default it reads from block 0 and shows no verdicts.

    ``freeze_heap`` (for a process that serves nothing else, e.g. ``fedledger serve``) exempts
    the long-lived heap from the cyclic GC after start-up and after the first published round
    (:mod:`fedledger_platform.heap`).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = await run_in_threadpool(build_service, settings, ledger=ledger, account=account)
        service.round_signal.bind(asyncio.get_running_loop())
        model = initial_model
        if model is None and settings.initial_model is not None:
            model = settings.initial_model.read_bytes()
        await run_in_threadpool(functools.partial(service.start, model, freeze_heap=freeze_heap))
        app.state.service = service
        app.state.latest_round = LatestRoundCache(service.db)
        board.attach(service.ledger)
        log.info("aggregator for ledger %s serving", service.ledger.address)
        try:
            yield
        finally:
            await run_in_threadpool(board.close)
            await run_in_threadpool(service.stop)
            service.db.dispose()

    app = FastAPI(
        title="fedledger aggregator",
        version=API_VERSION,
        summary="Sums CKKS-encrypted model updates it cannot read, and records rounds on chain.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    install_error_handlers(app)
    install_openapi(app, description=_DESCRIPTION)
    v1 = APIRouter(prefix="/v1")
    for module in (health, federation, keys, rounds, reveals, attestations, models):
        v1.include_router(module.router)
    app.include_router(v1)
    board = mount_dashboard(app, dashboard or DashboardConfig())
    return app
