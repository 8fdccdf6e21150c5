"""The run loop: which stages run after a failure, conditions, aborts, exit codes, logs."""

from __future__ import annotations

import re

import pytest

from hosted_engine.installer import Stage

from .helpers import Installer

EVERY_STAGE = """
from hosted_engine.installer import INT, STR, Plugin, Priority, Stage, event, key

FAIL = key("TEST/failStage", STR)
COUNTER = key("TEST/counter", INT, 0)


def make(stage):
    def first(self):
        self.logger.info("ran %s", stage.id)
        if self.environment[FAIL] == stage.id:
            raise RuntimeError(f"failing in {stage.id}")

    def second(self):
        self.logger.info("then %s", stage.id)

    return (
        event(stage=stage, name=f"every.{stage.id}")(first),
        event(stage=stage, priority=Priority.LOW, name=f"every.{stage.id}.second")(second),
    )


def init(self, context):
    Plugin.__init__(self, context)
    self.declare(FAIL, COUNTER)


@event(stage=Stage.SETUP, condition=lambda self: self.environment[COUNTER] > 0)
def conditional(self):
    self.logger.info("condition was true")


@event(stage=Stage.VALIDATION)
def count(self):
    self.environment[COUNTER] = self.environment[COUNTER] + 5


body = {"__module__": __name__, "__init__": init, "conditional": conditional, "count": count}
for stage in Stage:
    body[f"first_{stage.name}"], body[f"second_{stage.name}"] = make(stage)
Every = type(Plugin)("Every", (Plugin,), body)


def create_plugins(context):
    Every(context)
"""


def ran(outcome_stdout: str, word: str = "ran") -> list[str]:
    return re.findall(rf"\] {word} (\S+)", outcome_stdout)


def test_every_stage_runs_in_order_when_nothing_fails(installer: Installer) -> None:
    installer.group("every", {"every": EVERY_STAGE})
    outcome = installer.run(["every"])
    assert outcome.code == 0, outcome.stderr
    assert ran(outcome.stdout) == [s.id for s in Stage]
    assert ran(outcome.stdout, "then") == [s.id for s in Stage]
    assert "condition was true" not in outcome.stdout


@pytest.mark.parametrize("failing", list(Stage), ids=lambda s: s.id)
def test_after_a_failure_only_the_always_stages_run(installer: Installer, failing: Stage) -> None:
    installer.group("every", {"every": EVERY_STAGE})
    outcome = installer.run(["every"], f"TEST/failStage=str:{failing.id}")
    assert outcome.code == 1
    expected = [s.id for s in Stage if s <= failing or not s.if_success]
    assert ran(outcome.stdout) == expected
    # the failing stage's later events run only if the stage runs regardless of errors
    seconds = ran(outcome.stdout, "then")
    assert (failing.id in seconds) is (not failing.if_success)
    assert f"Failed to execute stage '{failing.description}': failing in {failing.id}" in (
        outcome.stdout
    )
    assert outcome.stderr == f"hosted-engine-installer: failing in {failing.id}\n"


def test_conditions_are_checked_just_before_the_call(installer: Installer) -> None:
    installer.group("every", {"every": EVERY_STAGE})
    skipped = installer.run(["every"])
    assert re.search(r"METHOD \S+Every\.conditional .*\n.*condition False", skipped.log)
    outcome = installer.run(["every"], "TEST/counter=int:1")
    assert "condition was true" in outcome.stdout


def test_environment_changes_are_logged_per_event(installer: Installer) -> None:
    installer.group("every", {"every": EVERY_STAGE})
    outcome = installer.run(["every"], "TEST/counter=int:1")
    method_then_change = re.search(
        r"METHOD \S+Every\.count .*\n.*ENV TEST/counter=int:6", outcome.log
    )
    assert method_then_change, outcome.log


ABORTING = """
from hosted_engine.installer import Plugin, Stage, event, keys
from hosted_engine.errors import InstallerAborted


class Abort(Plugin):
    @event(stage=Stage.CUSTOMIZATION)
    def stop(self):
        raise InstallerAborted("the user said no")

    @event(stage=Stage.TERMINATE)
    def report(self):
        env = self.environment
        self.logger.info("aborted=%s error=%s", env[keys.ABORTED], env[keys.ERROR])


def create_plugins(context):
    Abort(context)
"""


def test_abort_is_a_failure_marked_as_aborted(installer: Installer) -> None:
    installer.group("abort", {"abort": ABORTING})
    outcome = installer.run(["abort"])
    assert outcome.code == 1
    assert "[WARNING] Aborted: the user said no" in outcome.stdout
    assert "aborted=True error=True" in outcome.stdout


EXIT_CODE = """
from hosted_engine.installer import Plugin, Stage, event
from hosted_engine.installer.keys import EXIT_CODE


class Code(Plugin):
    @event(stage=Stage.CLOSEUP)
    def request(self):
        self.environment[EXIT_CODE] = 101


def create_plugins(context):
    Code(context)
"""


def test_plugins_may_request_an_exit_code(installer: Installer) -> None:
    installer.group("code", {"code": EXIT_CODE})
    assert installer.run(["code"]).code == 101


def test_missing_group_is_a_load_failure(installer: Installer) -> None:
    outcome = installer.run(["nosuchgroup"])
    assert outcome.code == 2
    assert "plugin groups nosuchgroup are missing" in outcome.stderr


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import nonexistent_module_xyz\n", "ModuleNotFoundError: No module named"),
        ("def create_plugins(context:\n", "SyntaxError"),
        ("x = 1\n", "defines no create_plugins(context)"),
        ("def create_plugins(context):\n    raise ValueError('nope')\n", "ValueError: nope"),
    ],
)
def test_broken_plugins_are_load_failures(installer: Installer, source: str, message: str) -> None:
    installer.group("broken", {"plugin": source})
    outcome = installer.run(["broken"])
    assert outcome.code == 2
    assert outcome.stderr.startswith("hosted-engine-installer: plugin broken/plugin: ")
    assert message in outcome.stderr
    assert outcome.stderr.count("\n") == 1


def test_load_failure_is_reported_on_the_machine_dialog(installer: Installer) -> None:
    outcome = installer.run(["nosuchgroup"], machine=True)
    assert outcome.lines[-2].startswith("***L:ERROR Internal error: plugin groups nosuchgroup")
    assert outcome.lines[-1] == "***TERMINATE"
