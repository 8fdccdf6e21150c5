"""One deterministic global order of all events, or a clear error naming the culprits.

Events run by stage, then by priority; ``before``/``after`` only order events that share a
stage and priority, and any reference that would contradict the stage/priority order is an
error rather than a silent reordering. Ties are broken by ``module.Class.method`` so the
same plugins always give the same order.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hosted_engine.errors import SequenceError

from .events import BoundEvent


@dataclass(frozen=True)
class _Edge:
    first: BoundEvent
    then: BoundEvent
    declared_by: BoundEvent
    relation: str  # "before" or "after"
    target: str


def build_sequence(
    events: Iterable[BoundEvent],
    *,
    ignore_missing: bool = False,
    warn: Callable[[str], None] = lambda message: None,
) -> list[BoundEvent]:
    events = sorted(events, key=lambda e: e.qualname)
    errors: list[str] = []
    by_name: dict[str, BoundEvent] = {}
    for item in events:
        other = by_name.setdefault(item.name, item)
        if other is not item:
            errors.append(
                f"duplicate event name {item.name!r} ({other.qualname} and {item.qualname})"
            )
    edges = _edges(events, by_name, ignore_missing, errors, warn)
    if not errors:
        cycle = _find_cycle(events, edges)
        if cycle:
            errors.append("cyclic dependencies: " + " -> ".join(e.name for e in cycle))
    for edge in edges:
        problem = _contradiction(edge)
        if problem:
            errors.append(problem)
    if errors:
        raise SequenceError("cannot order events: " + "; ".join(errors))
    return _order(events, edges)


def _edges(
    events: list[BoundEvent],
    by_name: dict[str, BoundEvent],
    ignore_missing: bool,
    errors: list[str],
    warn: Callable[[str], None],
) -> list[_Edge]:
    edges = []
    for item in events:
        for relation, names in (("after", item.spec.after), ("before", item.spec.before)):
            for target in names:
                other = by_name.get(target)
                if other is None:
                    message = f"event {item.name!r} has {relation}={target!r}, which names no event"
                    (warn if ignore_missing else errors.append)(message)
                    continue
                first, then = (other, item) if relation == "after" else (item, other)
                edges.append(_Edge(first, then, item, relation, target))
    return edges


def _contradiction(edge: _Edge) -> str | None:
    first, then = edge.first, edge.then
    where = f"event {edge.declared_by.name!r} has {edge.relation}={edge.target!r}"
    if first.stage > then.stage:
        return (
            f"{where}, but {first.name!r} runs in a later stage "
            f"({first.stage.id} after {then.stage.id})"
        )
    if first.stage == then.stage and first.spec.priority > then.spec.priority:
        return (
            f"{where}, which contradicts their priorities in stage {first.stage.id} "
            f"({first.spec.priority} after {then.spec.priority})"
        )
    return None


def _find_cycle(events: list[BoundEvent], edges: list[_Edge]) -> list[BoundEvent]:
    successors: dict[int, list[BoundEvent]] = defaultdict(list)
    for edge in edges:
        successors[id(edge.first)].append(edge.then)
    state: dict[int, int] = {}  # 1 = on the current path, 2 = finished
    for root in events:
        if id(root) in state:
            continue
        path: list[BoundEvent] = [root]
        stack = [iter(sorted(successors[id(root)], key=lambda e: e.qualname))]
        state[id(root)] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[id(path.pop())] = 2
                stack.pop()
            elif state.get(id(nxt)) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif id(nxt) not in state:
                state[id(nxt)] = 1
                path.append(nxt)
                stack.append(iter(sorted(successors[id(nxt)], key=lambda e: e.qualname)))
    return []


def _order(events: list[BoundEvent], edges: list[_Edge]) -> list[BoundEvent]:
    buckets: dict[tuple[int, int], list[BoundEvent]] = defaultdict(list)
    for item in events:
        buckets[(item.stage, item.spec.priority)].append(item)
    inner: dict[int, list[BoundEvent]] = defaultdict(list)
    pending: dict[int, int] = defaultdict(int)
    for edge in edges:
        if (edge.first.stage, edge.first.spec.priority) == (
            edge.then.stage,
            edge.then.spec.priority,
        ):
            inner[id(edge.first)].append(edge.then)
            pending[id(edge.then)] += 1
    ordered: list[BoundEvent] = []
    tiebreak = itertools.count()
    for bucket_key in sorted(buckets):
        ready = [(e.qualname, next(tiebreak), e) for e in buckets[bucket_key] if not pending[id(e)]]
        heapq.heapify(ready)
        while ready:
            _, _, item = heapq.heappop(ready)
            ordered.append(item)
            for nxt in inner[id(item)]:
                pending[id(nxt)] -= 1
                if not pending[id(nxt)]:
                    heapq.heappush(ready, (nxt.qualname, next(tiebreak), nxt))
    return ordered
