"""The watchdog the VM lease holder pets: what resets a host that can no longer fence itself.

A lease that expires is only safe if its holder is gone by the time somebody else takes
it. A holder that cannot renew kills its VM itself, but a frozen host (hung kernel,
``SIGSTOP``, a process stuck in uninterruptible I/O) cannot do even that. So, as sanlock
does with wdmd and ``/dev/watchdog``, the holder pets a watchdog that runs outside its
processes, only after a good renewal; when the pets stop for ``watchdog_timeout`` the
watchdog resets the host.

Two kinds, chosen by the ``watchdog`` key of hosted-engine.conf:

``/dev/watchdog`` (or any path)
    the kernel's watchdog device: a write pets it, ``V`` then close disarms it (the magic
    close), and closing without it leaves it counting, so a holder that dies without
    disarming gets its host reset.
``unix:PATH``
    a watchdog daemon listening on a Unix socket (the lab's stands in for the hardware of
    each simulated host). One line per request: ``arm SECONDS``, ``pet``, ``disarm``,
    ``status``. A connection that closes disarms: the lab's holder dies only with its VM.
``none``
    no watchdog: a frozen host keeps its lease until it thaws (logged as a warning).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import socket
import struct
from pathlib import Path
from typing import Protocol

import psutil

from hosted_engine.errors import WatchdogError

DEFAULT_DEVICE = Path("/dev/watchdog")
SOCKET_PREFIX = "unix:"
NONE = "none"
_WDIOC_SETTIMEOUT = 0xC0045706  # _IOWR('W', 6, int)
_REPLY_LIMIT = 256
_WDIOF_CARDRESET = 0x0020  # the last reboot was the watchdog's


class Watchdog(Protocol):
    @property
    def name(self) -> str: ...

    def arm(self, timeout: float) -> None:
        """Start counting: the host is reset ``timeout`` seconds after the last pet."""
        ...

    def pet(self) -> None: ...

    def disarm(self) -> None:
        """Stop counting, for a holder that released its lease in order."""
        ...


def default_spec() -> str:
    """The kernel device where the machine has one, else none."""
    return str(DEFAULT_DEVICE) if DEFAULT_DEVICE.exists() else NONE


def check_spec(spec: str) -> str:
    """``spec`` when it is a watchdog setting; WatchdogError (one line) otherwise."""
    if spec == NONE:
        return spec
    path = spec.removeprefix(SOCKET_PREFIX)
    if not path.startswith("/") or "\0" in path or "\n" in path:
        raise WatchdogError(
            f"watchdog must be 'none', a device path or 'unix:/path/to/socket' (got {spec!r:.80})"
        )
    return spec


def open_watchdog(spec: str) -> Watchdog | None:
    """The watchdog ``spec`` names, not yet armed; None for ``none``."""
    check_spec(spec)
    if spec == NONE:
        return None
    if spec.startswith(SOCKET_PREFIX):
        return SocketWatchdog(Path(spec.removeprefix(SOCKET_PREFIX)))
    return DeviceWatchdog(Path(spec))


class DeviceWatchdog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def arm(self, timeout: float) -> None:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
            with contextlib.suppress(OSError):  # a device with a fixed timeout keeps it
                fcntl.ioctl(self._fd, _WDIOC_SETTIMEOUT, struct.pack("i", math.ceil(timeout)))
        except OSError as e:
            raise WatchdogError(f"cannot arm the watchdog {self.path}: {e.strerror}") from None

    def pet(self) -> None:
        self._write(b"\0")

    def disarm(self) -> None:
        if self._fd is not None:
            self._write(b"V")
            os.close(self._fd)
            self._fd = None

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            raise WatchdogError(f"the watchdog {self.path} is not armed")
        try:
            os.write(self._fd, data)
        except OSError as e:
            raise WatchdogError(f"cannot pet the watchdog {self.path}: {e.strerror}") from None


class SocketWatchdog:
    def __init__(self, path: Path, timeout: float = 2.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None

    @property
    def name(self) -> str:
        return SOCKET_PREFIX + str(self.path)

    def arm(self, timeout: float) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError as e:
            sock.close()
            raise WatchdogError(f"cannot reach the watchdog {self.name}: {e.strerror}") from None
        self._sock = sock
        self._ask(f"arm {timeout:g}")

    def pet(self) -> None:
        self._ask("pet")

    def disarm(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(WatchdogError):
                self._ask("disarm")
            self._sock.close()
            self._sock = None

    def _ask(self, request: str) -> str:
        if self._sock is None:
            raise WatchdogError(f"the watchdog {self.name} is not armed")
        try:
            self._sock.sendall(request.encode() + b"\n")
            reply = _read_line(self._sock)
        except OSError as e:
            raise WatchdogError(f"the watchdog {self.name} did not answer: {e}") from None
        if not reply.startswith("ok"):
            raise WatchdogError(f"the watchdog {self.name} refused {request!r}: {reply:.100}")
        return reply


def _read_line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(_REPLY_LIMIT)
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
        if len(data) > _REPLY_LIMIT:
            raise ConnectionError("reply too long")
    return data.decode(errors="replace").strip()


def ask_status(path: Path, timeout: float = 2.0) -> str:
    """The lab watchdog's one-line status (``ok armed=0 resets=N last_reset=EPOCH``)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.sendall(b"status\n")
            return _read_line(sock)
        except OSError as e:
            raise WatchdogError(f"the watchdog {SOCKET_PREFIX}{path} did not answer: {e}") from None


def last_reset(spec: str) -> float | None:
    """Epoch of the last reset this host's watchdog did, None when it did none (or the
    watchdog cannot tell). The kernel device says whether the last boot was its doing
    (``bootstatus`` in sysfs); the lab's watchdog keeps a record of its resets."""
    if spec == NONE:
        return None
    if spec.startswith(SOCKET_PREFIX):
        reply = ask_status(Path(spec.removeprefix(SOCKET_PREFIX)))
        fields = dict(part.partition("=")[::2] for part in reply.split()[1:])
        try:
            return float(fields.get("last_reset", "-"))
        except ValueError:
            return None
    bootstatus = Path("/sys/class/watchdog") / Path(spec).name / "bootstatus"
    try:
        if int(bootstatus.read_text().strip() or "0") & _WDIOF_CARDRESET:
            return float(psutil.boot_time())
    except (OSError, ValueError):
        pass
    return None
