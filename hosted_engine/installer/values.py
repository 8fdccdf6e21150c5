"""The one ``type:value`` codec shared by the command line, files and the machine dialog.

The reference parsed booleans leniently (``bool:0`` and ``bool:no`` were true) and each
entry point had its own rules; here there is one strict codec, so a value means the same
thing wherever it comes from. Lists (``multi-str``) are tuples so a value can never be
changed behind the environment's back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from hosted_engine.errors import InstallerUsageError

T = TypeVar("T")

MultiStr = tuple[str, ...]

_TRUE = frozenset({"1", "t", "true", "y", "yes", "on"})
_FALSE = frozenset({"0", "f", "false", "n", "no", "off"})


def _decode_none(text: str) -> None:
    if text not in ("", "None"):
        raise ValueError("a none value must be empty or 'None'")


def _decode_bool(text: str) -> bool:
    folded = text.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError("expected one of yes/no, true/false, on/off, 1/0")


_INT = re.compile(r"-?[0-9]{1,18}")
# A value is one line of a file or one argument: longer is a mistake, not a setting.
MAX_VALUE_CHARS = 64 * 1024
# Characters after which the rest of a file line, log line or protocol line would be
# something else: str.splitlines() breaks on all of these, and a NUL ends a C string.
_LINE_BREAKS = frozenset("\x00\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _decode_int(text: str) -> int:
    """ASCII digits, maybe a minus sign: not int()'s '+5', ' 5 ', '5_0' or non-ASCII digits."""
    if not _INT.fullmatch(text):
        raise ValueError("expected a whole number in ASCII digits, e.g. 5 or -3")
    return int(text, 10)


def _decode_str(text: str) -> str:
    if not _LINE_BREAKS.isdisjoint(text):
        raise ValueError("a str value must be one line, without NUL or line breaks")
    return text


def _decode_multi_str(text: str) -> tuple[str, ...]:
    if "\x00" in text:
        raise ValueError("a multi-str value cannot hold NUL characters")
    return tuple(text.splitlines())


def shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for a one-line message, cut at ``limit`` characters."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


@dataclass(frozen=True)
class Kind(Generic[T]):
    """A value type: its wire name, how to read it, and which Python values belong to it."""

    name: str
    decode: Callable[[str], T]
    encode: Callable[[T], str]
    accepts: Callable[[object], bool]

    def __str__(self) -> str:
        return self.name


NONE: Kind[None] = Kind("none", _decode_none, lambda v: "None", lambda v: v is None)
BOOL: Kind[bool] = Kind("bool", _decode_bool, str, lambda v: isinstance(v, bool))
INT: Kind[int] = Kind(
    "int", _decode_int, str, lambda v: isinstance(v, int) and not isinstance(v, bool)
)
STR: Kind[str] = Kind("str", _decode_str, str, lambda v: isinstance(v, str))
MULTI_STR: Kind[MultiStr] = Kind(
    "multi-str",
    _decode_multi_str,
    "\n".join,
    lambda v: isinstance(v, tuple) and all(isinstance(i, str) for i in v),
)

KINDS: dict[str, Kind[Any]] = {k.name: k for k in (NONE, BOOL, INT, STR, MULTI_STR)}


def kind_of(value: object) -> Kind[Any]:
    for kind in (NONE, BOOL, INT, STR, MULTI_STR):
        if kind.accepts(value):
            return kind
    raise InstallerUsageError(f"no value type holds {type(value).__name__} {value!r}")


def decode(typed: str) -> object:
    """``"int:5"`` -> ``5``; raises :class:`InstallerUsageError` with the offending text.

    This is where values from outside the run (command line, files, the dialog) come in,
    so it refuses what no setting can mean: values over :data:`MAX_VALUE_CHARS`, NUL
    characters, and line breaks in a ``str``. Plugins may still set such values directly.
    """
    return decode_kind(typed)[1]


def decode_kind(typed: str) -> tuple[Kind[Any], object]:
    name, sep, text = typed.partition(":")
    if not sep:
        raise InstallerUsageError(f"missing value type in {shown(typed)} (expected type:value)")
    kind = KINDS.get(name)
    if kind is None:
        known = ", ".join(KINDS)
        raise InstallerUsageError(
            f"unknown value type {shown(name)} in {shown(typed)} (known: {known})"
        )
    if len(text) > MAX_VALUE_CHARS:
        raise InstallerUsageError(
            f"{name} value of {len(text)} characters is over the {MAX_VALUE_CHARS} allowed"
        )
    try:
        return kind, kind.decode(text)
    except ValueError as e:
        raise InstallerUsageError(f"bad {name} value {shown(text)}: {e}") from None


def encode(value: object) -> str:
    """``5`` -> ``"int:5"``."""
    kind = kind_of(value)
    return f"{kind.name}:{kind.encode(value)}"


_KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:/[^=\s/\x00-\x1f\x7f]+)+")


def check_key_name(name: str) -> str:
    if not _KEY_RE.fullmatch(name):
        raise InstallerUsageError(f"bad environment key {shown(name)} (expected NAMESPACE/name)")
    return name


Mode = Literal["set", "append", "prepend"]
_PREFIXES: dict[str, Mode] = {"APPEND:": "append", "PREPEND:": "prepend"}


@dataclass(frozen=True)
class Assignment:
    """One ``[APPEND:|PREPEND:]KEY=type:value`` argument."""

    key: str
    value: object
    mode: Mode = "set"
    source: str = "command line"

    @classmethod
    def parse(cls, argument: str, source: str = "command line") -> Assignment:
        left, sep, typed = argument.partition("=")
        if not sep:
            raise InstallerUsageError(f"bad argument {shown(argument)} (expected KEY=type:value)")
        mode: Mode = "set"
        for prefix, prefix_mode in _PREFIXES.items():
            if left.startswith(prefix):
                left, mode = left[len(prefix) :], prefix_mode
        return cls(check_key_name(left), decode(typed), mode, source)

    def combine(self, old: object) -> object:
        """The new value given the current one; lists extend, strings join with ``:``."""
        if self.mode == "set":
            return self.value
        append = self.mode == "append"
        if isinstance(self.value, str) and isinstance(old, str | None):
            parts = [old or "", self.value] if append else [self.value, old or ""]
            return ":".join(p for p in parts if p)
        if isinstance(self.value, tuple) and isinstance(old, tuple | None):
            previous = old or ()
            return (*previous, *self.value) if append else (*self.value, *previous)
        raise InstallerUsageError(
            f"{self.mode.upper()}:{self.key} needs str or multi-str values, "
            f"got {encode(self.value)!r} onto {old!r}"
        )
