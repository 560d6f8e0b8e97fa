"""The current request's id: taken from a well-formed `X-Request-ID` header or generated."""

from __future__ import annotations

import random
import re
from contextvars import ContextVar

HEADER = "x-request-id"
# Printable, log-safe and bounded: anything else from a client is replaced, never echoed.
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def choose_request_id(header_value: bytes | None) -> str:
    """The client's id when it is well-formed, otherwise a new random one."""
    if header_value is not None:
        candidate = header_value.decode("latin-1")
        if _VALID.fullmatch(candidate):
            return candidate
    # A correlation id, not a secret: the seeded PRNG avoids a system call per request (uuid4 makes one).
    return f"{random.getrandbits(128):032x}"  # nosec B311


def set_request_id(request_id: str) -> None:
    _current.set(request_id)


def current_request_id() -> str | None:
    return _current.get()
