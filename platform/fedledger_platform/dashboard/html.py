"""The dashboard's HTML: the page frame, and the small pieces every view uses (hashes,
addresses, transactions, badges, tables, times, amounts).

Everything interpolated is escaped here. The markup carries no ``style`` attribute and no inline
script, so the Content-Security-Policy the routes send can allow only the app's own assets.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fedledger_platform.audit import tokens
from fedledger_platform.dashboard.model import Snapshot

__all__ = ["NAV", "Html", "esc"]

#: The views in the navigation: (path below the prefix, label).
NAV = (
    ("/", "Overview"),
    ("/rounds", "Rounds"),
    ("/metrics", "Metrics"),
    ("/participants", "Participants"),
    ("/models", "Models"),
)


def esc(value: object) -> str:
    """``value`` as HTML text (quotes escaped too, so it may go into an attribute)."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Html:
    """Rendering helpers bound to the dashboard's URL prefix and explorer template."""

    base: str  # the dashboard's path prefix, e.g. "/dashboard"
    explorer: str | None = None

    def url(self, path: str) -> str:
        """An absolute path inside the dashboard."""
        return self.base + path if path != "/" else self.base + "/"

    # ------------------------------------------------------------------ values

    @staticmethod
    def hash(value: str | None, *, full: bool = False) -> str:
        """A 0x hash, shortened unless ``full``; the whole value is in ``data-hash`` and the
        tooltip."""
        if not value:
            return '<span class="none">—</span>'
        shown = value if full or len(value) <= 14 else f"{value[:10]}…{value[-4:]}"
        return (
            f'<code class="hash" data-hash="{esc(value)}" title="{esc(value)}">{esc(shown)}</code>'
        )

    def tx(self, tx_hash: str | None) -> str:
        """A transaction hash, linked to the explorer when one is configured."""
        if not tx_hash:
            return '<span class="none">—</span>'
        code = self.hash(tx_hash)
        if self.explorer is None:
            return code
        return f'<a class="tx" href="{esc(self.explorer.replace("{tx}", tx_hash))}">{code}</a>'

    def address(self, address: str | None) -> str:
        """A participant address, linked to its page."""
        if not address:
            return '<span class="none">—</span>'
        short = f"{address[:6]}…{address[-4:]}" if len(address) == 42 else address
        return (
            f'<a class="address" href="{esc(self.url("/participants/" + address))}" '
            f'data-address="{esc(address)}" title="{esc(address)}"><code>{esc(short)}</code></a>'
        )

    @staticmethod
    def badge(label: str) -> str:
        """A coloured status word (pass, fail, warn, skip, pending, published, open...)."""
        return f'<span class="badge {esc(label)}">{esc(label)}</span>'

    @staticmethod
    def amount(value: int | None) -> str:
        """Token base units as FLC."""
        return '<span class="none">—</span>' if value is None else esc(tokens(value))

    @staticmethod
    def number(value: int | None, unit: str = "") -> str:
        """A count with thousands separators."""
        if value is None:
            return '<span class="none">—</span>'
        return f"{value:,}{esc(unit)}"

    @staticmethod
    def size(value: int | None) -> str:
        """Bytes, in kB/MB."""
        if value is None:
            return '<span class="none">—</span>'
        if value < 10_000:
            return f"{value:,} B"
        if value < 10_000_000:
            return f"{value / 1000:,.1f} kB"
        return f"{value / 1_000_000:,.2f} MB"

    @staticmethod
    def time(unix: float | None) -> str:
        """A Unix time in UTC."""
        if not unix:
            return '<span class="none">—</span>'
        moment = dt.datetime.fromtimestamp(unix, dt.UTC)
        return f'<time datetime="{moment.isoformat()}">{moment:%Y-%m-%d %H:%M:%S} UTC</time>'

    # ------------------------------------------------------------------ blocks

    @staticmethod
    def table(
        headers: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        css: str = "",
        row_ids: Sequence[str] | None = None,
        empty: str = "nothing yet",
    ) -> str:
        """A table whose cells are already HTML, inside a horizontally scrolling frame."""
        head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
        body = []
        for index, row in enumerate(rows):
            row_id = f' id="{esc(row_ids[index])}"' if row_ids is not None else ""
            body.append(f"<tr{row_id}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
        if not body:
            body.append(f'<tr class="empty"><td colspan="{len(headers)}">{esc(empty)}</td></tr>')
        return (
            f'<div class="table-wrap"><table class="{esc(css)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )

    @staticmethod
    def facts(items: Iterable[tuple[str, str]]) -> str:
        """A definition list of label → HTML value."""
        inner = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items)
        return f'<dl class="facts">{inner}</dl>'

    # ------------------------------------------------------------------ the frame

    def main(self, snapshot: Snapshot, title: str, body: str) -> str:
        """The page's changing part (what a live update replaces)."""
        notices = "".join(f'<p class="problem">{esc(p)}</p>' for p in snapshot.problems)
        fed = snapshot.federation
        source = (
            f"Read from chain {fed.chain_id} at block {fed.block:,} and from the aggregator at "
            f"{esc(fed.aggregator)}"
            if fed is not None
            else "Reading the chain…"
        )
        return (
            f'<div class="page" data-version="{snapshot.version}">'
            f"<h1>{esc(title)}</h1>{notices}{body}"
            f'<p class="source">{source} · {self.time(snapshot.taken_at)} · '
            "read-only: this page holds no key and sends nothing</p></div>"
        )

    def page(self, snapshot: Snapshot, title: str, body: str, *, active: str) -> str:
        """A whole page: head, navigation and :meth:`main`."""
        nav = "".join(
            f'<a href="{esc(self.url(path))}"'
            + (' class="active" aria-current="page"' if path == active else "")
            + f">{esc(label)}</a>"
            for path, label in NAV
        )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)} · fedledger dashboard</title>"
            f'<link rel="stylesheet" href="{esc(self.url("/assets/dashboard.css"))}">'
            f'<script src="{esc(self.url("/assets/dashboard.js"))}" defer></script>'
            f'</head><body data-events="{esc(self.url("/events"))}">'
            f'<header><a class="brand" href="{esc(self.url("/"))}">fedledger</a>'
            f'<nav aria-label="views">{nav}</nav>'
            '<span id="live" class="live" aria-live="polite">static</span></header>'
            f'<main id="main">{self.main(snapshot, title, body)}</main></body></html>'
        )
