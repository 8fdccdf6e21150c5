"""The broker's cache of the engine VM definition: from the OVF_STORE, the vm.conf fallback,
a bad OVF never replacing the last good definition, and what the metadata says of it."""

from __future__ import annotations

import logging

import pytest

from hosted_engine.broker.config_cache import FALLBACK_LOG_PERIOD, FALLBACK_MESSAGE, ConfigCache
from hosted_engine.broker.publisher import StatusPublisher
from hosted_engine.broker.service import BrokerService
from hosted_engine.clock import FakeClock
from hosted_engine.config.engine_vm import OVF_HEADER, read_cached_definition
from hosted_engine.config.host import HostConfig
from hosted_engine.locking import MemoryLeaseManager
from hosted_engine.storage.ovf_store import member_name
from hosted_engine.storage.whiteboard import Whiteboard
from hosted_engine.vm.definition import load_definition
from hosted_engine.vm.ovf import parse_ovf

from .conftest import StoreFiles, reference_ovf, store_tar


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def cache_of(lab: StoreFiles, clock: FakeClock, host_id: int = 2) -> ConfigCache:
    return ConfigCache.for_host(lab.config(host_id), clock)


def cached_text(lab: StoreFiles, host_id: int = 2) -> str:
    return lab.config(host_id).vm_conf_path.read_text()


def test_the_definition_comes_from_the_ovf(lab_files: StoreFiles, clock: FakeClock) -> None:
    lab_files.store.put_vm_ovf(
        lab_files.vm_id, reference_ovf("ovf_test.xml", lab_files.vm_id), "ref", overwrite=True
    )
    status = cache_of(lab_files, clock).refresh()

    assert (status.error, status.vm_source, status.warning) == (None, "ovf", None)
    assert status.refreshed_at == clock.monotonic()
    config = lab_files.config(2)
    text = cached_text(lab_files)
    assert text.startswith(OVF_HEADER)
    cached = read_cached_definition(config.vm_conf_path)
    assert cached.source == "ovf"
    expected = parse_ovf(lab_files.vm_ovf()).to_definition()
    assert cached.definition.to_dict() == {
        **expected.to_dict(),
        "bootImageId": "1b52d184-a370-48a7-8335-a4755b01ec0a",
    }
    assert (cached.definition.mem_size_mib, cached.definition.smp) == (4096, 1)
    # the agent reads the same file the same way
    assert load_definition(config.vm_conf_path) == cached.definition


