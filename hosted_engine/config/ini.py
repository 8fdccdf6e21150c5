"""Setting one option of an INI file (broker.conf) without losing anything else in it.

configparser reads these files well but writes them back without their comments. So the
edit is made to the text: the option's line is replaced in place (with its continuation
lines), or the new line goes right after the commented-out default (``# smtp-port = 25``)
or at the end of its section. The result is read back with configparser, which must see
exactly the value asked for, so an edit that configparser would read differently is
refused instead of written.
"""

from __future__ import annotations

import configparser
import re

from hosted_engine.errors import ConfigError
from hosted_engine.files.text import split_lines

_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]\s*$")
_OPTION = re.compile(r"^(?P<key>[^\s=:#;\[][^=:]*?)\s*[=:]")
_COMMENTED = re.compile(r"^[#;]\s*(?P<key>[^\s=:]+)\s*[=:]")


def one_line(error: Exception) -> str:
    """configparser's messages span lines; ours never do."""
    return " ".join(str(error).split())


def parse(text: str, source: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source)
    except configparser.Error as e:
        raise ConfigError(f"{source}: {one_line(e)}") from None
    return parser


def get(text: str, section: str, key: str, source: str) -> str | None:
    """The option's value, or None when the file does not set it."""
    return parse(text, source).get(section, key, fallback=None)


def set_option(text: str, section: str, key: str, value: str, source: str) -> str:
    """``text`` with ``[section] key = value``, every other line kept as it was."""
    lines = split_lines(text)  # as configparser splits them: on \n only
    current: str | None = None
    found_section = False
    anchor: int | None = None  # insert after this line when the option is not set yet
    commented: int | None = None
    out: list[str] = []
    replaced = skipping = False
    for raw in lines:
        if skipping and raw[:1].isspace() and raw.strip():
            continue  # a continuation line of the value we replaced
        skipping = False
        header = _SECTION.match(raw)
        if header:
            current = header.group("name")
        in_section = current == section
        option = _OPTION.match(raw) if in_section and not header else None
        if option and option.group("key").strip().lower() == key.lower() and not replaced:
            out.append(f"{key} = {value}")
            replaced = skipping = True
            continue
        out.append(raw)
        if in_section:
            found_section = True
            if raw.strip():
                anchor = len(out) - 1
            mark = _COMMENTED.match(raw)
            if mark and mark.group("key").lower() == key.lower():
                commented = len(out) - 1
    if not replaced:
        if found_section:
            where = commented if commented is not None else anchor
            assert where is not None  # the section's header line at least
            out.insert(where + 1, f"{key} = {value}")
        else:
            if out and out[-1].strip():
                out.append("")
            out += [f"[{section}]", f"{key} = {value}"]
    new = "\n".join(out) + "\n"
    if get(new, section, key, source) != value:
        raise ConfigError(f"{source}: cannot set [{section}] {key} to {value!r} in this file")
    return new
