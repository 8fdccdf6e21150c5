"""Both dialects through the Dialog policy: exact machine transcripts, human prompting."""

from __future__ import annotations

import io
import logging
import re
import threading

import pytest

from hosted_engine.errors import DialogError, InstallerAborted, InstallerUsageError
from hosted_engine.installer import Environment
from hosted_engine.installer.dialogs import protocol
from hosted_engine.installer.dialogs.dialog import Dialog
from hosted_engine.installer.dialogs.human import HumanDialect
from hosted_engine.installer.dialogs.machine import MachineDialect
from hosted_engine.installer.logs import DialectHandler

B, AB = protocol.BOUNDARY, protocol.ABORT_BOUNDARY


def make(
    dialect_class: type, answers: str, env: Environment | None = None
) -> tuple[Dialog, io.StringIO]:
    out = io.StringIO()
    logger = logging.Logger("test")
    dialect = dialect_class(io.StringIO(answers), out, logger)
    return Dialog(dialect, env or Environment(), logger), out


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


# --- machine dialect: exact wire format -----------------------------------------------------


def test_machine_string_query_transcript() -> None:
    dialog, out = make(MachineDialect, "\n")
    answer = dialog.query_string(
        "STORAGE", valid_values=("nfs", "a|b", "c\\d"), default="nfs", hidden=False
    )
    assert answer == "nfs"
    assert lines(out) == [
        "**%QStart: STORAGE",
        "###",
        "### Please specify 'STORAGE' (nfs, a|b, c\\d) [nfs]",
        "**%QDefault: nfs",
        "**%QValidValues: nfs|a\\|b|c\\\\d",
        "**%QHidden: FALSE",
        "***Q:STRING STORAGE",
        "**%QEnd: STORAGE",
    ]
    assert protocol.unescape_valid_values("nfs|a\\|b|c\\\\d") == ("nfs", "a|b", "c\\d")


def test_machine_multi_string_value_confirm_and_displays() -> None:
    dialog, out = make(MachineDialect, f"one\ntwo\n{B}\nVALUE MEM=int:4096\nCONFIRM GO=yes\n")
    assert dialog.query_multi_string("CHAIN", "Paste:") == ("one", "two")
    assert dialog.query_value("MEM", "Memory:") == 4096
    assert dialog.confirm("GO", "Proceed with it", "Really?") is True
    dialog.display_value("FQDN", "e.example")
    dialog.display_value("NOTHING", None)
    dialog.display_multi_string("CSR", ["-----BEGIN-----", B])
    dialog.note("line 1\nline 2")
    dialog.dialect.log("INFO", "two\nlines")
    dialog.dialect.terminate()
    assert lines(out) == [
        "**%QStart: CHAIN",
        "### Paste:",
        f"***Q:MULTI-STRING CHAIN {B} {AB}",
        "**%QEnd: CHAIN",
        "**%QStart: MEM",
        "### Memory:",
        "***Q:VALUE MEM",
        "**%QEnd: MEM",
        "***CONFIRM GO Proceed with it",
        "### Really?",
        "### Response is CONFIRM GO=yes|no or ABORT GO",
        "***D:VALUE FQDN=str:e.example",
        "***D:VALUE NOTHING=none:None",
        f"***D:MULTI-STRING CSR {B}",
        "-----BEGIN-----",
        protocol.EMBEDDED_BOUNDARY,
        B,
        "### line 1",
        "### line 2",
        "***L:INFO two lines",
        "***TERMINATE",
    ]


@pytest.mark.parametrize(
    ("ask", "reply"),
    [
        (lambda d: d.query_multi_string("X"), AB),
        (lambda d: d.query_value("X"), "ABORT X"),
        (lambda d: d.confirm("X", "x"), "ABORT X"),
    ],
)
def test_machine_abort_replies(ask: object, reply: str) -> None:
    dialog, _ = make(MachineDialect, f"{reply}\n")
    with pytest.raises(InstallerAborted):
        ask(dialog)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("ask", "reply", "error"),
    [
        (lambda d: d.query_value("X"), "VALUE Y=int:1", DialogError),
        (lambda d: d.query_value("X"), "VALUE X=float:1", DialogError),
        (lambda d: d.confirm("X", "x"), "CONFIRM X=maybe", DialogError),
        (lambda d: d.query_string("X", valid_values=("a",)), "b", InstallerUsageError),
        (lambda d: d.query_string("X"), "", InstallerUsageError),
        (lambda d: d.query_string("X"), None, DialogError),  # end of input
    ],
)
def test_machine_bad_replies_fail_without_retry(
    ask: object, reply: str | None, error: type
) -> None:
    dialog, _ = make(MachineDialect, "" if reply is None else f"{reply}\nlater\n")
    with pytest.raises(error):
        ask(dialog)  # type: ignore[operator]


