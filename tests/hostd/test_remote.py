"""RemoteHostApi against a real hostd: the contract's bodies, statuses and timeouts."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosted_engine.errors import HostApiError
from hosted_engine.hostd.contract import (
    BAD_ANSWER,
    CONFLICT,
    NOT_FOUND,
    PRECONDITION_FAILED,
    UNPROCESSABLE,
    UNREACHABLE,
    HostStatus,
)
from hosted_engine.hostd.remote import RemoteHostApi
from hosted_engine.pki import CertificateAuthority, client_context, write_key_pair
from tests.hostd.conftest import HOSTS, Cluster
from tests.integration.conftest import cli

pytestmark = pytest.mark.lab


@pytest.fixture(autouse=True)
def no_maintenance(cluster: Cluster) -> Iterator[None]:
    yield
    for host_id in range(1, HOSTS + 1):
        cli(cluster.lab, host_id, "--set-maintenance", "--mode=none")


def api(cluster: Cluster, host_id: int, timeout: float = 10.0) -> RemoteHostApi:
    return RemoteHostApi(cluster.hostds[host_id].url, cluster.manager_context(), timeout)


def test_every_call(cluster: Cluster) -> None:
    async def run() -> None:
        engine, other = cluster.engine_host(), cluster.other_host()
        remote = api(cluster, other)
        try:
            status = await remote.status()
            assert isinstance(status, HostStatus) and status.host_id == other
            assert not status.engine_vm_here
            assert (await remote.set_local_maintenance(True)).ha.local_maintenance
            assert not (await remote.set_local_maintenance(False)).ha.local_maintenance
            assert (await remote.set_global_maintenance(True)).ha.global_maintenance
            assert not (await remote.set_global_maintenance(False)).ha.global_maintenance
            with pytest.raises(HostApiError) as not_here:  # the engine does not run there
                await remote.move_engine_then_maintenance("n", "admin")
            assert not_here.value.status == CONFLICT
            view = await remote.vm_definition()
            memory = view.definition["memSize"]
            edited = await remote.update_vm_definition({"memSize": memory + 16}, view.etag)
            assert edited.definition["memSize"] == memory + 16 and edited.etag != view.etag
            with pytest.raises(HostApiError) as stale:
                await remote.update_vm_definition({"memSize": memory}, view.etag)
            assert stale.value.status == PRECONDITION_FAILED
            with pytest.raises(HostApiError) as bad:
                await remote.update_vm_definition({"memSize": "lots"}, edited.etag)
            assert bad.value.status == UNPROCESSABLE
            got = await remote.set_shared_config("broker", "source-email", "r@lab.example")
            assert got.value == "r@lab.example" and got.type == "broker"
            assert (await remote.get_shared_config("broker", "source-email")) == got
            with pytest.raises(HostApiError) as missing:
                await remote.get_shared_config("vm", "no/such/../key")
            assert missing.value.status == NOT_FOUND
            assert "Invalid configuration key" in str(missing.value)
        finally:
            await remote.aclose()
        on_engine = api(cluster, engine)
        try:
            with pytest.raises(HostApiError) as refused:
                await on_engine.set_local_maintenance(True)
            assert refused.value.status == CONFLICT
            assert "engine VM is running on the current host" in str(refused.value)
        finally:
            await on_engine.aclose()

    asyncio.run(run())


def test_a_port_where_nothing_listens_is_unreachable_at_once(cluster: Cluster) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there

    async def run() -> float:
        remote = RemoteHostApi(f"https://127.0.0.1:{port}", cluster.manager_context(), 2.0)
        start = time.monotonic()
        try:
            with pytest.raises(HostApiError) as failed:
                await remote.status()
        finally:
            await remote.aclose()
        assert failed.value.status == UNREACHABLE
        assert "did not answer" in str(failed.value)
        return time.monotonic() - start

    assert asyncio.run(run()) < 1.0


def test_a_host_that_never_answers_times_out(cluster: Cluster) -> None:
    async def run() -> float:
        # accepts connections, never speaks TLS
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        remote = RemoteHostApi(f"https://127.0.0.1:{port}", cluster.manager_context(), 0.5)
        start = time.monotonic()
        try:
            with pytest.raises(HostApiError) as failed:
                await remote.status()
        finally:
            await remote.aclose()
            server.close()
            await server.wait_closed()
        assert failed.value.status == UNREACHABLE and "timed out" in str(failed.value)
        return time.monotonic() - start

    assert asyncio.run(run()) < 3.0


def test_a_foreign_ca_client_gets_nowhere(cluster: Cluster, tmp_path: Path) -> None:
    other = CertificateAuthority.create(tmp_path / "other")
    write_key_pair(other.issue_client("manager"), tmp_path / "m.pem", tmp_path / "m.key")
    context = client_context(cluster.ca.cert_path, tmp_path / "m.pem", tmp_path / "m.key")

    async def run() -> None:
        remote = RemoteHostApi(cluster.hostds[1].url, context, 5.0)
        try:
            with pytest.raises(HostApiError) as failed:
                await remote.status()
        finally:
            await remote.aclose()
        assert failed.value.status == UNREACHABLE

    asyncio.run(run())


def test_an_answer_of_the_wrong_shape_is_bad_answer(cluster: Cluster, tmp_path: Path) -> None:
    """A TLS server of the cluster that is no hostd: its JSON is not the contract."""
    import threading

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def status(request: object) -> JSONResponse:
        return JSONResponse({"host_id": "one"})

    async def definition(request: object) -> PlainTextResponse:
        return PlainTextResponse("not json")

    app = Starlette(routes=[Route("/v1/status", status), Route("/v1/vm-definition", definition)])
    pki = cluster.pki
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(pki / "host1.pem"),
        ssl_keyfile=str(pki / "host1.key"),
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.05)

        async def run() -> None:
            remote = RemoteHostApi(f"https://127.0.0.1:{port}", cluster.manager_context(), 5.0)
            try:
                for call in (remote.status, remote.vm_definition):
                    with pytest.raises(HostApiError) as failed:
                        await call()
                    assert failed.value.status == BAD_ANSWER, failed.value
            finally:
                await remote.aclose()

        asyncio.run(run())
    finally:
        server.should_exit = True
        thread.join(10)


def test_an_edit_through_one_host_shows_on_another_once_it_is_refreshed(cluster: Cluster) -> None:
    """What the manager does after an edit: every other host re-reads its cache at once,
    so ``--show-vm-definition`` there shows the change without waiting for a period."""

    async def run() -> None:
        writer, reader = api(cluster, 1), api(cluster, 2)
        try:
            view = await writer.vm_definition()
            memory = int(view.definition["memSize"]) + 32
            await writer.update_vm_definition({"memSize": memory}, view.etag)
            assert (await reader.refresh_config()).refreshed
        finally:
            await writer.aclose()
            await reader.aclose()
        shown, cached = cluster.lab.client(2).show_vm_definition()
        assert cached and shown.definition.mem_size_mib == memory

    asyncio.run(run())
