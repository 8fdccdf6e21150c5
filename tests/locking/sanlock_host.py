"""One simulated host's side of the sanlock tests, run as its own process.

libsanlock talks to one daemon per process, so each host of a test is a process of its
own: ``python -m tests.locking.sanlock_host RUN_DIR LOCKSPACE COMMAND ARGS...``.
Prints one JSON line; ``hold`` prints it once the lease is held and keeps it until its
standard input closes (or it is killed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hosted_engine.errors import LeaseError, LeaseHeldError
from hosted_engine.files import faults
from hosted_engine.locking.sanlock_backend import SanlockLeaseManager


def _say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main(argv: list[str]) -> int:
    run_dir, lockspace, command, *args = argv
    manager = SanlockLeaseManager(
        Path(lockspace), io_timeout=1, run_dir=Path(run_dir), attempts=2, retry_delay=0.5
    )
    try:
        if command == "join":
            lease = manager.acquire_host_id(int(args[0]))
            _say(ok=True, lease=lease.name, held=lease.is_held())
        elif command == "leave":
            manager.leave_lockspace(int(args[0]))
            _say(ok=True, joined=manager.joined(int(args[0])))
        elif command == "reinitialize":
            manager.reinitialize()
            _say(ok=True)
        elif command == "holder":
            holder = manager.vm_lease_holder(args[0])
            _say(ok=True, holder=None if holder is None else holder.host_id)
        elif command == "host-holder":
            holder = manager.host_id_holder(int(args[0]))
            _say(ok=True, holder=None if holder is None else holder.host_id)
        elif command == "hold":
            vm_id, host_id = args[0], int(args[1])
            if len(args) > 2:
                faults.use_file(Path(args[2]))
            lease = manager.acquire_vm_lease(vm_id, host_id)
            _say(ok=True, held=lease.is_held(), fds=list(lease.inheritable_fds()))
            for line in sys.stdin:  # "renew" renews once; EOF releases
                if line.strip() == "renew":
                    try:
                        lease.renew()
                        _say(ok=True, renewed=True)
                    except LeaseError as e:
                        _say(ok=False, error=str(e))
            lease.release()
            _say(ok=True, released=True, held=lease.is_held())
        else:
            _say(ok=False, error=f"unknown command {command}")
            return 2
    except LeaseHeldError as e:
        _say(ok=False, held_by=e.holder, error=str(e))
        return 3
    except LeaseError as e:
        _say(ok=False, error=str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