def test_without_an_ovf_store_the_archive_vm_conf_is_used(
    legacy_lab: StoreFiles, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    cache = cache_of(legacy_lab, clock)
    caplog.set_level(logging.WARNING, "hosted_engine.broker.config_cache")

    status = cache.refresh()

    assert (status.error, status.vm_source) == (None, "vm.conf")
    assert cached_text(legacy_lab) == legacy_lab.member("vm.conf")
    assert read_cached_definition(legacy_lab.config(2).vm_conf_path).source == "vm.conf"
    fallbacks = [r for r in caplog.records if r.getMessage() == FALLBACK_MESSAGE]
    assert len(fallbacks) == 1
    assert FALLBACK_MESSAGE.startswith(
        "Unable to identify the OVF_STORE volume, falling back to initial vm.conf"
    )

    clock.advance(FALLBACK_LOG_PERIOD - 1)
    cache.refresh()
    assert len([r for r in caplog.records if r.getMessage() == FALLBACK_MESSAGE]) == 1
    clock.advance(1)
    cache.refresh()
    assert len([r for r in caplog.records if r.getMessage() == FALLBACK_MESSAGE]) == 2


def test_a_store_without_the_engine_vm_falls_back_too(
    lab_files: StoreFiles, clock: FakeClock
) -> None:
    lab_files.write_copies(store_tar({"info.json": b"{}"}))
    status = cache_of(lab_files, clock).refresh()
    assert (status.error, status.vm_source) == (None, "vm.conf")
    assert cached_text(lab_files) == lab_files.member("vm.conf")


@pytest.mark.parametrize("breakage", ["garbage", "bad-ovf", "other-vm"])
def test_a_bad_ovf_never_replaces_the_last_good_definition(
    lab_files: StoreFiles, clock: FakeClock, breakage: str
) -> None:
    cache = cache_of(lab_files, clock)
    good = cache.refresh()
    before = cached_text(lab_files)
    assert good.vm_source == "ovf"
    name = member_name(lab_files.vm_id)
    negative = lab_files.vm_ovf().replace(
        b">256</rasd:VirtualQuantity>", b">-1</rasd:VirtualQuantity>"
    )
    assert negative != lab_files.vm_ovf()
    bad = {
        "garbage": b"garbage",
        "bad-ovf": store_tar({name: negative}),
        "other-vm": store_tar({name: reference_ovf("ovf_test.xml", "another-vm")}),
    }[breakage]
    lab_files.write_copies(bad)
    clock.advance(7)

    status = cache.refresh()

    assert status.error is not None and "\n" not in status.error
    assert "OVF_STORE.1" in status.error and "OVF_STORE.2" in status.error
    assert status.refreshed_at == good.refreshed_at and status.failures == 1
    assert status.age(clock.monotonic()) == 7
    assert status.vm_source == "ovf"
    assert cached_text(lab_files) == before


def test_a_bad_ovf_with_nothing_to_keep_uses_the_vm_conf_and_says_so(
    lab_files: StoreFiles, clock: FakeClock
) -> None:
    lab_files.write_copies(b"garbage")
    status = cache_of(lab_files, clock).refresh()
    assert status.error is not None and "not a valid tar archive" in status.error
    assert (status.vm_source, status.refreshed_at) == ("vm.conf", None)
    assert cached_text(lab_files) == lab_files.member("vm.conf")


def test_a_fixed_ovf_is_installed_again(lab_files: StoreFiles, clock: FakeClock) -> None:
    cache = cache_of(lab_files, clock)
    cache.refresh()
    good = lab_files.copy_bytes()
    lab_files.write_copies(b"garbage")
    assert cache.refresh().error is not None
    for path, data in zip(lab_files.store.paths, good, strict=True):
        path.write_bytes(data)
    status = cache.refresh()
    assert (status.error, status.vm_source, status.failures) == (None, "ovf", 1)


def test_one_corrupt_copy_costs_only_a_warning(lab_files: StoreFiles, clock: FakeClock) -> None:
    cache = cache_of(lab_files, clock)
    lab_files.write_copies(b"garbage", 0)
    status = cache.refresh()
    assert (status.error, status.vm_source) == (None, "ovf")
    assert status.warning is not None and "OVF_STORE.1: not a valid tar archive" in status.warning
    assert read_cached_definition(lab_files.config(2).vm_conf_path).definition.mem_size_mib == 256


def test_an_edit_of_the_ovf_reaches_the_cache(lab_files: StoreFiles, clock: FakeClock) -> None:
    cache = cache_of(lab_files, clock)
    cache.refresh()
    lab_files.shared(1).set("memSize", "320", "vm")
    cache.refresh()
    assert "memSize=320\n" in cached_text(lab_files)
    assert lab_files.member("vm.conf").count("memSize=256") == 1  # the fallback stays as it was


def test_an_unchanged_store_rewrites_nothing(lab_files: StoreFiles, clock: FakeClock) -> None:
    cache = cache_of(lab_files, clock)
    cache.refresh()
    inode = lab_files.config(2).vm_conf_path.stat().st_ino
    cache.refresh()
    assert lab_files.config(2).vm_conf_path.stat().st_ino == inode


# --- what the broker publishes and reports ---------------------------------------------------


def broker(config: HostConfig, cache: ConfigCache, clock: FakeClock) -> BrokerService:
    board = Whiteboard(config.metadata_path)
    leases = MemoryLeaseManager()
    publisher = StatusPublisher(config, board, leases, lambda: None, clock, cache.status)
    return BrokerService(config, publisher, board, leases, dict, lambda *a: "ok", clock, cache)


def test_the_metadata_says_where_the_definition_came_from_and_when(
    lab_files: StoreFiles, legacy_lab: StoreFiles, clock: FakeClock
) -> None:
    config = lab_files.config(2)
    cache = cache_of(lab_files, clock)
    service = broker(config, cache, clock)

    record, state_md = service.publisher.build_record(clock.monotonic())
    assert (record.conf_on_shared_storage, record.local_conf_timestamp) == (False, 0)
    assert "vm_conf_source" not in state_md

    clock.advance(12.7)
    cache.refresh()
    clock.advance(5)
    record, state_md = service.publisher.build_record(clock.monotonic())
    assert (record.conf_on_shared_storage, record.local_conf_timestamp) == (True, 1012)
    assert state_md["vm_conf_source"] == "ovf"

    legacy = cache_of(legacy_lab, clock)
    legacy.refresh()
    legacy_record, legacy_md = broker(legacy_lab.config(2), legacy, clock).publisher.build_record(
        clock.monotonic()
    )
    assert legacy_record.conf_on_shared_storage and legacy_md["vm_conf_source"] == "vm.conf"


def test_get_health_reports_a_bad_ovf(lab_files: StoreFiles, clock: FakeClock) -> None:
    cache = cache_of(lab_files, clock)
    service = broker(lab_files.config(2), cache, clock)
    service.refresh_config()
    lab_files.write_copies(b"garbage")
    clock.advance(3)
    health = service.get_health()["config"]
    assert health["error"] is None
    service.refresh_config()
    health = service.get_health()["config"]
    assert "not a valid tar archive" in health["error"]
    assert (health["vm_source"], health["age"], health["failures"]) == ("ovf", 3, 1)
