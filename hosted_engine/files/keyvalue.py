"""``key=value`` files (hosted-engine.conf, ha.conf, vm.conf) that keep what they don't own.

The reference rewrote these files from a dict, losing comments, and appended a duplicate
line when a key was set to its current value (D8). Here a write replaces the value in
place, appends only new keys, leaves comments and unknown lines alone, and does nothing
at all when the value is unchanged. Writes are atomic (temp file, fsync, rename).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from hosted_engine.errors import ConfigError
from hosted_engine.files import regular
from hosted_engine.files.atomic import write_atomically
from hosted_engine.files.text import is_printable_line, split_lines

NOT_ONE_LINE = "it must be one line of printable text"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # C0 and C1 controls but the tab


def parse(text: str, source: str = "<text>") -> dict[str, str]:
    """Keys and values; blank lines and ``#`` comments are skipped, a later key wins.

    Lines end at ``\n`` only (see :mod:`hosted_engine.files.text`)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(split_lines(text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            shown = line if len(line) <= 80 else line[:80] + "..."
            raise ConfigError(f"{source}:{number}: expected key=value, got {shown!r}")
        control = _CONTROL.search(line)
        if control:
            # a NUL would be cut off by the kernel in a path, an ESC would repaint a
            # terminal: no reader means them, so the file is refused, not half-used
            raise ConfigError(
                f"{source}:{number}: control character {control.group()!r} in {key.strip()}"
            )
        values[key.strip()] = value.strip()
    return values


def read(path: str | Path) -> str | None:
    """The file's text, None when it does not exist; a FIFO, a device, an oversize or
    non-UTF-8 file is a one-line ConfigError, never a hang."""
    return regular.read_text(Path(path), ConfigError)


def load(path: str | Path) -> dict[str, str]:
    text = read(path)
    if text is None:
        raise ConfigError(f"{path}: no such file")
    return parse(text, str(path))


def update_text(text: str, changes: Mapping[str, str | None]) -> str:
    """``text`` with each key set (or removed, for ``None``), everything else kept.

    A key or value that would not stay one ``key=value`` line is refused (ConfigError)."""
    for name, new in changes.items():
        if not name.strip() or "=" in name or name.startswith("#") or not is_printable_line(name):
            raise ConfigError(f"Invalid key {name!r}: {NOT_ONE_LINE} without '='")
        if new is not None and not is_printable_line(new):
            raise ConfigError(f"Invalid value for {name}: {NOT_ONE_LINE}")
    pending = dict(changes)
    out: list[str] = []
    for raw in split_lines(text):
        line = raw.strip()
        key = line.partition("=")[0].strip() if "=" in line and not line.startswith("#") else None
        if key is not None and key in changes:
            value = changes[key]
            if value is None or key not in pending:
                continue  # removed, or a duplicate of a key already written
            out.append(f"{key}={value}")
            del pending[key]
        else:
            out.append(raw)
    out.extend(f"{k}={v}" for k, v in pending.items() if v is not None)
    return "\n".join(out) + "\n" if out else ""


def atomic_write(path: str | Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` whole or not at all, creating its directory; raises ``OSError``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text, mode=mode)


def update(path: str | Path, changes: Mapping[str, str | None]) -> bool:
    """Apply ``changes`` to the file; returns False (and writes nothing) when nothing changes."""
    path = Path(path)
    text = read(path) or ""
    new = update_text(text, changes)
    if new == text:
        return False
    current = parse(text, str(path))
    if all(current.get(k) == v for k, v in changes.items()):
        return False
    try:
        atomic_write(path, new)
    except OSError as e:
        raise ConfigError(f"{path}: cannot write: {e}") from None
    return True
