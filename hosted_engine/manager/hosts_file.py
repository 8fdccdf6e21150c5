"""The host registry deploy keeps on the engine VM's disk (``hosts.json``), read into the
manager's database at start and followed while it runs.

Each ``hosted-engine --deploy`` adds its host to the file at its commit; the manager
learns of it at the next check, not at the engine VM's next start. A file that cannot be
read or is not a registry while the manager runs is logged and skipped: the database
keeps what it had, and the next change of the file is read again.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from hosted_engine.errors import UsageError
from hosted_engine.manager.db import Database
from hosted_engine.manager.errors import one_line

log = logging.getLogger("hosted_engine.manager")


def load_hosts_file(db: Database, path: Path) -> None:
    """Add or update every host the JSON list names (it never removes one: undeploy does)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read hosts file {path}: {one_line(str(err))}") from None
    if not isinstance(entries, list):
        raise UsageError(f"hosts file {path}: not a JSON list")
    for item in entries:
        if not isinstance(item, dict):
            raise UsageError(f"hosts file {path}: an entry is not an object")
        name, address = item.get("name"), item.get("address")
        port, host_id = item.get("port"), item.get("host_id")
        if not (isinstance(name, str) and isinstance(address, str) and name and address):
            raise UsageError(f"hosts file {path}: name and address must be strings")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (port, host_id)):
            raise UsageError(f"hosts file {path}: port and host_id must be integers")
        assert isinstance(port, int) and isinstance(host_id, int)
        if not (0 < port < 65536 and host_id > 0):
            raise UsageError(f"hosts file {path}: port or host_id out of range")
        db.upsert_host(host_id, name, address, port)


class HostsFile:
    """``hosts.json``, read again whenever its size or modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None

    def _current(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def load(self, db: Database) -> None:
        """At start: a registry that cannot be read stops the manager (UsageError)."""
        stamp = self._current()
        load_hosts_file(db, self.path)
        self._stamp = stamp

    def sync(self, db: Database) -> bool:
        """While running: True when the file changed and was read into the database."""
        stamp = self._current()
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            load_hosts_file(db, self.path)
        except UsageError as err:
            log.warning("%s; the host registry keeps what it had", err)
            return False
        log.info("host registry re-read from %s", self.path)
        return True
