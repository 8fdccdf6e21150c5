"""How the lab starts each of its long-running processes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn(
    command: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Detached (a session of its own, so a terminal's Ctrl-C or the lab's exit does not
    reach it), output appended to ``log``, and none of the caller's ``HOSTED_ENGINE_*``
    variables: a lab process must act only on its own configuration."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOSTED_ENGINE_")}
    with log.open("ab") as out:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=base | dict(env or {}),
            close_fds=True,
        )
