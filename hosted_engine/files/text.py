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
