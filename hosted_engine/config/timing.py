"""Timing profiles: every delay and timeout of the daemons, validated together.

The reference hard-coded its timers and users could not tune failover (users-and-numbers
P1). Here a named profile supplies coherent defaults, any value can be overridden, and
the whole set is checked at start-up the way Patroni checks
``loop_wait + 2*retry_timeout <= ttl``: a combination that cannot work is refused with a
message naming the rule, instead of misbehaving at 3 a.m.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from hosted_engine.errors import TimingError

# Every timing lies in [MIN_SECONDS, MAX_SECONDS]. Zero, negative, NaN and infinite values
# are refused (``inf`` once made a dead host never go stale), and so are values no one
# means: above a day a value is a typo, and ``1e10`` used to pass this check only to blow
# up later in ``threading.Event.wait`` ("timeout value is too large"). Below 10 ms a
# period is a busy loop.
MIN_SECONDS = 0.01
MAX_SECONDS = 86400.0
# a plain decimal number: no "inf", "nan", "1_0", hex or non-ASCII digits
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?")


def check_seconds(name: str, value: float) -> float:
    """``value`` when it is a usable duration for ``timing.<name>``; TimingError otherwise."""
    if not (math.isfinite(value) and MIN_SECONDS <= value <= MAX_SECONDS):
        raise TimingError(
            f"timing.{name} must be a number of seconds from {MIN_SECONDS:g} to "
            f"{MAX_SECONDS:g} (got {value:g})"
        )
    return value


def parse_seconds(name: str, raw: str | float) -> float:
    """A ``timing.<name>`` value as written in hosted-engine.conf (or already a number)."""
    if isinstance(raw, bool):
        raise TimingError(f"timing.{name} must be a number (got {raw!r})")
    if isinstance(raw, int | float):
        return check_seconds(name, float(raw))
    text = raw.strip()
    if not _NUMBER.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise TimingError(f"timing.{name} must be a number of seconds (got {shown!r})")
    return check_seconds(name, float(text))


@dataclass(frozen=True)
class Timing:
    """All durations are seconds on the monotonic clock."""

    loop_period: float  # agent: pause between two decisions (reference LOOP_DELAY 10)
    monitor_period: float  # broker: how often each monitor measures
    publish_period: float  # broker: write own slot and read all slots
    host_alive_timeout: float  # a host whose timestamp did not change this long is stale
    agent_report_timeout: float  # broker: agent silent this long -> publish it as not running
    engine_starting_timeout: float  # EngineStarting -> EngineStop (reference 600)
    engine_bad_health_timeout: float  # EngineUpBadHealth -> EngineStop (reference 300)
    engine_stop_timeout: float  # EngineStop -> EngineForceStop (reference 300)
    engine_away_timeout: float  # EngineMaybeAway -> EngineUnexpectedlyDown (reference 40)
    unexpected_down_timeout: float  # EngineUnexpectedlyDown -> EngineDown (reference 560)
    retry_expiration: float  # failed start attempts are forgotten after this (reference 600)
    vm_shutdown_grace: float  # graceful shutdown before the VM is powered off (reference 120)
    health_check_timeout: float  # HTTP liveliness check of the engine (reference 20)
    network_probe_timeout: float  # one network probe (reference 5)
    network_probe_interval: float  # between two network probes (reference 0.5)
    storage_latency_limit: float  # storage-domain monitor: slower I/O counts as failed
    rpc_timeout: float  # client -> broker call
    config_refresh_period: float  # broker: re-read the shared configuration archive
    config_max_age: float  # a cache older than this costs the host the config penalty
    preempt_grace: float  # a running engine yields to a better host only after this long
    # Fencing (sanlock's model: renew, fail the renewal, let the watchdog fire). The VM
    # lease holder proves every ``lease_renewal`` that it still owns the lease on storage
    # and pets the watchdog only after a success. When its last good renewal is older than
    # ``fence_after`` (= lease_timeout - watchdog_timeout) it kills its VM itself and stops
    # petting; the watchdog resets the host ``watchdog_timeout`` after the last pet; so
    # ``lease_timeout`` after the last good renewal nothing of the holder runs any more,
    # and only then may another host take the lease.
    lease_renewal: float  # between two renewals of the VM lease
    lease_timeout: float  # a lease unrenewed this long may be taken by another host
    watchdog_timeout: float  # an unpetted watchdog resets the host after this long

    @property
    def fence_after(self) -> float:
        """Age of the last good renewal at which the holder kills its VM (self-fence)."""
        return self.lease_timeout - self.watchdog_timeout

    def validate(self) -> Timing:
        """Refuse combinations that cannot work; returns self for chaining."""
        for f in fields(self):
            check_seconds(f.name, getattr(self, f.name))
        rules: list[tuple[bool, str]] = [
            (
                self.host_alive_timeout >= 3 * self.publish_period,
                "host_alive_timeout >= 3 * publish_period "
                "(a live host must be seen changing more than once per window)",
            ),
            (
                self.publish_period + self.storage_latency_limit < self.host_alive_timeout,
                "publish_period + storage_latency_limit < host_alive_timeout "
                "(a slow but valid write must land before others declare the host stale)",
            ),
            (
                self.monitor_period <= self.loop_period,
                "monitor_period <= loop_period (decisions must see fresh measurements)",
            ),
            (
                self.agent_report_timeout >= 2 * self.loop_period,
                "agent_report_timeout >= 2 * loop_period (one late loop is not a dead agent)",
            ),
            (
                self.engine_away_timeout >= 2 * self.loop_period,
                "engine_away_timeout >= 2 * loop_period",
            ),
            (
                self.vm_shutdown_grace <= self.engine_stop_timeout,
                "vm_shutdown_grace <= engine_stop_timeout "
                "(a graceful shutdown must be allowed to finish before the force stop)",
            ),
            (
                self.health_check_timeout < self.engine_bad_health_timeout,
                "health_check_timeout < engine_bad_health_timeout",
            ),
            (
                self.health_check_timeout <= self.loop_period * 4,
                "health_check_timeout <= 4 * loop_period (a hung check must not stall health)",
            ),
            (
                self.storage_latency_limit <= self.host_alive_timeout,
                "storage_latency_limit <= host_alive_timeout",
            ),
            (
                self.preempt_grace
                >= self.config_refresh_period + 2 * self.publish_period + self.loop_period,
                "preempt_grace >= config_refresh_period + 2 * publish_period + loop_period "
                "(a change that hits every host must reach the others' published scores "
                "before the engine host compares itself with them)",
            ),
            (
                self.config_max_age >= 3 * self.config_refresh_period,
                "config_max_age >= 3 * config_refresh_period "
                "(one failed refresh must not cost a host its score)",
            ),
            (
                self.watchdog_timeout < self.lease_timeout,
                "watchdog_timeout < lease_timeout "
                "(the watchdog must fire before anyone else may take the lease)",
            ),
            (
                2 * self.lease_renewal + self.storage_latency_limit <= self.fence_after,
                "2 * lease_renewal + storage_latency_limit <= lease_timeout - watchdog_timeout "
                "(one slow and one missed renewal must not fence a healthy host)",
            ),
        ]
        broken = [text for ok, text in rules if not ok]
        if broken:
            raise TimingError("incoherent timing: " + "; ".join(broken))
        return self

    def with_overrides(self, overrides: Mapping[str, str | float]) -> Timing:
        """Apply ``{field: value}`` overrides, rejecting unknown names and values that are
        not a number of seconds within the bounds."""
        known = {f.name for f in fields(self)}
        changes: dict[str, float] = {}
        for name, raw in overrides.items():
            if name not in known:
                raise TimingError(
                    f"unknown timing setting {name!r}; known: {', '.join(sorted(known))}"
                )
            changes[name] = parse_seconds(name, raw)
        return dataclasses.replace(self, **changes)


PROFILES: dict[str, Timing] = {
    # Close to the reference where its values serve users, shorter where they hurt (P1):
    # failover rests on the VM lease, not on waiting out the stale-host window.
    "default": Timing(
        loop_period=5.0,
        monitor_period=5.0,
        publish_period=5.0,
        host_alive_timeout=30.0,
        agent_report_timeout=20.0,
        engine_starting_timeout=600.0,
        engine_bad_health_timeout=300.0,
        engine_stop_timeout=300.0,
        engine_away_timeout=40.0,
        unexpected_down_timeout=560.0,
        retry_expiration=600.0,
        vm_shutdown_grace=120.0,
        health_check_timeout=20.0,
        network_probe_timeout=5.0,
        network_probe_interval=0.5,
        storage_latency_limit=10.0,
        rpc_timeout=30.0,
        config_refresh_period=30.0,
        config_max_age=120.0,
        preempt_grace=60.0,
        lease_renewal=10.0,
        lease_timeout=60.0,
        watchdog_timeout=30.0,
    ),
    # For the lab and the tests: everything scaled down, still coherent.
    "fast": Timing(
        loop_period=0.5,
        monitor_period=0.5,
        publish_period=0.5,
        host_alive_timeout=3.0,
        agent_report_timeout=2.0,
        engine_starting_timeout=30.0,
        engine_bad_health_timeout=6.0,
        engine_stop_timeout=5.0,
        engine_away_timeout=2.0,
        unexpected_down_timeout=10.0,
        retry_expiration=30.0,
        vm_shutdown_grace=2.0,
        health_check_timeout=1.0,
        network_probe_timeout=0.5,
        network_probe_interval=0.05,
        storage_latency_limit=1.0,
        rpc_timeout=10.0,
        config_refresh_period=1.0,
        config_max_age=5.0,
        preempt_grace=3.0,
        lease_renewal=0.5,
        lease_timeout=6.0,
        watchdog_timeout=3.0,
    ),
}


def load_timing(profile: str, overrides: Mapping[str, str | float] | None = None) -> Timing:
    """The named profile with overrides applied, validated as a whole."""
    try:
        base = PROFILES[profile]
    except KeyError:
        raise TimingError(
            f"unknown timing profile {profile!r}; known: {', '.join(sorted(PROFILES))}"
        ) from None
    return base.with_overrides(overrides or {}).validate()
