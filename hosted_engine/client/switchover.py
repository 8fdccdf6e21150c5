"""Moving the engine on purpose: ``hosted-engine --switchover`` (patronictl's model).

The request is refused, with the reason, when it cannot work: global maintenance, no
healthy engine to move, another switchover pending, or a target that is the engine's
host already, unknown, stale, in local maintenance or scored too low (0, or more than
the 800-point restart margin below the engine's host). Without ``--to-host`` the best
other host is chosen here, by score and then ``ha_priority``, so that every agent acts
on the same target. The engine's host then stops the VM gracefully, the other hosts
stand back, and the target starts it.
"""

from __future__ import annotations

import datetime
import getpass
import time
from collections.abc import Mapping
from typing import Any

from hosted_engine.client.status import StatusClient
from hosted_engine.errors import UsageError
from hosted_engine.storage.metadata import priority_from_extra
from hosted_engine.storage.switchover import Switchover, SwitchoverStore

RESTART_MARGIN = 800  # the agent's restart_threshold_score


def parse_when(text: str, *, naive_is_utc: bool = False) -> float:
    """An ISO 8601 time (``2026-12-24T02:00Z``) as epoch seconds; without a zone it is
    local time (or UTC). ValueError when it is not one."""
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC) if naive_is_utc else moment.astimezone()
    return moment.timestamp()


class SwitchoverRefusedError(UsageError):
    """The switchover cannot be done; the message says why (Patroni's 412)."""


def _healthy(record: Mapping[str, Any]) -> bool:
    engine = record.get("engine-status")
    return (
        isinstance(engine, Mapping) and engine.get("vm") == "up" and engine.get("health") == "good"
    )


def _priority(record: Mapping[str, Any]) -> int:
    return priority_from_extra(str(record.get("extra", "")))


class SwitchoverClient(StatusClient):
    def switchover_deadline(self) -> float:
        """How long a request stays good once due: a graceful stop, a start, and room."""
        t = self.config.timing
        return t.vm_shutdown_grace + t.engine_starting_timeout + 4 * t.loop_period

    def plan_switchover(self, to_host: int | None = None) -> tuple[int, int]:
        """``(engine host, target)``, or SwitchoverRefusedError saying why not."""
        status = self.get_status()
        # from storage, not the broker's last read: it may have been set a moment ago
        if self._whiteboard().read_global().maintenance:
            raise SwitchoverRefusedError("Switchover refused: global maintenance is on")
        hosts = status.hosts
        live = {h: r for h, r in hosts.items() if r.get("live-data", True)}
        runners = [h for h, r in live.items() if _healthy(r)]
        if not runners:
            raise SwitchoverRefusedError("Switchover refused: the engine is not up and healthy")
        runner = runners[0]
        floor = max(1, int(hosts[runner].get("score", 0)) - RESTART_MARGIN)
        if to_host is None:
            candidates = [
                h
                for h, r in live.items()
                if h != runner and not r.get("maintenance") and int(r.get("score", 0)) >= floor
            ]
            if not candidates:
                raise SwitchoverRefusedError(
                    "Switchover refused: no other live host out of maintenance scores within "
                    f"{RESTART_MARGIN} of the engine's host"
                )
            target = max(candidates, key=lambda h: (int(live[h]["score"]), _priority(live[h])))
            return runner, target
        if to_host == runner:
            raise SwitchoverRefusedError(
                f"Switchover refused: the engine already runs on host {to_host}"
            )
        record = hosts.get(to_host)
        if record is None:
            raise SwitchoverRefusedError(
                f"Switchover refused: no host {to_host} has published its status"
            )
        if to_host not in live:
            raise SwitchoverRefusedError(f"Switchover refused: host {to_host} is stale")
        if record.get("maintenance"):
            raise SwitchoverRefusedError(
                f"Switchover refused: host {to_host} is in local maintenance"
            )
        score = int(record.get("score", 0))
        if score < floor:
            raise SwitchoverRefusedError(
                f"Switchover refused: host {to_host} scores {score}, below {floor} "
                f"(the engine's host scores {hosts[runner].get('score')})"
            )
        return runner, to_host

    def switchover(
        self,
        to_host: int | None = None,
        note: str = "",
        scheduled_at: float | None = None,
        by: str | None = None,
    ) -> Switchover:
        """Store the request (refused with the reason when it cannot work)."""
        now = time.time()
        if scheduled_at is not None and scheduled_at < now - 60:
            raise SwitchoverRefusedError("Switchover refused: --scheduled-at is in the past")
        if len(note) > 200 or not note.isprintable():
            raise UsageError("--note must be one printable line of at most 200 characters")
        _, target = self.plan_switchover(to_host)
        due = now if scheduled_at is None else scheduled_at
        request = Switchover(
            to_host=target,
            by=by or getpass.getuser(),
            note=note,
            requested_at=now,
            scheduled_at=scheduled_at,
            deadline=due + self.switchover_deadline(),
        )
        return SwitchoverStore(self.config.ha_dir).create(request, now)

    def move_engine_away(self, by: str | None = None, note: str = "") -> Switchover | None:
        """Before local maintenance of this host: a switchover to the best other host when
        the engine runs here (what oVirt does by migrating the VM away), None when it does
        not. Wait for it with :meth:`wait_switchover`."""
        from hosted_engine.vm.base import VmState

        if self.backend.status().state is VmState.DOWN:
            return None
        note = note or f"local maintenance of host {self.config.host_id}"
        return self.switchover(None, note, by=by)

    def pending_switchover(self) -> Switchover | None:
        request = SwitchoverStore(self.config.ha_dir).read()
        return None if request is None or request.expired(time.time()) else request

    def cancel_switchover(self) -> str:
        store = SwitchoverStore(self.config.ha_dir)
        request = store.read()
        if request is None or request.expired(time.time()) or not store.clear(request.id):
            raise UsageError("No switchover is pending")
        return f"Cancelled the {request.describe()}"

    def wait_switchover(self, request: Switchover, timeout: float | None = None) -> float:
        """Seconds until the engine is healthy on the target; SwitchoverRefusedError when
        the request ran out first."""
        limit = request.deadline if timeout is None else time.time() + timeout
        while time.time() < limit:
            status = self.get_status()
            record = status.hosts.get(request.to_host)
            done = SwitchoverStore(self.config.ha_dir).read() is None
            if done and record is not None and record.get("live-data", True) and _healthy(record):
                return time.time() - request.due_at
            time.sleep(0.5)
        raise SwitchoverRefusedError(
            f"Switchover did not complete: the engine is not healthy on host {request.to_host}"
        )
