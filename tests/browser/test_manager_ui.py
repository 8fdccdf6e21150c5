"""The manager's web UI in a real browser against a real 3-host lab (issue 8's browser tests)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from hosted_engine.lab.cluster import Lab, engine_healthy
from tests.browser.conftest import HOSTS
from tests.integration.conftest import cli, wait_for

pytestmark = pytest.mark.lab


def log_in(page: Any, lab: Lab) -> None:
    status = lab.status()
    page.goto(status["manager_url"] + "login")
    page.get_by_label("User name").fill(status["admin_user"])
    page.get_by_label("Password").fill(status["admin_password"])
    page.get_by_role("button", name="Log In").click()
    page.wait_for_url(re.compile(r"/hosts$"))


def rows(page: Any) -> Any:
    return page.locator("#hosts tbody tr")


def test_log_in_and_see_every_host_with_its_ha_wording(page: Any, lab: Lab) -> None:
    log_in(page, lab)
    active = rows(page).filter(has_text=re.compile(r"Hosted Engine HA: Active \(Score: \d+\)"))
    active.nth(HOSTS - 1).wait_for()
    assert rows(page).count() == HOSTS
    engine = lab.engine_host()
    marked = rows(page).filter(has=page.locator(".crown"))
    assert marked.count() == 1 and f"host{engine}.lab" in marked.inner_text()


def test_global_maintenance_from_a_host_shows_the_banner_and_on_every_host(
    page: Any, lab: Lab
) -> None:
    log_in(page, lab)
    rows(page).first.wait_for()
    try:
        rows(page).first.get_by_role("button", name="Enable Global HA Maintenance").click()
        page.locator("#banner").wait_for(state="visible")
        for host_id in range(1, HOSTS + 1):
            wait_for(
                lambda h=host_id: "GLOBAL MAINTENANCE" in cli(lab, h, "--vm-status").stdout,
                15,
                f"host {host_id} to show global maintenance",
            )
        button = rows(page).first.get_by_role("button", name="Disable Global HA Maintenance")
        button.wait_for()
        assert button.is_enabled()
        button.click()
        page.locator("#banner").wait_for(state="hidden")
    finally:
        cli(lab, 1, "--set-maintenance", "--mode=none")


def test_a_memory_edit_is_on_every_host_when_the_answer_comes(page: Any, lab: Lab) -> None:
    log_in(page, lab)
    page.goto(lab.status()["manager_url"] + "vm")
    memory = page.locator("input[name=memSize]")
    wait_for(lambda: memory.input_value() != "", 15, "the form to be filled")
    wanted = int(memory.input_value()) + 64
    memory.fill(str(wanted))
    with page.expect_response(lambda r: r.request.method == "PUT") as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.ok
    for host_id in range(1, HOSTS + 1):  # at once: no waiting for a refresh period
        shown = json.loads(cli(lab, host_id, "--show-vm-definition", "--json").stdout)
        assert shown["memSize"] == wanted, f"host {host_id}"
    page.get_by_text("applies at the engine VM's next start").wait_for()


def test_maintenance_on_the_engine_host_moves_the_engine_first(page: Any, lab: Lab) -> None:
    """The engine's host offers "Maintenance (move the engine first)": the engine moves
    (the manager serving the page moves with it) and that host ends in local maintenance,
    shown as such once the page polls the manager on its new VM."""
    log_in(page, lab)
    runner = wait_for(lab.engine_host, 30, "an engine host")
    row = rows(page).filter(has_text=f"host{runner}.lab")
    move = row.get_by_role("button", name="Maintenance (move the engine first)")
    move.wait_for()
    try:
        with page.expect_response(lambda r: "/deactivate" in r.url) as answer:
            move.click()
        assert answer.value.status == 202, answer.value.text()
        row.filter(has_text="Local Maintenance Enabled").wait_for(timeout=60_000)
        assert lab.engine_host() not in (None, runner)
        assert rows(page).filter(has=page.locator(".crown")).count() == 1
        assert (
            "Local Maintenance Enabled"
            not in rows(page).filter(has=page.locator(".crown")).inner_text()
        )
        row.get_by_role("button", name="Activate").click()
        row.filter(has_text=re.compile(r"Hosted Engine HA: Active")).wait_for(timeout=30_000)
    finally:
        cli(lab, runner, "--set-maintenance", "--mode=none")
        wait_for(lambda: engine_healthy(lab.manifest.engine_url), 60, "the engine healthy")


def test_the_page_comes_back_on_the_new_engine_vm_still_logged_in(page: Any, lab: Lab) -> None:
    """Kill the engine's host with the hosts page open: without a reload the page marks the
    new engine host (it polls), the session still holds, and the events are the same."""
    log_in(page, lab)
    page.goto(lab.status()["manager_url"] + "events")
    before = page.locator("#events tbody tr").all_inner_texts()
    assert before, "no events yet"
    page.goto(lab.status()["manager_url"] + "hosts")
    runner = wait_for(lab.engine_host, 30, "an engine host")
    crown = rows(page).filter(has=page.locator(".crown"))
    crown.filter(has_text=f"host{runner}.lab").wait_for()
    lab.kill_host(runner)
    try:
        wait_for(
            lambda: (
                lab.engine_host() not in (None, runner) and engine_healthy(lab.manifest.engine_url)
            ),
            60,
            "the engine up on another host",
        )
        new = lab.engine_host()
        crown.filter(has_text=f"host{new}.lab").wait_for(timeout=30_000)  # no reload
        assert re.search(r"/hosts$", page.url), page.url
        page.goto(lab.status()["manager_url"] + "events")
        assert re.search(r"/events$", page.url), page.url  # still logged in
        after = page.locator("#events tbody tr").all_inner_texts()
        assert set(before) <= set(after)  # the same events, and newer ones
    finally:
        lab.start_host(runner)
