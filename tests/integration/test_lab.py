"""Integration: real brokers, agents and engine VMs on a 3-host lab, killed for real."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from hosted_engine.files import keyvalue
from hosted_engine.lab import sanlock_daemons
from hosted_engine.lab.cluster import Lab, engine_healthy
from hosted_engine.lab.layout import host_config_path, host_log_dir, host_state_dir
from tests.integration.conftest import (
    BOTH_LEASE_BACKENDS,
    VmSampler,
    cli,
    host_death_takeover,
    host_states,
    processes,
    wait_for,
)
from tests.netpeers import SmtpSink

pytestmark = [pytest.mark.lab, BOTH_LEASE_BACKENDS]


def engine_pid(lab: Lab) -> int | None:
    vms = lab.engine_vms()
    return vms[0].pid if len(vms) == 1 else None


def last_start(lab: Lab, host_id: int) -> dict[str, object] | None:
    """The newest history entry, if it is the engine starting on ``host_id``."""
    result = cli(lab, host_id, "--history", "--json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    last = entries[-1] if entries else None
    ok = last is not None and last["event"] == "started" and last["host_id"] == host_id
    return last if ok else None


def test_engine_comes_up_exactly_once(lab: Lab, sampler: VmSampler) -> None:
    runner = wait_for(lab.engine_host, 30, "an engine host")

    def settled() -> dict[int, str] | None:
        # the hosts that lost the start race pass through EngineStart on their way down
        states = {h: s["state"] for h, s in host_states(lab).items()}
        others = [states[h] for h in states if h != runner]
        ok = states[runner] == "EngineUp" and all(s == "EngineDown" for s in others)
        return states if ok else None

    states = wait_for(settled, 30, "one host in EngineUp and the others in EngineDown")
    assert [h for h, s in states.items() if s == "EngineUp"] == [runner]
    assert len(lab.engine_vms()) == 1
    env = lab.engine_vms()[0].environ()
    assert env["HOSTED_ENGINE_HOST_ID"] == str(runner)


def seen_healthy_everywhere(lab: Lab, runner: int) -> bool:
    """Every host's broker shows ``runner``'s engine up and healthy (so each one knows
    when the engine was last up: the history's downtime starts there)."""
    for host_id in range(1, 4):
        view = json.loads(cli(lab, host_id, "--vm-status", "--json").stdout)
        engine = view.get(str(runner), {}).get("engine-status", {})
        if not (engine.get("vm") == "up" and engine.get("health") == "good"):
            return False
    return True


def standing_by(lab: Lab, runner: int) -> int | None:
    """A host in EngineDown scoring within the switchover margin of the engine's host."""
    states = host_states(lab)
    floor = (states[runner]["score"] or 0) - 800
    for host_id, host in sorted(states.items()):
        if host_id != runner and host["state"] == "EngineDown" and (host["score"] or 0) >= floor:
            return host_id
    return None


@pytest.mark.slow_with_sanlock
def test_killed_engine_host_fails_over(lab: Lab, sampler: VmSampler) -> None:
    old = wait_for(lab.engine_host, 30, "an engine host")
    wait_for(lambda: seen_healthy_everywhere(lab, old), 30, "the engine seen healthy everywhere")
    lab.kill_host(old)
    killed_at = time.monotonic()
    new = wait_for(
        lambda: (h := lab.engine_host()) not in (None, old) and h,
        host_death_takeover(lab),
        "another engine host",
    )
    print(
        f"{lab.manifest.leases}: engine host {old} killed, host {new} took over after "
        f"{time.monotonic() - killed_at:.1f} s"
    )
    wait_for(lambda: engine_healthy(lab.manifest.engine_url), 30, "a healthy engine")
    assert lab.engine_vms()[0].environ()["HOSTED_ENGINE_HOST_ID"] == str(new)
    entry = wait_for(lambda: last_start(lab, new), 30, "the failover in the history")
    assert (entry["cause"], entry["from_host"]) == ("host lost", old)
    assert isinstance(entry["downtime"], float) and entry["downtime"] > 0
    assert "host lost" in cli(lab, new, "--history").stdout
    lab.start_host(old)


def test_killed_vm_comes_back(lab: Lab, sampler: VmSampler) -> None:
    wait_for(lambda: engine_healthy(lab.manifest.engine_url), 30, "a healthy engine")
    runner = wait_for(lab.engine_host, 30, "an engine host")
    old_pid = engine_pid(lab)
    lab.kill_vm(runner)
    wait_for(lambda: engine_pid(lab) not in (None, old_pid), 30, "a new engine VM")
    wait_for(lambda: engine_healthy(lab.manifest.engine_url), 30, "a healthy engine")
    new = wait_for(lab.engine_host, 30, "the new engine host")
    entry = wait_for(lambda: last_start(lab, new), 30, "the restart in the history")
    assert (entry["cause"], entry["from_host"]) == ("VM crashed", runner)


def test_global_maintenance_keeps_a_killed_vm_down(lab: Lab, sampler: VmSampler) -> None:
    assert cli(lab, 1, "--set-maintenance", "--mode=global").returncode == 0
    wait_for(
        lambda: all(s["state"] == "GlobalMaintenance" for s in host_states(lab).values()),
        30,
        "every agent in GlobalMaintenance",
    )
    status = cli(lab, 2, "--vm-status")
    assert "!! Cluster is in GLOBAL MAINTENANCE mode !!" in status.stdout
    lab.kill_vm(wait_for(lab.engine_host, 30, "an engine host"))
    # An observation window, not synchronisation: eight agent loops (fast profile: 0.5 s)
    # must pass without anyone restarting the VM.
    window_end = time.monotonic() + 8 * 0.5
    while time.monotonic() < window_end:
        assert not lab.engine_vms(), "an agent restarted the VM in global maintenance"
        time.sleep(0.1)
    assert cli(lab, 3, "--set-maintenance", "--mode=none").returncode == 0
    wait_for(lambda: engine_healthy(lab.manifest.engine_url), 30, "the engine back")


def test_local_maintenance(lab: Lab, sampler: VmSampler) -> None:
    runner = wait_for(lab.engine_host, 30, "an engine host")
    refused = cli(lab, runner, "--set-maintenance", "--mode=local")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "Unable to enter local maintenance mode: the engine VM is running on the current "
        "host, please migrate it before entering local maintenance mode."
    )
    other = next(h for h in range(1, 4) if h != runner)
    assert cli(lab, other, "--set-maintenance", "--mode=local").returncode == 0
    wait_for(
        lambda: (
            host_states(lab)[other]["state"] == "LocalMaintenance"
            and host_states(lab)[other]["score"] == 0
        ),
        30,
        "LocalMaintenance with score 0",
    )

    def seen_from_the_engine_host() -> bool:
        # each broker reads the whiteboard on its own period: wait for this one's view
        status = json.loads(cli(lab, runner, "--vm-status", "--json").stdout)
        record = status[str(other)]
        return record["maintenance"] is True and record["score"] == 0

    wait_for(seen_from_the_engine_host, 30, "the engine host to see the local maintenance")
    assert cli(lab, other, "--set-maintenance", "--mode=none").returncode == 0
    wait_for(lambda: host_states(lab)[other]["state"] == "EngineDown", 30, "EngineDown again")


