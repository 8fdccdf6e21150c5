"""The file storage domain: ``<storage>/<sdUUID>/ha_agent/`` with the two HA files.

The layout and names are the reference's, so a domain prepared by either can be read by
the other. Creating a domain is idempotent and never wipes an existing metadata file:
running it on a live domain must not make every host forget the others.
"""

from __future__ import annotations

import os
from pathlib import Path

from hosted_engine.errors import StorageError
from hosted_engine.storage.metadata import MAX_HOST_ID, SLOT_BYTES

# The file storage domain's layout, as the reference lays it out: <storage>/<sdUUID>/...
HA_DIR_NAME = "ha_agent"
METADATA_NAME = "hosted-engine.metadata"
LOCKSPACE_NAME = "hosted-engine.lockspace"
METADATA_BYTES = (MAX_HOST_ID + 1) * SLOT_BYTES
_FILE_MODE = 0o660


def ha_dir(storage: Path, sd_uuid: str) -> Path:
    """``<storage>/<sdUUID>/ha_agent``, refusing an sdUUID that would leave ``storage``."""
    if not sd_uuid or sd_uuid in (".", "..") or "/" in sd_uuid or "\0" in sd_uuid:
        raise StorageError(f"invalid storage domain UUID {sd_uuid!r}: must be one path component")
    return Path(storage) / sd_uuid / HA_DIR_NAME


def _create_file(path: Path, size: int) -> None:
    """Create ``path`` with ``size`` zero bytes (sparse) unless it already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
    except FileExistsError:
        return
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def create_domain(storage: Path, sd_uuid: str) -> Path:
    """Lay out the domain under an existing ``storage`` directory; returns the ha_agent dir."""
    directory = ha_dir(storage, sd_uuid)
    if not Path(storage).is_dir():
        raise StorageError(f"cannot create storage domain: {storage} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _create_file(directory / METADATA_NAME, METADATA_BYTES)
        _create_file(directory / LOCKSPACE_NAME, 0)
    except OSError as e:
        raise StorageError(f"cannot create storage domain in {directory}: {e.strerror}") from None
    return directory


def check_domain(storage: Path, sd_uuid: str) -> Path:
    """Raise naming the first missing piece of the domain; returns the ha_agent dir."""
    directory = ha_dir(storage, sd_uuid)
    for path, is_kind, kind in (
        (Path(storage), Path.is_dir, "storage directory"),
        (directory.parent, Path.is_dir, "storage domain directory"),
        (directory, Path.is_dir, "ha_agent directory"),
        (directory / METADATA_NAME, Path.is_file, "metadata file"),
        (directory / LOCKSPACE_NAME, Path.is_file, "lockspace file"),
    ):
        if not is_kind(path):
            raise StorageError(f"storage domain {sd_uuid}: {kind} {path} is missing")
    return directory
