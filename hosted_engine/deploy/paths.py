"""Where a deployed host and its storage domain keep things: the one owner of these paths.

Deploy writes them; the lab, which deploys its hosts into roots, reads them back. Kept
in a module of constants so a reader (the lab's every command) need not import the
deploy machinery (the installer, the CA's crypto) to learn a path.
"""

from __future__ import annotations

from pathlib import Path

# A host's own state, under SYSTEM/root (hosted-engine.conf run_dir, state_dir, log_dir).
RUN_DIR, STATE_DIR, LOG_DIR = (
    "/run/hosted-engine",
    "/var/lib/hosted-engine",
    "/var/log/hosted-engine",
)
# This host's answers, written at the commit (0600).
ANSWERS_FILE = "/etc/hosted-engine/answers.conf"
# The engine VM's disk directory in the domain, and the host registry on it.
DISK = Path("images") / "engine-disk"
REGISTRY = "hosts.json"
