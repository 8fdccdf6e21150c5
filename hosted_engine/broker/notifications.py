"""State-transition mail (spec 4.3), sent so that mail can never stall the broker.

The reference sent inline from its single-threaded RPC server, so a dead or slow SMTP
relay stalled every other broker call for up to the SMTP timeout. Here ``notify`` only
decides and queues; a worker thread sends. ``broker.conf`` is read again on every
``notify``, so an edited relay takes effect at the next transition without a restart,
and a broken file falls back to the defaults instead of silencing notifications.
"""

from __future__ import annotations

import configparser
import contextlib
import email.utils
import importlib.resources
import logging
import queue
import re
import smtplib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from hosted_engine.clock import Clock, SystemClock
from hosted_engine.config.broker_conf import STATE_TRANSITION, BrokerConf, parse_broker_conf
from hosted_engine.errors import ConfigError
from hosted_engine.files import regular

log = logging.getLogger(__name__)

FAILURE_LOG_INTERVAL = 300.0  # reference log throttling for notify errors
_HOSTNAME = re.compile(r"[A-Za-z0-9.-]+")


def load_broker_conf(path: str | Path) -> BrokerConf:
    """The settings in ``path``; the defaults when it is missing or malformed (logged)."""
    try:
        text = regular.read_text(Path(path), ConfigError)  # a FIFO must not stall notify
    except ConfigError as e:
        log.error("%s; using the default notification settings", e)
        return BrokerConf()
    if text is None:
        return BrokerConf()
    try:
        return parse_broker_conf(text)
    except (configparser.Error, ValueError) as e:
        log.error("%s is malformed, using the default notification settings: %s", path, e)
        return BrokerConf()


HISTORY = "history"  # an entry of the engine's history (storage/history.py)
TEMPLATES = {STATE_TRANSITION: "state_transition.txt", HISTORY: "history.txt"}


def load_template(name: str = "state_transition.txt") -> str:
    return (importlib.resources.files("hosted_engine.broker") / "templates" / name).read_text()


class _KeepUnknownFields(dict[str, str]):
    """Leaves ``{unknown}`` in the text: a template typo shows in the mail, no crash."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_message(
    conf: BrokerConf, template: str, detail: str, hostname: str, now: float
) -> EmailMessage:
    """Fill the template (headers, blank line, body) into a well-formed message."""
    fields = {**conf.template_fields(), "detail": detail, "hostname": hostname}
    # No value may start a new header line.
    safe = _KeepUnknownFields({k: " ".join(v.splitlines()) for k, v in fields.items()})
    text = template.replace("\r\n", "\n").format_map(safe)
    head, _, body = text.partition("\n\n")
    message = EmailMessage()
    for line in head.splitlines():
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"template header line without a name: {line!r}")
        message[name.strip()] = value.strip()
    for name, value in (("From", conf.source_email), ("To", fields["destination-emails"])):
        if name not in message:
            message[name] = value
    message["Date"] = email.utils.formatdate(now, localtime=True)
    domain = hostname if _HOSTNAME.fullmatch(hostname) else "localhost"
    message["Message-ID"] = email.utils.make_msgid(domain=domain)
    message.set_content(body)
    return message


def send_message(conf: BrokerConf, message: EmailMessage) -> None:
    with smtplib.SMTP(conf.smtp_server, conf.smtp_port, timeout=conf.smtp_timeout) as smtp:
        smtp.send_message(
            message, from_addr=conf.source_email, to_addrs=list(conf.destination_emails)
        )


@dataclass(frozen=True)
class _Mail:
    conf: BrokerConf
    detail: str
    hostname: str
    template: str


ResultHook = Callable[[str, str], None]
"""Called on the worker thread with (detail, outcome) once a queued mail is done."""


class Notifier:
    """Decides at once, sends in the background; nothing here raises to the caller."""

    def __init__(
        self,
        conf_loader: Callable[[], BrokerConf],
        *,
        template_loader: Callable[[str], str] = load_template,
        on_result: ResultHook | None = None,
        queue_size: int = 32,
        clock: Clock | None = None,
    ) -> None:
        self._conf_loader = conf_loader
        self._template_loader = template_loader
        self._on_result = on_result
        self._clock = clock or SystemClock()
        self._queue: queue.Queue[_Mail | None] = queue.Queue(queue_size)
        self._state = threading.Condition()
        self._pending = 0
        self._closed = False
        self._last_failure_log: float | None = None
        self._unlogged_failures = 0
        self._worker = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._worker.start()

    def notify(self, event: str, detail: str, hostname: str) -> str:
        """Returns "queued", "ignored" or "failed: <reason>"; the mail's outcome goes to
        the ``on_result`` hook."""
        template = TEMPLATES.get(event)
        if template is None:
            log.warning("ignoring notification of unknown event %r (%s)", event, detail)
            return "ignored"
        try:
            conf = self._conf_loader()
        except Exception as e:  # a custom loader; load_broker_conf itself never raises
            log.error("cannot load the notification settings: %s", e)
            return f"failed: cannot load the notification settings: {e}"
        if event == STATE_TRANSITION and not conf.wants(detail):  # history: every entry
            log.debug("not mailing transition %s: no match for %r", detail, conf.state_transition)
            return "ignored"
        with self._state:
            if self._closed:
                return "failed: notifier stopped"
            try:
                self._queue.put_nowait(_Mail(conf, detail, hostname, template))
            except queue.Full:
                self._log_failure(f"queue full, dropped the mail for {detail}")
                return "failed: notification queue full"
            self._pending += 1
        return "queued"

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued mail is sent or failed; False on timeout."""
        with self._state:
            return self._state.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the worker; a mail stuck on a hung server is abandoned with its thread."""
        with self._state:
            self._closed = True
        with contextlib.suppress(queue.Full):  # then the worker sees _closed after its mail
            self._queue.put_nowait(None)
        self._worker.join(timeout)

    def _run(self) -> None:
        while True:
            mail = self._queue.get()
            if mail is None:
                return
            outcome = self._deliver(mail)
            if self._on_result is not None:
                try:
                    self._on_result(mail.detail, outcome)
                except Exception:
                    log.exception("notification result hook failed")
            with self._state:
                self._pending -= 1
                self._state.notify_all()
                if self._closed:
                    return

    def _deliver(self, mail: _Mail) -> str:
        try:
            message = render_message(
                mail.conf,
                self._template_loader(mail.template),
                mail.detail,
                mail.hostname,
                self._clock.time(),
            )
            send_message(mail.conf, message)
        except Exception as e:
            reason = str(e) or type(e).__name__
            self._log_failure(
                f"cannot mail transition {mail.detail} via "
                f"{mail.conf.smtp_server}:{mail.conf.smtp_port}: {reason}"
            )
            return f"failed: {reason}"
        log.info("mailed transition %s to %s", mail.detail, ", ".join(mail.conf.destination_emails))
        with self._state:
            self._last_failure_log = None  # after a success, the next failure is news again
        return "sent"

    def _log_failure(self, text: str) -> None:
        """One error line per FAILURE_LOG_INTERVAL: a dead relay fails every transition."""
        with self._state:
            now = self._clock.monotonic()
            last = self._last_failure_log
            if last is not None and now - last < FAILURE_LOG_INTERVAL:
                self._unlogged_failures += 1
                log.debug("%s", text)
                return
            if self._unlogged_failures:
                text += f" ({self._unlogged_failures} similar failures not logged)"
            self._last_failure_log = now
            self._unlogged_failures = 0
        log.error("%s", text)
