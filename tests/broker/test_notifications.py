"""State-transition mail against a real SMTP server on loopback."""

from __future__ import annotations

import email
import email.policy
import email.utils
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.broker.notifications import (
    Notifier,
    load_broker_conf,
    load_template,
    render_message,
)
from hosted_engine.clock import FakeClock
from hosted_engine.config.broker_conf import (
    DEFAULT_STATE_TRANSITION_RULE,
    BrokerConf,
    parse_broker_conf,
)

# --- broker.conf ----------------------------------------------------------------------------


def write_conf(path: Path, port: int, *, timeout: float = 5, rule: str | None = None) -> Path:
    notify = "" if rule is None else f"[notify]\nstate_transition = {rule}\n"
    path.write_text(
        "[email]\n"
        "smtp-server = 127.0.0.1\n"
        f"smtp-port = {port}\n"
        f"smtp-timeout = {timeout}\n"
        "source-email = ha@host1.example.com\n"
        "destination-emails = ops@example.com,  oncall@example.com\n" + notify
    )
    return path


def test_missing_file_means_defaults(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert load_broker_conf(tmp_path / "nope.conf") == BrokerConf()
    assert not caplog.records


def test_the_shipped_broker_conf_is_the_defaults() -> None:
    from importlib.resources import files

    text = (files("hosted_engine.broker") / "templates" / "broker.conf").read_text()
    assert parse_broker_conf(text) == BrokerConf()
    assert BrokerConf().state_transition == "maintenance|start|stop|up|down"
    assert BrokerConf().smtp_port == 25 and BrokerConf().smtp_timeout == 10


def test_a_full_file_is_read(tmp_path: Path) -> None:
    conf = load_broker_conf(write_conf(tmp_path / "b.conf", 2525, timeout=3, rule="down"))
    assert conf == BrokerConf(
        smtp_server="127.0.0.1",
        smtp_port=2525,
        smtp_timeout=3.0,
        source_email="ha@host1.example.com",
        destination_emails=("ops@example.com", "oncall@example.com"),
        state_transition="down",
    )


@pytest.mark.parametrize(
    "text",
    [
        "this is not an ini file",
        "[email]\nsmtp-port = twenty-five\n",
        "[email]\nsmtp-port = 70000\n",
        "[email]\nsmtp-timeout = 0\n",
        "[email]\ndestination-emails = ,\n",
        "[notify]\nstate_transition = (unclosed\n",
    ],
)
def test_a_malformed_file_means_defaults_and_a_logged_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    path = tmp_path / "broker.conf"
    path.write_text(text)
    assert load_broker_conf(path) == BrokerConf()
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "using the default notification settings" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("rule", "detail", "wanted"),
    [
        (DEFAULT_STATE_TRANSITION_RULE, "EngineDown-EngineStart", True),
        (DEFAULT_STATE_TRANSITION_RULE, "LocalMaintenance-ReinitializeFSM", True),
        (DEFAULT_STATE_TRANSITION_RULE, "EngineMigratingAway-ReinitializeFSM", False),
        ("MAINTENANCE", "EngineUp-LocalMaintenance", True),
        ("", "EngineDown-EngineStart", False),
    ],
)
def test_the_rule_is_a_case_insensitive_search(rule: str, detail: str, wanted: bool) -> None:
    assert BrokerConf(state_transition=rule).wants(detail) is wanted


# --- rendering ------------------------------------------------------------------------------


def test_render_fills_the_reference_template() -> None:
    conf = BrokerConf(destination_emails=("a@example.com", "b@example.com"))
    message = render_message(conf, load_template(), "EngineDown-EngineStart", "host1", 0.0)
    assert message["From"] == "root@localhost"
    assert message["To"] == "a@example.com, b@example.com"
    assert message["Subject"] == "ovirt-hosted-engine state transition EngineDown-EngineStart"
    assert email.utils.parsedate_to_datetime(message["Date"]).timestamp() == 0.0
    assert message["Message-ID"].endswith("@host1>")
    body = message.get_content()
    assert body == "Hosted engine host: host1 changed state: EngineDown-EngineStart.\n"


