"""The typed environment: every key is declared once, with a type, a default and an owner.

The reference kept one untyped dict, so a typo created a new key and a value could drift
from str to int unnoticed. Here a plugin declares its keys when it is created; values from
the command line, files, the dialog and other plugins are checked against the declaration,
and an unknown key is an error that suggests the nearest declared one.

Two namespaces are open-ended because their names are only known at run time:
``QUESTION/<name>`` (recorded dialog answers) and ``COMMAND/<program>`` (detected paths).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar, overload

from hosted_engine.errors import EnvironmentKeyError

from .values import STR, Kind, check_key_name, kind_of

T = TypeVar("T")

FILTERED = "**FILTERED**"


@dataclass(frozen=True)
class Key(Generic[T]):
    """A declared key; use :func:`key` to build one so the value type is inferred."""

    name: str
    kind: Kind[Any]
    default: T
    optional: bool = False
    secret: bool = False
    answer: bool = False
    description: str = ""
    # what is wrong with a value of the right type (e.g. out of range); None when fine
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)

    def accepts(self, value: object) -> bool:
        return (value is None and self.optional) or self.kind.accepts(value)

    def same_shape(self, other: Key[Any]) -> bool:
        return (self.kind, self.default, self.optional, self.secret) == (
            other.kind,
            other.default,
            other.optional,
            other.secret,
        )


@overload
def key(
    name: str,
    kind: Kind[T],
    default: T,
    *,
    secret: bool = ...,
    answer: bool = ...,
    description: str = ...,
    check: Callable[[T], str | None] | None = ...,
) -> Key[T]: ...


@overload
def key(
    name: str,
    kind: Kind[T],
    default: None = None,
    *,
    secret: bool = ...,
    answer: bool = ...,
    description: str = ...,
    check: Callable[[T], str | None] | None = ...,
) -> Key[T | None]: ...


def key(
    name: str,
    kind: Kind[Any],
    default: Any = None,
    *,
    secret: bool = False,
    answer: bool = False,
    description: str = "",
    check: Callable[[Any], str | None] | None = None,
) -> Key[Any]:
    """Declare-able key; without a default the key is optional (``None`` means "not set").

    ``secret`` keys are masked in logs and left out of answer files; ``answer`` keys are
    written to the answer file at the end of a run so the run can be replayed. ``check``
    refuses values of the right type that are still wrong (it returns why, or None), for
    every value set from anywhere.
    """
    check_key_name(name)
    if default is not None and not kind.accepts(default):
        raise EnvironmentKeyError(f"{name}: default {default!r} is not a {kind}")
    if default is not None and check is not None and check(default) is not None:
        raise EnvironmentKeyError(f"{name}: default {default!r}: {check(default)}")
    return Key(name, kind, default, default is None, secret, answer, description, check)


# Open namespaces: prefix -> kind (None: any kind, fixed by the first value).
OPEN_NAMESPACES: dict[str, Kind[Any] | None] = {"QUESTION/": None, "COMMAND/": STR}


class Environment:
    """Declared keys and their current values, with a journal of what changed since last asked."""

    def __init__(self) -> None:
        self._keys: dict[str, Key[Any]] = {}
        self._owners: dict[str, str] = {}
        self._values: dict[str, object] = {}
        self._assigned: set[str] = set()
        self._journal: dict[str, object] = {}
        self._hidden: set[str] = set()
        self._secret_values: frozenset[str] = frozenset()

    # --- declarations ---------------------------------------------------------------------

    def declare(self, declared: Key[Any], owner: str) -> None:
        """Register ``declared`` for ``owner``; a second identical declaration is harmless."""
        current = self._keys.get(declared.name)
        if current is not None:
            if not current.same_shape(declared):
                raise EnvironmentKeyError(
                    f"{declared.name} is declared by {self._owners[declared.name]} as "
                    f"{_shape(current)} and by {owner} as {_shape(declared)}"
                )
            return
        self._keys[declared.name] = declared
        self._owners[declared.name] = owner
        self._values[declared.name] = declared.default

    def definition(self, name: str) -> Key[Any]:
        found = self._keys.get(name)
        if found is not None:
            return found
        for prefix, kind in OPEN_NAMESPACES.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                return Key(name, kind or STR, None, optional=True)
        hint = difflib.get_close_matches(name, self._keys, n=1)
        suffix = f"; did you mean {hint[0]}?" if hint else ""
        raise EnvironmentKeyError(f"unknown environment key {name} (no plugin declares it){suffix}")

    def is_declared(self, name: str) -> bool:
        try:
            self.definition(name)
        except EnvironmentKeyError:
            return False
        return True

    # --- values ---------------------------------------------------------------------------

    def __getitem__(self, declared: Key[T]) -> T:
        value: T = self.get(declared.name)  # type: ignore[assignment]
        return value

    def __setitem__(self, declared: Key[T], value: T) -> None:
        self.set(declared.name, value)

    def get(self, name: str) -> object:
        if name in self._values:
            return self._values[name]
        self.definition(name)  # raises for unknown keys
        return None

    def set(self, name: str, value: object, *, secret: bool = False) -> None:
        """Set ``name``; values are type-checked, and open-namespace keys are typed on first use."""
        definition = self.definition(name)
        if name not in self._keys:
            namespace_kind = OPEN_NAMESPACES[name[: name.index("/") + 1]]
            kind = namespace_kind or kind_of(value)
            definition = replace(definition, kind=kind, secret=secret)
            self._keys[name] = definition
            self._owners[name] = "the environment"
        if not definition.accepts(value):
            shown = type(value).__name__ if definition.secret else repr(value)
            raise EnvironmentKeyError(f"{name} is {_shape(definition)}, cannot be set to {shown}")
        problem = None if value is None or definition.check is None else definition.check(value)
        if problem is not None:
            raise EnvironmentKeyError(f"{name}: {problem}")
        old = self._values.get(name)
        self._journal.setdefault(name, old)
        self._values[name] = value
        self._assigned.add(name)
        if definition.secret and old != value:
            self._refresh_secrets()

    def is_assigned(self, name: str) -> bool:
        """Whether anything set ``name`` since it was declared (it no longer holds the default)."""
        return name in self._assigned

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._values.get(name) is not None

    def names(self) -> list[str]:
        return sorted(self._values)

    # --- secrets, display and change journal ----------------------------------------------

    def is_secret(self, name: str) -> bool:
        found = self._keys.get(name)
        return found is not None and found.secret

    def mark_secret(self, name: str) -> None:
        found = self._keys.get(name)
        if found is not None and not found.secret:
            self._keys[name] = replace(found, secret=True)
            self._refresh_secrets()

    def hide(self, value: str) -> None:
        """Treat ``value`` as a secret wherever it shows up (e.g. a hidden answer)."""
        if value and value not in self._hidden:
            self._hidden.add(value)
            self._refresh_secrets()

    def _refresh_secrets(self) -> None:
        values: set[str] = set(self._hidden)
        for name, found in self._keys.items():
            value = self._values.get(name)
            if found.secret and value is not None:
                items = value if isinstance(value, tuple) else (value,)
                values.update(str(i) for i in items if str(i))
        self._secret_values = frozenset(values)

    @property
    def secret_values(self) -> frozenset[str]:
        return self._secret_values

    def display(self, name: str) -> str:
        """``type:value`` for logs; secrets are masked, never formatted."""
        value = self.get(name)
        kind = self.definition(name).kind if value is not None else kind_of(None)
        if self.is_secret(name) and value is not None:
            return f"{kind}:{FILTERED}"
        return f"{kind}:{kind.encode(value)!r}" if kind.name == "multi-str" else f"{kind}:{value}"

    def take_changes(self) -> list[str]:
        """Keys whose value differs from what it was at the previous call, sorted."""
        changed = sorted(n for n, old in self._journal.items() if self._values.get(n) != old)
        self._journal.clear()
        return changed


def _shape(declared: Key[Any]) -> str:
    return f"{declared.kind}{' or none' if declared.optional else ''}"
