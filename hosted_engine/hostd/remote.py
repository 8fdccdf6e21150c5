"""The manager's side of the host API: :class:`HostApi` over HTTPS with mutual TLS.

Every call has a timeout, so one dead host costs its caller at most that long, and every
failure is a :class:`HostApiError`: the host's own status and one-line message, 503 when
it did not answer, 502 when it answered something that is not the contract.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from hosted_engine.errors import HostApiError
from hosted_engine.hostd.contract import (
    API_PREFIX,
    BAD_ANSWER,
    UNREACHABLE,
    EditValue,
    HistoryView,
    HostStatus,
    MaintenanceChange,
    RefreshResult,
    SharedConfigChange,
    SharedConfigValue,
    SwitchoverChange,
    SwitchoverView,
    VmDefinitionEdit,
    VmDefinitionView,
)

DEFAULT_TIMEOUT = 5.0
_T = TypeVar("_T")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return str(body["message"]).splitlines()[0]
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


class RemoteHostApi:
    def __init__(
        self, base_url: str, ssl_context: ssl.SSLContext, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url + API_PREFIX,
            verify=ssl_context,
            timeout=httpx.Timeout(timeout),
            trust_env=False,  # a proxy variable must never reroute a host's API
        )

    async def _call(
        self,
        method: str,
        path: str,
        parse: Callable[[Mapping[str, Any]], _T],
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[_T, httpx.Response]:
        try:
            response = await self._client.request(method, path, json=body, headers=headers)
        except httpx.TimeoutException as e:
            raise HostApiError(
                UNREACHABLE, f"host {self.base_url} did not answer: timed out ({e or 'timeout'})"
            ) from None
        except httpx.HTTPError as e:
            reason = str(e) or type(e).__name__
            raise HostApiError(
                UNREACHABLE, f"host {self.base_url} did not answer: {reason}"
            ) from None
        if not response.is_success:
            raise HostApiError(response.status_code, _message(response))
        try:
            data = response.json()
        except (ValueError, json.JSONDecodeError):
            raise HostApiError(BAD_ANSWER, f"host {self.base_url} answered no JSON") from None
        if not isinstance(data, dict):
            raise HostApiError(BAD_ANSWER, f"host {self.base_url} answered no JSON object")
        try:
            return parse(data), response
        except HostApiError as e:
            raise HostApiError(BAD_ANSWER, f"host {self.base_url}: {e}") from None

    async def status(self) -> HostStatus:
        return (await self._call("GET", "/status", HostStatus.from_json))[0]

    async def set_local_maintenance(self, enabled: bool) -> HostStatus:
        body = MaintenanceChange(enabled).to_json()
        return (await self._call("PUT", "/maintenance/local", HostStatus.from_json, body))[0]

    async def set_global_maintenance(self, enabled: bool) -> HostStatus:
        body = MaintenanceChange(enabled).to_json()
        return (await self._call("PUT", "/maintenance/global", HostStatus.from_json, body))[0]

    async def move_engine_then_maintenance(self, note: str, by: str) -> SwitchoverView:
        body = SwitchoverChange(None, note, None, by).to_json()
        path = "/maintenance/local/move-engine"
        return (await self._call("POST", path, SwitchoverView.from_json, body))[0]

    async def vm_definition(self) -> VmDefinitionView:
        return (await self._call("GET", "/vm-definition", VmDefinitionView.from_json))[0]

    async def update_vm_definition(
        self, changes: Mapping[str, EditValue], if_match: str
    ) -> VmDefinitionView:
        body = VmDefinitionEdit(dict(changes)).to_json()
        headers = {"If-Match": f'"{if_match}"'}
        view, _ = await self._call(
            "PUT", "/vm-definition", VmDefinitionView.from_json, body, headers
        )
        return view

    async def get_shared_config(self, config_type: str, key: str) -> SharedConfigValue:
        path = f"/shared-config/{_segment(config_type)}/{_segment(key)}"
        return (await self._call("GET", path, SharedConfigValue.from_json))[0]

    async def set_shared_config(self, config_type: str, key: str, value: str) -> SharedConfigValue:
        path = f"/shared-config/{_segment(config_type)}/{_segment(key)}"
        body = SharedConfigChange(value).to_json()
        return (await self._call("PUT", path, SharedConfigValue.from_json, body))[0]

    async def refresh_config(self) -> RefreshResult:
        return (await self._call("POST", "/refresh-config", RefreshResult.from_json))[0]

    async def history(self) -> HistoryView:
        return (await self._call("GET", "/history", HistoryView.from_json))[0]

    async def switchover(self, change: SwitchoverChange) -> SwitchoverView:
        body = change.to_json()
        return (await self._call("POST", "/switchover", SwitchoverView.from_json, body))[0]

    async def cancel_switchover(self) -> SwitchoverView:
        return (await self._call("DELETE", "/switchover", SwitchoverView.from_json))[0]

    async def aclose(self) -> None:
        await self._client.aclose()


def _segment(value: str) -> str:
    """One path segment: a ``/`` or ``..`` in a key must not reach another path."""
    return quote(value, safe="")
