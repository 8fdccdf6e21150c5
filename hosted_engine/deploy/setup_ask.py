"""Asking one answer key: a preset value is checked, not asked; a missing one is asked.

Every question of the setup group goes through here so the rule "a preset key is not
asked, but is validated exactly as an answer would be" holds for all of them, and a bad
preset value fails with one line naming the key and what it wants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hosted_engine.errors import InstallerUsageError
from hosted_engine.installer import INT, Key, Plugin

Check = Callable[[str], str | None]


def question_name(declared: Key[Any]) -> str:
    """``OVEHOSTED_STORAGE/hostID`` -> ``OVEHOSTED_STORAGE_HOSTID`` (a dialog name)."""
    return declared.name.replace("/", "_").upper()


def _problem(declared: Key[Any], check: Check | None) -> Check:
    is_int = declared.kind == INT

    def problem(text: str) -> str | None:
        value: object = text
        if is_int:
            if not text.isascii() or not text.lstrip("-").isdigit():
                return "want a whole number"
            value = int(text)
        if declared.check is not None and (reason := declared.check(value)) is not None:
            return str(reason)
        return check(text) if check is not None else None

    return problem


def ask(
    plugin: Plugin,
    declared: Key[Any],
    note: str,
    default: object = None,
    check: Check | None = None,
) -> Any:
    """The key's value: preset (checked) or asked, with ``default`` offered (else the
    declared default)."""
    env = plugin.environment
    current = env.get(declared.name)
    problem = _problem(declared, check)
    if current is not None and env.is_assigned(declared.name):
        if (reason := problem(str(current))) is not None:
            raise InstallerUsageError(f"{declared.name}={current}: {reason}")
        return current
    offered = default if default is not None else current
    answer = plugin.dialog.query_string(
        question_name(declared),
        note,
        default=None if offered is None else str(offered),
        validate=problem,
    )
    value = int(answer) if declared.kind == INT else answer
    env.set(declared.name, value)
    return value
