"""Measuring monitors on their own threads, so one slow measurement never delays another.

The reference ran each submonitor in a thread, but ``str()``'d its value (D3), so a
``None`` bridge became the truthy ``'None'`` and a ``False`` storage check the truthy
``'False'`` (D2). Here a reading keeps the value's own type, and tells apart *the value
is bad* (a :class:`Degraded` value, with its reason) from *we could not measure* (an
exception: the last good value stays, with the error and the time of the last success, so
a reader can judge its age).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from hosted_engine.clock import Clock
from hosted_engine.errors import UsageError

log = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Monitor(Protocol[T_co]):
    """One measured quantity of this host."""

    @property
    def name(self) -> str: ...

    @property
    def initial(self) -> T_co | None:
        """The value published before the first measurement."""
        ...

    def measure(self) -> T_co:
        """Take one measurement; may block (it has its own thread) and may raise."""
        ...


class Degraded(Exception):
    """A measurement that produced a value *and* a reason the value is bad.

    Raised by ``measure()`` when e.g. the storage check failed: the value (``False``) is
    a fact to publish, and the reason belongs next to it.
    """

    def __init__(self, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


@dataclass(frozen=True)
class MonitorReading(Generic[T]):
    """The latest value of a monitor.

    ``measured_at`` is the monotonic time the value was obtained (None: not yet);
    ``error`` says why the value is bad or why the latest attempt failed (None: all well).
    """

    value: T | None
    measured_at: float | None
    error: str | None = None


class MonitorRunner:
    """Measures every monitor every ``period`` seconds, each on its own daemon thread."""

    def __init__(self, monitors: Sequence[Monitor[Any]], period: float, clock: Clock) -> None:
        names = [m.name for m in monitors]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise UsageError(f"duplicate monitor names: {', '.join(duplicates)}")
        self._monitors = {m.name: m for m in monitors}
        self._period = period
        self._clock = clock
        self._lock = threading.Lock()
        # One measurement per monitor at a time: monitors keep state between samples.
        self._measure_locks = {name: threading.Lock() for name in self._monitors}
        self._readings: dict[str, MonitorReading[Any]] = {
            m.name: MonitorReading(m.initial, None) for m in monitors
        }
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def names(self) -> list[str]:
        return list(self._monitors)

    def start(self) -> None:
        if self._threads:
            raise UsageError("monitor runner already started")
        # A fresh event per start: a thread left stuck by an earlier stop() must not
        # resume its loop when the runner is started again.
        self._stopping = threading.Event()
        for name in self._monitors:
            thread = threading.Thread(
                target=self._run,
                args=(name, self._stopping),
                name=f"monitor-{name}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 2.0) -> list[str]:
        """Stop measuring; returns the names of monitors still stuck in a measurement.

        Waits at most ``timeout`` in total: a measurement hung in the kernel cannot be
        interrupted, and its daemon thread must not keep the broker from exiting.
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout  # a real wait, whatever the injected clock
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name.removeprefix("monitor-") for t in self._threads if t.is_alive()]
        if stuck:
            log.warning("monitors still measuring at stop: %s", ", ".join(stuck))
        self._threads = []
        self._close_monitors()
        return stuck

    def _close_monitors(self) -> None:
        """Let go of what monitors hold between measurements (a probe's worker thread)."""
        for monitor in self._monitors.values():
            close = getattr(monitor, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as e:
                    log.warning("monitor %s did not close: %s", monitor.name, e)

    def values(self) -> dict[str, MonitorReading[Any]]:
        with self._lock:
            return dict(self._readings)

    def refresh(self, name: str) -> MonitorReading[Any]:
        """Measure ``name`` now, in the caller's thread, and return the new reading."""
        if name not in self._monitors:
            raise UsageError(f"unknown monitor {name!r}; known: {', '.join(self._monitors)}")
        self._measure(name)
        with self._lock:
            return self._readings[name]

    def _run(self, name: str, stopping: threading.Event) -> None:
        next_due = self._clock.monotonic()
        while not stopping.is_set():
            self._measure(name)
            # Keep a fixed schedule; after an overrun, skip to the next slot in the future.
            now = self._clock.monotonic()
            next_due += self._period
            if next_due <= now:
                next_due = now + self._period - (now - next_due) % self._period
            stopping.wait(next_due - now)

    def _measure(self, name: str) -> None:
        monitor = self._monitors[name]
        with self._measure_locks[name]:
            try:
                value = monitor.measure()
            except Degraded as degraded:
                self._record(name, degraded.value, degraded.reason, measured=True)
            except Exception as e:
                self._record(name, None, f"{type(e).__name__}: {e}", measured=False)
            else:
                self._record(name, value, None, measured=True)

    def _record(self, name: str, value: Any, error: str | None, *, measured: bool) -> None:
        now = self._clock.monotonic()
        with self._lock:
            previous = self._readings[name]
            if measured:
                reading = MonitorReading(value, now, error)
            else:
                reading = MonitorReading(previous.value, previous.measured_at, error)
            self._readings[name] = reading
        # Log changes only: a monitor failing every period would otherwise flood the log.
        if error != previous.error:
            if error is None:
                log.info("monitor %s recovered", name)
            elif measured:
                log.warning("monitor %s: %s", name, error)
            else:
                log.error("monitor %s failed, keeping the last value: %s", name, error)