def test_recorded_answers_are_used_and_shown() -> None:
    env = Environment()
    env.set("QUESTION/FQDN", "e.example")
    dialog, out = make(MachineDialect, "", env)
    assert dialog.query_string("FQDN", "Engine FQDN:") == "e.example"
    assert lines(out) == ["### Engine FQDN:", "### provided answer: e.example"]


def test_answers_are_recorded_and_hidden_ones_as_secrets() -> None:
    env = Environment()
    dialog, _ = make(MachineDialect, "s3cret\nvisible\n\n", env)
    dialog.query_string("PASSWORD", hidden=True)
    dialog.query_string("USER")
    dialog.query_string("AGAIN", record=False, default="x")
    assert env.is_secret("QUESTION/PASSWORD") and "s3cret" in env.secret_values
    assert env.get("QUESTION/USER") == "visible"
    assert env.get("QUESTION/AGAIN") is None


def test_auto_accept_default() -> None:
    out = io.StringIO()
    logger = logging.Logger("t")
    dialog = Dialog(
        MachineDialect(io.StringIO(""), out, logger), Environment(), logger, lambda: True
    )
    assert dialog.query_string("X", default="d") == "d"
    assert "### provided answer: d" in lines(out)


def test_validator_messages_fail_the_machine_dialog() -> None:
    dialog, _ = make(MachineDialect, "abc\n")
    with pytest.raises(InstallerUsageError, match="invalid value for PORT: not a number"):
        dialog.query_string("PORT", validate=lambda v: None if v.isdigit() else "not a number")


def test_a_broken_channel_fails_once_then_goes_quiet() -> None:
    out = io.StringIO()
    dialect = MachineDialect(io.StringIO(), out, logging.Logger("t"))
    out.close()
    with pytest.raises(DialogError, match="dialog channel closed"):
        dialect.note("x")
    dialect.note("dropped")
    with pytest.raises(DialogError):
        dialect.read_line("X")


# --- human dialect --------------------------------------------------------------------------


def test_human_prompts_with_default_and_retries_invalid_answers() -> None:
    dialog, out = make(HumanDialect, "floppy\n\n")
    assert dialog.query_string("STORAGE", valid_values=("nfs", "iscsi"), default="nfs") == "nfs"
    text = out.getvalue()
    assert "Please specify 'STORAGE' (nfs, iscsi) [nfs]: floppy" in text
    assert "[ ERROR ] invalid value 'floppy' for STORAGE; valid values: nfs, iscsi" in text


def test_human_confirm_value_and_multi_string() -> None:
    dialog, out = make(HumanDialect, "perhaps\nY\nbad\nbool:no\na\nb\n.\n")
    assert dialog.confirm("GO", "Go on?") is True
    assert dialog.query_value("FLAG", "Flag:") is False
    assert dialog.query_multi_string("LINES", "Lines:") == ("a", "b")
    text = out.getvalue()
    assert "Go on? (yes/no): perhaps" in text and "Please answer yes or no" in text
    assert "missing value type in 'bad'" in text


def test_human_end_of_input_fails() -> None:
    dialog, _ = make(HumanDialect, "")
    with pytest.raises(DialogError, match="end of input while waiting for NAME"):
        dialog.query_string("NAME")


def test_human_log_and_notes_layout() -> None:
    dialog, out = make(HumanDialect, "")
    url = "https://example.org/" + "x" * 100
    dialog.note(f"See {url} for more words " + "word " * 20)
    dialog.dialect.log("WARNING", "careful\nsecond line")
    text = lines(out)
    assert url in out.getvalue()  # long words are never broken
    assert all(line.startswith(" " * 10) for line in text[:-2])
    assert text[-2:] == ["[WARNING] careful", " " * 10 + "second line"]


def test_progress_reports_start_keepalive_and_end() -> None:
    dialog, out = make(HumanDialect, "")
    logger = dialog._logger
    ticked = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "still running" in record.getMessage():
                ticked.set()

    logger.addHandler(Watch())
    logger.addHandler(DialectHandler(dialog.dialect, frozenset))
    with dialog.progress("Installing packages", interval=0.01):
        assert ticked.wait(10)
    text = out.getvalue()
    assert "[ INFO  ] Installing packages..." in text
    assert "Installing packages: still running" in text
    assert re.search(r"Installing packages: done \(\d+\.\d s\)", text)
