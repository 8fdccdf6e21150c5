"""The one ``type:value`` codec and ``[APPEND:|PREPEND:]KEY=type:value`` arguments."""

from __future__ import annotations

import pytest

from hosted_engine.errors import InstallerUsageError
from hosted_engine.installer import values
from hosted_engine.installer.values import Assignment


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("bool:0", False),
        ("bool:no", False),
        ("bool:False", False),
        ("bool:off", False),
        ("bool:1", True),
        ("bool:yes", True),
        ("bool:TRUE", True),
        ("int:42", 42),
        ("int:-3", -3),
        ("str:", ""),
        ("str:a:b=c", "a:b=c"),
        ("none:", None),
        ("none:None", None),
        ("multi-str:a\nb", ("a", "b")),
        ("multi-str:", ()),
    ],
)
def test_decode(typed: str, expected: object) -> None:
    assert values.decode(typed) == expected
    assert type(values.decode(typed)) is type(expected)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("bool:maybe", "bad bool value 'maybe'"),
        ("bool:", "bad bool value ''"),
        ("int:4.5", "bad int value '4.5'"),
        ("none:x", "bad none value 'x'"),
        ("float:1.0", "unknown value type 'float'"),
        ("novalue", "missing value type"),
    ],
)
def test_decode_is_strict(typed: str, message: str) -> None:
    with pytest.raises(InstallerUsageError, match=message):
        values.decode(typed)


@pytest.mark.parametrize("value", [None, True, False, 0, 7, "", "x:y", ("a", "b"), ()])
def test_encode_round_trips(value: object) -> None:
    assert values.decode(values.encode(value)) == value


def test_bool_is_not_an_int() -> None:
    assert not values.INT.accepts(True)
    assert values.encode(True) == "bool:True"


def test_assignment_parse() -> None:
    parsed = Assignment.parse("NS/key=int:5")
    assert (parsed.key, parsed.value, parsed.mode) == ("NS/key", 5, "set")
    assert Assignment.parse("APPEND:NS/k=str:x").mode == "append"
    assert Assignment.parse("PREPEND:NS/k=str:x").mode == "prepend"
    assert Assignment.parse("QUESTION/A/B=str:x=y").value == "x=y"


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("NS/key", "expected KEY=type:value"),
        ("nokey=str:x", "bad environment key 'nokey'"),
        ("NS/key=5", "missing value type"),
        ("=str:x", "bad environment key ''"),
    ],
)
def test_assignment_rejects_bad_arguments(argument: str, message: str) -> None:
    with pytest.raises(InstallerUsageError, match=message):
        Assignment.parse(argument)


@pytest.mark.parametrize(
    ("argument", "old", "new"),
    [
        ("APPEND:NS/k=str:b", "a", "a:b"),
        ("APPEND:NS/k=str:b", None, "b"),  # no leading ':' as in the reference
        ("APPEND:NS/k=str:b", "", "b"),
        ("PREPEND:NS/k=str:b", "a", "b:a"),
        ("APPEND:NS/k=multi-str:c", ("a", "b"), ("a", "b", "c")),
        ("PREPEND:NS/k=multi-str:c", ("a",), ("c", "a")),
        ("NS/k=str:b", "a", "b"),
    ],
)
def test_append_and_prepend(argument: str, old: object, new: object) -> None:
    assert Assignment.parse(argument).combine(old) == new


def test_append_to_an_int_is_refused() -> None:
    with pytest.raises(InstallerUsageError, match="APPEND:NS/k needs str or multi-str"):
        Assignment.parse("APPEND:NS/k=int:1").combine(2)
