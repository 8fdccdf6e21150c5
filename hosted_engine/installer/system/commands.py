"""Finding programs once, by name, so plugins never hard-code where a binary lives.

A plugin calls :meth:`Commands.detect` while it is created or early in the run; the core
searches ``SYSTEM/commandPath`` (under ``SYSTEM/root``) at PROGRAMS and stores the result in
``COMMAND/<name>``, which the user may also preset.
"""

from __future__ import annotations

import os

from hosted_engine.errors import CommandError

from .. import keys
from ..environment import Environment

PREFIX = "COMMAND/"


class Commands:
    def __init__(self, environment: Environment) -> None:
        self._env = environment
        self._wanted: set[str] = set()

    def detect(self, name: str) -> None:
        """Ask for ``name`` to be looked up at the PROGRAMS stage."""
        self._wanted.add(name)
        if self._env.get(PREFIX + name) is None:
            self._env.set(PREFIX + name, None)

    def search_all(self) -> None:
        for name in sorted(self._wanted):
            if self._env.get(PREFIX + name) is None:
                self._env.set(PREFIX + name, self._search(name))

    def find(self, name: str) -> str | None:
        """The program's path, searching now if PROGRAMS has not run yet; None if missing."""
        path = self._env.get(PREFIX + name)
        if path is None:
            path = self._search(name)
            if path is not None:
                self._env.set(PREFIX + name, path)
        return None if path is None else str(path)

    def require(self, name: str) -> str:
        path = self.find(name)
        if path is None:
            raise CommandError(f"Command '{name}' is required but missing")
        return path

    def _search(self, name: str) -> str | None:
        root = self._env[keys.ROOT]
        for directory in self._env[keys.COMMAND_PATH].split(":"):
            if not directory:
                continue
            candidate = os.path.join(root, directory.lstrip("/"), name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None
