"""What this host publishes about its VM lease: its state and the host's last reset.

Every host shows these in ``--vm-status`` (as extra metadata lines ``lease=`` and
``last_reset=``, the place oVirt's readers already print unknown keys), so an admin sees
that a host fenced itself or was reset by its watchdog, and when, without opening logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from hosted_engine.errors import WatchdogError
from hosted_engine.locking.base import LeaseState
from hosted_engine.vm.base import VmBackend

log = logging.getLogger("hosted_engine.broker.fencing")

LEASE_KEY = "lease"
LAST_RESET_KEY = "last_reset"
_RESET_RETRY = 60.0  # a watchdog that did not answer is asked again after this


class FencingReport:
    def __init__(
        self,
        backend: VmBackend,
        last_reset: Callable[[], float | None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._last_reset = last_reset
        self._monotonic = monotonic
        self._reset: float | None = None
        self._reset_known = False
        self._asked_at: float | None = None
        self._lease: LeaseState | None = None

    def _reset_time(self) -> float | None:
        """Asked once: a reset takes the broker down with the host, so the answer of
        this broker's start stays true for its whole life."""
        now = self._monotonic()
        if self._reset_known or (
            self._asked_at is not None and now - self._asked_at < _RESET_RETRY
        ):
            return self._reset
        self._asked_at = now
        try:
            self._reset = self._last_reset()
            self._reset_known = True
        except WatchdogError as e:
            log.warning("cannot learn the last reset: %s", e)
        return self._reset

    def metadata(self) -> dict[str, str]:
        try:
            vm = self._backend.status()
        except Exception as e:  # the VM backend's trouble is the engine monitor's to tell
            log.debug("no VM status for the lease state: %s", e)
            return {LEASE_KEY: "unknown"}
        if vm.lease is not self._lease:
            if vm.lease in (LeaseState.FENCED, LeaseState.EXPIRED, LeaseState.RENEWING):
                log.warning("the engine VM lease is %s: %s", vm.lease.value, vm.message or "-")
            self._lease = vm.lease
        md = {LEASE_KEY: vm.lease.value}
        reset = self._reset_time()
        if reset is not None:
            md[LAST_RESET_KEY] = f"{int(reset)} ({time.ctime(reset)})"
        return md
