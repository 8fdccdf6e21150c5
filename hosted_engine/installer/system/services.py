"""Service managers: systemd for real hosts, a recording one for tests and dry runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hosted_engine.errors import ServiceError

from .execute import Executor


class Services(Protocol):
    def exists(self, name: str) -> bool: ...

    def status(self, name: str) -> bool:
        """Whether the service is running."""
        ...

    def startup(self, name: str, enabled: bool) -> None:
        """Enable or disable starting at boot."""
        ...

    def state(self, name: str, running: bool) -> None:
        """Start or stop now."""
        ...

    def restart(self, name: str) -> None: ...


class SystemdServices:
    """``systemctl``; under a root prefix only boot-time changes make sense (``--root``)."""

    def __init__(self, execute: Executor, systemctl: str, root: str = "/") -> None:
        self._execute = execute
        self._systemctl = systemctl
        self._root = root

    @staticmethod
    def available(execute: Executor, systemctl: str) -> bool:
        return execute([systemctl, "show-environment"], check=False).rc == 0

    def _run(self, *args: str, failure: str) -> None:
        if self._execute([self._systemctl, *args], check=False).rc != 0:
            raise ServiceError(failure)

    def exists(self, name: str) -> bool:
        shown = self._execute([self._systemctl, "show", "-p", "LoadState", name], check=False)
        return "LoadState=loaded" in shown.stdout

    def status(self, name: str) -> bool:
        return self._execute([self._systemctl, "is-active", "--quiet", name], check=False).rc == 0

    def startup(self, name: str, enabled: bool) -> None:
        verb = "enable" if enabled else "disable"
        root = [f"--root={self._root}"] if self._root != "/" else []
        self._run(*root, verb, name, failure=f"Failed to {verb} service '{name}'")

    def state(self, name: str, running: bool) -> None:
        verb = "start" if running else "stop"
        self._run(verb, name, failure=f"Failed to {verb} service '{name}'")

    def restart(self, name: str) -> None:
        self._run("restart", name, failure=f"Failed to restart service '{name}'")


class RecordingServices:
    """Keeps service state in memory and records every request, for tests and dry runs."""

    def __init__(self, known: set[str] | None = None) -> None:
        self.known = known
        self.running: set[str] = set()
        self.enabled: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def _check(self, name: str, action: str) -> None:
        self.calls.append((action, name))
        if not self.exists(name):
            raise ServiceError(f"Failed to {action} service '{name}': no such service")

    def exists(self, name: str) -> bool:
        return self.known is None or name in self.known

    def status(self, name: str) -> bool:
        return name in self.running

    def startup(self, name: str, enabled: bool) -> None:
        self._check(name, "enable" if enabled else "disable")
        (self.enabled.add if enabled else self.enabled.discard)(name)

    def state(self, name: str, running: bool) -> None:
        self._check(name, "start" if running else "stop")
        (self.running.add if running else self.running.discard)(name)

    def restart(self, name: str) -> None:
        self._check(name, "restart")
        self.running.add(name)


class NoServices:
    """Chosen when no service manager is usable: every change is an error, queries say no."""

    def exists(self, name: str) -> bool:
        return False

    def status(self, name: str) -> bool:
        return False

    def _refuse(self, name: str) -> None:
        raise ServiceError(f"no service manager is available to manage '{name}'")

    def startup(self, name: str, enabled: bool) -> None:
        self._refuse(name)

    def state(self, name: str, running: bool) -> None:
        self._refuse(name)

    def restart(self, name: str) -> None:
        self._refuse(name)


class CallerServices:
    """``SYSTEM/servicesProvider=caller``: the services are the caller's to start (the lab
    runs each host's daemons itself, under the watchdog and fault injection it owns).

    They count as installed and stopped; enabling, starting, stopping and restarting are
    recorded in ``calls`` and logged by the plugins that ask, and change nothing. Plugins
    that would wait on a running service check the provider's name
    (``keys.SERVICES_CALLER``) and say what is left to the caller instead.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def exists(self, name: str) -> bool:
        return True

    def status(self, name: str) -> bool:
        return False

    def startup(self, name: str, enabled: bool) -> None:
        self.calls.append(("enable" if enabled else "disable", name))

    def state(self, name: str, running: bool) -> None:
        self.calls.append(("start" if running else "stop", name))

    def restart(self, name: str) -> None:
        self.calls.append(("restart", name))


class CommandServices:
    """Any program that speaks ``<argv> <action> <unit>``: the lab's simulated hosts, tests.

    Actions are exists, status, enable, disable, start, stop and restart; exit 0 means done
    (or yes). ``status`` exits 3 for "not running", as ``systemctl is-active`` and LSB init
    scripts do; ``exists`` is a question, so any failure there means no. Every other
    non-zero exit is an error carrying the program's stderr on one line, so the admin sees
    the real reason rather than "failed to start".
    """

    def __init__(self, execute: Executor, argv: Sequence[str]) -> None:
        if not argv:
            raise ServiceError("the services command is empty")
        self._execute = execute
        self._argv = tuple(argv)

    def _run(self, action: str, name: str) -> int:
        return self._execute([*self._argv, action, name], check=False).rc

    def _must(self, action: str, name: str) -> None:
        done = self._execute([*self._argv, action, name], check=False)
        if done.rc != 0:
            said = " ".join(line.strip() for line in done.stderr if line.strip())
            raise ServiceError(
                f"Failed to {action} service '{name}': {self._argv[0]} exited {done.rc}"
                + (f": {said}" if said else "")
            )

    def exists(self, name: str) -> bool:
        return self._run("exists", name) == 0

    def status(self, name: str) -> bool:
        done = self._execute([*self._argv, "status", name], check=False)
        if done.rc in (0, 3):
            return done.rc == 0
        said = " ".join(line.strip() for line in done.stderr if line.strip())
        raise ServiceError(
            f"Failed to query service '{name}': {self._argv[0]} exited {done.rc}"
            + (f": {said}" if said else "")
        )

    def startup(self, name: str, enabled: bool) -> None:
        self._must("enable" if enabled else "disable", name)

    def state(self, name: str, running: bool) -> None:
        self._must("start" if running else "stop", name)

    def restart(self, name: str) -> None:
        self._must("restart", name)
