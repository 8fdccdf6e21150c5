"""Integration: the shared configuration on a real 3-host lab (its own lab, this module's).

Sets through the CLI on one host are read on another, every broker installs them in its
cache, the next state-transition mail uses a changed SMTP port, the engine VM is started
from the cached definition, and a broken archive keeps the cache and costs the config
penalty until it is repaired.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.config.host import load_host_config
from hosted_engine.lab.cluster import Lab, engine_healthy
from hosted_engine.lab.layout import host_config_path, host_state_dir
from hosted_engine.storage.config_archive import ConfigArchive
from tests.integration.conftest import (
    VmSampler,
    cli,
    processes,
    wait_for,
)
from tests.netpeers import SmtpSink

pytestmark = pytest.mark.lab

HOSTS = (1, 2, 3)


def set_config(lab: Lab, host_id: int, *args: str) -> None:
    result = cli(lab, host_id, "--set-shared-config", *args)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def cached(lab: Lab, host_id: int, name: str) -> str:
    return (host_state_dir(lab.dir, host_id) / name).read_text()


def config_health(lab: Lab, host_id: int) -> dict[str, Any]:
    health: dict[str, Any] = lab.client(host_id).broker_health()["config"]
    return health


CONFIG_PENALTY = "config not up to date"


def config_penalised(lab: Lab) -> dict[int, bool]:
    """Whether each host's published score carries the config penalty, by name: the score
    alone also moves with the CPU-load penalty, which a loaded machine makes large."""
    view = json.loads(cli(lab, 1, "--vm-status", "--explain", "--json").stdout)
    return {
        int(h): any(what == CONFIG_PENALTY and points > 0 for what, points in e["penalties"])
        for h, e in view.items()
    }


def archive_of(lab: Lab) -> ConfigArchive:
    return ConfigArchive.in_domain(load_host_config(host_config_path(lab.dir, 1)).ha_dir)


def test_a_set_on_one_host_is_read_on_another_and_cached_everywhere(
    lab: Lab, sampler: VmSampler
) -> None:
    set_config(lab, 1, "source-email", "ha@lab.example")
    got = cli(lab, 2, "--get-shared-config", "source-email")
    assert got.stdout == "\nsource-email : ha@lab.example, type : broker\n\n"
    # the writer's own broker refreshed at once; the others within a refresh period
    assert "source-email = ha@lab.example" in cached(lab, 1, "broker.conf")
    for host_id in (2, 3):
        wait_for(
            lambda h=host_id: "source-email = ha@lab.example" in cached(lab, h, "broker.conf"),
            10,
            f"host {host_id}'s cache to hold the new setting",
        )
    max_age = load_host_config(host_config_path(lab.dir, 1)).timing.config_max_age
    for host_id in HOSTS:
        health = config_health(lab, host_id)
        assert health["error"] is None and health["age"] <= max_age


def _next_mail_from(sink: SmtpSink, host_id: int) -> str:
    """The next mail of ``host_id``'s transitions (other hosts may mail too)."""
    while True:
        mail: str = sink.received.get(timeout=30).content.decode()
        if f"host{host_id}.lab" in mail:
            return mail


def test_an_smtp_port_set_takes_effect_at_the_next_transition(
    lab: Lab, sampler: VmSampler, start_smtp: Callable[[], SmtpSink]
) -> None:
    first, second = start_smtp(), start_smtp()
    runner = wait_for(lab.engine_host, 30, "an engine host")
    other, third = (h for h in HOSTS if h != runner)
    set_config(lab, other, "smtp-server", "127.0.0.1")
    set_config(lab, other, "destination-emails", "admin@lab")
    set_config(lab, other, "smtp-port", str(first.port))

    assert cli(lab, other, "--set-maintenance", "--mode=local").returncode == 0
    mail = _next_mail_from(first, other)
    assert "Subject: ovirt-hosted-engine state transition EngineDown-LocalMaintenance" in mail
    assert "To: admin@lab" in mail

    # changed from another host: the broker of `other` picks it up within a period
    set_config(lab, third, "smtp-port", str(second.port))
    wait_for(
        lambda: f"smtp-port = {second.port}" in cached(lab, other, "broker.conf"),
        10,
        "the new port in the cache",
    )
    assert cli(lab, other, "--set-maintenance", "--mode=none").returncode == 0
    mail = _next_mail_from(second, other)
    assert "state transition LocalMaintenance-" in mail
    leftovers = [e.content.decode() for e in list(first.received.queue)]
    assert all(f"host{other}.lab" not in m for m in leftovers)
    set_config(lab, other, "smtp-server", "localhost")


