"""Lab operations: bring hosts up and down, kill them, and tell what runs where."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from signal import SIGCONT, SIGSTOP, SIGTERM
from typing import Any

from hosted_engine.broker.fencing import LEASE_KEY
from hosted_engine.client import HAClient
from hosted_engine.config.host import load_host_config, require_daemon_keys
from hosted_engine.errors import HostedEngineError, UsageError, WatchdogError
from hosted_engine.files import faults
from hosted_engine.files.faults import FaultMode, FaultPoint
from hosted_engine.lab import processes, sanlock_daemons
from hosted_engine.lab.layout import (
    LabManifest,
    create_lab,
    engine_disk,
    fault_file,
    host_config_path,
    host_log_dir,
    host_pki,
    load_manifest,
    sanlock_run_dir,
    storage_dir,
    watchdog_socket,
)
from hosted_engine.lab.watchdog import last_reset
from hosted_engine.locking import FcntlLeaseManager
from hosted_engine.locking.sanlock_backend import resource_owner
from hosted_engine.locking.watchdog import ask_status
from hosted_engine.storage import domain
from hosted_engine.storage.metadata import extra_value, state_from_extra
from hosted_engine.vm.health import check_liveliness


def engine_healthy(url: str, timeout: float = 1.0) -> bool:
    """The same judgement the brokers make: 200 and ``DB Up`` from the health URL."""
    return check_liveliness(url, timeout)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise HostedEngineError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def _answers(path: Path) -> bool:
    try:
        return ask_status(path, timeout=0.5).startswith("ok")
    except WatchdogError:
        return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Lab:
    dir: Path

    @property
    def manifest(self) -> LabManifest:
        return load_manifest(self.dir)

    def client(self, host_id: int) -> HAClient:
        return HAClient.from_config(host_config_path(self.dir, host_id))

    def _check_host(self, host_id: int) -> None:
        if not 1 <= host_id <= self.manifest.hosts:
            raise UsageError(f"no host {host_id} in this lab (hosts 1..{self.manifest.hosts})")

    # --- lifecycle ----------------------------------------------------------------------
    @classmethod
    def up(
        cls,
        lab_dir: Path,
        hosts: int,
        profile: str,
        timeout: float | None = None,
        *,
        engine: str = "manager",
        leases: str = "fcntl",
    ) -> Lab:
        lab = cls(lab_dir.resolve())
        if (lab.dir / "lab.json").exists() and lab.running_processes():
            raise UsageError(f"a lab is already running in {lab.dir}; run `down` first")
        if leases == "sanlock" and (reason := sanlock_daemons.available()) is not None:
            raise UsageError(f"--leases sanlock: {reason}")
        create_lab(lab.dir, hosts, profile, engine=engine, leases=leases)
        for host_id in range(1, hosts + 1):  # a config the daemons would refuse: one line now
            require_daemon_keys(load_host_config(host_config_path(lab.dir, host_id)))
        limit = timeout if timeout is not None else (60.0 if profile == "fast" else 180.0)
        try:
            for host_id in range(1, hosts + 1):
                lab.start_watchdog(host_id)
            for host_id in range(1, hosts + 1):
                lab.start_host(host_id)
            lab.wait_engine_healthy(limit)
        except BaseException:  # a lab that did not come up leaves nothing running
            lab.down()
            raise
        return lab

    def start_watchdog(self, host_id: int, timeout: float = 10.0) -> None:
        """The host's "hardware" watchdog (lab/watchdog.py); it outlives the host."""
        self._check_host(host_id)
        if host_id in processes.watchdog_processes(self.dir):
            return
        socket_path = watchdog_socket(self.dir, host_id)
        socket_path.parent.mkdir(exist_ok=True)
        processes.start_watchdog(self.dir, host_id)
        _wait(lambda: _answers(socket_path), timeout, f"the watchdog of host {host_id}")

    def start_host(self, host_id: int, timeout: float = 30.0) -> None:
        """Start the host's sanlock daemon (with ``--leases sanlock``), broker, host API and
        agent; return once they answer."""
        self._check_host(host_id)
        self.start_watchdog(host_id)
        running = processes.host_processes(self.dir, host_id)
        if self.manifest.leases == "sanlock" and not running["sanlock"]:
            sanlock_daemons.start(
                sanlock_run_dir(self.dir, host_id),
                sanlock_daemons.host_name(self.dir, host_id),
                host_log_dir(self.dir, host_id) / "sanlock.log",
            )
        if not running["broker"]:
            processes.start_daemon(self.dir, host_id, "broker")
        client = self.client(host_id)
        _wait(client.broker_alive, timeout, f"the broker of host {host_id}")
        port = self.manifest.hostd_port(host_id)
        if port is not None and not running["hostd"]:
            ca, cert, key = host_pki(self.dir, host_id)
            listen = f"127.0.0.1:{port}"
            tls = ("--cert", str(cert), "--key", str(key), "--ca", str(ca))
            processes.start_daemon(self.dir, host_id, "hostd", "--listen", listen, *tls)
            _wait(lambda: _listening(port), timeout, f"the host API of host {host_id}")
        if not running["agent"]:
            processes.start_daemon(self.dir, host_id, "agent")
        _wait(lambda: self._agent_reports(client), timeout, f"the agent of host {host_id}")

    @staticmethod
    def _agent_reports(client: HAClient) -> bool:
        try:
            return bool(client.broker_health()["agent_alive"])
        except HostedEngineError:
            return False

    def stop_agent(self, host_id: int) -> None:
        self._check_host(host_id)
        procs = processes.host_processes(self.dir, host_id)["agent"]
        processes.stop_gracefully(procs, 10.0)

    def stop_host(self, host_id: int) -> None:
        """An orderly host shutdown: the engine VM, then the agent, then the broker."""
        self._check_host(host_id)
        config = load_host_config(host_config_path(self.dir, host_id))
        procs = processes.host_processes(self.dir, host_id)
        processes.stop_gracefully(procs["agent"], 10.0)
        processes.stop_gracefully(procs["vm"], config.timing.vm_shutdown_grace + 5.0)
        processes.stop_gracefully(procs["hostd"] + procs["broker"], 10.0)
        sanlock_daemons.stop(sanlock_run_dir(self.dir, host_id))

    def kill_host(self, host_id: int) -> None:
        """A power loss: SIGKILL every process of the host at once."""
        self._check_host(host_id)
        processes.kill_now(processes.every_process(self.dir, host_id))

    def freeze_host(self, host_id: int) -> None:
        """A hung host: SIGSTOP every process of it (its watchdog runs on, as hardware does)."""
        self._check_host(host_id)
        processes.signal_all(processes.every_process(self.dir, host_id), SIGSTOP)

    def thaw_host(self, host_id: int) -> None:
        """Resume whatever of a frozen host is still there (a reset leaves nothing)."""
        self._check_host(host_id)
        processes.signal_all(processes.every_process(self.dir, host_id), SIGCONT)

    def set_fault(self, host_id: int, point: FaultPoint, mode: FaultMode | None) -> None:
        """Make the host's storage I/O at ``point`` fail or hang (None: heal it)."""
        self._check_host(host_id)
        faults.set_fault(fault_file(self.dir, host_id), point, mode)

    def last_reset(self, host_id: int) -> float | None:
        """When the host's watchdog last reset it (epoch), None if it never did."""
        self._check_host(host_id)
        return last_reset(self.dir, host_id)

    def kill_vm(self, host_id: int) -> None:
        """Kill only the engine VM's processes on the host (its daemons live on)."""
        self._check_host(host_id)
        processes.kill_now(processes.host_processes(self.dir, host_id)["vm"])

    def running_processes(self) -> list[Any]:
        try:
            hosts = self.manifest.hosts
        except UsageError:
            return []
        return [p for h in range(1, hosts + 1) for p in processes.every_process(self.dir, h)]

    def down(self) -> None:
        """Every host, then the sanlock daemons and the watchdogs (a frozen host is resumed
        to hear its SIGTERM; a daemon holding a lockspace would not heed one)."""
        everything = self.running_processes()
        daemons = [p for p in everything if sanlock_daemons.is_daemon(p)]
        procs = [p for p in everything if p not in daemons]
        processes.signal_all(procs, SIGTERM)
        processes.signal_all(procs + daemons, SIGCONT)
        left = processes.wait_gone(procs, 5.0)
        processes.kill_now(left + daemons)
        watchdogs = list(processes.watchdog_processes(self.dir).values())
        processes.stop_gracefully(watchdogs, 5.0)

    def wait_engine_healthy(self, timeout: float) -> None:
        url = self.manifest.engine_url
        _wait(lambda: engine_healthy(url), timeout, "the engine to be healthy")

    def _manager_login(self) -> dict[str, str | None]:
        """Where the manager is and the first admin's login (the lab owner may read it)."""
        m = self.manifest
        if m.engine != "manager":
            return {}
        try:
            password: str | None = (engine_disk(self.dir, m) / "admin-password").read_text().strip()
        except OSError:
            password = None  # the manager has not started yet
        return {"manager_url": m.manager_url, "admin_user": "admin", "admin_password": password}

    # --- observation --------------------------------------------------------------------
    def engine_host(self) -> int | None:
        """Which host holds the engine VM lease (the truth about where it runs)."""
        m = self.manifest
        ha_dir = domain.ha_dir(storage_dir(self.dir), m.sd_uuid)
        if m.leases == "sanlock":
            return resource_owner(ha_dir / domain.LOCKSPACE_NAME, m.vm_id)
        holder = FcntlLeaseManager(ha_dir / domain.LOCKSPACE_NAME).vm_lease_holder(m.vm_id)
        return None if holder is None else holder.host_id

    def engine_vms(self) -> list[Any]:
        """The running engine VMs, one process (the payload) each."""
        return processes.one_per_vm(processes.engine_vm_processes(self.manifest.vm_id))

    def status(self) -> dict[str, Any]:
        m = self.manifest
        view: dict[int, Any] = {}
        for host_id in range(1, m.hosts + 1):
            try:
                view = dict(self.client(host_id).get_status().hosts)
                break
            except HostedEngineError:
                continue
        hosts = []
        for host_id in range(1, m.hosts + 1):
            procs = processes.host_processes(self.dir, host_id)
            record = view.get(host_id, {})
            state = state_from_extra(str(record.get("extra", "")))
            hosts.append(
                {
                    "id": host_id,
                    "config": str(host_config_path(self.dir, host_id)),
                    "broker": "running" if procs["broker"] else "stopped",
                    "agent": "running" if procs["agent"] else "stopped",
                    "hostd": "running" if procs["hostd"] else "stopped",
                    "vm": "running" if procs["vm"] else "none",
                    "state": state,
                    "lease": extra_value(str(record.get("extra", "")), LEASE_KEY),
                    "last_reset": self.last_reset(host_id),
                    "score": record.get("score"),
                    "engine": record.get("engine-status"),
                    "live": record.get("live-data"),
                    "metrics_url": m.metrics_url(host_id),
                }
            )
        return {
            "dir": str(self.dir),
            "profile": m.profile,
            "engine_url": m.engine_url,
            **self._manager_login(),
            "engine_healthy": engine_healthy(m.engine_url, 0.5),
            "engine_host": self.engine_host(),
            "hosts": hosts,
        }
