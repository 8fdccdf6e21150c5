"""Engine VM questions: memory, CPUs, the NIC's MAC (a random 00:16:3e one) and disk size."""

from __future__ import annotations

import uuid

from hosted_engine.deploy import setup_ask, setup_values
from hosted_engine.deploy import setup_keys as K
from hosted_engine.installer import Context, Plugin, Stage, event


class Vm(Plugin):
    @event(
        stage=Stage.CUSTOMIZATION,
        name="hosted-engine-setup.vm.ask",
        after=("hosted-engine-setup.network.ask",),
        condition=lambda self: not self.environment[K.DEPLOYED],
    )
    def ask(self) -> None:
        env = self.environment
        setup_ask.ask(self, K.MEM_MB, "Memory size of the engine VM (MB):")
        setup_ask.ask(self, K.VCPUS, "Number of virtual CPUs of the engine VM:")
        setup_ask.ask(self, K.MAC, "MAC address of the engine VM's NIC:", setup_values.random_mac())
        setup_ask.ask(self, K.IMG_SIZE_GB, "Disk size of the engine VM (GB):")
        if env[K.VM_UUID] is None:
            env[K.VM_UUID] = str(uuid.uuid4())


def create_plugins(context: Context) -> None:
    Vm(context)
