"""Configuration files (sections and precedence) and answer files (write and replay)."""

from __future__ import annotations

import re
import stat
import textwrap
from pathlib import Path

from .helpers import Installer

SHOW = """
from hosted_engine.installer import STR, Plugin, Priority, Stage, event, key

KEYS = [key(f"TEST/{n}", STR, "declared") for n in "ABCDE"]


class Show(Plugin):
    def __init__(self, context):
        super().__init__(context)
        self.declare(*KEYS)

    def show(self, when):
        self.logger.info("%s %s", when, " ".join(f"{k.name}={self.environment[k]}" for k in KEYS))

    @event(stage=Stage.CUSTOMIZATION, priority=Priority.FIRST)
    def early(self):
        self.show("early")

    @event(stage=Stage.CUSTOMIZATION)
    def middle(self):
        self.show("middle")

    @event(stage=Stage.VALIDATION)
    def late(self):
        self.show("late")


def create_plugins(context):
    Show(context)
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def shown(stdout: str, when: str) -> dict[str, str]:
    line = re.search(rf"\] {when} (.*)", stdout)
    assert line, stdout
    return dict(item.removeprefix("TEST/").split("=") for item in line.group(1).split())


def test_sections_apply_at_their_time_with_their_strength(installer: Installer) -> None:
    etc = installer.root / "etc"
    write(
        etc / "hosted-engine-installer.conf",
        """
        [environment:default]
        TEST/A=str:conf-default
        TEST/B=str:conf-default
        [environment:init]
        TEST/C=str:conf-init
        [environment:override]
        TEST/D=str:override
        [environment:enforce]
        TEST/E=str:enforce
        [other-tool]
        ignored=yes
        """,
    )
    write(
        etc / "hosted-engine-installer.conf.d" / "10-more.conf",
        "[environment:default]\nTEST/B=str:from-d\n",
    )
    installer.group("show", {"show": SHOW})
    outcome = installer.run(["show"], "TEST/A=str:cli", "TEST/C=str:cli", "TEST/E=str:cli")
    assert outcome.code == 0, outcome.stderr
    expected_early = {"A": "cli", "B": "from-d", "C": "conf-init", "D": "declared", "E": "cli"}
    assert shown(outcome.stdout, "early") == expected_early
    assert shown(outcome.stdout, "middle") == {**expected_early, "D": "override"}
    assert shown(outcome.stdout, "late") == {**expected_early, "D": "override", "E": "enforce"}
    assert "hosted-engine-installer.conf.d/10-more.conf" in outcome.stdout


def test_appended_files_are_not_under_the_root_and_must_exist(installer: Installer) -> None:
    installer.group("show", {"show": SHOW})
    extra = write(installer.tmp / "extra.conf", "[environment:init]\nTEST/A=str:appended\n")
    outcome = installer.run(["show"], f"CORE/configFileAppend=str:{extra}")
    assert shown(outcome.stdout, "early")["A"] == "appended"
    missing = installer.run(["show"], f"CORE/configFileAppend=str:{installer.tmp}/nope.conf")
    assert missing.code == 1
    assert missing.stderr == f"hosted-engine-installer: {installer.tmp}/nope.conf: no such file\n"


def test_bad_config_files_are_one_line_errors(installer: Installer) -> None:
    installer.group("show", {"show": SHOW})
    cases = {
        "[environment:default]\nTEST/Z=str:x\n": "unknown environment key TEST/Z",
        "[environment:default]\nTEST/A=bool:x\n": "bad bool value 'x'",
        "[environment:sometimes]\n": "unknown section [environment:sometimes]",
        "no section\n": "File contains no section headers",
    }
    for text, message in cases.items():
        conf = write(installer.tmp / "bad.conf", text)
        outcome = installer.run(["show"], f"CORE/configFileAppend=str:{conf}")
        assert outcome.code == 1
        assert outcome.stderr.count("\n") == 1 and message in outcome.stderr, outcome.stderr
        assert str(conf) in outcome.stderr


ASK = """
from hosted_engine.installer import STR, Plugin, Stage, event, key

FQDN = key("TEST/fqdn", STR, answer=True)


class Ask(Plugin):
    def __init__(self, context):
        super().__init__(context)
        self.declare(FQDN)

    @event(stage=Stage.CUSTOMIZATION)
    def ask(self):
        if self.environment[FQDN] is None:
            self.environment[FQDN] = self.dialog.query_string("FQDN", "Engine FQDN:")
        storage = self.dialog.query_string(
            "STORAGE", valid_values=("nfs", "iscsi"), case_sensitive=False, default="nfs"
        )
        lines = self.dialog.query_multi_string("LINES", "Some lines:")
        memory = self.dialog.query_value("MEMORY", "Memory:")
        proceed = self.dialog.confirm("PROCEED", "Proceed?")
        fqdn = self.environment[FQDN]
        self.logger.info("got %r %r %r %r %r", fqdn, storage, lines, memory, proceed)


def create_plugins(context):
    Ask(context)
"""


def test_answer_file_replays_a_run(installer: Installer) -> None:
    installer.group("ask", {"ask": ASK})
    answers = installer.tmp / "answers.conf"
    first = installer.run(
        ["ask"],
        f"DIALOG/answerFile=str:{answers}",
        stdin="engine.example\nISCSI\none\ntwo\n.\nint:4096\ny\n",
    )
    assert first.code == 0, first.stderr
    result = "got 'engine.example' 'iscsi' ('one', 'two') 4096 True"
    assert result in first.stdout
    assert stat.S_IMODE(answers.stat().st_mode) == 0o600
    assert answers.read_text().splitlines()[1:] == [
        "[environment:default]",
        "QUESTION/FQDN=str:engine.example",
        "QUESTION/LINES=multi-str:one",
        " two",
        "QUESTION/MEMORY=int:4096",
        "QUESTION/PROCEED=bool:True",
        "QUESTION/STORAGE=str:iscsi",
        "TEST/fqdn=str:engine.example",
    ]
    replay = installer.run(["ask"], f"CORE/configFileAppend=str:{answers}", stdin="")
    assert replay.code == 0, replay.stderr
    assert result in replay.stdout
    assert "provided answer: iscsi" in replay.stdout


def test_a_replayed_answer_is_validated(installer: Installer) -> None:
    installer.group("ask", {"ask": ASK})
    answers = write(
        installer.tmp / "a.conf", "[environment:default]\nQUESTION/STORAGE=str:floppy\n"
    )
    outcome = installer.run(
        ["ask"], f"CORE/configFileAppend=str:{answers}", "TEST/fqdn=str:x", stdin=""
    )
    assert outcome.code == 1
    assert "invalid value 'floppy' for STORAGE; valid values: nfs, iscsi" in outcome.stderr
