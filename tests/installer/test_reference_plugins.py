"""The reference's test-plugin scenarios, each run through the command-line entry point."""

from __future__ import annotations

from .helpers import TESTPLUGINS, Installer


def test_bad_plugin_is_a_load_failure_naming_the_plugin(installer: Installer) -> None:
    outcome = installer.run(["bad_plugin1"])
    assert outcome.code == 2
    assert outcome.stderr.count("\n") == 1  # one line, no traceback
    assert "plugin bad_plugin1/bad" in outcome.stderr
    assert "after='test.bad.other' is a string" in outcome.stderr


def test_cyclic_dependencies_are_refused_and_the_cycle_printed(installer: Installer) -> None:
    outcome = installer.run(["event_cyclic_dep"])
    assert outcome.code == 2
    assert (
        "cyclic dependencies: test.cyclic.a -> test.cyclic.b -> test.cyclic.c -> test.cyclic.a"
        in (outcome.stderr)
    )


def test_duplicate_method_names_are_refused(installer: Installer) -> None:
    outcome = installer.run(["duplicate_method_names"])
    assert outcome.code == 2
    assert "duplicate method name Duplicate._setup" in outcome.stderr


def test_nonexistent_before_after_fails_by_default(installer: Installer) -> None:
    outcome = installer.run(["non_existent_before_after"])
    assert outcome.code == 2
    assert "after='test.nonexistent.after', which names no event" in outcome.stderr
    assert "before='test.nonexistent.before', which names no event" in outcome.stderr


def test_nonexistent_before_after_can_be_downgraded_to_warnings(installer: Installer) -> None:
    outcome = installer.run(
        ["non_existent_before_after"], "CORE/ignoreMissingBeforeAfter=bool:True"
    )
    assert outcome.code == 0, outcome.stderr
    assert "which names no event" in outcome.log
    assert "dangling event ran" in outcome.stdout


def test_environment_type_change_is_refused_with_the_key_named(installer: Installer) -> None:
    # The reference let TEST/value drift from int to str; typed keys refuse it.
    outcome = installer.run(["change_env_type"])
    assert outcome.code == 1
    assert "TEST/value is int, cannot be set to 'three'" in outcome.stderr
    assert "ENV TEST/value=int:2" in outcome.log  # the valid change went through


def test_environment_type_change_from_the_command_line_is_refused(installer: Installer) -> None:
    outcome = installer.run(["change_env_type"], "TEST/value=str:4")
    assert outcome.code == 1
    assert outcome.stderr.strip() == (
        "hosted-engine-installer: TEST/value is int, cannot be set to '4'"
    )


def test_hidden_answers_and_secret_keys_never_reach_logs_or_answers(installer: Installer) -> None:
    answers = installer.tmp / "answers.conf"
    outcome = installer.run(
        ["check_filter_hidden"],
        f"DIALOG/answerFile=str:{answers}",
        stdin="pa55-word-1\ntok-123456\n",
    )
    assert outcome.code == 1  # the plugin fails on purpose, with the password in its message
    written = answers.read_text()
    for secret in ("pa55-word-1", "tok-123456"):
        for where in (outcome.stdout, outcome.stderr, outcome.log, written):
            assert secret not in where
    assert "password is **FILTERED**" in outcome.log
    assert "token was **FILTERED**" in outcome.log
    assert "could not log in with **FILTERED**" in outcome.stderr
    assert "# TEST/password is secret and was not recorded" in written
    assert "# QUESTION/TEST_TOKEN is secret and was not recorded" in written
    assert "TEST/user=str:admin" in written


def test_testplugins_exist() -> None:
    assert sorted(p.name for p in TESTPLUGINS.iterdir() if p.is_dir()) == [
        "bad_plugin1",
        "change_env_type",
        "check_filter_hidden",
        "duplicate_method_names",
        "event_cyclic_dep",
        "non_existent_before_after",
    ]
