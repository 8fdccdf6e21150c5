"""Deploying hosts, on the installer framework (``hosted_engine/installer``).

Two plugin groups live in ``plugins/``:

- ``hosted-engine-host-deploy`` configures one host for HA (preflight, clock, SSH trust,
  PKI enrollment, firewall, services, ``hosted-engine.conf``, undeploy). It runs on the
  host itself, started locally or sent over SSH as a bundle by the manager's "Add host",
  so it imports only the framework and :mod:`hosted_engine.deploy.keys` (both travel in
  the bundle) and reaches the rest of the system through commands (``hosted-engine``,
  ``nft``, ``openssl``, the services provider).
- ``hosted-engine-setup`` is ``hosted-engine --deploy``: the first host lays out the
  storage domain, the cluster CA and the engine VM; an additional host joins them. It
  runs where hosted-engine is installed and uses the host-deploy group for the host's
  own configuration.

:mod:`hosted_engine.deploy.keys` is the one contract between the groups and their
drivers (the CLI, the manager, the lab): every environment key and dialog name that
crosses a boundary is declared there once.
"""

from __future__ import annotations

from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent / "plugins"
HOST_DEPLOY_GROUP = "hosted-engine-host-deploy"
SETUP_GROUP = "hosted-engine-setup"
