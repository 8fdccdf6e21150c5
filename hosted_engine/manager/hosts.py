"""The host registry's live side: one HostApi per registered host, status fan-out with a
per-call timeout, and a poller that turns changes between polls into events.

Every call to a host is bounded by ``timeout``: a dead host is shown ``non_responsive``
and never holds up the answer for the others (the calls run concurrently). Lists of all
hosts are served from the poller's last round while it is fresh (as oVirt's engine serves
host status from its periodic monitoring), with each host's data age counting the time
since that round; a change made through the manager drops the round, so the next list
asks the hosts again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from hosted_engine.errors import HostApiError
from hosted_engine.hostd.contract import UNREACHABLE, HostApi, HostStatus
from hosted_engine.manager.db import Database, HostRow
from hosted_engine.storage.history import HistoryEntry

HostApiFactory = Callable[[HostRow], HostApi]
_T = TypeVar("_T")


@dataclass(frozen=True)
class HostView:
    row: HostRow
    status: HostStatus | None  # None: the host did not answer
    error: str | None
    polled_at: float

    @property
    def responsive(self) -> bool:
        return self.status is not None

    @property
    def out_of_sync(self) -> bool:
        """Manager maintenance and HA local maintenance disagree (seed 002)."""
        if self.status is None:
            return False
        return (self.row.status == "maintenance") != self.status.ha.local_maintenance

    def to_json(self) -> dict[str, Any]:
        st = self.status
        if st is None:
            status = "non_responsive"
        else:
            status = "maintenance" if self.row.status == "maintenance" else "up"
        return {
            "id": self.row.id,
            "name": self.row.name,
            "address": self.row.address,
            "status": status,
            "hosted_engine": None
            if st is None
            else {
                "configured": st.ha.configured,
                "active": st.ha.active,
                "score": st.ha.score,
                "global_maintenance": st.ha.global_maintenance,
                "local_maintenance": st.ha.local_maintenance,
            },
            "engine_vm_here": bool(st and st.engine_vm_here),
            "ha_state": None if st is None else st.state,
            "engine_status": None if st is None else st.engine_status,
            "data_age": None
            if st is None or st.data_age is None
            else st.data_age + max(0.0, time.time() - self.polled_at),
            "stale": None if st is None else st.stale,
            "out_of_sync": self.out_of_sync,
            "error": self.error,
        }


class Hosts:
    def __init__(self, db: Database, factory: HostApiFactory, timeout: float = 2.0) -> None:
        self.db = db
        self.factory = factory
        self.timeout = timeout
        self._apis: dict[int, tuple[HostRow, HostApi]] = {}
        self._last: dict[int, tuple[str | None, bool, bool] | None] = {}
        self._task: asyncio.Task[None] | None = None
        self._answered: dict[int, bool] = {}  # did the host answer its last status call
        self._round: tuple[float, list[HostView]] | None = None  # the poller's last, monotonic
        self._fresh_for = 0.0  # how long a round may be served (set by start)
        self._changes = 0  # changes made through the manager: a round older than one is void

    def api(self, row: HostRow) -> HostApi:
        known = self._apis.get(row.id)
        if known is None or (known[0].address, known[0].port) != (row.address, row.port):
            known = (row, self.factory(row))
            self._apis[row.id] = known
        return known[1]

    def row(self, host_id: int) -> HostRow | None:
        return next((r for r in self.db.hosts() if r.id == host_id), None)

    async def call(self, row: HostRow, fn: Callable[[HostApi], Awaitable[_T]]) -> _T:
        """One host call bounded by the timeout; a timeout is UNREACHABLE."""
        try:
            return await asyncio.wait_for(fn(self.api(row)), self.timeout)
        except TimeoutError:
            raise HostApiError(
                UNREACHABLE, f"{row.name}: no answer within {self.timeout:g}s"
            ) from None

    async def view(self, row: HostRow) -> HostView:
        try:
            status = await self.call(row, lambda api: api.status())
        except HostApiError as err:
            self._answered[row.id] = False
            return HostView(row, None, str(err), time.time())
        self._answered[row.id] = True
        return HostView(row, status, None, time.time())

    async def views(self, *, cached: bool = False) -> list[HostView]:
        """Every host's view; ``cached``: the poller's last round while it is fresh and
        covers every registered host, else a live round."""
        rows = self.db.hosts()
        if cached and self._round is not None:
            taken, views = self._round
            fresh = time.monotonic() - taken <= self._fresh_for
            if fresh and [v.row for v in views] == rows:
                return views
        return list(await asyncio.gather(*(self.view(r) for r in rows)))

    def forget_round(self) -> None:
        """A change was made: the next list of hosts must ask them (a round under way when
        it was made is not kept either)."""
        self._changes += 1
        self._round = None

    async def forget(self, host_id: int) -> None:
        """The host left the registry: its client is closed and what was known of it
        dropped, so a host registered later under the same id starts afresh (no stale
        connection, no "responds again" event from the old one's last state)."""
        known = self._apis.pop(host_id, None)
        self._last.pop(host_id, None)
        self._answered.pop(host_id, None)
        self.forget_round()
        if known is not None:
            with contextlib.suppress(Exception):  # closing a dead host's client may fail
                await known[1].aclose()

    async def on_any(self, fn: Callable[[HostApi], Awaitable[_T]]) -> _T:
        """Run ``fn`` on the first host that answers (cluster-wide actions: global
        maintenance, the engine VM definition, shared configuration). Host errors other
        than UNREACHABLE are the answer; unreachable hosts are skipped."""
        # hosts that answered last time first (the poller keeps this fresh): a dead host
        # costs at most one timeout, and only when it died since the last poll
        rows = self.db.hosts()
        order = sorted(rows, key=lambda r: not self._answered.get(r.id, True))
        last = HostApiError(UNREACHABLE, "no host API answers")
        for row in order:
            try:
                return await self.call(row, fn)
            except HostApiError as err:
                if err.status != UNREACHABLE:
                    raise
                last = err
        raise last

    async def history(self, limit: int = 200) -> list[HistoryEntry]:
        """The engine's history, newest first (every host reads the same file)."""
        view = await self.on_any(lambda api: api.history())
        return list(reversed(view.entries))[:limit]

    async def refresh_all(self) -> None:
        """After a cluster-wide edit: every host re-reads its cache now, so each shows the
        change at once (``--show-vm-definition`` there included); at most one timeout, a
        host that does not answer catches up within its refresh period."""

        async def refresh(row: HostRow) -> None:
            with contextlib.suppress(HostApiError):
                await self.call(row, lambda api: api.refresh_config())

        await asyncio.gather(*(refresh(r) for r in self.db.hosts()))

    def record_changes(self, views: list[HostView]) -> None:
        """Events for what changed since the last round; a host removed while the round
        was under way is skipped, so nothing of it outlives ``forget``."""
        registered = {row.id for row in self.db.hosts()}
        for v in views:
            if v.row.id not in registered:
                continue
            now = (
                None
                if v.status is None
                else (v.status.state, v.status.engine_vm_here, v.status.ha.global_maintenance)
            )
            if v.row.id in self._last and self._last[v.row.id] != now:
                before = self._last[v.row.id]
                self.db.add_event("state", "system", _describe(v.row.name, before, now))
            self._last[v.row.id] = now

    async def poll_forever(self, interval: float = 1.5) -> None:
        while True:
            with contextlib.suppress(Exception):
                changes = self._changes
                views = await self.views()
                if changes == self._changes:
                    self._round = (time.monotonic(), views)
                self.record_changes(views)
            await asyncio.sleep(interval)

    def start(self, interval: float = 1.5) -> None:
        self._fresh_for = 2 * interval + self.timeout  # a round missed is not yet stale
        self._task = asyncio.get_running_loop().create_task(self.poll_forever(interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _row, api in self._apis.values():
            with contextlib.suppress(Exception):
                await api.aclose()


def _describe(
    name: str,
    before: tuple[str | None, bool, bool] | None,
    now: tuple[str | None, bool, bool] | None,
) -> str:
    if now is None:
        return f"Host {name} is not responding"
    if before is None:
        return f"Host {name} responds again (state {now[0]})"
    parts = []
    if before[0] != now[0]:
        parts.append(f"HA state {before[0]} -> {now[0]}")
    if before[1] != now[1]:
        parts.append("engine VM started here" if now[1] else "engine VM left this host")
    if before[2] != now[2]:
        parts.append("global maintenance " + ("enabled" if now[2] else "disabled"))
    return f"Host {name}: " + ", ".join(parts)
