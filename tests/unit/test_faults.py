"""files.faults: injected storage faults fail, hang until healed, or cost nothing."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest

from hosted_engine.errors import UsageError
from hosted_engine.files import faults
from hosted_engine.files.faults import FaultMode, FaultPoint


def test_no_control_file_injects_nothing(fault_control: Path) -> None:
    faults.check(FaultPoint.LEASE_RENEWAL)  # the file does not exist


def test_fail_raises_eio_for_that_point_only(fault_control: Path) -> None:
    faults.set_fault(fault_control, FaultPoint.METADATA_WRITE, FaultMode.FAIL)
    with pytest.raises(OSError) as caught:
        faults.check(FaultPoint.METADATA_WRITE)
    assert caught.value.errno == errno.EIO
    faults.check(FaultPoint.METADATA_READ)
    faults.set_fault(fault_control, FaultPoint.METADATA_WRITE, None)
    faults.check(FaultPoint.METADATA_WRITE)


def test_hang_blocks_until_the_fault_is_cleared(fault_control: Path) -> None:
    faults.set_fault(fault_control, FaultPoint.LEASE_RENEWAL, FaultMode.HANG)
    returned = threading.Event()

    def io() -> None:
        faults.check(FaultPoint.LEASE_RENEWAL)
        returned.set()

    worker = threading.Thread(target=io, daemon=True)
    worker.start()
    assert not returned.wait(0.3), "a hung I/O returned"
    faults.set_fault(fault_control, FaultPoint.LEASE_RENEWAL, None)
    assert returned.wait(5), "the I/O did not resume once the storage came back"


def test_control_file_round_trip(fault_control: Path) -> None:
    faults.set_fault(fault_control, FaultPoint.LEASE_RENEWAL, FaultMode.HANG)
    faults.set_fault(fault_control, FaultPoint.CONFIG_READ, FaultMode.FAIL)
    assert faults.parse(fault_control.read_text()) == {
        FaultPoint.LEASE_RENEWAL: FaultMode.HANG,
        FaultPoint.CONFIG_READ: FaultMode.FAIL,
    }


@pytest.mark.parametrize("line", ["lease-renewal", "lease-renewal=slow", "disk=fail", "=hang"])
def test_bad_lines_are_one_line_errors(line: str) -> None:
    with pytest.raises(UsageError, match="fault line 1"):
        faults.parse(line + "\n")


def test_a_bad_control_file_injects_nothing(fault_control: Path) -> None:
    fault_control.write_text("nonsense\n")
    faults.check(FaultPoint.LEASE_RENEWAL)
