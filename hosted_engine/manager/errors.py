"""How failures become answers: every error body is ``{"detail": "one line"}``."""

from __future__ import annotations

from fastapi import HTTPException

from hosted_engine.errors import HostApiError

PASSED_ON = {404, 409, 412, 422, 502, 503}


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line[:limit] or "error"


def from_host(err: HostApiError) -> HTTPException:
    """A host API's error as the manager's answer: the host's status where it is one
    the manager passes on, 502 otherwise (the host said something unusable)."""
    status = err.status if err.status in PASSED_ON else 502
    return HTTPException(status, one_line(str(err)))
