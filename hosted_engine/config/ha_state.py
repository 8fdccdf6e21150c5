"""This host's local-maintenance flags (``ha.conf``, type ``ha`` in the reference).

Two flags as in the reference: ``local_maintenance`` (set by the manager when it puts the
host in maintenance) and ``local_maintenance_manual`` (set by the CLI), so an admin's
manual maintenance is not undone when the manager activates the host (BZ 1469143).
"""

from __future__ import annotations

from pathlib import Path

from hosted_engine.config import keyvalue
from hosted_engine.errors import ConfigError

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


def set_flags(path: Path, local: bool, manual: bool) -> bool:
    """Write both flags; returns False when nothing changed."""
    return keyvalue.update(path, {LOCAL: str(local), LOCAL_MANUAL: str(manual)})
