"""The engine VM as a libvirt domain.

Two guarantees against a second engine VM, depending on the host:

* **sanlock lock manager** (``lock_manager="sanlock"`` in libvirt's qemu.conf and
  :class:`~hosted_engine.vm.libvirt_xml.LeaseTarget` given): the ``<lease>`` element makes
  libvirt acquire the VM's resource lease before QEMU runs and sanlock kills QEMU if it is
  lost. That holds even against a buggy agent.
* **no lock manager** (the test driver, ``qemu:///embed``): libvirt enforces nothing, so
  this backend takes the VM lease through the given ``LeaseManager`` before the domain is
  created and releases it only once it sees the domain down (a status call or a
  lifecycle event). That guards against other hosts running our agent, not against a
  domain started behind its back.

Start failures are typed from libvirt's error codes, never from its text (D10).
libvirt is imported lazily so the package imports where ``python3-libvirt`` is missing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from hosted_engine.errors import LeaseHeldError, VmError
from hosted_engine.locking.base import Lease, LeaseManager
from hosted_engine.vm.base import (
    AlreadyRunning,
    ExitReason,
    LeaseHeld,
    Started,
    StartFailed,
    StartResult,
    StopResult,
    VmState,
    VmStats,
    VmStatus,
)
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.libvirt_xml import XmlSettings, domain_xml

_NO_DOMAIN = 42  # VIR_ERR_NO_DOMAIN
_OPERATION_INVALID = 55  # VIR_ERR_OPERATION_INVALID: e.g. the domain is already active
# virDomainState
_RUNNING, _BLOCKED, _PAUSED, _SHUTDOWN, _SHUTOFF, _CRASHED, _PMSUSPENDED = 1, 2, 3, 4, 5, 6, 7
# virDomainShutoffReason
_SHUTOFF_REASONS = {
    1: ExitReason.SHUTDOWN,
    2: ExitReason.POWEROFF,
    3: ExitReason.CRASHED,
    6: ExitReason.START_FAILED,
}
# virDomainEventType: STOPPED = 5, CRASHED = 8; STOPPED details
_EVENT_STOPPED, _EVENT_CRASHED = 5, 8
_STOPPED_DETAILS = {
    0: ExitReason.SHUTDOWN,
    1: ExitReason.POWEROFF,
    2: ExitReason.CRASHED,
    5: ExitReason.START_FAILED,
}


def import_libvirt() -> Any:
    """The libvirt module, or ModuleNotFoundError (callers turn it into a ConfigError)."""
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors are raised anyway
    return libvirt


class EventLoop:
    """libvirt's default event implementation on one thread; ``stop()`` ends the thread.

    It must be registered before the connection that wants events is opened; libvirt
    allows one registration per process, so this is a process-wide singleton.
    """

    _instance: EventLoop | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._libvirt = import_libvirt()
        self._libvirt.virEventRegisterDefaultImpl()
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self._timer: int | None = None

    @classmethod
    def get(cls) -> EventLoop:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            cls._instance._ensure_thread()
            return cls._instance

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._running.set()
        # a periodic timer wakes the loop so that stop() is seen within 0.1 s
        if self._timer is None:
            self._timer = self._libvirt.virEventAddTimeout(100, lambda *_: None, None)
        self._thread = threading.Thread(target=self._run, name="libvirt-events", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running.is_set():
            self._libvirt.virEventRunDefaultImpl()

    def stop(self) -> None:
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _error_code(error: Exception) -> int | None:
    get = getattr(error, "get_error_code", None)
    return get() if callable(get) else None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class LibvirtVmBackend:
    def __init__(
        self,
        uri: str,
        leases: LeaseManager,
        host_id: int,
        hostname: str = "",
        settings: XmlSettings | None = None,
        *,
        events: bool = True,
    ) -> None:
        self._libvirt = import_libvirt()
        self.uri = uri
        self.leases = leases
        self.host_id = host_id
        self.hostname = hostname or f"host{host_id}"
        self.settings = settings or XmlSettings()
        self.changed = threading.Event()  # set on every lifecycle event; callers clear it
        self.last_event: tuple[int, int] | None = None
        self._lock = threading.RLock()
        self._events = EventLoop.get() if events else None
        try:
            self._conn = self._libvirt.open(uri)
        except self._libvirt.libvirtError as e:
            raise VmError(f"cannot connect to libvirt at {uri}: {_one_line(e)}") from None
        self._callback: int | None = None
        if events:
            self._callback = self._conn.domainEventRegisterAny(
                None, self._libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event, None
            )
        self._name: str | None = None
        self._lease: Lease | None = None
        self._down = VmStatus(VmState.DOWN, ExitReason.NOT_STARTED)
        self._asked: ExitReason | None = None
        self._timer: threading.Timer | None = None
        self._last_cpu: tuple[float, int] | None = None
        self._closed = False
        # the domain being started: its STARTED event can come before create() returns
        self._starting: str | None = None

    # --- VmBackend ---------------------------------------------------------------------------
    def start(self, definition: VmDefinition) -> StartResult:
        with self._lock:
            current = self.status()
            if current.state is not VmState.DOWN:
                return AlreadyRunning(current)
            try:
                lease = self.leases.acquire_vm_lease(definition.vm_id, self.host_id, self.hostname)
            except LeaseHeldError as e:
                self._down = VmStatus(VmState.DOWN, ExitReason.LEASE_HELD, str(e))
                return LeaseHeld(e.holder)
            self._starting = definition.name
            try:
                domain = self._conn.defineXML(domain_xml(definition, self.settings))
                domain.create()
            except self._libvirt.libvirtError as e:
                self._starting = None
                lease.release()
                if _error_code(e) == _OPERATION_INVALID and self._active(definition.name):
                    return AlreadyRunning(VmStatus(VmState.UP))
                reason = _one_line(e)
                self._down = VmStatus(VmState.DOWN, ExitReason.START_FAILED, reason)
                return StartFailed(reason)
            self._name, self._lease, self._asked = definition.name, lease, None
            self._starting = None
            self._last_cpu = None
            return Started(self._pid(domain))

    def status(self) -> VmStatus:
        with self._lock:
            domain = self._domain()
            if domain is None:
                return self._went_down(ExitReason.CRASHED, "the domain vanished")
            state, reason = domain.state()
            if state in (_RUNNING, _BLOCKED):
                if self._lease is not None and not self._lease.is_held():
                    self._destroy(domain)
                    # our own destroy's "stopped" event must not turn this into a poweroff
                    return self._went_down(ExitReason.CRASHED, "the VM lease was lost", False)
                return VmStatus(VmState.UP, pid=self._pid(domain))
            if state in (_PAUSED, _PMSUSPENDED):
                return VmStatus(VmState.PAUSED, pid=self._pid(domain))
            if state == _SHUTDOWN:
                return VmStatus(VmState.UP, message="shutting down", pid=self._pid(domain))
            if state == _CRASHED:
                return self._went_down(ExitReason.CRASHED, "crashed")
            exit_reason = _SHUTOFF_REASONS.get(reason, ExitReason.CRASHED)
            if self._asked is ExitReason.SHUTDOWN and exit_reason is ExitReason.POWEROFF:
                message = "destroyed after the shutdown grace"
            else:
                message = exit_reason.value
            return self._went_down(exit_reason, message)

    def shutdown(self, grace: float) -> StopResult:
        with self._lock:
            domain = self._domain()
            if domain is None or not domain.isActive():
                self.status()
                return StopResult.NOT_RUNNING
            try:
                domain.shutdown()
            except self._libvirt.libvirtError:
                return StopResult.FAILED
            self._asked = ExitReason.SHUTDOWN
            self._cancel_timer()
            self._timer = threading.Timer(grace, self._after_grace, (self._name,))
            self._timer.daemon = True
            self._timer.start()
            return StopResult.DONE

    def poweroff(self) -> StopResult:
        with self._lock:
            self._cancel_timer()
            domain = self._domain()
            if domain is None or not domain.isActive():
                self.status()
                return StopResult.NOT_RUNNING
            self._asked = ExitReason.POWEROFF
            if not self._destroy(domain):
                return StopResult.FAILED
            self.status()
            return StopResult.DONE

    def stats(self) -> VmStats | None:
        with self._lock:
            domain = self._domain()
            if domain is None or not domain.isActive():
                return None
            _state, _max_kib, mem_kib, _vcpus, cpu_ns = domain.info()
            now = time.monotonic()
            percent = 0.0
            if self._last_cpu is not None and now > self._last_cpu[0]:
                percent = (cpu_ns - self._last_cpu[1]) / 1e9 / (now - self._last_cpu[0]) * 100
            self._last_cpu = (now, cpu_ns)
            return VmStats(max(0.0, percent), mem_kib * 1024)

    # --- housekeeping --------------------------------------------------------------------------
    def close(self) -> None:
        """Cancel the grace timer and drop the connection (the domain keeps running)."""
        self._cancel_timer()
        with self._lock:
            self._closed = True
            if self._callback is not None:
                with contextlib.suppress(self._libvirt.libvirtError):
                    self._conn.domainEventDeregisterAny(self._callback)
                self._callback = None
            with contextlib.suppress(self._libvirt.libvirtError):
                self._conn.close()

    # --- internals -----------------------------------------------------------------------------
    def _domain(self) -> Any | None:
        if self._name is None:
            return None
        try:
            return self._conn.lookupByName(self._name)
        except self._libvirt.libvirtError as e:
            if _error_code(e) == _NO_DOMAIN:
                return None
            raise

    def _active(self, name: str) -> bool:
        try:
            return bool(self._conn.lookupByName(name).isActive())
        except self._libvirt.libvirtError:
            return False

    def _pid(self, domain: Any) -> int:
        return int(domain.ID())

    def _destroy(self, domain: Any) -> bool:
        try:
            domain.destroy()
        except self._libvirt.libvirtError as e:
            return _error_code(e) == _OPERATION_INVALID  # already down
        return True

    def _went_down(self, reason: ExitReason, message: str, from_events: bool = True) -> VmStatus:
        """The domain is down: the lease goes, and the first reason seen is kept (with
        ``from_events``, a crash is told apart by the last lifecycle event)."""
        if self._lease is not None:
            self._lease.release()
            self._lease = None
            if (
                from_events
                and self.last_event is not None
                and self._name is not None
                and reason is ExitReason.CRASHED
            ):
                event, detail = self.last_event
                if event == _EVENT_STOPPED:
                    reason = _STOPPED_DETAILS.get(detail, reason)
            self._down = VmStatus(VmState.DOWN, reason, message)
        return self._down

    def _after_grace(self, name: str | None) -> None:
        with self._lock:
            if self._closed or name is None or name != self._name:
                return
            domain = self._domain()
            if domain is not None and domain.isActive():
                self._destroy(domain)
            self.status()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _on_event(self, _conn: Any, domain: Any, event: int, detail: int, _opaque: Any) -> None:
        if self._closed or domain.name() not in (self._name, self._starting):
            return
        self.last_event = (event, detail)
        if event in (_EVENT_STOPPED, _EVENT_CRASHED):
            with self._lock:
                if not self._closed:
                    self.status()
        self.changed.set()
