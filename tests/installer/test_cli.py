"""The command-line entry point as a real process: usage errors, exit codes, signals."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from .helpers import Installer, subprocess_argv


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        subprocess_argv(*args), input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_help() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "usage: hosted-engine-installer" in result.stdout


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("nonsense", "bad argument 'nonsense' (expected KEY=type:value)"),
        (
            "BASE/error=bool:perhaps",
            "bad bool value 'perhaps': expected one of yes/no, true/false, on/off, 1/0",
        ),
        (
            "BASE/eror=bool:True",
            "unknown environment key BASE/eror (no plugin declares it); did you mean BASE/error?",
        ),
        (
            "DIALOG/dialect=str:klingon",
            "DIALOG/dialect: unknown dialect 'klingon' (known: human, machine)",
        ),
        ("CORE/logDir=int:3", "CORE/logDir is str, cannot be set to 3"),
    ],
)
def test_bad_input_is_one_line_on_stderr(argument: str, message: str, tmp_path: Path) -> None:
    result = run(argument, f"CORE/logDir=str:{tmp_path}")
    assert result.returncode == 1
    assert result.stderr == f"hosted-engine-installer: {message}\n"
    assert "Traceback" not in result.stdout


SLOW = """
from hosted_engine.installer import Plugin, Priority, Stage, event


class Slow(Plugin):
    @event(stage=Stage.MISC, priority=Priority.HIGH)
    def write(self):
        self.write_file("/etc/slow.conf", "new")

    @event(stage=Stage.MISC, priority=Priority.LOW)
    def wait(self):
        self.dialog.query_string("WAIT", "Waiting for an answer")

    @event(stage=Stage.CLEANUP)
    def wait_in_cleanup(self):
        self.dialog.query_string("CLEANUP_WAIT", "Cleaning up")
        self.logger.info("cleanup finished")


def create_plugins(context):
    Slow(context)
"""


def start(installer: Installer) -> subprocess.Popen[str]:
    installer.group("slow", {"slow": SLOW})
    (installer.root / "etc").mkdir()
    (installer.root / "etc" / "slow.conf").write_text("old\n")
    argv = installer.base_args(["slow"], [installer.plugins])
    return subprocess.Popen(
        subprocess_argv(*argv, "DIALOG/dialect=str:machine"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(process: subprocess.Popen[str], wanted: str) -> list[str]:
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line.rstrip("\n"))
        if line.startswith(wanted):
            return seen
    raise AssertionError(f"{wanted!r} never came; got {seen[-5:]}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_aborts_and_rolls_back(installer: Installer, signum: signal.Signals) -> None:
    process = start(installer)
    read_until(process, "***Q:STRING WAIT")
    process.send_signal(signum)
    rest, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"***L:WARNING Aborted: interrupted by {signum.name}" in rest
    assert rest.splitlines()[-1] == "***TERMINATE"
    assert (installer.root / "etc" / "slow.conf").read_text() == "old\n"
    assert sorted(p.name for p in (installer.root / "etc").iterdir()) == ["slow.conf"]
    assert stderr == f"hosted-engine-installer: interrupted by {signum.name}\n"


@pytest.mark.timeout(60)
def test_a_signal_during_cleanup_does_not_cut_it_short(installer: Installer) -> None:
    process = start(installer)
    assert process.stdin is not None
    read_until(process, "***Q:STRING WAIT")
    process.stdin.write("answer\n")
    process.stdin.flush()
    read_until(process, "***Q:STRING CLEANUP_WAIT")
    process.send_signal(signal.SIGTERM)
    rest, stderr = process.communicate("done\n", timeout=30)
    assert "***L:INFO cleanup finished" in rest
    assert process.returncode == 1  # the run still says it was interrupted
    assert (installer.root / "etc" / "slow.conf").read_text() == "new\n"  # committed before
    assert stderr == "hosted-engine-installer: interrupted by SIGTERM\n"
