"""Fuzzing the configuration parsers and the CLI's argument handling.

Whatever text a file holds and whatever argv a script passes, the answer is a value or
one expected error (a HostedEngineError with a one-line message), never another
exception; and what a writer writes, its reader reads back unchanged.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hosted_engine.config import ini
from hosted_engine.config.broker_conf import broker_settings
from hosted_engine.config.host import from_values
from hosted_engine.config.shared_formats import HaStateFormat
from hosted_engine.config.timing import MAX_SECONDS, MIN_SECONDS, load_timing, parse_seconds
from hosted_engine.errors import ConfigError, HostedEngineError
from hosted_engine.files import keyvalue
from hosted_engine.files.text import is_printable_line

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# text rich in what breaks parsers: separators, controls, '=', '#', brackets, surrogates
HOSTILE_CHARS = st.sampled_from(
    list("=#;:[] \t\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x1b\x7f\udcff%$")
)
TEXT = st.lists(st.one_of(HOSTILE_CHARS, st.characters()), max_size=80).map("".join)
LINES = st.lists(st.one_of(TEXT, st.tuples(TEXT, TEXT).map("=".join)), max_size=12).map("\n".join)
PRINTABLE_LINE = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"),
        whitelist_characters=" ",
    ),
    max_size=40,
)


def _one_line(error: Exception) -> None:
    assert "\n" not in str(error), str(error)


# --- key=value files ----------------------------------------------------------------------------


@FUZZ
@given(LINES)
def test_keyvalue_parse_gives_values_or_one_config_error(text: str) -> None:
    try:
        values = keyvalue.parse(text, "f")
    except ConfigError as e:
        _one_line(e)
        return
    for key, value in values.items():
        assert "\n" not in key + value and key == key.strip() and value == value.strip()


@FUZZ
@given(LINES, PRINTABLE_LINE.filter(lambda k: k.strip() and "=" not in k), PRINTABLE_LINE)
def test_keyvalue_writes_read_back(text: str, key: str, value: str) -> None:
    try:
        keyvalue.parse(text)
    except ConfigError:
        return
    key = key.strip()
    if key.startswith("#"):
        return
    new = keyvalue.update_text(text, {key: value})
    assert keyvalue.parse(new)[key] == value.strip()


@FUZZ
@given(TEXT)
def test_keyvalue_writer_never_writes_a_second_line(value: str) -> None:
    try:
        new = keyvalue.update_text("a=1\n", {"a": value})
    except ConfigError as e:
        _one_line(e)
        assert not is_printable_line(value)
        return
    assert new.count("\n") == 1


# --- INI (broker.conf) ---------------------------------------------------------------------------


@FUZZ
@given(LINES)
def test_broker_conf_gives_settings_or_one_config_error(text: str) -> None:
    try:
        settings_ = broker_settings(text)
    except ConfigError as e:
        _one_line(e)
        return
    assert set(settings_) >= {"smtp-server", "smtp-port", "state_transition"}


@FUZZ
@given(
    st.sampled_from(["", "[email]\nsmtp-server = a\n", "# c\n[notify]\nstate_transition = x\n"]),
    st.sampled_from(["smtp-server", "smtp-port", "source-email", "destination-emails"]),
    PRINTABLE_LINE,
)
def test_ini_set_option_sets_exactly_the_value_or_refuses(text: str, key: str, value: str) -> None:
    try:
        new = ini.set_option(text, "email", key, value.strip(), "broker.conf")
    except ConfigError as e:
        _one_line(e)
        return
    assert ini.get(new, "email", key, "broker.conf") == value.strip()


# --- ha.conf ------------------------------------------------------------------------------------


@FUZZ
@given(LINES)
def test_ha_conf_gives_two_flags_or_one_config_error(text: str) -> None:
    fmt = HaStateFormat()
    try:
        fmt.validate(text)
        values = fmt.values(text)
    except ConfigError as e:
        _one_line(e)
        return
    assert set(values) == {"local_maintenance", "local_maintenance_manual"}


# --- timings and HostConfig ---------------------------------------------------------------------

NUMBERISH = st.one_of(
    TEXT,
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "nan", "1e300", "1e10", "0", "-1", "1_0", "0x10", " 5 "]),
)


@FUZZ
@given(NUMBERISH)
def test_a_timing_value_is_in_bounds_or_refused_naming_the_key(raw: str) -> None:
    try:
        value = parse_seconds("loop_period", raw)
    except ConfigError as e:
        _one_line(e)
        assert "timing.loop_period" in str(e)
        return
    assert math.isfinite(value) and MIN_SECONDS <= value <= MAX_SECONDS


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["loop_period", "host_alive_timeout", "rpc_timeout"]), NUMBERISH, max_size=3
    )
)
def test_load_timing_is_a_coherent_timing_or_one_error(overrides: dict[str, str]) -> None:
    try:
        timing = load_timing("default", overrides)
    except ConfigError as e:
        _one_line(e)
        return
    assert timing.validate() is timing


HOST_KEYS = st.sampled_from(
    [
        "host_id",
        "sdUUID",
        "storage",
        "domainType",
        "network_test",
        "tcp_t_port",
        "state_dir",
        "timing_profile",
        "timing.loop_period",
        "timing.rpc_timeout",
        "process_command",
        "conf",
        "fqdn",
        "gateway",
    ]
)


@FUZZ
@given(st.dictionaries(HOST_KEYS, st.one_of(TEXT, NUMBERISH), max_size=10))
def test_host_config_from_values_is_a_config_or_one_error(values: dict[str, str]) -> None:
    base = {"host_id": "1", "sdUUID": "sd", "storage": "/srv"}
    try:
        config = from_values({**base, **values})
    except ConfigError as e:
        _one_line(e)
        return
    assert 1 <= config.host_id <= 2000
    assert config.tcp_t_port is None or 1 <= config.tcp_t_port <= 65535


# --- the CLI's argument handling ------------------------------------------------------------------

OPTIONS = st.sampled_from(
    [
        "--vm-status",
        "--set-maintenance",
        "--mode",
        "--mode=global",
        "--json",
        "--config",
        "--type",
        "--type=he_local",
        "--set-shared-config",
        "--get-shared-config",
        "--get-all-config",
        "--clean-metadata",
        "--host-id",
        "--host-id=1",
        "--force",
        "--force-cleanup",
        "--check-deployed",
        "--check-liveliness",
        "--show-vm-definition",
        "--download-shared-config",
        "--upload-shared-config",
        "--convert-vm-conf",
        "--reinitialize-lockspace",
        "--vm-start",
        "--vm-poweroff",
        "--",
        "-",
        "--help",
        "-h",
        "--json=1",
        "--mod",
        "fqdn",
    ]
)
ARGV = st.lists(st.one_of(OPTIONS, TEXT.filter(lambda s: "\x00" not in s)), max_size=6)


@FUZZ
@given(argv=ARGV)
def test_random_argv_never_raises(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process: exit 0, 1 or 2, never an exception. No hosted-engine.conf exists, so no
    verb reaches a domain; the working directory is a fresh scratch one, left empty."""
    from hosted_engine.cli.main import main

    with tempfile.TemporaryDirectory() as scratch, monkeypatch.context() as patch:
        patch.chdir(scratch)
        patch.setenv("HOSTED_ENGINE_CONFIG", str(Path(scratch) / "absent.conf"))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:  # --help: argparse prints it and exits 0
                code = e.code if isinstance(e.code, int) else 1
        assert code in (0, 1, 2), (argv, out.getvalue(), err.getvalue())
        assert "Traceback" not in err.getvalue()
        assert list(Path(scratch).iterdir()) == []


def test_hosted_engine_errors_are_the_only_errors() -> None:
    """The suites above catch ConfigError; everything else they raise is a finding."""
    assert issubclass(ConfigError, HostedEngineError)
