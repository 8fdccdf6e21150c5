"""Files written through a transaction: all of them change, or none does.

The new content is written to a temporary file beside the target at prepare time; commit
renames it into place after hard-linking the old file to ``<name>.<timestamp>``. The link
is both the backup the reference kept and the undo record, restored by one rename if a
later element fails to commit.
"""

from __future__ import annotations

import grp
import os
import pwd
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from hosted_engine.errors import TransactionError

from .transaction import TransactionElement

Content = str | bytes | Iterable[str]


def _as_bytes(content: Content) -> bytes:
    if isinstance(content, bytes):
        return content
    text = content if isinstance(content, str) else "\n".join(content)
    if text and not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8")


def _uid(owner: str | int | None) -> int:
    if owner is None:
        return -1
    return owner if isinstance(owner, int) else pwd.getpwnam(owner).pw_uid


def _gid(group: str | int | None) -> int:
    if group is None:
        return -1
    return group if isinstance(group, int) else grp.getgrnam(group).gr_gid


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileTransaction(TransactionElement):
    """Replace ``path`` with ``content``.

    An existing file keeps its mode and owner unless ``enforce_permissions``; a new one gets
    ``mode``/``owner``/``group``, and missing parent directories get ``dir_mode``. With
    ``keep_backup=False`` the old file is dropped once the whole transaction has committed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        content: Content,
        *,
        mode: int = 0o644,
        owner: str | int | None = None,
        group: str | int | None = None,
        dir_mode: int = 0o755,
        enforce_permissions: bool = False,
        keep_backup: bool = True,
        modified: list[str] | None = None,
    ) -> None:
        self.path = Path(os.path.realpath(path))
        self._content = _as_bytes(content)
        self._mode, self._owner, self._group = mode, owner, group
        self._dir_mode = dir_mode
        self._enforce = enforce_permissions
        self._keep_backup = keep_backup
        self._modified = modified
        self._tmp: Path | None = None
        self._created_dirs: list[Path] = []
        self.backup: Path | None = None
        self._committed = False

    def __repr__(self) -> str:
        return f"FileTransaction({str(self.path)!r})"

    def prepare(self) -> None:
        try:
            self._prepare()
        except BaseException:
            self.abort()
            raise

    def _prepare(self) -> None:
        try:
            current = self.path.stat()
        except FileNotFoundError:
            current = None
        if current is not None:
            if not self.path.is_file():
                raise TransactionError(f"{self.path} exists and is not a regular file")
            if not os.access(self.path, os.W_OK):
                raise TransactionError(f"{self.path} is not writable")
            if self.path.read_bytes() == self._content:
                return  # nothing to do
        self._make_parents()
        fd, name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        self._tmp = Path(name)
        with os.fdopen(fd, "wb") as f:
            f.write(self._content)
            f.flush()
            os.fsync(f.fileno())
        if current is not None and not self._enforce:
            os.chmod(self._tmp, current.st_mode & 0o7777)
            os.chown(self._tmp, current.st_uid, current.st_gid)
        else:
            os.chown(self._tmp, _uid(self._owner), _gid(self._group))
            os.chmod(self._tmp, self._mode)

    def _make_parents(self) -> None:
        missing = [p for p in reversed(self.path.parents) if not p.exists()]
        for directory in missing:
            directory.mkdir(mode=self._dir_mode)
            os.chmod(directory, self._dir_mode)  # mkdir's mode is filtered by the umask
            self._created_dirs.append(directory)

    def commit(self) -> None:
        if self._tmp is None:
            return
        if self.path.exists():
            self.backup = self._free_backup_name()
            os.link(self.path, self.backup)
        os.replace(self._tmp, self.path)
        self._tmp = None
        self._committed = True
        _fsync_dir(self.path.parent)
        if self._modified is not None:
            self._modified.append(str(self.path))

    def _free_backup_name(self) -> Path:
        stamp = time.strftime("%Y%m%d%H%M%S")
        candidate = self.path.with_name(f"{self.path.name}.{stamp}")
        counter = 0
        while candidate.exists():
            counter += 1
            candidate = self.path.with_name(f"{self.path.name}.{stamp}.{counter}")
        return candidate

    def rollback(self) -> None:
        if not self._committed:
            return
        if self.backup is not None:
            os.replace(self.backup, self.path)
            self.backup = None
        else:
            self.path.unlink(missing_ok=True)
        self._committed = False
        if not self._remove_created_dirs():
            _fsync_dir(self.path.parent)

    def abort(self) -> None:
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        if not self._committed:
            self._remove_created_dirs()

    def _remove_created_dirs(self) -> bool:
        """Remove the directories prepare created; True if the file's own one went too."""
        removed = False
        for directory in reversed(self._created_dirs):
            try:
                directory.rmdir()
            except OSError:
                break  # not empty: someone else put something there
            removed = directory == self.path.parent
        self._created_dirs = []
        return removed

    def finish(self) -> None:
        if not self._keep_backup and self.backup is not None:
            self.backup.unlink(missing_ok=True)
            self.backup = None
