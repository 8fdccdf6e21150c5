"""Helpers for installer tests: plugin groups on disk, in-process and subprocess runs."""

from __future__ import annotations

import io
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from hosted_engine.installer import cli

HERE = Path(__file__).parent
TESTPLUGINS = HERE / "testplugins"


def write_group(base: Path, group: str, plugins: Mapping[str, str]) -> Path:
    """Create ``base/group/<plugin>/__init__.py`` for each plugin source; returns ``base``."""
    for name, source in plugins.items():
        package = base / group / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(textwrap.dedent(source))
    return base


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    log: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


class Installer:
    """Runs the installer in this process, with its log and system root in a temp dir."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp = tmp_path
        self.root = tmp_path / "root"
        self.root.mkdir()
        self.logdir = tmp_path / "log"
        self.plugins = tmp_path / "plugins"
        self._capsys = capsys

    def base_args(self, groups: Sequence[str], path: Sequence[Path]) -> list[str]:
        return [
            f"BASE/pluginPath=str:{':'.join(str(p) for p in path)}",
            f"BASE/pluginGroups=str:{':'.join(groups)}",
            f"SYSTEM/root=str:{self.root}",
            f"CORE/logDir=str:{self.logdir}",
            "PACKAGER/provider=str:offline",
            "SYSTEM/servicesProvider=str:recording",
        ]

    def run(
        self,
        groups: Sequence[str] = (),
        *args: str,
        stdin: str = "",
        path: Sequence[Path] | None = None,
        machine: bool = False,
    ) -> Outcome:
        search = list(path) if path is not None else [self.plugins, TESTPLUGINS]
        argv = self.base_args(groups, search) + (["DIALOG/dialect=str:machine"] if machine else [])
        out = io.StringIO()
        self._capsys.readouterr()
        code = cli.main([*argv, *args], stdin=io.StringIO(stdin), stdout=out)
        logs = (
            sorted(self.logdir.glob("*.log"), key=os.path.getmtime) if self.logdir.exists() else []
        )
        log = logs[-1].read_text() if logs else ""
        for old in logs:
            old.unlink()
        return Outcome(code, out.getvalue(), self._capsys.readouterr().err, log)

    def group(self, group: str, plugins: Mapping[str, str]) -> None:
        write_group(self.plugins, group, plugins)


def subprocess_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "hosted_engine.installer.cli", *args]
