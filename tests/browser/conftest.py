"""Browser tests: Debian's chromium, headless, driven by Playwright against a real 3-host lab.

Playwright's own browser download cannot work here, so the system chromium is launched by
path; without it (or without Playwright) the tests are skipped with the reason. A failing
test leaves screenshots of the page in its temp dir.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.lab.cluster import Lab

HOSTS = 3
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    the_lab = Lab.up(tmp_path_factory.mktemp("lab"), HOSTS, "fast", timeout=120)
    try:
        yield the_lab
    finally:
        the_lab.down()
        assert not the_lab.running_processes(), "the lab left processes running"


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (make test installs Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            screenshots(page, tmp_path)
        context.close()


MAIN_PAGES = ("hosts", "vm", "shared-config", "events")


def screenshots(page: Any, directory: Path) -> None:
    """The page as the failure left it, then each main page (where the manager answers)."""
    page.screenshot(path=str(directory / "failure.png"), full_page=True)
    base = page.url.split("/", 3)
    if len(base) < 3:
        return
    for name in MAIN_PAGES:
        try:
            page.goto(f"{base[0]}//{base[2]}/{name}", timeout=5_000)
            page.screenshot(path=str(directory / f"{name}.png"), full_page=True)
        except Exception:  # the manager may be what failed: keep what was taken
            continue


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
