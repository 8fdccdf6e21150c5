"""FileTransaction and Transaction: atomic files, kept permissions, backups, rollback."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hosted_engine.errors import TransactionError
from hosted_engine.installer import FileTransaction, Transaction, TransactionElement

from .helpers import Installer


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_new_file_with_parents_is_invisible_until_commit(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.conf"
    with Transaction("t") as transaction:
        transaction.append(FileTransaction(target, ["x=1", "y=2"], mode=0o640, dir_mode=0o750))
        assert not target.exists()
    assert target.read_text() == "x=1\ny=2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o750
    assert leftovers(target.parent) == []


def test_abort_removes_temp_files_and_created_directories(tmp_path: Path) -> None:
    target = tmp_path / "new" / "file.conf"
    transaction = Transaction("t")
    transaction.append(FileTransaction(target, "x"))
    transaction.prepare()
    assert leftovers(target.parent)  # the content is staged beside the target
    transaction.abort()
    assert not (tmp_path / "new").exists()


def test_existing_file_keeps_mode_and_owner_and_is_backed_up(tmp_path: Path) -> None:
    target = tmp_path / "file.conf"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    os.chown(target, 1234, 5678)
    with Transaction("t") as transaction:
        transaction.append(element := FileTransaction(target, "new", mode=0o644))
    assert target.read_text() == "new\n"
    info = target.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o600, 1234, 5678)
    assert element.backup is not None and element.backup.read_text() == "old\n"
    assert element.backup.name.startswith("file.conf.20")


def test_enforce_permissions_and_no_backup(tmp_path: Path) -> None:
    target = tmp_path / "file.conf"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    element = FileTransaction(
        target, "new", mode=0o644, enforce_permissions=True, keep_backup=False
    )
    with Transaction("t") as transaction:
        transaction.append(element)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.conf"]


def test_identical_content_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "file.conf"
    target.write_text("same\n")
    before = target.stat()
    modified: list[str] = []
    with Transaction("t") as transaction:
        transaction.append(FileTransaction(target, "same", modified=modified))
    assert target.stat().st_ino == before.st_ino
    assert modified == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.conf"]


def test_a_directory_in_the_way_fails_prepare(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    transaction = Transaction("t")
    transaction.append(FileTransaction(tmp_path / "dir", "x"))
    with pytest.raises(TransactionError, match="not a regular file"):
        transaction.prepare()


def test_failed_commit_rolls_back_what_was_already_committed(tmp_path: Path) -> None:
    first, second = tmp_path / "first.conf", tmp_path / "second.conf"
    first.write_text("old first\n")
    transaction = Transaction("t")
    transaction.append(FileTransaction(first, "new first"))
    transaction.append(FileTransaction(tmp_path / "created.conf", "new"))
    transaction.append(FileTransaction(second, "new second"))
    transaction.prepare()
    second.mkdir()  # appears after prepare: the rename over it will fail
    (second / "keep").write_text("")
    with pytest.raises(TransactionError, match="failed to commit"):
        transaction.commit()
    assert first.read_text() == "old first\n"
    assert not (tmp_path / "created.conf").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.conf", "second.conf"]


class Recorder(TransactionElement):
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def prepare(self) -> None:
        self.log.append(f"prepare {self.name}")

    def commit(self) -> None:
        self.log.append(f"commit {self.name}")

    def abort(self) -> None:
        self.log.append(f"abort {self.name}")


def test_elements_commit_in_order_and_late_ones_prepare_at_once() -> None:
    log: list[str] = []
    transaction = Transaction("t")
    transaction.append(Recorder(log, "a"))
    transaction.prepare()
    transaction.append(Recorder(log, "b"))
    assert log == ["prepare a", "prepare b"]
    transaction.commit()
    assert log[2:] == ["commit a", "commit b"]
    with pytest.raises(TransactionError, match="already committed"):
        transaction.append(Recorder(log, "c"))
    transaction.abort()  # a no-op once committed
    assert "abort a" not in log


WRITER = """
from hosted_engine.installer import INT, Plugin, Priority, Stage, event, key
from pathlib import Path

FAIL = key("TEST/fail", INT, 0)


class Writer(Plugin):
    def __init__(self, context):
        super().__init__(context)
        self.declare(FAIL)

    @event(stage=Stage.MISC, priority=Priority.HIGH)
    def write(self):
        self.write_file("/etc/app/existing.conf", "new existing")
        self.write_file("/etc/app/fresh/new.conf", "brand new")

    @event(stage=Stage.MISC, priority=Priority.LOW)
    def maybe_fail(self):
        if self.environment[FAIL] == 1:
            raise RuntimeError("misc failed")
        if self.environment[FAIL] == 2:  # sabotage the commit of the second file
            Path(self.resolve("/etc/app/fresh/new.conf")).mkdir()
            Path(self.resolve("/etc/app/fresh/new.conf/x")).write_text("")


def create_plugins(context):
    Writer(context)
"""


@pytest.mark.parametrize("failure", [0, 1, 2], ids=["success", "misc-fails", "commit-fails"])
def test_run_commits_or_rolls_back_every_file(installer: Installer, failure: int) -> None:
    existing = installer.root / "etc" / "app" / "existing.conf"
    existing.parent.mkdir(parents=True)
    existing.write_text("old existing\n")
    installer.group("writer", {"writer": WRITER})
    outcome = installer.run(["writer"], f"TEST/fail=int:{failure}")
    fresh = installer.root / "etc" / "app" / "fresh"
    if failure == 0:
        assert outcome.code == 0
        assert existing.read_text() == "new existing\n"
        assert (fresh / "new.conf").read_text() == "brand new\n"
        return
    assert outcome.code == 1
    assert existing.read_text() == "old existing\n"
    names = sorted(p.name for p in existing.parent.iterdir())
    assert names == (["existing.conf"] if failure == 1 else ["existing.conf", "fresh"])
