"""Shared-configuration writers that run through a chaos run and count lost writes.

Each writer owns one key of the broker configuration and sets it to an ever-growing
counter, through a different host's client each time, as admins on several hosts would.
The writers race each other on the one archive, so a write that optimistic locking fails
to protect shows up as the other writer's key falling back to an older value. A write
counts only once the client said it was done; one that raised may or may not have landed
and is not counted either way.
"""

from __future__ import annotations

import contextlib
import random
import threading
from dataclasses import dataclass, field

from hosted_engine.client import HAClient
from hosted_engine.errors import HostedEngineError
from hosted_engine.lab.cluster import Lab
from hosted_engine.lab.layout import host_config_path

# Keys no HA decision depends on; the lab's mail goes nowhere whatever they say.
WRITER_KEYS = ("email.destination-emails", "email.source-email")
CONFIG_TYPE = "broker"


def _value(key: str, number: int) -> str:
    return f"chaos-{key.rsplit('-', 1)[-1]}-{number}@localhost"


@dataclass
class WriterStats:
    key: str
    acknowledged: int = 0
    failed: int = 0
    lost: int = 0
    last: str | None = None  # the last value a client acknowledged
    lost_detail: list[str] = field(default_factory=list)


class ConfigWriters:
    """``with ConfigWriters(lab, rng):`` runs one thread per key until the block ends,
    then checks each key a last time and puts the original values back."""

    def __init__(self, lab: Lab, rng: random.Random) -> None:
        self.lab = lab
        self.rng = random.Random(rng.random())  # own stream: the fault plan stays the same
        self.hosts = list(range(1, lab.manifest.hosts + 1))
        self.stats = {key: WriterStats(key) for key in WRITER_KEYS}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._original: dict[str, str] = {}

    def _client(self, host_id: int) -> HAClient:
        return HAClient.from_config(host_config_path(self.lab.dir, host_id))

    def __enter__(self) -> ConfigWriters:
        client = self._client(1)
        for key in WRITER_KEYS:
            self._original[key] = client.get_shared_config(key, CONFIG_TYPE)[0]
        for index, key in enumerate(WRITER_KEYS):
            thread = threading.Thread(
                target=self._run, args=(key, index), name=f"writer-{key}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30.0)
        client = self._client(1)
        for key, stats in self.stats.items():
            self._check(client, stats)
            with contextlib.suppress(HostedEngineError):  # the admin sees it in the config
                client.set_shared_config(key, self._original[key], CONFIG_TYPE)

    def _check(self, client: HAClient, stats: WriterStats) -> None:
        if stats.last is None:
            return
        try:
            value = client.get_shared_config(stats.key, CONFIG_TYPE)[0]
        except HostedEngineError:
            return  # unreadable now: not evidence of a lost write
        if value != stats.last:
            with self._lock:
                stats.lost += 1
                stats.lost_detail.append(f"{stats.key}: {value!r}, acknowledged {stats.last!r}")

    def _run(self, key: str, index: int) -> None:
        stats = self.stats[key]
        number = 0
        turn = index
        while not self._stop.is_set():
            host_id = self.hosts[turn % len(self.hosts)]
            turn += 1
            try:
                client = self._client(host_id)
                self._check(client, stats)
                number += 1
                value = _value(key, number)
                client.set_shared_config(key, value, CONFIG_TYPE)
            except HostedEngineError:
                with self._lock:
                    stats.failed += 1
            else:
                with self._lock:
                    stats.acknowledged += 1
                    stats.last = value
            with self._lock:
                pause = self.rng.uniform(0.2, 1.0)
            self._stop.wait(pause)

    @property
    def acknowledged(self) -> int:
        return sum(s.acknowledged for s in self.stats.values())

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.stats.values())

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.stats.values())

    @property
    def lost_detail(self) -> list[str]:
        return [d for s in self.stats.values() for d in s.lost_detail]
