"""The host API's routes: each one a thin call of the public client API in a thread pool.

Errors become an :class:`ApiError` body with the status the contract gives them; the
message is the client's own (the CLI's words), made one line. Bad input never gets a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hosted_engine.client import HAClient
from hosted_engine.errors import (
    ConcurrentChangeError,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    DefinitionChangedError,
    DuplicateConfigKeyError,
    HostApiError,
    HostedEngineError,
    NoEngineOvfError,
    OvfEditError,
    UsageError,
)
from hosted_engine.hostd import status
from hosted_engine.hostd.contract import (
    ACCEPTED,
    API_PREFIX,
    CONFLICT,
    NOT_FOUND,
    PRECONDITION_FAILED,
    UNPROCESSABLE,
    ApiError,
    HistoryView,
    MaintenanceChange,
    RefreshResult,
    SharedConfigChange,
    SharedConfigValue,
    SwitchoverChange,
    SwitchoverView,
    VmDefinitionEdit,
    VmDefinitionView,
)

log = logging.getLogger("hosted_engine.hostd")
MAX_BODY = 64 * 1024
Handler = Callable[[Request], Awaitable[Response]]


def one_line(message: str) -> str:
    """A multi-line client message (the key listing) keeps its first line."""
    return message.strip().splitlines()[0] if message.strip() else "error"


def error(status_code: int, message: str) -> JSONResponse:
    return JSONResponse(ApiError(one_line(message)).to_json(), status_code=status_code)


def _status_of(e: HostedEngineError) -> int:
    if isinstance(e, HostApiError):
        return e.status
    if isinstance(e, ConfigKeyError | ConfigTypeError):
        return NOT_FOUND
    if isinstance(e, DefinitionChangedError | ConcurrentChangeError):
        return PRECONDITION_FAILED
    if isinstance(e, NoEngineOvfError | DuplicateConfigKeyError):
        return CONFLICT
    if isinstance(e, OvfEditError):
        return UNPROCESSABLE
    if isinstance(e, UsageError):
        return CONFLICT  # a refusal in the client's words: local maintenance here...
    return 500


async def _json(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HostApiError(UNPROCESSABLE, f"the body is over {MAX_BODY} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise HostApiError(UNPROCESSABLE, "the body is not JSON") from None


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise HostApiError(UNPROCESSABLE, "the body must be a JSON object")
    return data


def _checked(parse: Callable[[dict[str, Any]], Any], data: Any) -> Any:
    try:
        return parse(_object(data))
    except HostApiError as e:  # the contract says 502 for an answer; a request is 422
        raise HostApiError(UNPROCESSABLE, str(e)) from None


def _view(client: HAClient) -> VmDefinitionView:
    definition, etag, source = client.vm_definition_for_edit()
    return VmDefinitionView({**definition.to_dict(), "source": source}, etag, source)


def _edited(client: HAClient, edit: VmDefinitionEdit, if_match: str) -> VmDefinitionView:
    client.edit_vm_definition(edit.changes, if_match)
    return _view(client)


def _with_etag(view: VmDefinitionView) -> JSONResponse:
    return JSONResponse(view.to_json(), headers={"ETag": f'"{view.etag}"'})


def _if_match(request: Request) -> str:
    value = request.headers.get("if-match")
    if not value:
        raise HostApiError(PRECONDITION_FAILED, "an If-Match header with the ETag is required")
    return value.strip().removeprefix("W/").strip('"')


def _shared(client: HAClient, config_type: str, key: str) -> SharedConfigValue:
    value, found = client.get_shared_config(key, config_type)
    return SharedConfigValue(key, value, found)


def _set_shared(client: HAClient, config_type: str, key: str, value: str) -> SharedConfigValue:
    client.set_shared_config(key, value, config_type, force=True)
    return _shared(client, config_type, key)


def make_app(client: HAClient) -> Starlette:
    def guarded(handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except HostedEngineError as e:
                code = _status_of(e)
                if code >= 500:
                    log.error(
                        "%s %s failed: %s", request.method, request.url.path, one_line(str(e))
                    )
                return error(code, str(e))
            except OSError as e:  # storage trouble the client did not name
                log.error("%s %s failed: %s", request.method, request.url.path, e)
                return error(500, f"this host cannot do that now: {e.strerror or e}")

        return run

    async def get_status(request: Request) -> Response:
        return JSONResponse((await run_in_threadpool(status.host_status, client)).to_json())

    def maintenance(kind: str) -> Handler:
        async def put(request: Request) -> Response:
            change = _checked(MaintenanceChange.from_json, await _json(request))
            result = await run_in_threadpool(status.set_maintenance, client, kind, change.enabled)
            return JSONResponse(result.to_json())

        return put

    async def get_vm(request: Request) -> Response:
        return _with_etag(await run_in_threadpool(_view, client))

    async def put_vm(request: Request) -> Response:
        if_match = _if_match(request)
        edit = _checked(VmDefinitionEdit.from_json, await _json(request))
        return _with_etag(await run_in_threadpool(_edited, client, edit, if_match))

    async def refresh(request: Request) -> Response:
        refreshed = await run_in_threadpool(client.refresh_config_cache)
        return JSONResponse(RefreshResult(refreshed).to_json())

    async def get_shared(request: Request) -> Response:
        config_type, key = request.path_params["type"], request.path_params["key"]
        return JSONResponse((await run_in_threadpool(_shared, client, config_type, key)).to_json())

    async def put_shared(request: Request) -> Response:
        config_type, key = request.path_params["type"], request.path_params["key"]
        change = _checked(SharedConfigChange.from_json, await _json(request))
        try:
            found = await run_in_threadpool(_set_shared, client, config_type, key, change.value)
        except (ConfigKeyError, ConfigTypeError, DuplicateConfigKeyError):
            raise
        except (UsageError, ConfigError) as e:  # the value itself was refused
            raise HostApiError(UNPROCESSABLE, str(e)) from None
        return JSONResponse(found.to_json())

    async def get_history(request: Request) -> Response:
        entries = await run_in_threadpool(client.history)
        return JSONResponse(HistoryView(tuple(entries)).to_json())

    async def post_switchover(request: Request) -> Response:
        change = _checked(SwitchoverChange.from_json, await _json(request))
        try:
            stored = await run_in_threadpool(
                client.switchover, change.to_host, change.note, change.scheduled_at, change.by
            )
        except UsageError as e:  # refused: the reason, as the CLI says it
            raise HostApiError(PRECONDITION_FAILED, str(e)) from None
        return JSONResponse(SwitchoverView(stored).to_json())

    async def move_engine(request: Request) -> Response:
        change = _checked(SwitchoverChange.from_json, await _json(request))
        try:
            stored = await run_in_threadpool(
                status.move_engine_then_maintenance, client, change.note, change.by
            )
        except UsageError as e:  # refused: the reason, as the CLI says it
            raise HostApiError(PRECONDITION_FAILED, str(e)) from None
        return JSONResponse(SwitchoverView(stored).to_json(), status_code=ACCEPTED)

    async def delete_switchover(request: Request) -> Response:
        pending = await run_in_threadpool(client.pending_switchover)
        if pending is None:
            raise HostApiError(NOT_FOUND, "No switchover is pending")
        await run_in_threadpool(client.cancel_switchover)
        return JSONResponse(SwitchoverView(pending).to_json())

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(NOT_FOUND, f"no such path: {request.method} {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return error(405, f"method {request.method} not allowed on {request.url.path}")

    p = API_PREFIX
    routes = [
        Route(f"{p}/status", guarded(get_status), methods=["GET"]),
        Route(f"{p}/history", guarded(get_history), methods=["GET"]),
        Route(f"{p}/switchover", guarded(post_switchover), methods=["POST"]),
        Route(f"{p}/switchover", guarded(delete_switchover), methods=["DELETE"]),
        Route(f"{p}/maintenance/local", guarded(maintenance("local")), methods=["PUT"]),
        Route(f"{p}/maintenance/local/move-engine", guarded(move_engine), methods=["POST"]),
        Route(f"{p}/maintenance/global", guarded(maintenance("global")), methods=["PUT"]),
        Route(f"{p}/vm-definition", guarded(get_vm), methods=["GET"]),
        Route(f"{p}/vm-definition", guarded(put_vm), methods=["PUT"]),
        Route(f"{p}/shared-config/{{type}}/{{key:path}}", guarded(get_shared), methods=["GET"]),
        Route(f"{p}/shared-config/{{type}}/{{key:path}}", guarded(put_shared), methods=["PUT"]),
        Route(f"{p}/refresh-config", guarded(refresh), methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
