"""What both daemons do before their own work: arguments, config, logging, signals.

Each logs to one rotated file, as admins expect to find it, and turns SIGTERM/SIGINT into
an orderly stop. A configuration a daemon cannot run with is one line on stderr and
exit 1, before anything starts.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn

from hosted_engine.config.host import HostConfig, load_host_config, require_daemon_keys
from hosted_engine.errors import HostedEngineError
from hosted_engine.files import faults

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line, like every other misuse (argparse adds the usage)."""

    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(message)


def setup_daemon_logging(name: str, log_dir: Path, debug: bool = False) -> Path | None:
    """Log to ``<log_dir>/<name>.log`` (10 MiB x 5); to stderr if the directory is unusable."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for old in list(root.handlers):
        root.removeHandler(old)
    path = log_dir / f"{name}.log"
    target: logging.Handler
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        target = logging.handlers.RotatingFileHandler(
            path, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
    except OSError as e:
        print(f"{name}: cannot log to {path}: {e}; logging to stderr", file=sys.stderr)
        target = logging.StreamHandler(sys.stderr)
        target.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(target)
        return None
    target.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(target)
    # one line per health check would drown the log
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path


def run_daemon(
    name: str,
    description: str | None,
    argv: list[str] | None,
    body: Callable[[HostConfig, threading.Event], int],
    check: Callable[[HostConfig], object] | None = None,
) -> int:
    """Parse ``--config``/``--debug``, validate, set up logging and signals, run ``body``.

    ``body`` returns the exit code and must return soon after the stop event is set.
    """
    prog = f"hosted-engine-{name}"
    parser = _Parser(prog=prog, description=description)
    parser.add_argument("--config", help="hosted-engine.conf (default: $HOSTED_ENGINE_CONFIG)")
    parser.add_argument("--debug", action="store_true")
    try:
        args = parser.parse_args(argv)
    except _ArgumentError as e:
        print(f"{prog}: {e} (see --help)", file=sys.stderr)
        return 2
    try:
        config = require_daemon_keys(load_host_config(args.config))
        if check is not None:
            check(config)
    except HostedEngineError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    setup_daemon_logging(name, config.log_dir, args.debug)
    faults.use_file(config.fault_file)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return body(config, stop)
    except HostedEngineError as e:
        logging.getLogger(f"hosted_engine.{name}").error("%s", e)
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
