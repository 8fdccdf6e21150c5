"""Daemon logging: one rotated file per daemon, as admins expect to find it."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
