"""Fuzzing the JSON-RPC server: dispatch, then the line protocol on a live socket.

Whatever arrives, the answer is a JSON-RPC error or result (never an exception, never a
traceback), and a valid request afterwards is still answered.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hosted_engine.broker.rpc_server import RpcServer, dispatch, encode_response
from hosted_engine.errors import HostedEngineError
from hosted_engine.jsonrpc import RpcClient


def _boom() -> None:
    raise HostedEngineError("storage is gone")


METHODS: dict[str, Any] = {
    "ping": lambda: "pong",
    "echo": lambda value: value,
    "add": lambda a, b: a + b,
    "boom": _boom,
    "bug": lambda: 1 / 0,
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
shapes = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2.0]) | json_values,
        "id": json_values,
        "method": st.sampled_from([*METHODS, "nope", ""]) | json_values,
        "params": json_values
        | st.dictionaries(st.sampled_from(["a", "b", "value", "x"]), json_values, max_size=3),
    },
)
lines = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | shapes.map(lambda v: json.dumps(v).encode())
    | st.integers(1, 3000).map(lambda n: b"[" * n)
    | st.integers(1, 3000).map(lambda n: b'{"a":' * n)
)


def check_answer(answer: dict[str, Any] | None) -> None:
    if answer is None:
        return  # a notification
    assert answer["jsonrpc"] == "2.0" and "id" in answer
    assert ("result" in answer) != ("error" in answer)
    if "error" in answer:
        assert isinstance(answer["error"]["code"], int)
        assert isinstance(answer["error"]["message"], str)
    json.loads(encode_response(answer))  # and it can be sent


@settings(max_examples=300, deadline=None)
@given(lines)
def test_dispatch_always_answers_with_a_json_rpc_object(line: bytes) -> None:
    check_answer(dispatch(METHODS, line.replace(b"\n", b" ")))


@pytest.fixture(scope="module")
def server() -> Iterator[RpcServer]:
    with tempfile.TemporaryDirectory(prefix="he-fuzz-") as d:
        srv = RpcServer(Path(d) / "s", METHODS)
        thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        yield srv
        srv.close()
        thread.join(5)


@settings(max_examples=60, deadline=None)
@given(st.lists(lines | st.binary(max_size=300), min_size=1, max_size=5))
def test_the_line_protocol_survives_anything(server: RpcServer, chunks: list[bytes]) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(server.path))
    sock.settimeout(5)
    try:
        sock.sendall(b"\n".join(chunks) + b"\n")
        marker = b'{"jsonrpc": "2.0", "id": "marker", "method": "ping"}\n'
        sock.sendall(marker)
        received = b""
        while b'"marker"' not in received:
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            received += data
        answers = [json.loads(line) for line in received.splitlines()]
        for answer in answers:
            check_answer(answer)
        assert answers[-1] == {"jsonrpc": "2.0", "id": "marker", "result": "pong"}
    finally:
        sock.close()
    client = RpcClient(server.path, timeout=5)  # and a fresh client is served too
    assert client.call("add", a=1, b=2) == 3
    client.close()
