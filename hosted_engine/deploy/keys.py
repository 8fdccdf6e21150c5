"""The environment keys, dialog names and event names host deploy shares with its drivers.

The host-deploy plugins declare these keys; ``hosted-engine --deploy``, the manager's
"Add host" and the lab set them (command line, answer file, ``env-set``) or read them
back. Names are ovirt-host-deploy's where it had one, so its admins recognise them.

Only the framework is imported here: this module travels in the bundle sent to a host.
"""

from __future__ import annotations

from hosted_engine.installer import BOOL, INT, MULTI_STR, STR, key

# --- what to do ---------------------------------------------------------------------------
ACTIONS = ("none", "deploy", "remove")
ACTION = key(
    "HOSTED_ENGINE/action",
    STR,
    "deploy",
    answer=True,
    description="deploy the HA daemons on this host, remove them, or leave them alone",
    check=lambda v: None if v in ACTIONS else f"want one of {', '.join(ACTIONS)}",
)

# --- hosted-engine.conf: one key per line of the file -------------------------------------
# ``HOSTED_ENGINE_CONFIG/<name>`` for every name hosted-engine.conf accepts; the host-deploy
# plugin declares them all (see ``config_key``) and writes the file from those that are set.
CONFIG_PREFIX = "HOSTED_ENGINE_CONFIG/"

# --- PKI enrollment (ovirt-host-deploy's "inline" mode) -----------------------------------
# The host makes its key and a CSR (event PKI_REQUEST_EVENT, MISC) and shows the CSR as
# the multi-string DIALOG_CERT_REQUEST; then (event PKI_INSTALL_EVENT, later in MISC) it
# takes CERT_CHAIN if set, else asks for it as the multi-string DIALOG_CERT_CHAIN: the
# cluster CA's PEM followed by the host certificate's PEM. A driver in the same run (the
# first host's setup) signs between the two events and sets CERT_CHAIN.
ENROLLMENTS = ("none", "inline")
ENROLLMENT = key(
    "VDSM/certificateEnrollment",
    STR,
    "inline",
    check=lambda v: None if v in ENROLLMENTS else f"want one of {', '.join(ENROLLMENTS)}",
)
CERT_ADDRESS = key(
    "VDSM/certificateAddress", STR, description="the host's address in its certificate"
)
CERT_REQUEST = key("VDSM/certificateRequest", STR, description="the CSR this host made (PEM)")
CERT_CHAIN = key("VDSM/certificateChain", STR, description="CA PEM then host certificate PEM")
DIALOG_CERT_REQUEST = "VDSM_CERTIFICATE_REQUEST"
DIALOG_CERT_CHAIN = "VDSM_CERTIFICATE_CHAIN"
PKI_REQUEST_EVENT = "hosted-engine-host-deploy.pki.request"
PKI_INSTALL_EVENT = "hosted-engine-host-deploy.pki.install"

# Where the host keeps what enrollment gave it (under SYSTEM/root), as the hostd unit reads.
PKI_DIR = "/etc/pki/hosted-engine"
CA_FILE, CERT_FILE, KEY_FILE = f"{PKI_DIR}/ca.pem", f"{PKI_DIR}/host.pem", f"{PKI_DIR}/host.key"
CONFIG_FILE = "/etc/hosted-engine/hosted-engine.conf"

# --- SSH trust ----------------------------------------------------------------------------
SSH_ENABLE = key("NETWORK/sshEnable", BOOL, False, answer=True)
SSH_USER = key("NETWORK/sshUser", STR, "root", answer=True)
SSH_KEY = key("NETWORK/sshKey", STR, answer=True, description="the manager's public key")

# --- firewall -----------------------------------------------------------------------------
HOSTD_PORT = 54323
NFTABLES_ENABLE = key("NETWORK/nftablesEnable", BOOL, False, answer=True)
NFTABLES_APPLY = key("NETWORK/nftablesApply", BOOL, True, answer=True)
FIREWALL_PORTS = key(
    "NETWORK/firewallPorts", MULTI_STR, ("22/tcp", f"{HOSTD_PORT}/tcp"), answer=True
)

# --- clock --------------------------------------------------------------------------------
MANAGER_TIME = key("HOST_DEPLOY/managerTime", INT, description="the manager's epoch seconds")
MAX_CLOCK_SKEW = key("HOST_DEPLOY/maxClockSkew", INT, 5, answer=True)

# --- services -----------------------------------------------------------------------------
SERVICES = ("hosted-engine-broker", "hosted-engine-hostd", "hosted-engine-agent")
SERVICES_START_EVENT = "hosted-engine-host-deploy.services.start"
