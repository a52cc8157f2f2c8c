"""The dashboard in a real browser (Debian's headless Chromium): during a live embedded federation
the rounds table fills in as rounds publish and the verdicts appear, without a reload; a stored
update altered afterwards turns its round to failed, naming the participant; the models page
shows the on-chain hash and its download verifies; every view renders, also on a narrow
screen, loading nothing from elsewhere. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from live_federation import Live

import fedledger_crypto as fc
from fedledger_platform.aggregator.server import ServerThread
from fedledger_platform.dashboard import Dashboard, DashboardConfig, create_dashboard_app
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage import BlobStore

pytestmark = pytest.mark.slow

T = TypeVar("T")
ROUNDS = 3


def until(what: str, probe: Callable[[], T | None], timeout_s: float = 180.0) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


_ROWS_JS = """
return Array.from(document.querySelectorAll("table.rounds tbody tr[id^=round-]")).map(
  row => [row.id, ...["state", "verdict", "committed", "included"].map(
    name => row.querySelector("." + name).textContent.trim())]);
"""


def rows(browser: Any) -> dict[int, dict[str, str]]:
    """The rounds table as the browser shows it: round → state, verdict, committed, included
    (read in one script: live updates replace the table between two element lookups)."""
    return {
        int(row_id.removeprefix("round-")): dict(
            zip(("state", "verdict", "committed", "included"), cells, strict=True)
        )
        for row_id, *cells in browser.execute_script(_ROWS_JS)
    }


def test_rounds_table_fills_in_live_and_verdicts_appear(
    live: Live, browser: Any, artifacts: Path
) -> None:
    # Prepare: open the timeline while the federation starts; mark the document
    browser.get(f"{live.url}/dashboard/rounds")
    browser.execute_script("window.notReloaded = true;")
    until("the live stream", lambda: browser.find_element("id", "live").text == "live", 30)

    # Execute: watch the table until every round is published and passed its audit
    seen: list[int] = []

    def finished() -> bool:
        table = rows(browser)
        seen.append(len(table))
        return len(table) == ROUNDS and all(
            r["state"] == "published" and r["verdict"] == "pass" for r in table.values()
        )

    until("every round published and audited", finished, timeout_s=300)
    run = live.wait_done()

    # Assert: rows appeared one by one, in the same document, and agree with the chain
    assert seen[0] < ROUNDS and seen == sorted(seen), seen
    assert browser.execute_script("return window.notReloaded === true;")
    for number, shown in rows(browser).items():
        info = run.ledger.get_round(number)
        assert info.status is RoundPhase.PUBLISHED
        assert shown["committed"] == shown["included"] == str(info.included_count) == "3"
    model = browser.find_element("css selector", "#round-1 code.hash[data-hash]")
    assert model.get_attribute("data-hash") == fc.hash_hex(run.ledger.get_round(1).aggregate_hash)
    browser.save_screenshot(str(artifacts / "rounds-live.png"))


def test_model_page_hash_is_the_on_chain_hash_and_the_download_verifies(
    live: Live, browser: Any, artifacts: Path
) -> None:
    # Prepare: the dashboard's snapshot may trail the federation's end by one pass
    run = live.wait_done()

    def every_model_listed() -> bool:
        browser.get(f"{live.url}/dashboard/models")
        return bool(browser.find_elements("id", f"model-hash-{ROUNDS}"))

    until("every published model on the models page", every_model_listed, 60)

    for number in range(1, ROUNDS + 1):
        # Execute: the hash shown and the bytes behind the page's checked download link
        on_chain = fc.hash_hex(run.ledger.get_round(number).published_model_hash)
        shown = browser.find_element("id", f"model-hash-{number}").text
        link = browser.find_element("id", f"download-{number}").get_attribute("href")
        response = httpx.get(link, timeout=60)

        # Assert
        assert response.status_code == 200
        assert shown == on_chain
        assert fc.hash_hex(fc.keccak256(response.content)) == on_chain
        assert response.headers["x-fedledger-hash"] == on_chain
    commands = browser.find_element("id", "verify-commands").text
    assert f"/v1/models/{on_chain}" in commands
    browser.save_screenshot(str(artifacts / "models.png"))


def test_a_tampered_update_fails_its_round_naming_the_participant(
    live: Live, browser: Any, artifacts: Path
) -> None:
    # Prepare: an independent dashboard of the same federation (as `fedledger dashboard`
    # serves it) that audits every round again each second
    run = live.wait_done()
    config = DashboardConfig(
        from_block=run.deployment.block_number, auditor=run.auditor, reaudit_s=1.0
    )
    app = create_dashboard_app(Dashboard(run.ledger, run.aggregator_url, config))
    with ServerThread(app) as server:
        try:
            browser.get(f"{server.url}/dashboard/rounds/2")
            until("round 2 to pass", lambda: _verdict(browser) == "pass", 120)
            victim = browser.find_element("css selector", "table.contributions tbody tr")
            participant = victim.find_element("css selector", "a.address").get_attribute(
                "data-address"
            )
            commitment = victim.find_element("css selector", "code.hash").get_attribute("data-hash")
            stored = BlobStore(run.spec.out / "blobs").path(fc.hash_from_hex(commitment))
            original = stored.read_bytes()

            # Execute: flip one byte of the stored update, after the round was judged
            stored.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
            try:
                until("round 2 to fail", lambda: _verdict(browser) == "fail", 120)
                failures = [li.text for li in browser.find_elements("css selector", "li.failure")]
                browser.save_screenshot(str(artifacts / "round-tampered.png"))
                browser.get(f"{server.url}/dashboard/rounds")
                timeline = rows(browser)
            finally:
                stored.write_bytes(original)

            # Assert: the round fails, naming the participant; the others still pass
            assert any(
                line.startswith(f"FAIL round 2 update participant {participant}")
                for line in failures
            ), failures
            assert timeline[2]["verdict"] == "fail"
            assert timeline[1]["verdict"] == timeline[3]["verdict"] == "pass"
        finally:
            browser.get("about:blank")  # closes the page's event stream before the server stops


def _verdict(browser: Any) -> str | None:
    found = browser.find_elements("css selector", "#verdict .badge")
    return found[0].text if found else None


VIEWS = {
    "overview": "/dashboard/",
    "rounds": "/dashboard/rounds",
    "round": "/dashboard/rounds/1",
    "metrics": "/dashboard/metrics",
    "participants": "/dashboard/participants",
    "models": "/dashboard/models",
}


def test_every_view_renders_offline_also_on_a_narrow_screen(
    live: Live, browser: Any, artifacts: Path
) -> None:
    run = live.wait_done()
    participant = next(iter(run.balances))
    views = {**VIEWS, "participant": f"/dashboard/participants/{participant}"}
    until(
        "the metric curves",
        lambda: "no data yet" not in httpx.get(f"{live.url}/dashboard/metrics", timeout=30).text,
        120,
    )
    for width, height, suffix in ((1280, 900, "wide"), (390, 844, "narrow")):
        browser.set_window_size(width, height)
        for name, path in views.items():
            # Execute
            browser.get(live.url + path)
            title = browser.find_element("css selector", "main h1").text
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth;"
            )
            elsewhere = browser.execute_script(
                "return performance.getEntriesByType('resource')"
                ".map(e => e.name).filter(u => !u.startsWith(location.origin));"
            )
            browser.save_screenshot(str(artifacts / f"{name}-{suffix}.png"))

            # Assert: a titled page, no sideways scrolling, nothing fetched from elsewhere
            assert title, name
            assert overflow <= 1, f"{name} at {width} px is {overflow} px too wide"
            assert elsewhere == [], elsewhere
    browser.set_window_size(1280, 900)
    browser.get(live.url + "/dashboard/metrics")
    charts = browser.find_elements("css selector", "#chart-accuracy svg.chart circle.point")
    assert len(charts) == ROUNDS + 1  # the initial model and every published one
    axes = [t.text for t in browser.find_elements("css selector", "#chart-accuracy .axis-title")]
    assert axes == ["round (0 = the initial model)", "accuracy (higher is better)"]
    response = httpx.get(f"{live.url}/dashboard/", timeout=30)
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
