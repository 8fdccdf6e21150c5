"""Ordering: stages, priorities, before/after, and the errors for orders that cannot be."""

from __future__ import annotations

import io
import random
import re

import pytest

from hosted_engine.errors import SequenceError
from hosted_engine.installer import Context, Plugin, Priority, Stage, event
from hosted_engine.installer.events import BoundEvent
from hosted_engine.installer.sequence import build_sequence


def bound(*plugin_classes: type[Plugin]) -> list[BoundEvent]:
    context = Context(stdin=io.StringIO(), stdout=io.StringIO())
    for plugin_class in plugin_classes:
        plugin_class(context)
    return context.events


def order(*plugin_classes: type[Plugin], **kwargs: bool) -> list[str]:
    return [e.name for e in build_sequence(bound(*plugin_classes), **kwargs)]


def test_stages_are_the_reference_eighteen_in_order() -> None:
    assert [s.id for s in Stage] == [
        "boot", "init", "setup", "internal_packages", "programs", "late_setup",
        "customization", "validation", "transaction-prepare", "early_misc", "packages",
        "misc", "transaction-commit", "closeup", "cleanup", "pre-terminate", "terminate",
        "reboot",
    ]  # fmt: skip
    always = [s for s in Stage if not s.if_success]
    assert always == [Stage.INIT, Stage.CLEANUP, Stage.PRE_TERMINATE, Stage.TERMINATE]


def test_priorities_are_ordered() -> None:
    assert Priority.FIRST < Priority.HIGH < Priority.MEDIUM < Priority.DEFAULT
    assert Priority.DEFAULT < Priority.POST < Priority.LOW < Priority.LAST


class Spread(Plugin):
    @event(stage=Stage.CLOSEUP, name="closeup")
    def a(self) -> None: ...

    @event(stage=Stage.MISC, priority=Priority.LAST, name="misc.last")
    def b(self) -> None: ...

    @event(stage=Stage.MISC, priority=Priority.FIRST, name="misc.first")
    def c(self) -> None: ...

    @event(stage=Stage.BOOT, name="boot")
    def d(self) -> None: ...

    @event(stage=Stage.MISC, priority=Priority.HIGH - 10, name="misc.high-10")
    def e(self) -> None: ...

    @event(stage=Stage.MISC, priority=Priority.HIGH, name="misc.high")
    def f(self) -> None: ...

    @event(stage=Stage.MISC, name="misc.default")
    def g(self) -> None: ...


def plugin_events(names: list[str]) -> list[str]:
    return [n for n in names if not n.startswith("installer.core.")]


def test_stage_then_priority() -> None:
    assert plugin_events(order(Spread)) == [
        "boot", "misc.first", "misc.high-10", "misc.high", "misc.default", "misc.last", "closeup",
    ]  # fmt: skip


class Ties(Plugin):
    @event(stage=Stage.MISC, name="z")
    def z(self) -> None: ...

    @event(stage=Stage.MISC, name="y")
    def y(self) -> None: ...

    @event(stage=Stage.MISC, name="x", after=("z",))
    def x(self) -> None: ...

    @event(stage=Stage.MISC, name="w", before=("y",))
    def w(self) -> None: ...


def test_ties_break_by_method_and_before_after_reorder_them() -> None:
    # by module.Class.method: w, x, y, z; but x must follow z, and w precede y
    assert plugin_events(order(Ties)) == ["w", "y", "z", "x"]


def test_order_does_not_depend_on_registration_order() -> None:
    events = bound(Spread, Ties)
    expected = [e.qualname for e in build_sequence(events)]
    for seed in range(5):
        random.Random(seed).shuffle(events)
        assert [e.qualname for e in build_sequence(events)] == expected


class EarlierStageDependency(Plugin):
    @event(stage=Stage.SETUP, name="early")
    def a(self) -> None: ...

    @event(stage=Stage.MISC, name="late", after=("early",))
    def b(self) -> None: ...


def test_dependency_on_an_earlier_stage_is_fine() -> None:
    assert plugin_events(order(EarlierStageDependency)) == ["early", "late"]


class LaterStageDependency(Plugin):
    @event(stage=Stage.SETUP, name="setup.event", after=("misc.event",))
    def a(self) -> None: ...

    @event(stage=Stage.MISC, name="misc.event")
    def b(self) -> None: ...


def test_dependency_on_a_later_stage_is_an_error() -> None:
    expected = "'setup.event' has after='misc.event', but 'misc.event' runs in a later stage"
    with pytest.raises(SequenceError, match=re.escape(f"{expected} (misc after setup)")):
        order(LaterStageDependency)


class PriorityContradiction(Plugin):
    @event(stage=Stage.MISC, priority=Priority.HIGH, name="high", after=("low",))
    def a(self) -> None: ...

    @event(stage=Stage.MISC, priority=Priority.LOW, name="low")
    def b(self) -> None: ...


def test_before_after_against_priorities_is_an_error() -> None:
    with pytest.raises(SequenceError, match="'high' has after='low', which contradicts"):
        order(PriorityContradiction)


class NamedOne(Plugin):
    @event(stage=Stage.MISC, name="same.name")
    def a(self) -> None: ...


class NamedTwo(Plugin):
    @event(stage=Stage.SETUP, name="same.name")
    def b(self) -> None: ...


def test_duplicate_event_names_name_both_methods() -> None:
    with pytest.raises(
        SequenceError, match=r"duplicate event name 'same.name' \(.*NamedOne.a and .*NamedTwo.b\)"
    ):
        order(NamedOne, NamedTwo)


class Dangling(Plugin):
    @event(stage=Stage.MISC, name="dangling", after=("nobody",))
    def a(self) -> None: ...


def test_dangling_references() -> None:
    with pytest.raises(SequenceError, match="'dangling' has after='nobody', which names no event"):
        order(Dangling)
    warnings: list[str] = []
    events = build_sequence(bound(Dangling), ignore_missing=True, warn=warnings.append)
    assert "dangling" in [e.name for e in events]
    assert warnings == ["event 'dangling' has after='nobody', which names no event"]


def test_string_instead_of_tuple_fails_at_decoration() -> None:
    with pytest.raises(SequenceError, match="before='x' is a string"):
        event(stage=Stage.MISC, before="x")


def test_a_method_defined_twice_fails_when_the_class_is_created() -> None:
    with pytest.raises(SequenceError, match=r"duplicate method name .*Twice\.run"):

        class Twice(Plugin):
            @event(stage=Stage.MISC)
            def run(self) -> None: ...

            def run(self) -> None: ...  # type: ignore[no-redef]  # noqa: F811


class Base(Plugin):
    @event(stage=Stage.SETUP)
    def inherited(self) -> None: ...

    @event(stage=Stage.SETUP)
    def overridden(self) -> None: ...

    @event(stage=Stage.SETUP)
    def silenced(self) -> None: ...


class Derived(Base):
    @event(stage=Stage.MISC)
    def overridden(self) -> None: ...

    def silenced(self) -> None: ...


def test_inherited_events_run_and_overrides_win() -> None:
    events = {e.qualname.rsplit(".", 1)[1]: e.stage for e in bound(Derived)}
    assert events["inherited"] is Stage.SETUP
    assert events["overridden"] is Stage.MISC
    assert "silenced" not in events
