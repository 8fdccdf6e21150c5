"""The broker's local copy of the shared configuration (seed 003).

The reference's agent extracted the configuration and the VM definition from shared
storage in every loop, through ``sudo dd | tar`` (D11). Here only the broker reads the
archive, on a period and on demand (``refresh_config``, which a client calls after a
write), and installs ``broker.conf``, the shared ``hosted-engine.conf`` and ``vm.conf``
in this host's state directory, where the agent and the notifier read them.

An archive that cannot be read, is corrupt, or holds a member its reader would refuse
is reported (log, ``get_health``, the ``config-age`` monitor) and the last good copy is
kept: a bad write elsewhere must never take the definition away from a running host. A
file is rewritten only when the archive changed and its content differs.
"""

from __future__ import annotations

import configparser
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hosted_engine.broker.notifications import STATE_TRANSITION, parse_broker_conf
from hosted_engine.clock import Clock
from hosted_engine.config import keyvalue
from hosted_engine.config.host import HostConfig
from hosted_engine.config.ini import one_line
from hosted_engine.config.shared import BROKER_MEMBER, HE_SHARED_MEMBER, VM_MEMBER, check_members
from hosted_engine.errors import ConfigError, HostedEngineError
from hosted_engine.storage.config_archive import ArchiveSnapshot, ConfigArchive

log = logging.getLogger(__name__)


def broker_settings(text: str) -> dict[str, str]:
    """broker.conf as the notifier reads it: the shared-config model's broker validator."""
    try:
        conf = parse_broker_conf(text)
    except (ValueError, configparser.Error) as e:
        raise ConfigError(f"broker.conf: {one_line(e)}") from None
    return {**conf.template_fields(), STATE_TRANSITION: conf.state_transition}


@dataclass(frozen=True)
class CacheStatus:
    checksum: str | None  # of the archive the cache holds
    refreshed_at: float | None  # monotonic time of the last successful refresh
    error: str | None  # why the latest refresh failed; None when it worked
    failures: int = 0

    def age(self, now: float) -> float | None:
        return None if self.refreshed_at is None else max(0.0, now - self.refreshed_at)

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "checksum": self.checksum,
            "age": self.age(now),
            "error": self.error,
            "failures": self.failures,
        }


def cache_files(config: HostConfig) -> dict[str, Path]:
    """Archive member -> the local file it is installed as."""
    return {
        BROKER_MEMBER: config.broker_conf_path,
        HE_SHARED_MEMBER: config.shared_conf_path,
        VM_MEMBER: config.vm_conf_path,
    }


def _install(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds it; True when written."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass  # missing or unreadable: write it
    try:
        keyvalue.atomic_write(path, text)
    except OSError as e:
        raise ConfigError(f"cannot write the cached {path.name} to {path}: {e.strerror}") from None
    return True


class ConfigCache:
    def __init__(
        self,
        archive: ConfigArchive,
        files: Mapping[str, Path],
        check: Callable[[ArchiveSnapshot], Mapping[str, str]],
        clock: Clock,
    ) -> None:
        self._archive = archive
        self._files = dict(files)
        self._check = check
        self._clock = clock
        self._lock = threading.Lock()
        self._status = CacheStatus(None, None, None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_host(cls, config: HostConfig, clock: Clock) -> ConfigCache:
        archive = ConfigArchive.in_domain(config.ha_dir)

        def check(snapshot: ArchiveSnapshot) -> Mapping[str, str]:
            return check_members(snapshot.members, broker_settings, config, str(archive.path))

        return cls(archive, cache_files(config), check, clock)

    def status(self) -> CacheStatus:
        with self._lock:
            return self._status

    def refresh(self) -> CacheStatus:
        """Read the archive now and install what changed; never raises for bad storage."""
        with self._lock:
            previous = self._status
            try:
                snapshot = self._archive.read()
                if snapshot.checksum != previous.checksum or not all(
                    path.exists() for path in self._files.values()
                ):
                    texts = self._check(snapshot)
                    changed = [m for m, path in self._files.items() if _install(path, texts[m])]
                    if changed:
                        log.info("shared configuration: installed %s", ", ".join(changed))
            except HostedEngineError as e:
                self._status = CacheStatus(
                    previous.checksum, previous.refreshed_at, str(e), previous.failures + 1
                )
                if str(e) != previous.error:
                    log.error("cannot refresh the shared configuration, keeping the cache: %s", e)
            else:
                if previous.error is not None:
                    log.info("shared configuration readable again")
                self._status = CacheStatus(
                    snapshot.checksum, self._clock.monotonic(), None, previous.failures
                )
            return self._status

    # --- the periodic refresh ---------------------------------------------------------------
    def start(self, period: float) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(period,), name="config-cache", daemon=True
        )
        self._thread.start()

    def _run(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                self.refresh()
            except Exception:  # a bug must not stop refreshing for good
                log.exception("configuration refresh failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
