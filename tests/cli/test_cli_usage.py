"""Misuse of the CLI: one line on stderr (or one JSON object with --json), a non-zero exit,
never a traceback; the conf file is found by --config, then $HOSTED_ENGINE_CONFIG."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hosted_engine.config.host import CONFIG_ENV, DEFAULT_CONFIG_PATH

from .conftest import (
    Cli,
    Domain,
    MakeConf,
    assert_one_line_error,
    console_script,
    run_console,
    subprocess_env,
    write_conf,
)


@dataclass(frozen=True)
class Ctx:
    tmp: Path
    domain: Domain
    make_conf: MakeConf

    @property
    def conf(self) -> Path:
        return self.make_conf()


@dataclass(frozen=True)
class Misuse:
    argv: Callable[[Ctx], list[object]]
    exact: str | None = None  # the whole message, when the reference fixes it
    contains: str | None = None


def _bare_conf(ctx: Ctx, text: str) -> Path:
    path = ctx.tmp / "bare.conf"
    path.write_text(text)
    return path


def _no_domain_conf(ctx: Ctx) -> Path:
    storage = ctx.tmp / "empty-storage"
    storage.mkdir()
    return write_conf(
        ctx.tmp / "nodomain.conf",
        {"host_id": 1, "sdUUID": "absent", "storage": storage, "run_dir": ctx.tmp / "run"},
    )


MISUSES = {
    "no-verb": Misuse(lambda c: ["--config", c.conf], contains="You must specify one of: "),
    "unknown-option": Misuse(
        lambda c: ["--vm-status", "--bogus", "--config", c.conf],
        contains="unrecognized arguments: --bogus",
    ),
    "positional": Misuse(lambda c: ["vm-status"], contains="unrecognized arguments: vm-status"),
    "two-verbs": Misuse(
        lambda c: ["--vm-status", "--set-maintenance", "--config", c.conf],
        contains="not allowed with argument",
    ),
    "maintenance-without-mode": Misuse(
        lambda c: ["--set-maintenance", "--config", c.conf],
        exact="You must specify a maintenance mode with --mode",
    ),
    "mode-without-value": Misuse(
        lambda c: ["--set-maintenance", "--config", c.conf, "--mode"],
        contains="expected one argument",
    ),
    "bogus-mode": Misuse(
        lambda c: ["--set-maintenance", "--mode=bogus", "--config", c.conf],
        exact="Invalid value 'bogus' for --mode",
    ),
    "host-id-not-a-number": Misuse(
        lambda c: ["--clean-metadata", "--host-id=abc", "--config", c.conf],
        contains="invalid int value: 'abc'",
    ),
    "host-id-out-of-range": Misuse(
        lambda c: ["--clean-metadata", "--host-id=2001", "--config", c.conf],
        contains="between 1 and 2000",
    ),
    "missing-conf": Misuse(
        lambda c: ["--vm-status", "--config", c.tmp / "nowhere.conf"], contains="no such file"
    ),
    "conf-without-sdUUID": Misuse(
        lambda c: [
            "--vm-status",
            "--config",
            _bare_conf(c, f"host_id=1\nstorage={c.domain.storage}\n"),
        ],
        contains="missing sdUUID",
    ),
    "conf-garbage-line": Misuse(
        lambda c: ["--vm-status", "--config", _bare_conf(c, "host_id=1\nthis is not a pair\n")],
        contains="expected key=value",
    ),
    "conf-host-id-not-a-number": Misuse(
        lambda c: [
            "--vm-status",
            "--config",
            _bare_conf(c, f"host_id=abc\nsdUUID=x\nstorage={c.domain.storage}\n"),
        ],
        contains="host_id must be a whole number",
    ),
    "conf-is-a-directory": Misuse(
        lambda c: ["--vm-status", "--config", c.tmp], contains="cannot read"
    ),
    "storage-domain-missing": Misuse(
        lambda c: ["--vm-status", "--config", _no_domain_conf(c)],
        contains="hosted-engine.metadata",
    ),
    "vm-start-not-deployed": Misuse(
        lambda c: ["--vm-start", "--config", c.conf], exact="You must run deploy first"
    ),
    "vm-shutdown-not-deployed": Misuse(
        lambda c: ["--vm-shutdown", "--config", c.conf], exact="You must run deploy first"
    ),
    "vm-poweroff-not-deployed": Misuse(
        lambda c: ["--vm-poweroff", "--config", c.conf], exact="You must run deploy first"
    ),
}


@pytest.fixture
def ctx(tmp_path: Path, domain: Domain, make_conf: MakeConf) -> Ctx:
    return Ctx(tmp_path, domain, make_conf)


def _check_message(message: str, misuse: Misuse) -> None:
    if misuse.exact is not None:
        assert message == misuse.exact
    if misuse.contains is not None:
        assert misuse.contains in message


@pytest.mark.parametrize("case", list(MISUSES))
def test_misuse_is_one_line_on_stderr(cli: Cli, ctx: Ctx, case: str) -> None:
    misuse = MISUSES[case]
    result = cli(*misuse.argv(ctx))
    assert_one_line_error(result)
    _check_message(result.err.strip(), misuse)


@pytest.mark.parametrize("case", list(MISUSES))
def test_misuse_with_json_is_one_json_error_object(cli: Cli, ctx: Ctx, case: str) -> None:
    """D9: with --json even a misuse answers valid JSON on stdout."""
    misuse = MISUSES[case]
    result = cli(*misuse.argv(ctx), "--json")
    assert result.code != 0
    assert result.err == ""
    assert len(result.out.splitlines()) == 1
    assert set(result.json) == {"error"}
    _check_message(result.json["error"], misuse)


def test_help_exits_zero(cli: Cli) -> None:
    with pytest.raises(SystemExit) as exc:
        cli("--help")
    assert exc.value.code == 0


# --- real processes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param([], 1, None, id="no-verb"),
        pytest.param(["--bogus"], 1, None, id="unknown-option"),
        pytest.param(
            ["--set-maintenance"], 1, "You must specify a maintenance mode with --mode", id="mode"
        ),
        pytest.param(["--vm-start"], 1, "You must run deploy first", id="not-deployed"),
        pytest.param(
            ["--check-deployed"], 1, "The hosted engine has not been deployed", id="check-deployed"
        ),
        pytest.param(
            ["--check-liveliness"],
            2,
            "Incomplete configuration, missing FQDN of the hosted engine VM",
            id="check-liveliness",
        ),
    ],
)
def test_console_script_exit_codes(
    conf: Path, args: list[str], code: int, message: str | None
) -> None:
    result = run_console(*args, "--config", conf)
    assert result.code == code
    assert_one_line_error(result, message)


def test_module_entry_point_missing_conf(tmp_path: Path) -> None:
    result = run_console("--vm-status", "--config", tmp_path / "absent.conf", module=True)
    assert result.code == 1
    assert_one_line_error(result)


def test_console_script_json_error_is_json(tmp_path: Path) -> None:
    result = run_console("--vm-status", "--json", "--config", tmp_path / "absent.conf")
    assert result.code == 1
    assert "Traceback" not in result.err
    assert set(result.json) == {"error"}


def test_console_script_vm_status_succeeds(domain: Domain, conf: Path) -> None:
    domain.write_reference_hosts()
    result = run_console("--vm-status", "--config", conf)
    assert result.code == 0
    assert "--== Host host1.example.com (id: 1) status ==--" in result.out
    assert "Traceback" not in result.err


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_closed_stdout_is_no_traceback(domain: Domain, conf: Path, as_json: bool) -> None:
    """`hosted-engine --vm-status | head -1`: the reader is gone before the output."""
    domain.write_reference_hosts()
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    try:
        proc = subprocess.run(
            [str(console_script()), "--vm-status", "--config", str(conf)]
            + (["--json"] if as_json else []),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr
    assert "BrokenPipeError" not in proc.stderr
    assert proc.returncode == 1


# --- where the conf comes from --------------------------------------------------------------


def test_config_option_wins_over_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, make_conf: MakeConf
) -> None:
    # the environment's conf is deployed, the explicit one is not: the answer tells which
    monkeypatch.setenv(CONFIG_ENV, str(make_conf(1, vmid="vm")))
    explicit = make_conf(2)
    assert cli("--check-deployed", "--config", explicit).code == 1
    assert cli("--check-deployed").code == 0


def test_environment_names_the_conf(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, domain: Domain, make_conf: MakeConf
) -> None:
    domain.write_host(1)
    monkeypatch.setenv(CONFIG_ENV, str(make_conf()))
    result = cli("--vm-status", "--json")
    assert result.code == 0
    assert result.json["1"]["hostname"] == "host1.example.com"


def test_environment_pointing_nowhere_is_named_in_the_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "env.conf"
    monkeypatch.setenv(CONFIG_ENV, str(missing))
    result = cli("--vm-status")
    assert_one_line_error(result)
    assert str(missing) in result.err


def test_environment_in_a_real_process(domain: Domain, make_conf: MakeConf) -> None:
    domain.write_host(1)
    env = subprocess_env(**{CONFIG_ENV: str(make_conf())})
    result = run_console("--vm-status", "--json", env=env)
    assert result.code == 0
    assert result.json["1"]["host-id"] == 1


@pytest.mark.skipif(DEFAULT_CONFIG_PATH.exists(), reason="this machine has a real conf")
def test_without_option_or_environment_the_system_default_is_read(cli: Cli) -> None:
    result = cli("--vm-status")
    assert_one_line_error(result)
    assert str(DEFAULT_CONFIG_PATH) in result.err
