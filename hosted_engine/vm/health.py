"""Engine health: what this host publishes about the engine VM it sees.

The mapping is the reference's engine-health table (ha-anchor 4.2), with the VDSM
statuses replaced by typed :class:`VmStatus` values. A lease-held start is recognised by
its exit reason, not by matching qemu's lock error text (D10).
"""

from __future__ import annotations

import re

import httpx

from hosted_engine.vm.base import ExitReason, VmState, VmStatus
from hosted_engine.vm.engine_status import EngineStatus

NOT_HERE = "vm not running on this host"
LOCKED = "Storage of VM is locked. Is another host already starting the VM?"
BAD_VM_STATUS = "bad vm status"
FAILED_LIVELINESS = "failed liveliness check"
NOT_CHECKED = "liveliness not checked yet"

_DOWN_WORDS = ("down", "down_unexpected", "down_missing")
_HEALTHY_BODY = re.compile(r"DB Up")


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


def check_liveliness(url: str, timeout: float, client: httpx.Client | None = None) -> bool:
    """The reference's ``--check-liveliness``: the engine answers 200 with ``DB Up``.

    Never raises: an engine that cannot be reached is simply not live. Pass a ``client``
    when checking repeatedly: a new one per call builds a new SSL context each time, which
    made an idle broker burn CPU and memory.
    """
    try:
        if client is None:
            response = httpx.get(url, timeout=timeout)
        else:
            response = client.get(url, timeout=timeout)
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError):
        return False
    return response.status_code == 200 and _HEALTHY_BODY.search(response.text) is not None


class LivelinessProbe:
    """``check_liveliness`` with one HTTP client for the life of a monitor."""

    def __init__(self) -> None:
        self._client = httpx.Client(trust_env=False)

    def __call__(self, url: str, timeout: float) -> bool:
        return check_liveliness(url, timeout, self._client)

    def close(self) -> None:
        self._client.close()
