"""The dashboard as an application of its own (``fedledger dashboard``), or mounted on the
aggregator's (``create_app``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from fedledger_platform.dashboard.live import Dashboard, DashboardConfig
from fedledger_platform.dashboard.routes import PREFIX, DashboardHost, dashboard_router

__all__ = ["create_dashboard_app", "mount_dashboard"]


def _root_redirect(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(PREFIX + "/")


def create_dashboard_app(dashboard: Dashboard) -> FastAPI:
    """A read-only web app showing ``dashboard`` at ``/dashboard/`` (``/`` redirects there);
    the dashboard's thread runs while the app is up."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        dashboard.start()
        try:
            yield
        finally:
            await run_in_threadpool(dashboard.stop)

    app = FastAPI(
        title="fedledger dashboard",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(dashboard_router(DashboardHost(dashboard.config, dashboard)))
    _root_redirect(app)
    return app


def mount_dashboard(app: FastAPI, config: DashboardConfig) -> DashboardHost:
    """Add the dashboard's routes (and a redirect from ``/``) to ``app``; the returned host is
    given the ledger once the app's service is up (:meth:`DashboardHost.attach`) and closed
    when it stops."""
    host = DashboardHost(config)
    app.include_router(dashboard_router(host))
    _root_redirect(app)
    return host
