"""Bad input to the installer: exit codes, plugins calling sys.exit, bytes that are not
UTF-8, NULs and line breaks in values, bad types, and files that are not files."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from hosted_engine.installer import values

from .helpers import TESTPLUGINS, Installer, subprocess_argv, write_group

TRACKER = """
from hosted_engine.installer import INT, STR, Plugin, Stage, event, key, keys

CODE = key("TEST/code", INT, 0)
TEXT = key("TEST/text", STR)
WHERE = key("TEST/exitIn", STR, "")


class Tracker(Plugin):
    def __init__(self, context):
        super().__init__(context)
        self.declare(CODE, TEXT, WHERE)

    @event(stage=Stage.MISC)
    def misc(self):
        self.write_file("/etc/tracker.conf", "written")
        if self.environment[CODE]:
            self.environment[keys.EXIT_CODE] = self.environment[CODE]
        if self.environment[WHERE] == "misc":
            import sys
            sys.exit(3)

    @event(stage=Stage.CLOSEUP)
    def closeup(self):
        if self.environment[WHERE] == "closeup":
            raise SystemExit(0)

    @event(stage=Stage.CLEANUP)
    def cleanup(self):
        self.logger.info("cleanup ran")

    @event(stage=Stage.TERMINATE)
    def terminate(self):
        self.logger.info("terminate ran, text=%r", self.environment[TEXT])


def create_plugins(context):
    Tracker(context)
"""

ASKER = """
from hosted_engine.installer import Plugin, Stage, event


class Asker(Plugin):
    @event(stage=Stage.CUSTOMIZATION)
    def ask(self):
        name = self.dialog.query_string("HOST_NAME", "Host name:")
        self.logger.info("answer=%s", name)
        lines = self.dialog.query_multi_string("LINES", "Some lines:")
        self.logger.info("lines=%s", "|".join(lines))


def create_plugins(context):
    Asker(context)
