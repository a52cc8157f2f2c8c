"""Fixtures of the dashboard's browser tests: Debian's headless Chromium driven by Selenium
through Debian's chromedriver (installed with apt-get when missing, like PostgreSQL), a live
embedded federation whose aggregator serves the dashboard, and the folder screenshots go to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apt_packages import apt_install
from live_federation import Live

ROOT = Path(__file__).resolve().parents[2]
#: Screenshots of every view, written by the tests (git-ignored).
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Without these, Chromium on a machine with no outside network hangs on background fetches.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def _install_chromium() -> None:
    """Install Debian's chromium and chromium-driver (CI machines may lack them)."""
    apt_install(
        ["chromium", "chromium-driver"], lambda: CHROMIUM.is_file() and CHROMEDRIVER.is_file()
    )


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed when missing."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        _install_chromium()
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium session with a fresh profile, 1280×900."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the screenshots go."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Sentiment, 3 clients, 3 rounds on the embedded chain, the real aggregator (with its
    dashboard auditing as the deployment's auditor) on a loopback port."""
    from fedledger_app.federation import FederationRun, FederationSpec, run_federation

    state = Live()
    spec = FederationSpec(
        task="sentiment", clients=3, rounds=3, out=tmp_path_factory.mktemp("federation")
    )

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "stage" and "aggregator" in data:
            state.url = str(data["aggregator"])
            state.serving.set()

    def hold(run: FederationRun) -> None:
        state.run = run
        state.done.set()
        state.released.wait(600)

    def main() -> None:
        try:
            run_federation(spec, progress=on_event, on_complete=hold)
        except BaseException as exc:
            state.error = exc
        finally:
            state.serving.set()
            state.done.set()

    thread = threading.Thread(target=main, name="live-federation", daemon=True)
    thread.start()
    assert state.serving.wait(120), "the aggregator did not start"
    if state.error is not None:
        raise AssertionError(f"the federation failed to start: {state.error!r}")
    try:
        yield state
    finally:
        state.release()
        thread.join(120)
