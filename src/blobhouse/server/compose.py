"""``/v1/objects:compose/{usecase}/{scopes}/[key]``: a new object from existing ones (extension).

The server concatenates source objects of the same usecase and scope into a new object
without the client downloading them (the facade's ``assemble_from_parts``). Sources are
streamed one after another into an ordinary insert, so memory stays flat and the new
object appears atomically, like any other write. zstd sources concatenate into a valid
multi-frame zstd stream, so compressed sources stay compressed; mixing compressed and
uncompressed sources is refused rather than silently decoded.

Protocol: docs/protocol-extensions.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

from blobhouse.backends.base import ObjectExists
from blobhouse.core.ids import IdError, ObjectId, generate_key, validate_key
from blobhouse.core.metadata import Metadata, MetadataError, metadata_from_request_headers
from blobhouse.core.permissions import Permission
from blobhouse.core.urls import ObjectRoute
from blobhouse.server.auth import Access
from blobhouse.server.http import HttpError, Request, Send, send_json
from blobhouse.server.objects import Admission
from blobhouse.service.policy import PolicyViolation
from blobhouse.service.storage import StorageService

__all__ = ["MAX_SOURCES", "ComposeHandler"]

MAX_SOURCES = 1000
_MAX_BODY = 256 * 1024
_FIELDS = frozenset({"sources", "content_type"})


class _SourceChanged(Exception):
    """A source was deleted or replaced while the new object was being written."""


def _parse_body(raw: bytes) -> tuple[list[str], str | None]:
    """The source keys and the optional ``content_type`` of the new object."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HttpError(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or "sources" not in body or set(body) - _FIELDS:
        raise HttpError(422, 'body must be {"sources": ["<key>", ...], "content_type": "..."}')
    content_type = body.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        raise HttpError(422, '"content_type" must be a string')
    sources = body["sources"]
    if not isinstance(sources, list) or not all(isinstance(key, str) for key in sources):
        raise HttpError(422, '"sources" must be a list of keys')
    if not 1 <= len(sources) <= MAX_SOURCES:
        raise HttpError(422, f'"sources" must hold 1 to {MAX_SOURCES} keys, got {len(sources)}')
    try:
        return [validate_key(key) for key in sources], content_type
    except IdError as exc:
        raise HttpError(422, f"invalid source key: {exc}") from exc


class ComposeHandler:
    def __init__(self, service: StorageService, admission: Admission, max_object_size: int) -> None:
        self.service = service
        self.admission = admission
        self.max_object_size = max_object_size

    async def handle(
        self, route: ObjectRoute, request: Request, send: Send, access: Access
    ) -> None:
        if request.method == "POST" and route.key is None:
            key, status = generate_key(), 201
        elif request.method == "PUT" and route.key is not None:
            key, status = route.key, 200
        else:
            raise HttpError(
                405,
                "compose with POST on /v1/objects:compose/U/S/ or PUT on .../S/<key>",
                [("allow", "POST" if route.key is None else "PUT")],
            )
        if access.presigned:
            raise HttpError(403, "signed URLs cannot compose objects")
        admission = self.admission
        admission.killswitches.check(
            route.usecase, route.scopes, request.header("x-downstream-service")
        )
        await admission.bandwidth.check(route.usecase, route.scopes)
        await admission.throughput.check(route.usecase, route.scopes)
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise HttpError(415, "compose needs a JSON body with Content-Type: application/json")
        raw = b"".join([chunk async for chunk in request.body(_MAX_BODY)])
        sources, new_type = _parse_body(raw)
        # The request's own Content-Type describes the JSON body; the new object's type is
        # the body's "content_type", else the first source's. Other metadata headers apply.
        headers = [(name, value) for name, value in request.headers if name != "content-type"]
        if new_type is not None:
            headers.append(("content-type", new_type))
        try:
            metadata = metadata_from_request_headers(headers)
            self.service.check_policy(route.usecase, metadata)
        except (MetadataError, PolicyViolation) as exc:
            raise HttpError(400, str(exc)) from exc
        if metadata.compression is not None:
            raise HttpError(400, "content-encoding of a composed object follows its sources")
        access.require(Permission.OBJECT_READ, route.usecase, route.scopes, request.method)
        access.require(Permission.OBJECT_WRITE, route.usecase, route.scopes, request.method)
        if_absent = request.header("if-none-match") is not None
        if if_absent and (request.header("if-none-match") or "").strip() != "*":
            raise HttpError(400, "only 'If-None-Match: *' (create-only) is supported")

        async with admission.concurrency.permit():
            ids = [route.object_id(source) for source in sources]
            heads = await asyncio.gather(*(self.service.head(oid) for oid in ids))
            found: list[Metadata] = []
            for source, head in zip(sources, heads, strict=True):
                if head is None:
                    raise HttpError(404, f"source object {source!r} not found")
                found.append(head)
            encodings = {head.compression for head in found}
            if len(encodings) > 1:
                raise HttpError(
                    409, "sources mix zstd-compressed and uncompressed content; compose each kind"
                )
            total = sum(head.size or 0 for head in found)
            if total > self.max_object_size:
                raise HttpError(
                    413, f"the composed object would be {total} bytes, over {self.max_object_size}"
                )
            if new_type is None:
                metadata = metadata.with_changes(content_type=found[0].content_type)
            target = route.object_id(key)
            body = self._concatenate(ids, found)
            try:
                await self.service.insert(
                    target,
                    metadata.with_changes(compression=encodings.pop()),
                    body,
                    if_absent=if_absent,
                )
            except _SourceChanged as exc:
                raise HttpError(409, f"{exc}; nothing was written") from None
            except ObjectExists:
                raise HttpError(412, f"an object already exists at key {key!r}") from None
        await send_json(send, status, {"key": key})

    async def _concatenate(
        self, ids: Sequence[ObjectId], heads: Sequence[Metadata]
    ) -> AsyncIterator[bytes]:
        for object_id, head in zip(ids, heads, strict=True):
            stored = await self.service.get(object_id)
            if stored is None or stored.metadata.size != head.size:
                if stored is not None:
                    await stored.aclose()
                raise _SourceChanged(f"source {object_id.key!r} changed during compose")
            async for chunk in stored.body:
                yield chunk
