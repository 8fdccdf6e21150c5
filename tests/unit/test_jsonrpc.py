import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosted_engine.broker.rpc_server import RpcServer, dispatch
from hosted_engine.errors import BrokerUnavailableError, HostedEngineError, RpcError
from hosted_engine.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcClient,
)


def _boom() -> None:
    raise HostedEngineError("storage is gone")


METHODS = {"add": lambda a, b: a + b, "echo": lambda value: value, "boom": _boom}


def test_dispatch_typed_result() -> None:
    req = {"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"value": [1.5, True, None]}}
    assert dispatch(METHODS, json.dumps(req).encode())["result"] == [1.5, True, None]


def test_dispatch_errors_are_error_objects() -> None:
    assert dispatch(METHODS, b"{nope")["error"]["code"] == PARSE_ERROR
    missing = {"jsonrpc": "2.0", "id": 2, "method": "nope"}
    assert dispatch(METHODS, json.dumps(missing).encode())["error"]["code"] == METHOD_NOT_FOUND
    bad = {"jsonrpc": "2.0", "id": 3, "method": "add", "params": {"a": 1}}
    assert dispatch(METHODS, json.dumps(bad).encode())["error"]["code"] == INVALID_PARAMS


def test_notification_gets_no_answer() -> None:
    assert (
        dispatch(
            METHODS,
            json.dumps({"jsonrpc": "2.0", "method": "echo", "params": {"value": 1}}).encode(),
        )
        is None
    )


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def server(tmp_path: Path, gate: threading.Event):  # type: ignore[no-untyped-def]
    methods = dict(METHODS, wait=lambda: gate.wait(10))
    srv = RpcServer(tmp_path / "broker.socket", methods)
    srv.serve_in_thread()
    yield srv
    gate.set()
    srv.close()


def test_round_trip_and_application_error(server: RpcServer) -> None:
    client = RpcClient(server.path, timeout=5)
    assert client.call("add", a=2, b=3) == 5
    with pytest.raises(RpcError, match="storage is gone"):
        client.call("boom")
    assert client.call("echo", value={"k": 1}) == {"k": 1}  # connection still usable
    client.close()


def test_a_slow_call_does_not_block_other_clients(server: RpcServer, gate: threading.Event) -> None:
    slow = RpcClient(server.path, timeout=10)
    answers: list[object] = []
    thread = threading.Thread(target=lambda: answers.append(slow.call("wait")), daemon=True)
    thread.start()
    fast = RpcClient(server.path, timeout=2)
    assert fast.call("add", a=1, b=1) == 2
    fast.close()
    gate.set()
    thread.join(5)
    assert answers == [True]
    slow.close()


def test_unreachable_broker(tmp_path: Path) -> None:
    with pytest.raises(BrokerUnavailableError, match="cannot connect"):
        RpcClient(tmp_path / "none.socket", timeout=1).call("ping")


def test_second_server_on_a_live_socket_is_refused(server: RpcServer) -> None:
    with pytest.raises(HostedEngineError, match="already listening"):
        RpcServer(server.path, METHODS)


def test_deep_nesting_is_a_parse_error_not_a_traceback() -> None:
    answer = dispatch(METHODS, b"[" * 100000)
    assert answer is not None and answer["error"]["code"] == PARSE_ERROR


@pytest.mark.parametrize(
    ("request_", "code", "req_id"),
    [
        ([{"jsonrpc": "2.0", "id": 1, "method": "echo"}], INVALID_REQUEST, None),  # a batch
        ([], INVALID_REQUEST, None),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "echo"}, INVALID_REQUEST, None),
        ({"jsonrpc": "2.0", "id": [1], "method": "echo"}, INVALID_REQUEST, None),
        ({"jsonrpc": "2.0", "id": True, "method": "echo"}, INVALID_REQUEST, None),
        ({"jsonrpc": "2.0", "id": 4, "method": "echo", "params": "x"}, INVALID_REQUEST, 4),
        ({"jsonrpc": "2.0", "id": 5, "method": 7}, INVALID_REQUEST, 5),
        (
            {"jsonrpc": "2.0", "id": 6, "method": "add", "params": {"a": 1, "c": 2}},
            INVALID_PARAMS,
            6,
        ),
        ({"jsonrpc": "2.0", "id": 7, "method": "add", "params": [1, 2, 3]}, INVALID_PARAMS, 7),
    ],
)
def test_wrong_shapes_get_error_objects(request_: object, code: int, req_id: object) -> None:
    answer = dispatch(METHODS, json.dumps(request_).encode())
    assert answer is not None and answer["error"]["code"] == code and answer["id"] == req_id


def test_a_type_error_inside_a_method_is_an_internal_error() -> None:
    req = {"jsonrpc": "2.0", "id": 1, "method": "add", "params": {"a": "x", "b": 1}}
    answer = dispatch(METHODS, json.dumps(req).encode())
    assert answer is not None and answer["error"]["code"] == INTERNAL_ERROR
