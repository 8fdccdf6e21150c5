"""This host's local-maintenance flags (``ha.conf``, type ``ha`` in the reference).

Two flags as in the reference: ``local_maintenance`` (set by the manager when it puts the
host in maintenance) and ``local_maintenance_manual`` (set by the CLI), so an admin's
manual maintenance is not undone when the manager activates the host (BZ 1469143).
"""

from __future__ import annotations

from pathlib import Path

from hosted_engine.errors import ConfigError
from hosted_engine.files import keyvalue
from hosted_engine.locking import ranges

LOCAL = "local_maintenance"
LOCAL_MANUAL = "local_maintenance_manual"


def to_bool(value: str) -> bool:
    """The reference's rule: the first character decides; anything else is an error."""
    first = value.strip()[:1].lower()
    if first in ("t", "y", "1"):
        return True
    if first in ("f", "n", "0"):
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def read_flags(path: Path) -> dict[str, bool]:
    try:
        values = keyvalue.load(path)
    except ConfigError:
        if not path.exists():
            return {LOCAL: False, LOCAL_MANUAL: False}
        raise
    return {key: to_bool(values.get(key, "False")) for key in (LOCAL, LOCAL_MANUAL)}


def local_maintenance(path: Path) -> bool:
    flags = read_flags(path)
    return flags[LOCAL] or flags[LOCAL_MANUAL]


def set_flags(path: Path, local: bool, manual: bool, lock: Path) -> bool:
    """Write both flags under the host's local-config ``lock`` (shared with
    ``--set-shared-config --type=ha``); returns False when nothing changed."""
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        with ranges.exclusive_lock(lock):
            return keyvalue.update(path, {LOCAL: str(local), LOCAL_MANUAL: str(manual)})
    except OSError as e:
        raise ConfigError(f"cannot lock {lock}: {e.strerror}") from None
