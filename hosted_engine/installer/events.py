"""The ``@event`` decorator and the events it turns plugin methods into.

Mistakes that the reference only noticed at run time, or never, are rejected where they
are made: ``before="x"`` (a string where a tuple was meant) fails at decoration, and a
method defined twice in one class body (the first silently lost) fails when the class is
created, through :class:`EventNamespace`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from hosted_engine.errors import SequenceError

from .stages import Priority, Stage

F = TypeVar("F", bound=Callable[..., Any])

_SPEC_ATTRIBUTE = "__installer_event__"


@dataclass(frozen=True)
class EventSpec:
    stage: Stage
    priority: int
    name: str | None
    before: tuple[str, ...]
    after: tuple[str, ...]
    condition: Callable[[Any], bool] | None


def _names(field: str, value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise SequenceError(
            f"{field}={value!r} is a string, not a tuple of event names (missing comma?)"
        )
    names = tuple(value)
    for item in names:
        if not isinstance(item, str) or not item:
            raise SequenceError(f"{field} holds {item!r}, which is not an event name")
    return names


def event(
    *,
    stage: Stage,
    priority: int = Priority.DEFAULT,
    name: str | None = None,
    before: Iterable[str] = (),
    after: Iterable[str] = (),
    condition: Callable[[Any], bool] | None = None,
) -> Callable[[F], F]:
    """Run the decorated plugin method in ``stage``, ordered by ``priority`` then by
    ``before``/``after`` (names of other events); ``condition(self)`` is checked just
    before the call and a false result skips the event.
    """
    if not isinstance(stage, Stage):
        raise SequenceError(f"stage={stage!r} is not a Stage")
    spec = EventSpec(
        stage, int(priority), name, _names("before", before), _names("after", after), condition
    )

    def mark(function: F) -> F:
        setattr(function, _SPEC_ATTRIBUTE, spec)
        return function

    return mark


def spec_of(value: object) -> EventSpec | None:
    spec = getattr(value, _SPEC_ATTRIBUTE, None)
    return spec if isinstance(spec, EventSpec) else None


class EventNamespace(dict[str, Any]):
    """Class-body namespace that refuses to let a definition replace an event method."""

    def __setitem__(self, name: str, value: Any) -> None:
        if name in self and (spec_of(self[name]) or spec_of(value)):
            qualname = self.get("__qualname__", "?")
            raise SequenceError(
                f"duplicate method name {qualname}.{name}: it is defined twice in the class "
                "body and the first definition would be silently lost"
            )
        super().__setitem__(name, value)


@dataclass(eq=False)
class BoundEvent:
    """One event of one plugin instance, ready to be ordered and called."""

    owner: object  # the plugin instance, passed to the condition
    method: Callable[[], Any]
    spec: EventSpec
    qualname: str  # module.Class.method, stable across runs

    @property
    def name(self) -> str:
        return self.spec.name or self.qualname

    @property
    def stage(self) -> Stage:
        return self.spec.stage

    def describe(self) -> str:
        return f"STAGE {self.stage.id} METHOD {self.qualname} ({self.name})"


def bind_events(instance: object) -> list[BoundEvent]:
    """Events of ``instance``, inherited ones included, resolved like attribute lookup."""
    cls = type(instance)
    names = {n for klass in cls.__mro__ for n, v in vars(klass).items() if spec_of(v)}
    bound = []
    for attribute in sorted(names):
        function = getattr(cls, attribute)
        spec = spec_of(function)
        if spec is not None:
            qualname = f"{cls.__module__}.{cls.__qualname__}.{attribute}"
            bound.append(BoundEvent(instance, getattr(instance, attribute), spec, qualname))
    return bound