def _definition_of_running_vm(lab: Lab, host_id: int) -> dict[str, str] | None:
    for proc in processes.host_processes(lab.dir, host_id)["vm"]:
        try:
            args = proc.cmdline()
        except Exception:
            continue
        for arg in args:
            if arg.startswith("--definition="):
                values: dict[str, str] = json.loads(arg.partition("=")[2])
                return values
    return None


def test_the_engine_vm_starts_from_the_cached_definition(lab: Lab, sampler: VmSampler) -> None:
    refused = cli(lab, 2, "--set-shared-config", "memSize", "320")
    assert refused.returncode == 1 and "add --force" in refused.stderr
    set_config(lab, 2, "memSize", "320", "--force")
    for host_id in HOSTS:
        wait_for(
            lambda h=host_id: "memSize=320" in cached(lab, h, "vm.conf"),
            10,
            f"host {host_id}'s cached vm.conf",
        )
    runner = wait_for(lab.engine_host, 30, "an engine host")
    lab.kill_vm(runner)

    def restarted() -> dict[str, str] | None:
        host = lab.engine_host()
        return None if host is None else _definition_of_running_vm(lab, host)

    definition = wait_for(restarted, 60, "the engine VM started again")
    assert definition["memSize"] == "320"
    wait_for(lambda: engine_healthy(lab.manifest.engine_url), 30, "a healthy engine")
    set_config(lab, 2, "memSize", "256", "--force")


def test_a_broken_archive_keeps_the_cache_and_costs_the_config_penalty(
    lab: Lab, sampler: VmSampler
) -> None:
    """Global maintenance first: every host takes the same 1000-point penalty, but not at the
    same instant, and an engine host that sees only its own drop would hand the VM over."""
    assert cli(lab, 1, "--set-maintenance", "--mode=global").returncode == 0
    archive = archive_of(lab)
    good = archive.path.read_bytes()
    cache_before = {h: cached(lab, h, "vm.conf") for h in HOSTS}
    broken = archive.path.with_name("broken.tmp")
    broken.write_bytes(b"not a tar archive")
    os.replace(broken, archive.path)
    try:
        for host_id in HOSTS:
            wait_for(lambda h=host_id: config_health(lab, h)["error"], 10, "the error reported")
        wait_for(
            lambda: all(config_penalised(lab).values()),
            30,
            "every host to take the config penalty",
        )
        assert {h: cached(lab, h, "vm.conf") for h in HOSTS} == cache_before
        assert all(processes.host_processes(lab.dir, h)["broker"] for h in HOSTS)
        bad = cli(lab, 1, "--get-shared-config", "smtp-port")
        assert bad.returncode == 1 and "not a valid tar archive" in bad.stderr
    finally:
        repaired = archive.path.with_name("repaired.tmp")
        repaired.write_bytes(good)
        os.replace(repaired, archive.path)
    wait_for(
        lambda: all(config_health(lab, h)["error"] is None for h in HOSTS), 10, "a clean refresh"
    )
    wait_for(
        lambda: not any(config_penalised(lab).values()),
        30,
        "the penalty to go away",
    )
    assert engine_healthy(lab.manifest.engine_url)


def test_no_host_reads_the_domain_vm_conf(lab: Lab) -> None:
    """The definition lives in the archive only; agents read their broker's cache."""
    ha_dir: Path = archive_of(lab).path.parent
    assert not (ha_dir / "vm.conf").exists()
    for host_id in HOSTS:
        config = load_host_config(host_config_path(lab.dir, host_id))
        assert config.vm_conf_path == host_state_dir(lab.dir, host_id) / "vm.conf"
