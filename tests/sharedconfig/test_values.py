"""A configuration value is one printable line, in every type, and the readers agree.

``str.splitlines()`` splits on more than ``\\n`` (U+2028, U+2029, U+0085, ``\\x0b``,
``\\x0c``, ``\\x1c``-``\\x1e``), so a value holding one of those once smuggled a second
``key=value`` line past the value check: ``--set-shared-config fqdn "x<U+2028>host_id=7"``
set the identity key ``host_id``, which is refused when set directly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hosted_engine.config import ha_state, ini
from hosted_engine.errors import ConfigError
from hosted_engine.files import keyvalue

from .conftest import Cli, LabFiles

# every separator str.splitlines() knows besides \n and \r, then other control characters
SEPARATORS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
CONTROLS = ["\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x9b", "\u200b", "\ufeff", "\udcff"]
MESSAGE = "must be one line of printable text"

# (type, a key of it that may be set, a key the smuggled line would set)
INJECTIONS = [
    ("he_local", "fqdn", "host_id=7"),
    ("he_shared", "fqdn", "sdUUID=00000000-0000-0000-0000-000000000000"),
    ("ha", "local_maintenance", "local_maintenance_manual=True"),
    ("broker", "smtp-server", "smtp-port = 7"),
    ("vm", "nic1.network", "vmId=00000000-0000-0000-0000-000000000000"),
]


def _tree_digest(*roots: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


@pytest.mark.parametrize("separator", SEPARATORS + CONTROLS)
@pytest.mark.parametrize(("kind", "key", "smuggled"), INJECTIONS)
def test_a_value_that_is_not_one_printable_line_is_refused_in_every_type(
    kind: str, key: str, smuggled: str, separator: str, he: Cli, lab_files: LabFiles
) -> None:
    before = _tree_digest(lab_files.dir)
    value = f"x{separator}{smuggled}"
    result = he("--set-shared-config", key, value, "--type", kind, "--force")
    assert result.code == 1, result
    assert MESSAGE in result.err and result.err.count("\n") == 1, result.err
    assert _tree_digest(lab_files.dir) == before


def test_unicode_text_that_is_printable_is_still_accepted(he: Cli, lab_files: LabFiles) -> None:
    assert he("--set-shared-config", "fqdn", "moteur-é.example", "--type", "he_local").code == 0
    assert keyvalue.load(lab_files.conf())["fqdn"] == "moteur-é.example"


def test_host_id_cannot_be_smuggled_into_he_local(he: Cli, lab_files: LabFiles) -> None:
    """The issue's example, end to end."""
    result = he("--set-shared-config", "fqdn", "x\u2028host_id=7", "--type=he_local")
    assert result.code == 1
    assert lab_files.config().host_id == 1


# --- the readers split lines on \n only -------------------------------------------------------

# what is not a control character stays inside its value; a control character in a
# key=value line makes the file refused (one line), never read as two lines
KEPT = ["\u2028", "\u2029"]
REFUSED = [sep for sep in SEPARATORS if sep not in KEPT]


@pytest.mark.parametrize("separator", KEPT)
def test_keyvalue_parse_splits_on_newline_only(separator: str) -> None:
    text = f"fqdn=x{separator}host_id=7\nstorage=/srv\r\n"
    assert keyvalue.parse(text) == {"fqdn": f"x{separator}host_id=7", "storage": "/srv"}


@pytest.mark.parametrize("separator", REFUSED)
def test_keyvalue_parse_refuses_control_characters(separator: str) -> None:
    with pytest.raises(ConfigError, match=r"^f:1: control character .* in fqdn$"):
        keyvalue.parse(f"fqdn=x{separator}host_id=7\nstorage=/srv\n", "f")


@pytest.mark.parametrize("separator", SEPARATORS)
def test_keyvalue_update_keeps_lines_that_hold_other_separators(separator: str) -> None:
    text = f"fqdn=x{separator}host_id=7\nhost_id=1\n"
    new = keyvalue.update_text(text, {"host_id": "2"})
    assert new == f"fqdn=x{separator}host_id=7\nhost_id=2\n"
    if separator in KEPT:
        assert keyvalue.parse(new)["host_id"] == "2"


def test_keyvalue_tolerates_crlf() -> None:
    assert keyvalue.parse("a=1\r\nb = 2\r\n") == {"a": "1", "b": "2"}
    assert keyvalue.update_text("a=1\r\nb=2\r\n", {"b": "3"}) == "a=1\nb=3\n"


@pytest.mark.parametrize("separator", SEPARATORS)
def test_configparser_and_ini_edits_split_on_newline_only(separator: str) -> None:
    """configparser iterates an io.StringIO, which splits on \\n only; the edits must too."""
    text = f"[email]\nsmtp-server = a{separator}smtp-port = 7\nsmtp-port = 25\n"
    assert ini.get(text, "email", "smtp-port", "b") == "25"
    new = ini.set_option(text, "email", "smtp-port", "26", "b")
    assert new == f"[email]\nsmtp-server = a{separator}smtp-port = 7\nsmtp-port = 26\n"
    assert ini.get(new, "email", "smtp-server", "b") == f"a{separator}smtp-port = 7"


@pytest.mark.parametrize("separator", SEPARATORS)
def test_ha_flags_cannot_be_smuggled_through_the_reader(separator: str, tmp_path: Path) -> None:
    path = tmp_path / "ha.conf"
    path.write_text(f"local_maintenance=False{separator}local_maintenance_manual=True\n")
    if separator in KEPT:
        assert ha_state.read_flags(path)[ha_state.LOCAL_MANUAL] is False
    else:
        with pytest.raises(ConfigError, match="control character"):
            ha_state.read_flags(path)


@pytest.mark.parametrize("bad", ["a\nb", "a\u2028b", "a\x00b", "a\x85b"])
def test_keyvalue_writer_refuses_multi_line_values(bad: str) -> None:
    """Defence in depth: whoever calls the writer, a value never becomes two lines."""
    with pytest.raises(ConfigError, match=MESSAGE):
        keyvalue.update_text("a=1\n", {"a": bad})
    with pytest.raises(ConfigError, match="key"):
        keyvalue.update_text("a=1\n", {bad: "1"})
