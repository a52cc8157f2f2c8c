"""The dashboard's HTTP routes, the same at the aggregator (mounted by ``create_app``) and in
``fedledger dashboard``: server-rendered pages, their ``?fragment=main`` parts for live updates,
a server-sent event stream of snapshot versions, the checked model download, and the assets.

Every route only reads (GET), renders the current snapshot without touching the chain, and is
left out of the aggregator's OpenAPI schema. Responses carry a Content-Security-Policy that
lets a page load nothing but this app's own stylesheet and script.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

import fedledger_crypto as fc
from fedledger_platform.api_client import AggregatorError
from fedledger_platform.dashboard.html import Html, esc
from fedledger_platform.dashboard.live import Dashboard, DashboardConfig
from fedledger_platform.dashboard.model import Snapshot
from fedledger_platform.dashboard.rows import model_points
from fedledger_platform.dashboard.views import (
    metrics_page,
    models_page,
    overview,
    participant_page,
    participants_page,
    record_of,
    round_page,
    rounds_timeline,
)
from fedledger_platform.ledger import Ledger

__all__ = ["PREFIX", "STREAM_S", "DashboardHost", "dashboard_router"]

PREFIX = "/dashboard"
#: How long one event stream stays open; the browser reconnects at once (``retry``). Bounded
#: so that a server shutting down, which waits for open responses, never waits long.
STREAM_S = 10.0
_POLL_S = 0.25
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_ASSETS = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript"}
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


class DashboardHost:
    """Where the routes find their :class:`Dashboard`: one given at once (``fedledger
    dashboard``), or one built at the first request from the ledger the aggregator attached
    and the address the request reached (the aggregator reads its own REST API like any
    other client, over loopback)."""

    def __init__(self, config: DashboardConfig, dashboard: Dashboard | None = None) -> None:
        self.config = config
        self._dashboard = dashboard
        self._ledger: Ledger | None = None

    def attach(self, ledger: Ledger) -> None:
        """The aggregator's ledger, once its service is up."""
        self._ledger = ledger

    def get(self, request: Request) -> Dashboard | None:
        """The dashboard (``None`` while the aggregator is still starting)."""
        if self._dashboard is None and self._ledger is not None:
            host, port = request.scope.get("server") or ("127.0.0.1", 80)
            host = f"[{host}]" if ":" in str(host) else host
            self._dashboard = Dashboard(self._ledger, f"http://{host}:{port}", self.config)
            self._dashboard.start()
        return self._dashboard

    def close(self) -> None:
        """Stop the dashboard's thread, if one was started."""
        if self._dashboard is not None:
            self._dashboard.stop()


def _message(status: int, title: str, text: str) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title></head><body><h1>{esc(title)}</h1><p>{esc(text)}</p>"
        "</body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


@cache
def _asset(name: str) -> bytes:
    return resources.files("fedledger_platform.dashboard").joinpath("assets", name).read_bytes()


def dashboard_router(host: DashboardHost, *, prefix: str = PREFIX) -> APIRouter:
    """The dashboard's routes under ``prefix``, finding their dashboard through ``host``."""
    router = APIRouter(prefix=prefix, include_in_schema=False)
    h = Html(prefix, host.config.explorer)

    def render(
        request: Request, title: str, active: str, body: Callable[[Snapshot], str | None]
    ) -> HTMLResponse:
        dashboard = host.get(request)
        if dashboard is None:
            return _message(503, "Starting", "The aggregator is starting; reload in a moment.")
        s = dashboard.snapshot
        content = body(s)
        if content is None and s.federation is None:  # shown as soon as the first read lands
            content = '<p class="empty">Reading the chain…</p>'
        if content is None:
            return _message(404, "Not found", f"{title} is not part of this federation.")
        if request.query_params.get("fragment") == "main":
            return HTMLResponse(h.main(s, title, content), headers=_HEADERS)
        return HTMLResponse(h.page(s, title, content, active=active), headers=_HEADERS)

    @router.get("/")
    async def overview_page(request: Request) -> HTMLResponse:
        return render(request, "Federation", "/", lambda s: overview(h, s))

    @router.get("/rounds")
    async def rounds_page(request: Request) -> HTMLResponse:
        return render(request, "Rounds", "/rounds", lambda s: rounds_timeline(h, s))

    @router.get("/rounds/{number}")
    async def one_round(request: Request, number: int) -> HTMLResponse:
        def body(s: Snapshot) -> str | None:
            row = s.round(number)
            return round_page(h, s, row) if row is not None else None

        return render(request, f"Round {number}", "/rounds", body)

    @router.get("/metrics")
    async def metrics(request: Request) -> HTMLResponse:
        return render(request, "Metrics", "/metrics", lambda s: metrics_page(h, s))

    @router.get("/participants")
    async def participants(request: Request) -> HTMLResponse:
        return render(request, "Participants", "/participants", lambda s: participants_page(h, s))

    @router.get("/participants/{address}")
    async def participant(request: Request, address: str) -> HTMLResponse:
        def body(s: Snapshot) -> str | None:
            rec = record_of(s, address) if _ADDRESS.match(address) else None
            return participant_page(h, s, rec) if rec is not None else None

        return render(request, f"Participant {address}", "/participants", body)

    @router.get("/models")
    async def models(request: Request) -> HTMLResponse:
        return render(request, "Models", "/models", lambda s: models_page(h, s))

    @router.get("/models/{model_hash}/download")
    async def download(request: Request, model_hash: str) -> Response:
        dashboard = host.get(request)
        if dashboard is None:
            return _message(503, "Starting", "The aggregator is starting; try again in a moment.")
        rounds = {m.lower(): n for n, m in model_points(dashboard.snapshot.rounds)}
        wanted = model_hash.lower()
        if not _HASH.match(model_hash) or wanted not in rounds:
            return _message(
                404, "Not found", f"{model_hash} is not a model this federation published."
            )
        digest = fc.hash_from_hex(wanted)
        try:
            blob = await run_in_threadpool(dashboard.reader.model, digest)
        except AggregatorError as exc:
            return _message(502, "Not served", f"The aggregator did not serve it: {exc}")
        actual = fc.keccak256(blob.data)
        if actual != digest:
            return _message(
                502,
                "Refused",
                f"The aggregator served bytes that hash to {fc.hash_hex(actual)}, not to the "
                f"hash published on chain, {wanted}: they are not passed on.",
            )
        return Response(
            blob.data,
            media_type="application/octet-stream",
            headers={
                **_HEADERS,
                "Content-Disposition": (
                    f'attachment; filename="model-round-{rounds[wanted]}.safetensors"'
                ),
                "X-Fedledger-Hash": wanted,
            },
        )

    @router.get("/events")
    async def events(request: Request) -> Response:
        dashboard = host.get(request)
        if dashboard is None:
            return _message(503, "Starting", "The aggregator is starting.")

        async def stream() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"
            loop = asyncio.get_running_loop()
            end, seen = loop.time() + STREAM_S, -1
            while loop.time() < end:
                version = dashboard.snapshot.version
                if version != seen:
                    seen = version
                    yield f"event: snapshot\ndata: {version}\n\n"
                await asyncio.sleep(_POLL_S)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={**_HEADERS, "X-Accel-Buffering": "no"},
        )

    @router.get("/assets/{name}")
    async def asset(name: str) -> Response:
        if name not in _ASSETS:
            return _message(404, "Not found", f"no asset {name}")
        return Response(
            _asset(name),
            media_type=_ASSETS[name],
            headers={**_HEADERS, "Cache-Control": "no-cache"},
        )

    return router
