"""Engine health: what this host publishes about the engine VM it sees.

The mapping is the reference's engine-health table (ha-anchor 4.2), with the VDSM
statuses replaced by typed :class:`VmStatus` values. A lease-held start is recognised by
its exit reason, not by matching qemu's lock error text (D10).
"""

from __future__ import annotations

import http.client
import re
import ssl
from urllib.parse import urlsplit

from hosted_engine.vm.base import ExitReason, VmState, VmStatus
from hosted_engine.vm.engine_status import EngineStatus

NOT_HERE = "vm not running on this host"
LOCKED = "Storage of VM is locked. Is another host already starting the VM?"
BAD_VM_STATUS = "bad vm status"
FAILED_LIVELINESS = "failed liveliness check"
NOT_CHECKED = "liveliness not checked yet"

_DOWN_WORDS = ("down", "down_unexpected", "down_missing")
_HEALTHY_BODY = re.compile(r"DB Up")
# A health page is a few words; a bigger answer is read only this far.
_MAX_BODY = 64 * 1024


def engine_status(
    vm: VmStatus, previous: EngineStatus | None, liveliness_ok: bool | None
) -> EngineStatus:
    """``liveliness_ok`` None means no check has answered yet: not good health, since the
    reference only calls an engine good after a passing check."""
    before = previous.vm if previous is not None else "down"
    if vm.state is VmState.DOWN:
        reason = vm.exit_reason
        if reason is ExitReason.NOT_STARTED or reason is None:
            # The reference keeps the previous word, except that a VM seen up goes missing.
            word = before if before in _DOWN_WORDS else "down"
            if before == "up":
                word = "down_missing"
            return EngineStatus(word, "bad", "unknown", NOT_HERE)
        if reason is ExitReason.LEASE_HELD:
            return EngineStatus("down", "bad", vm.detail, LOCKED)
        if reason.expected:  # SHUTDOWN, POWEROFF
            return EngineStatus("down", "bad", vm.detail, NOT_HERE)
        word = "down" if before == "down" else "down_unexpected"
        return EngineStatus(word, "bad", vm.detail, BAD_VM_STATUS)
    if vm.state is not VmState.UP:  # PAUSED, POWERING_UP
        return EngineStatus("up", "bad", vm.detail, BAD_VM_STATUS)
    if liveliness_ok:
        return EngineStatus("up", "good", vm.detail)
    return EngineStatus(
        "up", "bad", vm.detail, FAILED_LIVELINESS if liveliness_ok is False else NOT_CHECKED
    )


def check_liveliness(url: str, timeout: float, ssl_context: ssl.SSLContext | None = None) -> bool:
    """The reference's ``--check-liveliness``: the engine answers 200 with ``DB Up``.

    Never raises: an engine that cannot be reached is simply not live. One GET on the
    stdlib's ``http.client``: an HTTP client library builds request, URL and header
    objects with reference cycles on every call, and an idle broker checking every
    period turned that garbage into steady RSS growth. Pass ``ssl_context`` when checking
    repeatedly over https, so the context (and its CA store) is built once.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        if host is None or parts.scheme not in ("http", "https"):
            return False
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            context = ssl_context if ssl_context is not None else ssl.create_default_context()
            conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        try:
            path = parts.path or "/"
            if parts.query:
                path = f"{path}?{parts.query}"
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            body = response.read(_MAX_BODY)
            status = response.status
        finally:
            conn.close()
    except (http.client.HTTPException, OSError, ValueError, UnicodeError):
        return False
    text = body.decode("utf-8", errors="replace")
    return status == 200 and _HEALTHY_BODY.search(text) is not None


class LivelinessProbe:
    """``check_liveliness`` for the life of a monitor: the TLS context is built once."""

    def __init__(self) -> None:
        self._context: ssl.SSLContext | None = None

    def __call__(self, url: str, timeout: float) -> bool:
        if self._context is None and url.lower().startswith("https:"):
            self._context = ssl.create_default_context()
        return check_liveliness(url, timeout, self._context)

    def close(self) -> None:
        """Nothing stays open between checks; kept so a monitor can always close its probe."""
        self._context = None
