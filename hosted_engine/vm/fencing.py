"""Keeping the VM lease honest: renew it, pet the watchdog, and say when to self-fence.

Invariant #1 (never two engine VMs) holds only if a holder that lost its lease is gone
before anybody else can take it. The :class:`LeaseKeeper` runs beside the VM's
supervisor: a thread renews the lease every ``renewal`` seconds (the renewal may hang
as long as the storage does, so it never runs on the supervisor's own loop), and the
loop calls :meth:`LeaseKeeper.tick` often. A tick pets the watchdog only while the last
good renewal is younger than ``fence_after``; past that it answers EXPIRED, the
supervisor kills its VM, and the pets stay stopped. A supervisor too frozen to tick
stops petting as well, and the watchdog resets the host. See ``config/timing.py`` for
how the three timeouts fit together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from hosted_engine.errors import LeaseError, WatchdogError
from hosted_engine.locking.base import Lease, LeaseState
from hosted_engine.locking.watchdog import Watchdog

log = logging.getLogger("hosted_engine.vm.fencing")


class LeaseKeeper:
    def __init__(
        self,
        lease: Lease,
        watchdog: Watchdog | None,
        *,
        renewal: float,
        fence_after: float,
        watchdog_timeout: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self.watchdog = watchdog
        self.renewal = renewal
        self.fence_after = fence_after
        self.watchdog_timeout = watchdog_timeout
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last_ok = monotonic()  # acquiring the lease is the first proof
        self._last_ok_epoch = time.time()
        self._last_error = ""
        self.state = LeaseState.HELD  # as of the last tick
        self._why: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Arm the watchdog and start renewing; WatchdogError if it cannot be armed
        (then the caller must not run the VM: nothing could reset a frozen host)."""
        if self.watchdog is None:
            log.warning("no watchdog: a frozen host would keep the VM lease until it thaws")
        else:
            self.watchdog.arm(self.watchdog_timeout)
            log.info("watchdog %s armed, %g s", self.watchdog.name, self.watchdog_timeout)
        self._thread = threading.Thread(target=self._renew_loop, name="lease-renewal", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renewal):
            try:
                self.lease.renew()
            except LeaseError as e:
                with self._lock:
                    self._last_error = str(e)
                log.warning("lease renewal failed: %s", e)
                continue
            with self._lock:
                self._last_ok = self._monotonic()
                self._last_ok_epoch = time.time()
                self._last_error = ""

    @property
    def renewed_at(self) -> float:
        """Epoch of the last good renewal, for humans."""
        with self._lock:
            return self._last_ok_epoch

    def why(self) -> str:
        """Why the lease is late or expired, for the log and the status record (as it was
        at the moment it expired: a renewal that succeeds afterwards changes nothing)."""
        if self._why is not None:
            return self._why
        with self._lock:
            age = self._monotonic() - self._last_ok
            error = self._last_error or "the renewal did not return (storage hung?)"
        return f"the VM lease was not renewed for {age:.1f} s ({error})"

    def tick(self) -> LeaseState:
        """Pet the watchdog if the lease is fresh; the lease's state either way (also
        kept in :attr:`state` until the next tick)."""
        self.state = self._judge()
        return self.state

    def _judge(self) -> LeaseState:
        if self.state is LeaseState.EXPIRED:
            return LeaseState.EXPIRED
        with self._lock:
            age = self._monotonic() - self._last_ok
            failing = bool(self._last_error)
        if age >= self.fence_after:
            self._why = self.why()  # for good: an expired lease is never petted again
            self._stop.set()
            return LeaseState.EXPIRED
        if self.watchdog is not None:
            try:
                self.watchdog.pet()
            except WatchdogError as e:
                log.error("%s", e)
        late = age > 2 * self.renewal + 0.25 * self.renewal
        return LeaseState.RENEWING if failing or late else LeaseState.HELD

    def stop(self, *, disarm: bool) -> None:
        """Stop renewing; disarm the watchdog only when nothing of the VM is left."""
        self._stop.set()
        if self.watchdog is None:
            return
        if disarm:
            self.watchdog.disarm()
        else:
            log.error("leaving the watchdog armed and unpetted: the host will be reset")
