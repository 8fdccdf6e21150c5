"""Package managers behind one small interface: requests are queued and run together.

Plugins queue installs and removals as they go; the core runs the queue at the end of
INTERNAL_PACKAGES and PACKAGES, so one package manager run serves every plugin. There is no
package rollback: the reference undid dnf history through private APIs (see docs).
"""

from __future__ import annotations

from collections.abc import Iterable

from hosted_engine.errors import PackagerError

from .execute import Executor


class Packager:
    """Queueing and bookkeeping; subclasses say how to run the queue and query versions."""

    name = "none"

    def __init__(self) -> None:
        self.to_install: list[str] = []
        self.to_remove: list[str] = []
        self.processed: list[tuple[str, tuple[str, ...]]] = []

    def install(self, packages: Iterable[str]) -> None:
        self.to_install += [p for p in packages if p not in self.to_install]

    def remove(self, packages: Iterable[str]) -> None:
        self.to_remove += [p for p in packages if p not in self.to_remove]

    def process(self) -> None:
        """Run what was queued, then forget it."""
        for action, queue in (("install", self.to_install), ("remove", self.to_remove)):
            if queue:
                self._run(action, tuple(queue))
                self.processed.append((action, tuple(queue)))
        self.to_install, self.to_remove = [], []

    def _run(self, action: str, packages: tuple[str, ...]) -> None:
        raise NotImplementedError

    def installed_version(self, package: str) -> str | None:
        raise NotImplementedError


class OfflinePackager(Packager):
    """Installs nothing: for hosts whose packages are preinstalled, and for tests."""

    name = "offline"

    def _run(self, action: str, packages: tuple[str, ...]) -> None:
        pass

    def installed_version(self, package: str) -> str | None:
        return None


class _CommandPackager(Packager):
    def __init__(self, execute: Executor, program: str, root: str = "/") -> None:
        super().__init__()
        self._execute = execute
        self._program = program
        self._root = root

    def _argv(self, action: str, packages: tuple[str, ...]) -> list[str]:
        raise NotImplementedError

    def _run(self, action: str, packages: tuple[str, ...]) -> None:
        result = self._execute(
            self._argv(action, packages), check=False, env={"DEBIAN_FRONTEND": "noninteractive"}
        )
        if result.rc != 0:
            tail = result.stderr[-1] if result.stderr else f"rc={result.rc}"
            raise PackagerError(f"{self.name} could not {action} {', '.join(packages)}: {tail}")


class AptPackager(_CommandPackager):
    name = "apt"

    def _argv(self, action: str, packages: tuple[str, ...]) -> list[str]:
        root = [f"-oRootDir={self._root}"] if self._root != "/" else []
        return [self._program, "-y", "-q", *root, action, *packages]

    def installed_version(self, package: str) -> str | None:
        admin = f"{self._root.rstrip('/')}/var/lib/dpkg"
        result = self._execute(
            ["dpkg-query", f"--admindir={admin}", "-W", "-f", "${Version}", package], check=False
        )
        return result.stdout[0] if result.rc == 0 and result.stdout else None


class DnfPackager(_CommandPackager):
    name = "dnf"

    def _argv(self, action: str, packages: tuple[str, ...]) -> list[str]:
        root = [f"--installroot={self._root}"] if self._root != "/" else []
        return [self._program, "-y", *root, action, *packages]

    def installed_version(self, package: str) -> str | None:
        query = ["rpm", f"--root={self._root}", "-q", "--qf", "%{VERSION}-%{RELEASE}", package]
        result = self._execute(query, check=False)
        return result.stdout[0] if result.rc == 0 and result.stdout else None
