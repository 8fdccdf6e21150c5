"""Declared, typed keys: ownership, type checks, hints, secrets and the change journal."""

from __future__ import annotations

import pytest

from hosted_engine.errors import EnvironmentKeyError
from hosted_engine.installer import BOOL, INT, MULTI_STR, STR, Environment, key

PORT = key("NET/port", INT, 22)
HOST = key("NET/host", STR)
SECRET = key("NET/password", STR, secret=True)


@pytest.fixture
def env() -> Environment:
    environment = Environment()
    for declared in (PORT, HOST, SECRET):
        environment.declare(declared, owner="test")
    return environment


def test_defaults_and_typed_access(env: Environment) -> None:
    assert env[PORT] == 22
    assert env[HOST] is None
    env[PORT] = 2222
    env[HOST] = "example.org"
    assert (env[PORT], env.get("NET/host")) == (2222, "example.org")


def test_wrong_types_are_refused(env: Environment) -> None:
    with pytest.raises(EnvironmentKeyError, match="NET/port is int, cannot be set to '22'"):
        env.set("NET/port", "22")
    with pytest.raises(EnvironmentKeyError, match="cannot be set to None"):
        env.set("NET/port", None)
    with pytest.raises(EnvironmentKeyError, match="NET/port is int, cannot be set to True"):
        env.set("NET/port", True)
    env.set("NET/host", None)  # optional keys take None


def test_unknown_key_suggests_the_nearest(env: Environment) -> None:
    with pytest.raises(EnvironmentKeyError, match=r"unknown environment key NET/prot .*NET/port"):
        env.set("NET/prot", 1)


def test_conflicting_declarations_name_both_owners(env: Environment) -> None:
    env.declare(key("NET/port", INT, 22), owner="again")  # identical: fine
    with pytest.raises(EnvironmentKeyError, match="declared by test as int and by other as str"):
        env.declare(key("NET/port", STR, "22"), owner="other")


def test_bad_default_is_refused() -> None:
    with pytest.raises(EnvironmentKeyError, match="default 'yes' is not a bool"):
        key("NS/flag", BOOL, "yes")  # type: ignore[arg-type]


def test_open_namespaces_take_their_type_from_the_first_value(env: Environment) -> None:
    env.set("QUESTION/DEPLOY", True)
    with pytest.raises(EnvironmentKeyError, match="QUESTION/DEPLOY is bool"):
        env.set("QUESTION/DEPLOY", "yes")
    env.set("COMMAND/ls", "/bin/ls")
    with pytest.raises(EnvironmentKeyError, match="COMMAND/ls is str"):
        env.set("COMMAND/ls", 1)
    assert env.get("QUESTION/OTHER") is None


def test_secrets_are_masked_in_display(env: Environment) -> None:
    env[SECRET] = "hunter2"
    assert env.display("NET/password") == "str:**FILTERED**"
    assert "hunter2" in env.secret_values
    env[SECRET] = "changed"
    assert env.secret_values == frozenset({"changed"})
    env.hide("hidden-answer")
    assert "hidden-answer" in env.secret_values
    with pytest.raises(EnvironmentKeyError) as raised:
        env.set("NET/password", 1234)
    assert "1234" not in str(raised.value)


def test_change_journal_reports_real_changes_only(env: Environment) -> None:
    env.take_changes()
    env[PORT] = 1
    env[PORT] = 22  # back to where it was
    env[HOST] = "a"
    assert env.take_changes() == ["NET/host"]
    assert env.take_changes() == []


def test_multi_str_values_are_tuples() -> None:
    env = Environment()
    rules = key("NET/rules", MULTI_STR, ())
    env.declare(rules, owner="t")
    with pytest.raises(EnvironmentKeyError):
        env.set("NET/rules", ["a"])
    env[rules] = ("a", "b")
    assert env.display("NET/rules") == "multi-str:'a\\nb'"


def test_assigned_keys_are_known(env: Environment) -> None:
    assert not env.is_assigned("NET/port")
    env[PORT] = 22
    assert env.is_assigned("NET/port")
