"""The shared-configuration verbs of ``hosted-engine``, in the reference's words (seed 000).

``--set-shared-config`` prints nothing on success; ``--get-shared-config`` prints
``KEY : VALUE, type : TYPE`` between two blank lines, exactly as oVirt prints it
(ha-anchor 5.2); ``--get-all-config`` prints ``type: TYPE`` and then one
``key: value`` line per key, for each type. The key and type are checked before a
missing value is reported, as the seed's examples show.
"""

from __future__ import annotations

import argparse
import sys

from hosted_engine.client import HAClient
from hosted_engine.errors import UsageError

VM_WARNING = (
    "Warning: you are about to change the definition of the engine VM. A wrong value can "
    "keep the engine VM from starting; the change applies the next time the VM starts."
)


def arguments(args: argparse.Namespace, verb: str, most: int, missing: str) -> list[str]:
    values: list[str] = args.verb_args
    if not values:
        raise UsageError(missing)
    if len(values) > most:
        raise UsageError(f"--{verb} takes at most {most} arguments (got {len(values)})")
    return values


def confirm_vm_change(question: str) -> None:
    """Ask on a terminal; refuse without one (scripts say --force)."""
    if not sys.stdin.isatty():
        raise UsageError(
            "Refusing to change the engine VM definition without confirmation: "
            "add --force to do it non-interactively."
        )
    sys.stderr.write(f"{VM_WARNING}\n{question} [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise UsageError("Aborted: the engine VM definition was not changed.")


def set_shared_config(client: HAClient, args: argparse.Namespace) -> int:
    values = arguments(args, "set-shared-config", 2, "You must specify a key to set")
    key = values[0]
    kind = client.locate_shared_config(key, args.config_type)
    if len(values) < 2:
        raise UsageError("You must specify a new value to set")
    if kind == "vm" and not args.force:
        confirm_vm_change(f"Set {key} to {values[1]}?")
    client.set_shared_config(key, values[1], kind, force=True)
    return 0


def get_shared_config(client: HAClient, args: argparse.Namespace) -> int:
    (key,) = arguments(args, "get-shared-config", 1, "You must specify a key to get")
    value, kind = client.get_shared_config(key, args.config_type)
    print(f"\n{key} : {value}, type : {kind}\n")
    return 0


def get_all_config(client: HAClient, args: argparse.Namespace) -> int:
    for kind, values in client.get_all_config(args.config_type).items():
        print(f"type: {kind}")
        for key, value in values.items():
            print(f"{key}: {value}")
    return 0


def download_shared_config(client: HAClient, args: argparse.Namespace) -> int:
    (path,) = arguments(
        args, "download-shared-config", 1, "You must specify a file to save the archive to"
    )
    client.download_shared_config(path)
    return 0


def upload_shared_config(client: HAClient, args: argparse.Namespace) -> int:
    (path,) = arguments(
        args, "upload-shared-config", 1, "You must specify the archive file to upload"
    )
    client.upload_shared_config(path)
    return 0


HANDLERS = {
    "set-shared-config": set_shared_config,
    "get-shared-config": get_shared_config,
    "get-all-config": get_all_config,
    "download-shared-config": download_shared_config,
    "upload-shared-config": upload_shared_config,
}