"""


@pytest.fixture
def groups(tmp_path: Path) -> Path:
    base = tmp_path / "plugins"
    write_group(base, "tracker", {"tracker": TRACKER})
    write_group(base, "asker", {"asker": ASKER})
    return base


def process(
    tmp_path: Path, groups: Path, group: str, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    argv = subprocess_argv(
        f"BASE/pluginPath=str:{groups}:{TESTPLUGINS}",
        f"BASE/pluginGroups=str:{group}",
        f"SYSTEM/root=str:{root}",
        f"CORE/logDir=str:{tmp_path / 'log'}",
        "PACKAGER/provider=str:offline",
        "SYSTEM/servicesProvider=str:recording",
        *args,
    )
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=60, check=False)


def one_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


# --- exit codes -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["256", "512", "-1", "1000000"])
def test_an_exit_code_out_of_range_is_refused_up_front(
    tmp_path: Path, groups: Path, code: str
) -> None:
    result = process(tmp_path, groups, "tracker", f"BASE/exitCode=int:{code}")
    assert result.returncode == 1
    assert "BASE/exitCode: an exit code must be between 0 and 255" in one_line(result.stderr)
    assert not (tmp_path / "root" / "etc").exists()


def test_a_failed_run_with_exit_code_256_does_not_exit_0(tmp_path: Path, groups: Path) -> None:
    """256 is 0 to the OS; a plugin asking for it makes the run fail instead."""
    result = process(tmp_path, groups, "tracker", "TEST/code=int:256")
    assert result.returncode == 1
    assert "BASE/exitCode: an exit code must be between 0 and 255 (got 256)" in one_line(
        result.stderr
    )
    assert b"cleanup ran" in result.stdout and b"terminate ran" in result.stdout
    assert not (tmp_path / "root" / "etc" / "tracker.conf").exists()  # rolled back


def test_a_non_int_exit_code_is_refused(tmp_path: Path, groups: Path) -> None:
    result = process(tmp_path, groups, "tracker", "BASE/exitCode=str:3")
    assert result.returncode == 1
    assert "BASE/exitCode is int, cannot be set to '3'" in one_line(result.stderr)


def test_a_valid_exit_code_is_kept(tmp_path: Path, groups: Path) -> None:
    assert process(tmp_path, groups, "tracker", "TEST/code=int:255").returncode == 255


# --- sys.exit in plugin code ----------------------------------------------------------------


@pytest.mark.parametrize(("stage", "call"), [("misc", "sys.exit(3)"), ("closeup", "sys.exit(0)")])
def test_sys_exit_in_a_plugin_is_a_failure_with_cleanup(
    tmp_path: Path, groups: Path, stage: str, call: str
) -> None:
    result = process(tmp_path, groups, "tracker", f"TEST/exitIn=str:{stage}")
    assert result.returncode == 1
    message = one_line(result.stderr)
    assert f"Tracker.{stage} (" in message and f"called {call} in stage {stage}" in message
    assert b"cleanup ran" in result.stdout and b"terminate ran" in result.stdout
    assert b"Failed to execute stage" in result.stdout
    if stage == "misc":  # before the commit: nothing was written
        assert not (tmp_path / "root" / "etc" / "tracker.conf").exists()


def test_sys_exit_while_loading_is_a_load_failure(installer: Installer) -> None:
    installer.group("quitter", {"quitter": "import sys\nsys.exit(0)\n"})
    outcome = installer.run(["quitter"])
    assert outcome.code == 2
    assert outcome.stderr == (
        "hosted-engine-installer: plugin quitter/quitter: called sys.exit(0) while loading\n"
    )


# --- invalid UTF-8 in dialog input ----------------------------------------------------------


def test_a_person_is_asked_again_after_a_line_that_is_not_utf8(
    tmp_path: Path, groups: Path
) -> None:
    stdin = b"\xff\xfehost\nhost-1\nline one\n\xc3(\nline two\n.\n"
    result = process(tmp_path, groups, "asker", stdin=stdin)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert out.count("is not UTF-8 text") == 2
    assert "please answer again" in out and "that line was ignored" in out
    assert "answer=host-1" in out and "lines=line one|line two" in out
    assert "Traceback" not in out + result.stderr.decode()


def test_a_nul_in_a_dialog_line_is_refused_like_bad_bytes(tmp_path: Path, groups: Path) -> None:
    result = process(tmp_path, groups, "asker", stdin=b"ho\x00st\nhost-2\n.\n")
    assert result.returncode == 0, result.stderr
    assert b"answer=host-2" in result.stdout and b"is not UTF-8 text" in result.stdout


def test_a_manager_sending_bytes_that_are_not_utf8_fails_the_run_cleanly(
    tmp_path: Path, groups: Path
) -> None:
    result = process(tmp_path, groups, "asker", "DIALOG/dialect=str:machine", stdin=b"\xff\n")
    assert result.returncode == 1
    assert "the line given for HOST_NAME is not UTF-8 text" in one_line(result.stderr)
    lines = result.stdout.decode().splitlines()
    assert lines[-1] == "***TERMINATE"


def test_the_command_line_refuses_a_bad_line_and_prompts_again(
    tmp_path: Path, groups: Path
) -> None:
    result = process(
        tmp_path,
        groups,
        "tracker",
        "DIALOG/dialect=str:machine",
        "DIALOG/customization=bool:True",
        stdin=b"env-set -k TEST/text -v \xff\xfe\ninstall\nquit\n",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "***L:ERROR Invalid command line: the line given for CUSTOMIZATION_COMMAND" in out
    assert "terminate ran, text=None" in out


# --- values: NUL, line breaks, length, types ------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("str:a\nb", "a str value must be one line"),
        ("str:a\rb", "a str value must be one line"),
        ("str:a\x00b", "a str value must be one line"),
        ("str:a\u2028b", "a str value must be one line"),
        ("multi-str:a\x00b", "cannot hold NUL"),
        ("int:+5", "bad int value '+5'"),
        ("int: 5", "bad int value ' 5'"),
        ("int:5_000", "bad int value '5_000'"),
        ("int:\u0664\u0660", "bad int value"),
        ("int:\uff14", "bad int value"),
        ("int:" + "9" * 5000, "bad int value '99999"),
        ("int:", "bad int value ''"),
        ("float:1", "unknown value type 'float'"),
        ("INT:1", "unknown value type 'INT'"),
        ("str:" + "x" * 70000, "str value of 70000 characters is over the 65536 allowed"),
    ],
)
def test_the_codec_refuses(typed: str, message: str) -> None:
    with pytest.raises(values.InstallerUsageError, match=re.escape(message)) as raised:
        values.decode(typed)
    assert len(str(raised.value)) < 200 and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "argument",
    [
        "TEST/text=str:two\nlines",
        "TEST/text=str:" + "y" * 100_000,
        "TEST/code=int:\u0664",
        "TEST/code=str:5",
        "TEST/code=bool:yes",
        "TEST/text=nosuchtype:5",
        "TEST/te\x01xt=str:5",
    ],
)
def test_bad_values_on_the_command_line_are_one_line(
    tmp_path: Path, groups: Path, argument: str
) -> None:
    result = process(tmp_path, groups, "tracker", argument)
    assert result.returncode == 1
    assert len(one_line(result.stderr)) < 300
    assert not (tmp_path / "root" / "etc").exists()


def test_env_set_refuses_a_line_break_character(tmp_path: Path, groups: Path) -> None:
    result = process(
        tmp_path,
        groups,
        "tracker",
        "DIALOG/dialect=str:machine",
        "DIALOG/customization=bool:True",
        stdin="env-set -k TEST/text -v a\u2028b\ninstall\nquit\n".encode(),
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "***L:ERROR env-set: bad str value 'a\\u2028b': a str value must be one line" in out
    assert "terminate ran, text=None" in out


# --- answer and configuration files ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[environment:default]\nTEST/text=str:caf\xe9\n", "not UTF-8 text (invalid byte at"),
        (b"[environment:default]\nTEST/text=str:a\x00b\n", "holds a NUL character"),
        (b"[environment:default]\nTEST/text=str:a\n  b\n", "a str value must be one line"),
        (b"[environment:init]\nTEST/code=int:+1\n", "bad int value '+1'"),
        (b"[environment:init]\nBASE/exitCode=int:256\n", "must be between 0 and 255"),
    ],
)
def test_bad_answer_files_are_one_line(
    tmp_path: Path, groups: Path, content: bytes, message: str
) -> None:
    answers = tmp_path / "answers.conf"
    answers.write_bytes(content)
    result = process(tmp_path, groups, "tracker", f"CORE/configFileAppend=str:{answers}")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert str(answers) in line and message in line
    assert not (tmp_path / "root" / "etc").exists()


def test_a_fifo_as_answer_file_is_refused_not_waited_on(tmp_path: Path, groups: Path) -> None:
    fifo = tmp_path / "answers.conf"
    os.mkfifo(fifo)
    result = process(tmp_path, groups, "tracker", f"CORE/configFileAppend=str:{fifo}")
    assert result.returncode == 1
    assert f"{fifo}: not a regular file" in one_line(result.stderr)


def test_a_fifo_among_the_drop_in_files_is_refused(tmp_path: Path, groups: Path) -> None:
    config = tmp_path / "root" / "etc" / "hosted-engine-installer.conf.d"
    config.mkdir(parents=True)
    os.mkfifo(config / "10-pipe.conf")
    result = process(tmp_path, groups, "tracker")
    assert result.returncode == 1
    assert "10-pipe.conf: not a regular file" in one_line(result.stderr)


def test_a_directory_as_answer_file_is_refused(tmp_path: Path, groups: Path) -> None:
    (tmp_path / "dir.conf").mkdir()
    result = process(tmp_path, groups, "tracker", f"CORE/configFileAppend=str:{tmp_path}/dir.conf")
    assert result.returncode == 1
    assert "dir.conf: not a regular file" in one_line(result.stderr)