def test_unknown_fields_stay_visible_instead_of_crashing() -> None:
    template = "Subject: {detail} on {cluster}\n\n{hostname} {smtp-port} {nope}\n"
    message = render_message(BrokerConf(), template, "A-B", "h", 0.0)
    assert message["Subject"] == "A-B on {cluster}"
    assert message.get_content() == "h 25 {nope}\n"
    assert message["From"] == "root@localhost"  # filled from the conf when missing


def test_a_value_cannot_inject_headers() -> None:
    message = render_message(
        BrokerConf(), load_template(), "A-B\nBcc: victim@example.com", "h\r\nX-Evil: 1", 0.0
    )
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "\n" not in message["Subject"]
    assert message["Message-ID"].endswith("@localhost>")


# --- sending --------------------------------------------------------------------------------


@pytest.fixture
def make_notifier() -> Iterator[Callable[..., tuple[Notifier, queue.Queue[tuple[str, str]]]]]:
    """A Notifier reading ``path`` on every notify, and the queue of its outcomes."""
    notifiers: list[Notifier] = []

    def make(path: Path, **kwargs: Any) -> tuple[Notifier, queue.Queue[tuple[str, str]]]:
        results: queue.Queue[tuple[str, str]] = queue.Queue()
        notifier = Notifier(
            lambda: load_broker_conf(path),
            on_result=lambda detail, outcome: results.put((detail, outcome)),
            **kwargs,
        )
        notifiers.append(notifier)
        return notifier, results

    yield make
    for notifier in notifiers:
        notifier.close()


def test_a_matching_transition_is_mailed(
    tmp_path: Path, start_smtp: Callable[[], Any], make_notifier: Callable[..., Any]
) -> None:
    sink = start_smtp()
    notifier, results = make_notifier(write_conf(tmp_path / "broker.conf", sink.port))
    before = time.time()
    assert notifier.notify("state_transition", "EngineDown-EngineStart", "host1") == "queued"
    assert results.get(timeout=10) == ("EngineDown-EngineStart", "sent")

    envelope = sink.received.get(timeout=5)
    assert envelope.mail_from == "ha@host1.example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["From"] == "ha@host1.example.com"
    assert message["To"] == "ops@example.com, oncall@example.com"
    assert message["Subject"] == "ovirt-hosted-engine state transition EngineDown-EngineStart"
    sent_at = email.utils.parsedate_to_datetime(message["Date"]).timestamp()
    assert before - 1 <= sent_at <= time.time() + 1
    assert message["Message-ID"]
    body = message.get_content()
    assert "host1" in body and "EngineDown-EngineStart" in body


def test_every_history_entry_is_mailed_whatever_the_transition_rule(
    tmp_path: Path, start_smtp: Callable[[], Any], make_notifier: Callable[..., Any]
) -> None:
    sink = start_smtp()
    notifier, results = make_notifier(write_conf(tmp_path / "b.conf", sink.port, rule="nothing"))
    detail = "started on host 2 (host lost, from host 1, 68.6 s down)"
    assert notifier.notify("history", detail, "host2") == "queued"
    assert results.get(timeout=10) == (detail, "sent")
    message = email.message_from_bytes(
        sink.received.get(timeout=5).content, policy=email.policy.default
    )
    assert message["Subject"] == f"ovirt-hosted-engine history: {detail}"
    assert "recorded by host2" in message.get_content()


def test_a_non_matching_transition_is_ignored(
    tmp_path: Path, start_smtp: Callable[[], Any], make_notifier: Callable[..., Any]
) -> None:
    sink = start_smtp()
    notifier, _ = make_notifier(write_conf(tmp_path / "b.conf", sink.port, rule="maintenance"))
    assert notifier.notify("state_transition", "EngineDown-EngineStart", "host1") == "ignored"
    assert notifier.notify("some_other_event", "EngineUp-LocalMaintenance", "h") == "ignored"
    assert notifier.drain(5)
    assert sink.received.empty()


