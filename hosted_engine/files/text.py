"""Lines of the project's text files, split the one way every reader and writer agrees on.

``str.splitlines()`` also splits on U+2028, U+2029, U+0085 and ``\\x0b``, ``\\x0c``,
``\\x1c``-``\\x1e``, while ``configparser`` (an ``io.StringIO``), the shell and every other
tool split on ``\\n`` only. A value holding one of those characters was one line to the
value check and two to the next reader: a way to smuggle in a second ``key=value``.
So the files are split on ``\\n`` only (a ``\\r`` before it is tolerated), and a value
written into one must be a single printable line.
"""

from __future__ import annotations


def split_lines(text: str) -> list[str]:
    """The lines of ``text``: split on ``\\n`` only, a trailing ``\\r`` dropped from each."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start another
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def is_printable_line(value: str) -> bool:
    """Whether ``value`` is one line of printable text: no NUL, no line separator of any
    kind, no other control or format character, no lone surrogate (undecodable input)."""
    return value.isprintable()


# Every slot is written by another host, so nothing from one may reach the terminal raw:
# an escape sequence could rewrite the screen, a line break could fake a whole host
# block. C0, DEL and C1 controls and the Unicode line and paragraph separators are shown
# as \xHH / \uHHHH escapes; everything else (backslashes included) prints as written.
_CONTROLS = [*range(0x20), *range(0x7F, 0xA0)]
_ESCAPES = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in (0x2028, 0x2029)}


def terminal_line(value: object) -> str:
    """``value`` as one line of plain text, safe to print on a terminal."""
    return str(value).translate(_ESCAPES)
