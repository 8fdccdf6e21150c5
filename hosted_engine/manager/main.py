"""``hosted-engine-manager``: the engine VM's payload.

``--data-dir`` is the engine VM's disk (env ``HOSTED_ENGINE_DATA_DIR``), so after a
failover the next engine VM serves the same users, sessions, hosts and events."""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from hosted_engine.errors import HostApiError, HostedEngineError, UsageError
from hosted_engine.hostd.contract import UNREACHABLE, HostApi
from hosted_engine.hostd.remote import RemoteHostApi
from hosted_engine.manager.db import HostRow
from hosted_engine.manager.hosts import HostApiFactory
from hosted_engine.pki import client_context


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hosted-engine-manager", description=__doc__)
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8443), help="HOST:PORT")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--hosts-file", type=Path, default=None)
    p.add_argument("--ca", type=Path, default=None)
    p.add_argument("--cert", type=Path, default=None)
    p.add_argument("--key", type=Path, default=None)
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per host call")
    p.add_argument(
        "--ssh-key",
        type=Path,
        default=None,
        help="the manager's SSH key for Add host (default: DATA_DIR/manager_ssh_ed25519, "
        "made on first use)",
    )
    p.add_argument("--ca-dir", type=Path, default=None, help="the cluster CA, to sign hosts")
    p.add_argument("--deploy-python", default="python3", help="Python on the hosts deployed")
    p.add_argument(
        "--deploy-arg",
        action="append",
        default=[],
        help="KEY=type:value added to every host deploy run (repeatable)",
    )
    return p


class _NoCertificate:
    """Stands in for every host when the manager has no client certificate: host APIs
    take only certificates of the cluster CA, so every call is UNREACHABLE, saying why."""

    def __init__(self, row: HostRow) -> None:
        self.row = row

    def __getattr__(self, name: str) -> object:
        async def fail(*args: object, **kwargs: object) -> object:
            if name == "aclose":
                return None
            raise HostApiError(
                UNREACHABLE,
                f"{self.row.name}: the manager has no client certificate "
                "(start it with --ca, --cert and --key)",
            )

        return fail


def _factory(args: argparse.Namespace) -> HostApiFactory:
    """The HTTPS client of each host's API, with the manager's client certificate."""
    if args.ca is None:  # main() has checked that the three come together
        return lambda row: cast(HostApi, _NoCertificate(row))
    context = client_context(args.ca, args.cert, args.key)

    def make(row: HostRow) -> HostApi:
        return RemoteHostApi(f"https://{row.address}:{row.port}", context, args.timeout)

    return make


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data_dir = args.data_dir or (
        Path(os.environ["HOSTED_ENGINE_DATA_DIR"])
        if os.environ.get("HOSTED_ENGINE_DATA_DIR")
        else None
    )
    if data_dir is None:
        print(
            "hosted-engine-manager: --data-dir or HOSTED_ENGINE_DATA_DIR is required",
            file=sys.stderr,
        )
        return 2
    if bool(args.ca) + bool(args.cert) + bool(args.key) not in (0, 3):
        print("hosted-engine-manager: --ca, --cert and --key go together", file=sys.stderr)
        return 2
    import uvicorn

    from hosted_engine.manager.add_host import SSH_KEY_NAME, AddHostSettings
    from hosted_engine.manager.app import create_app
    from hosted_engine.manager.db import open_database
    from hosted_engine.manager.hosts_file import HostsFile

    try:
        db = open_database(data_dir)
        hosts_file = None
        if args.hosts_file is not None:
            hosts_file = HostsFile(args.hosts_file)
            hosts_file.load(db)
        settings = AddHostSettings(
            args.ssh_key or data_dir / SSH_KEY_NAME,
            args.ca_dir,
            args.deploy_python,
            tuple(args.deploy_arg),
        )
        app = create_app(
            db, data_dir, _factory(args), args.timeout, add_host=settings, hosts_file=hosts_file
        )
    except (HostedEngineError, UsageError, OSError, ssl.SSLError, RuntimeError) as err:
        print(f"hosted-engine-manager: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    host, port = args.listen
    # access logs carry no secrets (Basic credentials are headers, never logged)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=True)
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
