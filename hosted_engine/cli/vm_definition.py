"""The engine VM definition verbs of ``hosted-engine``.

``--show-vm-definition [--json]`` shows the definition the agent would start now and its
source (``ovf``: the OVF_STORE; ``vm.conf``: the configuration archive's fallback);
``--download-vm-ovf FILE`` and ``--upload-vm-ovf FILE [--force]`` back the engine VM's
OVF up and restore it; ``--convert-vm-conf [FILE] [--force]`` is the upgrade path of seed
001: a legacy vm.conf becomes the engine VM's OVF in the OVF_STORE.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hosted_engine.cli.shared_config import arguments, confirm_vm_change
from hosted_engine.client import HAClient


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _text_lines(shown: dict[str, Any]) -> list[str]:
    """``key: value`` lines, NICs as ``nic<N>.<field>`` (the shared-config key names)."""
    lines = []
    for key, value in shown.items():
        if key == "nics":
            for index, nic in enumerate(value, start=1):
                lines += [f"nic{index}.{field}: {_shown(v)}" for field, v in nic.items()]
        elif value is not None:
            lines.append(f"{key}: {_shown(value)}")
    return lines


def show_vm_definition(client: HAClient, args: argparse.Namespace) -> int:
    sourced, cached = client.show_vm_definition()
    shown = {**sourced.definition.to_dict(), "source": sourced.source}
    if sourced.warning is not None:
        print(f"warning: {sourced.warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(shown))
        return 0
    if not cached:
        print("note: no definition cached on this host yet; read from storage", file=sys.stderr)
    print("\n".join(_text_lines(shown)))
    return 0


def download_vm_ovf(client: HAClient, args: argparse.Namespace) -> int:
    (path,) = arguments(args, "download-vm-ovf", 1, "You must specify a file to save the OVF to")
    client.download_vm_ovf(path)
    return 0


def upload_vm_ovf(client: HAClient, args: argparse.Namespace) -> int:
    (path,) = arguments(args, "upload-vm-ovf", 1, "You must specify the OVF file to upload")
    vm = client.read_vm_ovf_file(path).to_definition()
    if not args.force:
        confirm_vm_change(
            f"Replace the engine VM definition with {path} ({vm.mem_size_mib} MiB, "
            f"{vm.sockets}x{vm.cores_per_socket}x{vm.threads_per_core} vCPUs, "
            f"{len(vm.nics)} NIC(s))?"
        )
    client.upload_vm_ovf(path, force=True)
    return 0


def convert_vm_conf(client: HAClient, args: argparse.Namespace) -> int:
    path: str | None = args.verb_args[0] if args.verb_args else None
    client.convert_vm_conf(path, force=args.force)
    return 0


HANDLERS = {
    "show-vm-definition": show_vm_definition,
    "download-vm-ovf": download_vm_ovf,
    "upload-vm-ovf": upload_vm_ovf,
    "convert-vm-conf": convert_vm_conf,
}
