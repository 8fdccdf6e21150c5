"""The broker's local copy of the shared configuration and the engine VM definition (seed 003).

The reference's agent extracted the configuration and the VM definition from shared
storage in every loop, through ``sudo dd | tar`` (D11). Here only the broker reads
storage, on a period and on demand (``refresh_config``, which a client calls after a
write), and installs in this host's state directory what the agent and the notifier read:
``broker.conf`` and the shared ``hosted-engine.conf`` from the configuration archive, and
the engine VM definition as the ``vm.conf`` the agent starts the VM from.

The definition comes from the engine VM's OVF in the OVF_STORE, converted; when there is
no OVF_STORE (or it has no OVF of the engine VM yet) it is the archive's ``vm.conf``, as
in the reference. A vm.conf made from an OVF says so in its header (``# source=ovf``).

Anything that cannot be read, is corrupt, or would be refused by its reader is reported
(log, ``get_health``, the ``config-age`` monitor) and the last good copy is kept: a bad
write elsewhere must never take the definition away from a running host. A bad OVF with
no last good definition to keep falls back to the archive's vm.conf, still reported. A
file is rewritten only when what storage holds for it changed (or it is missing) and its
content differs.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hosted_engine.clock import Clock
from hosted_engine.config.engine_vm import (
    SOURCE_VM_CONF,
    SharedRead,
    SharedReader,
    read_cached_definition,
)
from hosted_engine.config.host import HostConfig
from hosted_engine.config.shared import BROKER_MEMBER, HE_SHARED_MEMBER, VM_MEMBER
from hosted_engine.errors import ConfigError, HostedEngineError
from hosted_engine.files import keyvalue

log = logging.getLogger(__name__)

FALLBACK_MESSAGE = (
    "Unable to identify the OVF_STORE volume, falling back to initial vm.conf. Please ensure "
    "the engine has exported the engine VM's OVF to the OVF_STORE"
)
FALLBACK_LOG_PERIOD = 300.0


@dataclass(frozen=True)
class CacheStatus:
    checksum: str | None  # of the archive the cache holds
    refreshed_at: float | None  # monotonic time of the last successful refresh
    error: str | None  # why the latest refresh failed; None when it worked
    failures: int = 0
    vm_source: str | None = None  # where the cached engine VM definition came from
    warning: str | None = None  # trouble that did not stop the latest refresh

    def age(self, now: float) -> float | None:
        return None if self.refreshed_at is None else max(0.0, now - self.refreshed_at)

    def failed(self, error: str, vm_source: str | None, checksum: str | None) -> CacheStatus:
        """The status after a failed refresh: the last success's time, so the age grows."""
        return dataclasses.replace(
            self,
            checksum=checksum,
            error=error,
            failures=self.failures + 1,
            vm_source=vm_source,
            warning=None,
        )

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "checksum": self.checksum,
            "age": self.age(now),
            "error": self.error,
            "failures": self.failures,
            "vm_source": self.vm_source,
            "warning": self.warning,
        }


def cache_files(config: HostConfig) -> dict[str, Path]:
    """Archive member -> the local file it is installed as (vm.conf: the definition)."""
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
    def __init__(self, reader: SharedReader, files: Mapping[str, Path], clock: Clock) -> None:
        self.reader = reader
        self._files = dict(files)
        self._clock = clock
        self._lock = threading.Lock()  # held only to swap the status: status() never waits
        self._refresh_lock = threading.Lock()  # one refresh at a time (storage I/O inside)
        self._status = CacheStatus(None, None, None)
        self._installed: dict[Path, str] = {}  # what the latest refreshes installed
        self._fallback_logged_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_host(cls, config: HostConfig, clock: Clock) -> ConfigCache:
        return cls(SharedReader.for_host(config), cache_files(config), clock)

    def status(self) -> CacheStatus:
        with self._lock:
            return self._status

    # --- installing -------------------------------------------------------------------------
    def refresh(self) -> CacheStatus:
        """Read shared storage now and install what changed; never raises for bad storage."""
        with self._refresh_lock:
            previous = self._status
            status = self._refreshed(previous)
            with self._lock:
                self._status = status
        if status.error is not None and status.error != previous.error:
            log.error(
                "cannot refresh the shared configuration, keeping the cache: %s", status.error
            )
        elif status.error is None and previous.error is not None:
            log.info("shared configuration readable again")
        if status.warning is not None and status.warning != previous.warning:
            log.warning("engine VM definition: %s", status.warning)
        if status.vm_source != previous.vm_source and status.vm_source is not None:
            log.info("the engine VM definition comes from %s", status.vm_source)
        return status

    def _refreshed(self, previous: CacheStatus) -> CacheStatus:
        try:
            shared = self.reader.read()
            changed = [
                member
                for member, path in self._files.items()
                if member != VM_MEMBER and self._install(path, shared.texts[member])
            ]
            vm_source, written = self._install_definition(shared)
        except HostedEngineError as e:
            return previous.failed(str(e), previous.vm_source, previous.checksum)
        if written:
            changed.append(VM_MEMBER)
        if changed:
            log.info("shared configuration: installed %s", ", ".join(changed))
        self._note_fallback(shared)
        if shared.ovf_error is not None:
            return previous.failed(shared.ovf_error, vm_source, shared.archive.checksum)
        return CacheStatus(
            shared.archive.checksum,
            self._clock.monotonic(),
            None,
            previous.failures,
            vm_source,
            shared.vm.warning,
        )

    def _install_definition(self, shared: SharedRead) -> tuple[str, bool]:
        """The source of the definition now in the cache, and whether it was written.

        After a bad OVF the last good definition stays; only a host with none to keep
        takes the vm.conf fallback, which is better than no definition at all.
        """
        path = self._files[VM_MEMBER]
        if shared.ovf_error is not None:
            try:
                kept = read_cached_definition(path)
            except HostedEngineError:
                kept = None
            if kept is not None and kept.definition.vm_id == shared.vm.definition.vm_id:
                return kept.source, False
        return shared.vm.source, self._install(path, shared.vm.text)

    def _install(self, path: Path, text: str) -> bool:
        """Install ``text`` unless it is what this cache installed there last time."""
        if self._installed.get(path) == text and path.exists():
            return False
        written = _install(path, text)
        self._installed[path] = text
        return written

    def _note_fallback(self, shared: SharedRead) -> None:
        """The reference's fallback warning, at most every FALLBACK_LOG_PERIOD seconds."""
        if shared.vm.source != SOURCE_VM_CONF or shared.ovf_error is not None:
            self._fallback_logged_at = None
            return
        now = self._clock.monotonic()
        last = self._fallback_logged_at
        if last is None or now - last >= FALLBACK_LOG_PERIOD:
            log.warning("%s", FALLBACK_MESSAGE)
            self._fallback_logged_at = now

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
