"""``key=value`` files (hosted-engine.conf, ha.conf, vm.conf) that keep what they don't own.

The reference rewrote these files from a dict, losing comments, and appended a duplicate
line when a key was set to its current value (D8). Here a write replaces the value in
place, appends only new keys, leaves comments and unknown lines alone, and does nothing
at all when the value is unchanged. Writes are atomic (temp file, fsync, rename).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hosted_engine.errors import ConfigError
from hosted_engine.files.atomic import write_atomically
from hosted_engine.files.text import is_printable_line, split_lines

NOT_ONE_LINE = "it must be one line of printable text"


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
            raise ConfigError(f"{source}:{number}: expected key=value, got {raw.strip()!r}")
        values[key.strip()] = value.strip()
    return values


def load(path: str | Path) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    return parse(text, str(path))


def update_text(text: str, changes: Mapping[str, str | None]) -> str:
    """``text`` with each key set (or removed, for ``None``), everything else kept.

    A key or value that would not stay one ``key=value`` line is refused (ConfigError)."""
    for key, value in changes.items():
        if not key.strip() or "=" in key or "#" in key[:1] or not is_printable_line(key):
            raise ConfigError(f"Invalid key {key!r}: {NOT_ONE_LINE} without '='")
        if value is not None and not is_printable_line(value):
            raise ConfigError(f"Invalid value for {key}: {NOT_ONE_LINE}")
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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
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
