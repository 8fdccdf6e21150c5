"""Checks a host before anything changes, and says every problem at once.

Deploying on a host whose name does not resolve back, whose storage mount is missing or
whose ports are taken used to fail minutes later with a generic error (P13). Each check
here names the value it saw and the fix, and all failures are listed together, so one
run tells the admin everything to repair.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys

from hosted_engine.deploy import keys
from hosted_engine.errors import HostDeployError
from hosted_engine.installer import Context, Plugin, Priority, Stage, event

EVENT = "hosted-engine-host-deploy.preflight"
MIN_PYTHON = (3, 11)
HOSTD = keys.SERVICES[1]
BROKER = keys.SERVICES[0]


class Preflight(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(
            keys.ACTION,
            keys.HOSTD_LISTEN_PORT,
            keys.MIN_MEMORY_MB,
            keys.CHECK_HOSTNAME,
            *keys.CONFIG_KEYS.values(),
        )

    def _conf(self, name: str) -> str | None:
        return self.environment[keys.CONFIG_KEYS[name]]

    def _system_file(self, path: str) -> str | None:
        """``path`` under SYSTEM/root if there, else the running machine's (``/proc``
        describes this machine whatever the root; tests put their own under the root)."""
        for candidate in (self.resolve(path), path):
            try:
                with open(candidate, encoding="utf-8", errors="replace") as f:
                    return f.read()
            except OSError:
                continue
        return None

    @event(
        stage=Stage.VALIDATION,
        priority=Priority.HIGH,
        name=f"{EVENT}.check",
        condition=lambda self: self.environment[keys.ACTION] == "deploy",
    )
    def check(self) -> None:
        failures: list[str] = []
        for name, check in (
            ("python", self._python),
            ("memory", self._memory),
            ("cpu", self._cpu),
            ("hostname", self._hostname),
            ("storage", self._storage),
            ("ports", self._ports),
        ):
            problems = check()
            failures += [f"preflight {name}: {p}" for p in problems]
        for line in failures:
            self.logger.error("%s", line)
        if failures:
            raise HostDeployError(
                f"{len(failures)} preflight check(s) failed: " + "; ".join(failures)
            )
        self.dialog.note("Preflight checks passed")

    def _python(self) -> list[str]:
        if sys.version_info[:2] >= MIN_PYTHON:
            return []
        have = ".".join(str(n) for n in sys.version_info[:3])
        want = ".".join(str(n) for n in MIN_PYTHON)
        return [f"Python {have} is too old: install Python {want} or later"]

    def _memory(self) -> list[str]:
        meminfo = self._system_file("/proc/meminfo") or ""
        total_kib = next(
            (int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")),
            None,
        )
        if total_kib is None:
            self.logger.warning("preflight memory: cannot read MemTotal from /proc/meminfo")
            return []
        have, want = total_kib // 1024, self.environment[keys.MIN_MEMORY_MB]
        self.logger.info("Memory: %d MiB (at least %d MiB wanted)", have, want)
        if have >= want:
            return []
        return [
            f"{have} MiB of memory, {want} MiB needed: add memory, or lower "
            f"{keys.MIN_MEMORY_MB.name} if this host is only for tests"
        ]

    def _cpu(self) -> list[str]:
        """Reported, never fatal: the engine VM can run as a process without KVM."""
        cpuinfo = self._system_file("/proc/cpuinfo") or ""
        flags: set[str] = set()
        for line in cpuinfo.splitlines():
            if line.startswith("flags"):
                flags.update(line.partition(":")[2].split())
        found = sorted(flags & {"vmx", "svm"})
        if found:
            self.dialog.note(f"CPU virtualization: {', '.join(found)}")
        else:
            self.logger.warning(
                "CPU virtualization flags (vmx/svm) are absent from /proc/cpuinfo: a KVM "
                "engine VM cannot run here; enable VT-x/AMD-V in the firmware if it should"
            )
        return []

    def _hostname(self) -> list[str]:
        if not self.environment[keys.CHECK_HOSTNAME]:
            return []
        name = self._conf("hostname") or socket.gethostname()
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except OSError as e:
            return [
                f"hostname {name!r} does not resolve ({e}): add '<address> {name}' to "
                f"/etc/hosts or an A/AAAA record for it in DNS"
            ]
        addresses = sorted({str(info[4][0]) for info in infos})
        back: dict[str, list[str]] = {}
        for address in addresses:
            try:
                primary, aliases, _ = socket.gethostbyaddr(address)
                back[address] = [primary, *aliases]
            except OSError:
                back[address] = []
        short = name.split(".")[0]
        matching = [a for a, names in back.items() if name in names or short in names]
        shown = ", ".join(f"{a} -> {', '.join(n) or 'no name'}" for a, n in back.items())
        self.logger.info("Hostname %s resolves to %s; back: %s", name, addresses, shown)
        if not matching:
            return [
                f"hostname {name!r} resolves to {', '.join(addresses)} but back to "
                f"{shown}: make /etc/hosts list {name} first on the line of "
                f"{addresses[0]}, or fix the PTR record in DNS"
            ]
        if all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in matching):
            self.logger.warning(
                "hostname %s resolves only to a loopback address (%s): other hosts cannot "
                "reach this one by that name",
                name,
                ", ".join(matching),
            )
        return []

    def _storage(self) -> list[str]:
        storage = self._conf("storage")
        what = keys.CONFIG_KEYS["storage"].name
        if storage is None:
            return [f"{what} is not set: give the storage domain's mount point"]
        path = storage  # a mount point, not a file of this host: checked as the daemons see it
        if not os.path.isdir(path):
            kind = "is not a directory" if os.path.exists(path) else "does not exist"
            return [f"storage path {storage} {kind}: mount the storage domain there first"]
        if not os.access(path, os.W_OK | os.X_OK):
            return [f"storage path {storage} is not writable: fix its owner or mode"]
        return []

    def _ports(self) -> list[str]:
        wanted: list[tuple[str, str, int, str]] = [
            ("hostd", "0.0.0.0", self.environment[keys.HOSTD_LISTEN_PORT], HOSTD)
        ]
        listen = self._conf("metrics_listen")
        if listen:
            host, _, number = listen.rpartition(":")
            port = keys.whole_number(number)
            if port is None or not 1 <= port <= 65535:
                return [f"metrics_listen {listen!r} is not HOST:PORT: write e.g. 0.0.0.0:9310"]
            wanted.append(("metrics", host.strip("[]") or "0.0.0.0", port, BROKER))
        problems = []
        for what, host, port, owner in wanted:
            reason = _bind_problem(host, port)
            if reason is None:
                continue
            if reason == "in use" and self._running(owner):
                self.logger.info("Port %d is served by %s already (a re-deploy)", port, owner)
                continue
            fix = (
                f"stop what listens there (ss -ltnp 'sport = :{port}') or choose another port"
                if reason == "in use"
                else "fix the address"
            )
            problems.append(f"{what} port {host}:{port} is {reason}: {fix}")
        return problems

    def _running(self, service: str) -> bool:
        try:
            return self.services.status(service)
        except Exception:  # a broken provider: the port stays reported
            return False


def _bind_problem(host: str, port: int) -> str | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            return "in use"
        return f"not usable ({e.strerror})"
    return None


def create_plugins(context: Context) -> None:
    Preflight(context)
