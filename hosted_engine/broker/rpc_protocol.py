"""JSON-RPC 2.0 requests and answers, one line each: parsing, calling, encoding.

Pure functions, no sockets: the server (``rpc_server.py``) frames the lines and runs
:func:`call` on its workers; tests and the fuzz suite drive :func:`dispatch` directly.
Whatever a line holds, the answer is a JSON-RPC object, never an exception.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hosted_engine.errors import BrokerUnavailableError, HostedEngineError, UsageError
from hosted_engine.jsonrpc import (
    APPLICATION_ERROR,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    NOT_READY,
    PARSE_ERROR,
)

log = logging.getLogger(__name__)

Handler = Callable[..., Any]


def error(req_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}}


@dataclass(frozen=True)
class Request:
    method: str
    params: dict[str, Any] | list[Any]
    req_id: Any
    notification: bool  # no "id": nobody waits for an answer


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def parse_request(line: bytes) -> Request | dict[str, Any]:
    """The request on ``line``, or the error object that answers it."""
    try:
        request = json.loads(line)
    except RecursionError:
        return error(None, PARSE_ERROR, "parse error: nested too deeply")
    except ValueError as e:
        return error(None, PARSE_ERROR, f"parse error: {str(e)[:200]}")
    if isinstance(request, list):
        return error(None, INVALID_REQUEST, "invalid request: batch requests are not supported")
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
        return error(None, INVALID_REQUEST, "invalid request: not a JSON-RPC 2.0 object")
    req_id = request.get("id")
    if not _valid_id(req_id):
        return error(None, INVALID_REQUEST, "invalid request: id must be a string or a number")
    method = request.get("method")
    if not isinstance(method, str):
        return error(req_id, INVALID_REQUEST, "invalid request: method must be a string")
    params = request.get("params", {})
    if not isinstance(params, dict | list):
        return error(req_id, INVALID_REQUEST, "invalid request: params must be an object or array")
    return Request(method, params, req_id, "id" not in request)


def call(methods: Mapping[str, Handler], request: Request) -> dict[str, Any] | None:
    """Run one parsed request; None for a notification."""
    method, params, req_id = request.method, request.params, request.req_id
    handler = methods.get(method)
    if handler is None:
        response = error(req_id, METHOD_NOT_FOUND, f"method not found: {method[:100]}")
    else:
        response = _invoke(handler, method, params, req_id)
    return None if request.notification else response


def _invoke(handler: Handler, method: str, params: Any, req_id: Any) -> dict[str, Any]:
    args, kwargs = ((), params) if isinstance(params, dict) else (params, {})
    try:
        inspect.signature(handler).bind(*args, **kwargs)
    except TypeError as e:
        return error(req_id, INVALID_PARAMS, f"invalid params for {method}: {e}")
    try:
        result = handler(*args, **kwargs)
    except UsageError as e:
        return error(req_id, INVALID_PARAMS, f"invalid params for {method}: {e}")
    except BrokerUnavailableError as e:
        return error(req_id, NOT_READY, str(e))
    except HostedEngineError as e:
        return error(req_id, APPLICATION_ERROR, str(e))
    except Exception as e:  # a bug: log it whole, answer with an error, keep serving
        log.exception("RPC %s failed", method)
        return error(req_id, INTERNAL_ERROR, f"internal error in {method}: {e}")
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def dispatch(methods: Mapping[str, Handler], line: bytes) -> dict[str, Any] | None:
    """Answer one request line; None for a notification (a request without id)."""
    parsed = parse_request(line)
    if isinstance(parsed, dict):
        return parsed
    return call(methods, parsed)


def encode_response(response: dict[str, Any]) -> bytes:
    """The response line; a result JSON cannot carry becomes an internal error."""
    try:
        return json.dumps(response).encode() + b"\n"
    except (TypeError, ValueError, RecursionError) as e:
        log.error("RPC result cannot be sent as JSON: %s", e)
        message = f"internal error: the result is not JSON: {str(e)[:200]}"
        return json.dumps(error(response.get("id"), INTERNAL_ERROR, message)).encode() + b"\n"