def test_an_edited_smtp_port_takes_effect_at_the_next_notification(
    tmp_path: Path, start_smtp: Callable[[], Any], make_notifier: Callable[..., Any]
) -> None:
    first, second = start_smtp(), start_smtp()
    path = write_conf(tmp_path / "broker.conf", first.port)
    notifier, results = make_notifier(path)
    notifier.notify("state_transition", "EngineUp-EngineStop", "host1")
    assert results.get(timeout=10) == ("EngineUp-EngineStop", "sent")
    write_conf(path, second.port)
    notifier.notify("state_transition", "EngineStop-EngineDown", "host1")
    assert results.get(timeout=10) == ("EngineStop-EngineDown", "sent")
    assert b"EngineUp-EngineStop" in first.received.get(timeout=5).content
    assert b"EngineStop-EngineDown" in second.received.get(timeout=5).content
    assert first.received.empty() and second.received.empty()


def test_a_dead_smtp_port_fails_quickly_without_raising(
    tmp_path: Path, free_port: int, make_notifier: Callable[..., Any]
) -> None:
    notifier, results = make_notifier(write_conf(tmp_path / "broker.conf", free_port))
    started = time.monotonic()
    assert notifier.notify("state_transition", "EngineDown-EngineStart", "host1") == "queued"
    _detail, outcome = results.get(timeout=5)
    assert outcome.startswith("failed: ") and "refused" in outcome.lower()
    assert time.monotonic() - started < 2


def test_a_hung_smtp_server_never_blocks_notify(
    tmp_path: Path, listening_socket: socket.socket, make_notifier: Callable[..., Any]
) -> None:
    port = listening_socket.getsockname()[1]
    notifier, results = make_notifier(write_conf(tmp_path / "broker.conf", port, timeout=0.3))
    started = time.monotonic()
    assert notifier.notify("state_transition", "EngineDown-EngineStart", "host1") == "queued"
    assert notifier.notify("state_transition", "EngineStart-EngineUp", "host1") == "queued"
    assert time.monotonic() - started < 0.2
    assert notifier.drain(10)
    for _ in range(2):
        outcome = results.get_nowait()[1]
        assert outcome.startswith("failed: ") and outcome.endswith("timed out")


def test_a_full_queue_drops_the_mail_instead_of_blocking(
    tmp_path: Path, free_port: int, make_notifier: Callable[..., Any]
) -> None:
    rendering, release = threading.Event(), threading.Event()

    def slow_template(name: str) -> str:
        rendering.set()
        release.wait(10)
        return load_template(name)

    notifier, results = make_notifier(
        write_conf(tmp_path / "b.conf", free_port), template_loader=slow_template, queue_size=1
    )
    assert notifier.notify("state_transition", "A-EngineStart", "h") == "queued"
    assert rendering.wait(5)  # the worker holds the first mail
    assert notifier.notify("state_transition", "B-EngineStart", "h") == "queued"
    assert notifier.notify("state_transition", "C-EngineStart", "h") == (
        "failed: notification queue full"
    )
    release.set()
    assert notifier.drain(10)
    assert results.qsize() == 2


def test_failures_are_logged_once_per_300_seconds(
    tmp_path: Path,
    free_port: int,
    make_notifier: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    notifier, _results = make_notifier(write_conf(tmp_path / "b.conf", free_port), clock=clock)

    def fail_once() -> None:
        notifier.notify("state_transition", "EngineDown-EngineStart", "h")
        assert notifier.drain(5)

    caplog.set_level(logging.DEBUG, "hosted_engine.broker.notifications")
    fail_once()
    clock.advance(299)
    fail_once()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    clock.advance(2)
    fail_once()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert errors[1].endswith("(1 similar failures not logged)")


def test_a_broken_template_is_a_failure_not_a_crash(
    tmp_path: Path, start_smtp: Callable[[], Any], make_notifier: Callable[..., Any]
) -> None:
    sink = start_smtp()
    notifier, results = make_notifier(
        write_conf(tmp_path / "b.conf", sink.port), template_loader=lambda name: "Subject: {}\n\nx"
    )
    notifier.notify("state_transition", "EngineDown-EngineStart", "h")
    _detail, outcome = results.get(timeout=5)
    assert outcome.startswith("failed: ")
    assert sink.received.empty()


def test_after_close_nothing_is_queued(tmp_path: Path, make_notifier: Callable[..., Any]) -> None:
    notifier, _ = make_notifier(tmp_path / "missing.conf")
    notifier.close()
    assert notifier.notify("state_transition", "EngineDown-EngineStart", "h") == (
        "failed: notifier stopped"
    )
