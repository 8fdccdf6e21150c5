"""The agent's pause between two decisions, cut short when the engine VM lease is freed.

When the engine's host dies, the kernel drops its VM lease at once, but a standby host
that has just decided sleeps up to a whole loop before it looks again: half a loop of
failover time on average, a whole one at worst, for nothing. So while a standby waits in
EngineDown with the lease held by another host, its pause asks the broker every
``poll`` seconds whether the lease is still held (one lock probe, no storage I/O beyond
it) and ends as soon as it is free. Shortening the loop instead would make every host
decide, publish and log more often all the time.

The pause never lasts longer than asked and still ends at once on ``stop``. A broker
that cannot answer only turns the pause back into a plain sleep: the loop's own call
reports the trouble.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from hosted_engine.broker_contract import VmLease
from hosted_engine.clock import Clock
from hosted_engine.errors import BrokerUnavailableError, ContractError, RpcError
from hosted_engine.jsonrpc import METHOD_NOT_FOUND

log = logging.getLogger(__name__)

LeaseProbe = Callable[[], VmLease]
"""The broker's ``vm_lease`` answer."""


def lease_poll_interval(loop_period: float) -> float:
    """A tenth of a loop, between 0.1 s (the fast profile's agents stay cheap) and 0.5 s
    (the default profile: two probes a second while standing by)."""
    return min(0.5, max(0.1, loop_period / 10))


class LeaseWatch:
    def __init__(self, probe: LeaseProbe, stop: threading.Event, poll: float, clock: Clock):
        self._probe = probe
        self._stop = stop
        self._poll = poll
        self._clock = clock
        self._supported = True  # an older broker without ``vm_lease``: plain sleeps

    def pause(self, seconds: float, watch: bool) -> bool:
        """Wait ``seconds``, less on ``stop``; with ``watch``, also until the VM lease is
        free. True when the freed lease ended the pause."""
        deadline = self._clock.monotonic() + seconds
        watching = watch and self._supported
        while True:
            left = deadline - self._clock.monotonic()
            if left <= 0:
                return False
            if self._stop.wait(min(self._poll, left) if watching else left):
                return False
            if watching:
                free = self._lease_free()
                if free is None:
                    watching = False
                elif free:
                    return True

    def _lease_free(self) -> bool | None:
        """None when the broker cannot tell us now."""
        try:
            return self._probe().free is True  # unknown is not free
        except RpcError as e:
            if e.code == METHOD_NOT_FOUND:
                log.info("the broker offers no VM lease probe; waking on the loop only")
                self._supported = False
            return None
        except (BrokerUnavailableError, ContractError):
            return None
