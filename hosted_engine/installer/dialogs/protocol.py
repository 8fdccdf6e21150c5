"""Strings of the machine dialog wire protocol, shared by both ends so they cannot drift.

The format is the reference's, byte for byte, so existing managers can drive these
installers: one UTF-8 line per record, ``#`` lines are notes, ``**%`` lines are framing
that an old manager may ignore, ``***`` lines are the records a manager must act on.
"""

from __future__ import annotations

BOUNDARY = "--=451b80dc-996f-432e-9e4f-2b29ef6d1141=--"
ABORT_BOUNDARY = "--=451b80dc-996f-ABORT-9e4f-2b29ef6d1141=--"

NOTE = "###"
LOG = "***L:"
QUERY_STRING = "***Q:STRING"
QUERY_MULTI_STRING = "***Q:MULTI-STRING"
QUERY_VALUE = "***Q:VALUE"
CONFIRM = "***CONFIRM"
DISPLAY_VALUE = "***D:VALUE"
DISPLAY_MULTI_STRING = "***D:MULTI-STRING"
TERMINATE = "***TERMINATE"

QUERY_START = "**%QStart:"
QUERY_END = "**%QEnd:"
QUERY_DEFAULT = "**%QDefault:"
QUERY_VALID_VALUES = "**%QValidValues:"
QUERY_HIDDEN = "**%QHidden:"
EVENTS_LIST_START = "**%EventsListStart"
EVENTS_LIST_ENTRY = "**%EventsListEntry"
EVENTS_LIST_END = "**%EventsListEnd"
EVENT_START = "**%EventStart"
EVENT_END = "**%EventEnd"

# Replies from the manager.
REPLY_VALUE = "VALUE"
REPLY_CONFIRM = "CONFIRM"
REPLY_ABORT = "ABORT"

LOG_LEVELS = ("INFO", "WARNING", "ERROR", "CRITICAL", "FATAL")

# Well-known query names.
CUSTOMIZATION_COMMAND = "CUSTOMIZATION_COMMAND"
TERMINATION_COMMAND = "TERMINATION_COMMAND"
LOG_DISPLAY_NAME = "LOG"
EMBEDDED_BOUNDARY = "**BOUNDARY**"


def escape_valid_values(values: list[str] | tuple[str, ...]) -> str:
    """``a|b`` with each value's backslashes doubled and pipes escaped."""
    return "|".join(v.replace("\\", "\\\\").replace("|", "\\|") for v in values)


def unescape_valid_values(text: str) -> tuple[str, ...]:
    values: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == "|":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    values.append("".join(current))
    return tuple(values)


def confirm_note(name: str) -> str:
    return f"Response is {REPLY_CONFIRM} {name}=yes|no or {REPLY_ABORT} {name}"


def is_yes(text: str) -> bool | None:
    """``True``/``False`` for a confirm answer, ``None`` if it is neither."""
    folded = text.strip().lower()
    if folded in ("yes", "y"):
        return True
    if folded in ("no", "n"):
        return False
    return None