def test_stale_hosts_shown_stale_with_the_local_agent_stopped(lab: Lab, sampler: VmSampler) -> None:
    runner = wait_for(lab.engine_host, 30, "an engine host")
    observer, victim = (h for h in range(1, 4) if h != runner)
    lab.stop_agent(observer)
    lab.kill_host(victim)

    def view() -> dict[str, object]:
        result = cli(lab, observer, "--vm-status", "--json")
        assert result.returncode == 0, result.stderr
        parsed: dict[str, object] = json.loads(result.stdout)
        return parsed

    def victim_stale() -> dict[str, object] | None:
        v = view()
        return v if v[str(victim)]["live-data"] is False else None  # type: ignore[index]

    seen = wait_for(victim_stale, 30, f"host {victim} to be shown stale")
    assert seen[str(runner)]["live-data"] is True  # type: ignore[index]
    assert seen[str(observer)]["live-data"] is True  # type: ignore[index]
    text = cli(lab, observer, "--vm-status").stdout
    assert "unknown stale-data" in text
    # the observer's own record says its agent is not there and it must not be elected
    assert seen[str(observer)]["score"] == 0  # type: ignore[index]


def test_duplicate_host_id_is_refused(lab: Lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Another host configured with host 1's id (with sanlock: a host with its own
    daemon, refused once it sees id 1's delta lease renewed, not after sanlock's 68 s)."""
    original = host_config_path(lab.dir, 1)
    clone = tmp_path / "clone.conf"
    shutil.copy(original, clone)
    keyvalue.update(clone, {"run_dir": str(tmp_path / "run"), "log_dir": str(tmp_path / "log")})
    if lab.manifest.leases == "sanlock":
        run_dir = tmp_path / "sanlock"
        name = sanlock_daemons.host_name(tmp_path, 1)
        sanlock_daemons.start(run_dir, name, tmp_path / "sanlock.log")
        keyvalue.update(clone, {"sanlock_run_dir": str(run_dir)})
    try:
        result = subprocess.run(
            [sys.executable, "-m", "hosted_engine.broker.daemon", "--config", str(clone)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        if lab.manifest.leases == "sanlock":
            sanlock_daemons.stop(run_dir)
    assert result.returncode == 1
    assert "host id 1 is already held" in result.stderr
    assert "Traceback" not in result.stderr


def test_clean_metadata_never_cleans_a_live_host(lab: Lab) -> None:
    result = cli(lab, 1, "--clean-metadata", "--host-id=2", "--force-cleanup")
    assert result.returncode == 1
    assert "Host 2 is live" in result.stderr
    status = json.loads(cli(lab, 1, "--vm-status", "--json").stdout)
    assert "2" in status


def test_state_transitions_are_mailed(
    lab: Lab, sampler: VmSampler, start_smtp: Callable[[], SmtpSink]
) -> None:
    """broker.conf points a host at a real SMTP server; its next transitions arrive there."""
    sink = start_smtp()
    runner = wait_for(lab.engine_host, 30, "an engine host")
    other = next(h for h in range(1, 4) if h != runner)
    (host_state_dir(lab.dir, other) / "broker.conf").write_text(
        f"[email]\nsmtp-server = 127.0.0.1\nsmtp-port = {sink.port}\n"
        "source-email = ha@lab\ndestination-emails = admin@lab\n"
    )
    assert cli(lab, other, "--set-maintenance", "--mode=local").returncode == 0
    mail = sink.received.get(timeout=30).content.decode()
    assert "Subject: ovirt-hosted-engine state transition EngineDown-LocalMaintenance" in mail
    assert f"host{other}.lab" in mail
    assert "To: admin@lab" in mail


def test_agent_restart_leaves_the_engine_vm_running(lab: Lab, sampler: VmSampler) -> None:
    wait_for(lambda: engine_healthy(lab.manifest.engine_url), 30, "a healthy engine")
    runner = wait_for(lab.engine_host, 30, "an engine host")
    pid = engine_pid(lab)
    lab.stop_agent(runner)
    assert engine_pid(lab) == pid and lab.engine_host() == runner
    lab.start_host(runner)
    wait_for(lambda: host_states(lab)[runner]["state"] == "EngineUp", 30, "EngineUp again")
    assert engine_pid(lab) == pid  # the same VM process, never restarted


def test_frozen_engine_host_is_stale_but_its_vm_is_never_doubled(
    lab: Lab, sampler: VmSampler
) -> None:
    """SIGSTOP the engine host's daemons: it goes stale, but its VM still holds the lease."""
    import signal

    runner = wait_for(lab.engine_host, 30, "an engine host")
    observer = next(h for h in range(1, 4) if h != runner)
    procs = processes.host_processes(lab.dir, runner)
    daemons = procs["broker"] + procs["agent"]
    processes.signal_all(daemons, signal.SIGSTOP)
    try:

        def runner_stale() -> bool:
            view = json.loads(cli(lab, observer, "--vm-status", "--json").stdout)
            return view[str(runner)]["live-data"] is False

        wait_for(runner_stale, 30, f"host {runner} to be shown stale")
        # several loops with the engine host stale: nobody may start a second VM
        window_end = time.monotonic() + 8 * 0.5
        while time.monotonic() < window_end:
            assert len(lab.engine_vms()) == 1
            time.sleep(0.1)
        assert engine_healthy(lab.manifest.engine_url)
    finally:
        processes.signal_all(daemons, signal.SIGCONT)


