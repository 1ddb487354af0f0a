"""The ASGI plumbing the handlers use: a request view, body streams, responses.

Kept close to raw ASGI on purpose: object requests are the hot path, header names must go
out lowercase exactly as the wire needs (spec §21), and bodies must stream untouched in
both directions. A framework would add a layer to work around for each of those.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from blobhouse.backends.base import PayloadTooLarge

__all__ = [
    "ClientDisconnected",
    "HttpError",
    "Receive",
    "Request",
    "Scope",
    "Send",
    "send_bytes",
    "send_json",
    "send_stream",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SERVER_HEADER = (b"server", b"blobhouse")


class ClientDisconnected(Exception):
    """The client went away before its request body was complete."""


class HttpError(Exception):
    """An error answer: status, a message for the JSON body, optional extra headers."""

    def __init__(
        self, status: int, detail: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or []


class Request:
    __slots__ = ("_query", "headers", "method", "raw_path", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        raw = scope.get("raw_path")
        self.raw_path: bytes = raw if raw else scope["path"].encode("utf-8")
        if b"?" in self.raw_path:  # some servers include the query in raw_path
            self.raw_path = self.raw_path.split(b"?", 1)[0]
        self.headers: list[tuple[str, str]] = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope["headers"]
        ]
        self._query: list[tuple[str, str]] | None = None

    def header(self, name: str) -> str | None:
        """The last value of a header (repeats: last wins, as upstream)."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found

    @property
    def query(self) -> list[tuple[str, str]]:
        if self._query is None:
            raw = self.scope.get("query_string", b"").decode("latin-1")
            self._query = parse_qsl(raw, keep_blank_values=True)
        return self._query

    def query_param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    async def body(self, limit: int) -> AsyncIterator[bytes]:
        """Stream the request body; raises PayloadTooLarge past ``limit`` bytes."""
        declared = self.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(limit)
        received = 0
        more = True
        while more:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            if chunk:
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(limit)
                yield chunk

    async def drain(self, limit: int = 1 << 20) -> None:
        """Read and drop a small body so the connection can be reused."""
        async for _ in self.body(limit):
            pass


def _headers(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    out = [SERVER_HEADER]
    out.extend((name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs)
    return out


async def send_bytes(
    send: Send,
    status: int,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    *,
    content_type: str | None = None,
) -> None:
    pairs = list(headers or [])
    if content_type is not None:
        pairs.append(("content-type", content_type))
    if status not in (204, 304) and not (100 <= status < 200):
        pairs.append(("content-length", str(len(body))))
    await send({"type": "http.response.start", "status": status, "headers": _headers(pairs)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_json(
    send: Send, status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    await send_bytes(send, status, body, headers, content_type="application/json")


async def send_stream(
    send: Send,
    status: int,
    headers: list[tuple[str, str]],
    body: AsyncIterator[bytes],
    *,
    head_only: bool = False,
) -> None:
    """Send headers, then the body chunks; a one-chunk body goes out in one message."""
    iterator = aiter(body)
    try:
        first = b""
        second: bytes | None = None
        if not head_only:
            try:
                first = await anext(iterator)
                second = await anext(iterator)
            except StopAsyncIteration:
                pass
        await send({"type": "http.response.start", "status": status, "headers": _headers(headers)})
        if second is None:
            await send({"type": "http.response.body", "body": first, "more_body": False})
            return
        await send({"type": "http.response.body", "body": first, "more_body": True})
        await send({"type": "http.response.body", "body": second, "more_body": True})
        async for chunk in iterator:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()
