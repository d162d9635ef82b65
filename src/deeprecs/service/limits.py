"""What the API refuses before it does any work, and how little of a bad request it repeats.

- :class:`BodyLimit`: an ASGI middleware that answers ``413`` to a request body over
  ``MAX_BODY_BYTES``, from its ``Content-Length`` before reading any of it, or as soon as a
  body sent without one (chunked) passes the limit; nothing over the limit is buffered or parsed.
- :func:`validation_errors`: the ``detail`` of a ``422`` with every echoed ``input`` cut short
  and at most ``MAX_ERRORS`` errors, so that a request with 200,000 liked items gets a few
  hundred bytes back, not its own body.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: largest request body accepted: 1,000 liked ids of up to 200 characters each fit
MAX_BODY_BYTES = 256 * 1024
#: validation errors listed in one 422 answer (the rest are counted in a last entry)
MAX_ERRORS = 20
#: elements of a list (or keys of an object) and characters of a string echoed back as ``input``
MAX_ECHO_ITEMS, MAX_ECHO_CHARS = 10, 100


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with ``413 {"detail": ...}``."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = (f'{{"detail":"request body over the limit of {max_bytes:,} bytes; '
                        f'send fewer or shorter liked ids"}}').encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _TooLarge:
            if started:  # too late to answer 413; drop the connection
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                (b"content-length", str(len(self.message)).encode())]})
        await send({"type": "http.response.body", "body": self.message})


def shorten(value: Any, depth: int = 0) -> Any:
    """``value`` with long lists, objects and strings cut to a few elements or characters."""
    if isinstance(value, (bytes, bytearray)):  # a body that was not JSON
        value = bytes(value[: MAX_ECHO_CHARS * 4]).decode("utf-8", "replace") + ("..." if len(value) > MAX_ECHO_CHARS * 4 else "")
    if isinstance(value, str):
        return value if len(value) <= MAX_ECHO_CHARS else f"{value[:MAX_ECHO_CHARS]}... ({len(value):,} characters)"
    if depth >= 3 and isinstance(value, (list, tuple, dict)):
        return f"({type(value).__name__} of {len(value):,})"
    if isinstance(value, (list, tuple)):
        head = [shorten(v, depth + 1) for v in value[:MAX_ECHO_ITEMS]]
        return head + ([f"... ({len(value):,} items in all)"] if len(value) > MAX_ECHO_ITEMS else [])
    if isinstance(value, dict):
        keys = list(value)[:MAX_ECHO_ITEMS]
        out = {str(k): shorten(value[k], depth + 1) for k in keys}
        if len(value) > MAX_ECHO_ITEMS:
            out["..."] = f"{len(value):,} keys in all"
        return out
    return value if isinstance(value, (int, float, bool, type(None))) else shorten(str(value))


def validation_errors(errors: list[dict]) -> list[dict]:
    """FastAPI's validation errors as a 422 ``detail``: echoes shortened, at most ``MAX_ERRORS``."""
    out = []
    for error in errors[:MAX_ERRORS]:
        error = {key: value for key, value in error.items() if key in ("type", "loc", "msg", "input", "ctx")}
        if "input" in error:
            error["input"] = shorten(error["input"])
        if "ctx" in error:
            error["ctx"] = {str(k): shorten(v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
                            for k, v in error["ctx"].items()}
        error["loc"] = [part if isinstance(part, int) else shorten(str(part)) for part in error.get("loc", ())]
        out.append(error)
    if len(errors) > MAX_ERRORS:
        out.append({"type": "too_many_errors", "loc": [], "msg": f"{len(errors) - MAX_ERRORS:,} more errors not shown"})
    return out