def test_every_broker_serves_its_metrics(lab: Lab, sampler: VmSampler) -> None:
    """Scraped over HTTP and read with prometheus-client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    wait_for(lambda: engine_healthy(lab.manifest.engine_url), 30, "a healthy engine")
    runner = wait_for(lab.engine_host, 30, "an engine host")

    def scrape(host_id: int) -> dict[str, list[tuple[dict[str, str], float]]]:
        url = lab.manifest.metrics_url(host_id)
        assert url is not None
        text = httpx.get(url, timeout=5).text
        return {
            f.name: [(s.labels, s.value) for s in f.samples]
            for f in text_string_to_metric_families(text)
        }

    def engine_host_metrics() -> dict[str, list[tuple[dict[str, str], float]]] | None:
        m = scrape(runner)
        ok = m["hosted_engine_agent_state"] == [({"state": "EngineUp"}, 1.0)]
        ok = ok and m["hosted_engine_engine_health_good"] == [({}, 1.0)]
        return m if ok and m["hosted_engine_hosts_alive"] == [({}, 3.0)] else None

    m = wait_for(engine_host_metrics, 30, "the engine host's metrics: EngineUp, 3 hosts alive")
    assert m["hosted_engine_engine_vm_up"] == [({}, 1.0)]
    assert m["hosted_engine_lease_state"] == [({"state": "held"}, 1.0)]
    assert m["hosted_engine_score"][0][1] > 0
    assert {labels["monitor"] for labels, _ in m["hosted_engine_monitor_age_seconds"]} >= {
        "engine-health",
        "mem-free",
        "storage-domain",
    }
    assert m["hosted_engine_storage_read_seconds"][0][1] < 5
    for other in (h for h in range(1, 4) if h != runner):
        assert scrape(other)["hosted_engine_engine_vm_up"] == [({}, 0.0)]


def test_the_higher_priority_host_gets_the_engine(lab: Lab, sampler: VmSampler) -> None:
    """Two standbys within the restart margin of each other: the one with the higher
    ha_priority starts the engine, even when its score is a little lower."""
    if lab.manifest.leases == "sanlock":
        pytest.skip("the election does not depend on the lease backend")
    runner = wait_for(lab.engine_host, 30, "an engine host")
    favourite, other = (h for h in range(1, 4) if h != runner)
    done = cli(lab, favourite, "--set-shared-config", "ha_priority", "5", "--type=he_local")
    assert done.returncode == 0, done.stderr
    try:
        lab.stop_host(favourite)
        lab.start_host(favourite)

        def near_tie_seen_by_the_other() -> bool:
            """The other host must see the favourite live, near its own score, and with
            its priority (the CPU load of a busy machine moves scores a little)."""
            view = json.loads(cli(lab, other, "--vm-status", "--json").stdout)
            fav, mine = view[str(favourite)], view[str(other)]
            near = (
                fav["score"] > 0 and mine["score"] > 0 and abs(fav["score"] - mine["score"]) < 800
            )
            return bool(fav.get("live-data") and near and "ha_priority=5" in fav["extra"])

        wait_for(near_tie_seen_by_the_other, 30, f"host {other} to see host {favourite} near-tied")
        lab.kill_vm(runner)  # the old engine host sits out its penalty
        new = wait_for(
            lambda: (h := lab.engine_host()) not in (None, runner) and h, 30, "a new engine host"
        )
        assert new == favourite
        # not a lucky lease race: the other host stood back for it
        log = (host_log_dir(lab.dir, other) / "agent.log").read_text()
        assert f"host{favourite}.lab (id {favourite}) outranks me" in log
    finally:
        cli(lab, favourite, "--set-shared-config", "ha_priority", "0", "--type=he_local")
        lab.stop_host(favourite)
        lab.start_host(favourite)


def test_switchover_to_a_chosen_host_and_its_refusals(lab: Lab, sampler: VmSampler) -> None:
    wait_for(lambda: engine_healthy(lab.manifest.engine_url), 30, "a healthy engine")
    runner = wait_for(lab.engine_host, 30, "an engine host")
    wait_for(lambda: seen_healthy_everywhere(lab, runner), 30, "the engine seen healthy everywhere")
    # a host an earlier test left in EngineUnexpectedlyDown scores 0 for a while: a
    # switchover to it would be refused, rightly
    target = wait_for(lambda: standing_by(lab, runner), 30, "a host standing by")
    for args, words in (
        (["--to-host", str(runner)], f"the engine already runs on host {runner}"),
        (["--to-host", "9"], "no host 9 has published its status"),
        (["--scheduled-at", "not-a-time"], "--scheduled-at must be an ISO 8601 time"),
    ):
        refused = cli(lab, target, "--switchover", *args)
        assert refused.returncode == 1 and words in refused.stderr, refused.stderr
    # one pending at a time; a scheduled one can be cancelled
    later = cli(lab, target, "--switchover", "--scheduled-at", "2099-01-01T00:00:00Z")
    assert later.returncode == 0 and "Scheduled the switchover" in later.stdout, later.stderr
    again = cli(lab, target, "--switchover")
    assert again.returncode == 1 and "another one is pending" in again.stderr
    assert "Cancelled" in cli(lab, target, "--switchover", "--cancel").stdout
    assert cli(lab, target, "--switchover", "--cancel").returncode == 1
    # the real one: the engine's host stops the VM, the target starts it
    done = cli(lab, target, "--switchover", "--to-host", str(target), "--note", "kernel update")
    assert done.returncode == 0, done.stderr
    assert f"Switchover done: the engine is healthy on host {target}" in done.stdout
    assert lab.engine_host() == target
    history = json.loads(cli(lab, target, "--history", "--json").stdout)
    stop, start = history[-2], history[-1]
    assert (stop["event"], stop["host_id"], stop["cause"]) == ("stopped", runner, "switchover")
    assert "kernel update" in stop["detail"]
    assert (start["event"], start["host_id"], start["cause"]) == ("started", target, "switchover")
    assert start["from_host"] == runner
    metrics_url = lab.manifest.metrics_url(target)
    assert metrics_url is not None
    assert "hosted_engine_switchovers_total 1.0" in httpx.get(metrics_url, timeout=5).text
    # local maintenance on the engine's host, moving the engine first
    moved = cli(lab, target, "--set-maintenance", "--mode=local", "--move-engine")
    assert moved.returncode == 0, moved.stderr
    assert lab.engine_host() not in (None, target)
    wait_for(lambda: host_states(lab)[target]["state"] == "LocalMaintenance", 30, "maintenance")
    assert (
        "local maintenance of host"
        in json.loads(cli(lab, target, "--history", "--json").stdout)[-2]["detail"]
    )
    # global maintenance refuses it
    assert cli(lab, 1, "--set-maintenance", "--mode=global").returncode == 0
    refused = cli(lab, 1, "--switchover")
    assert refused.returncode == 1 and "global maintenance is on" in refused.stderr
