"""Resumable uploads on the object routes (spec §22.6), as objectstore-client 0.2.10 does them.

``?upload_type=resumable`` on the collection POST or an object PUT creates a session;
``?session=<token>`` on an object PUT sends data (``Upload-Offset: n``) or probes
(``Upload-Offset: *``), and on a DELETE cancels. Statuses follow what the client reads:
201 when complete, 204 with ``upload-offset`` while incomplete, 409 with the persisted
offset on a mismatch, 404/410 for a lost session (fatal), 503 when another request of
the session is running (transient: the client backs off and probes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from blobhouse.core.ids import ObjectId, generate_key
from blobhouse.core.metadata import MetadataError, metadata_from_request_headers
from blobhouse.core.permissions import Permission
from blobhouse.core.urls import ObjectRoute
from blobhouse.server.auth import Access
from blobhouse.server.http import HttpError, Request, Send, send_bytes, send_json
from blobhouse.service.policy import PolicyViolation
from blobhouse.service.resumable import (
    OffsetMismatch,
    Progress,
    ResumableUploads,
    SessionBusy,
    SessionExpired,
    UnknownSession,
    UploadTooLong,
)

__all__ = ["ResumableHandler"]

Meter = Callable[[ObjectRoute, AsyncIterator[bytes]], AsyncIterator[bytes]]


def _digits(request: Request, name: str) -> int:
    value = request.header(name)
    if value is None or not value.isdigit():
        raise HttpError(400, f"{name} header is required as a decimal number of bytes")
    return int(value)


def _empty_body(request: Request) -> None:
    length = request.header("content-length")
    if (length is not None and length.strip() != "0") or request.header("transfer-encoding"):
        raise HttpError(400, "this request takes no body")


class ResumableHandler:
    def __init__(
        self, uploads: ResumableUploads | None, max_object_size: int, meter: Meter
    ) -> None:
        self.uploads = uploads
        self.max_object_size = max_object_size
        self.meter = meter

    async def handle(
        self,
        route: ObjectRoute,
        request: Request,
        send: Send,
        access: Access,
        upload_type: str | None,
        session: str | None,
    ) -> None:
        if upload_type is not None and session is not None:
            raise HttpError(400, "upload_type and session cannot be combined")
        method = request.method
        if upload_type is not None:
            if upload_type != "resumable":
                raise HttpError(400, f"unknown upload_type {upload_type!r}; only 'resumable'")
            if not ((method == "POST" and route.key is None) or (method == "PUT" and route.key)):
                raise HttpError(405, f"{method} cannot create a resumable upload here")
            await self._create(route, request, send, access)
            return
        assert session is not None
        if route.key is None or method not in ("PUT", "DELETE"):
            raise HttpError(405, "a resumable session takes PUT (data, probe) or DELETE (cancel)")
        access.require(Permission.OBJECT_WRITE, route.usecase, route.scopes, method)
        uploads = self.uploads
        if uploads is None:
            raise HttpError(404, "unknown upload session (resumable uploads are disabled)")
        object_id = route.object_id()
        try:
            if method == "DELETE":
                await uploads.cancel(session, object_id)
                await send_bytes(send, 204)
                return
            progress = await self._data_or_probe(uploads, route, request, session, object_id)
        except UnknownSession:
            raise HttpError(404, "unknown upload session") from None
        except SessionExpired:
            raise HttpError(410, "upload session expired") from None
        except SessionBusy:
            raise HttpError(
                503, "another request of this upload session is running", [("retry-after", "1")]
            ) from None
        except OffsetMismatch as exc:
            raise HttpError(409, str(exc), [("upload-offset", str(exc.persisted))]) from None
        except UploadTooLong as exc:
            raise HttpError(400, str(exc)) from None
        if progress.committed:
            await send_json(send, 201, {"key": object_id.key})
        else:
            await send_bytes(send, 204, headers=[("upload-offset", str(progress.offset))])

    async def _create(
        self, route: ObjectRoute, request: Request, send: Send, access: Access
    ) -> None:
        if self.uploads is None:
            raise HttpError(
                501, "resumable uploads are disabled on this server; send an ordinary upload"
            )
        try:
            metadata = metadata_from_request_headers(request.headers)
        except MetadataError as exc:
            raise HttpError(400, str(exc)) from exc
        access.require(Permission.OBJECT_WRITE, route.usecase, route.scopes, request.method)
        total = _digits(request, "upload-length")
        if total > self.max_object_size:
            raise HttpError(
                413, f"Upload-Length {total} exceeds the limit of {self.max_object_size} bytes"
            )
        _empty_body(request)
        key = route.key or generate_key()
        try:
            token = await self.uploads.create(route.object_id(key), metadata, total)
        except PolicyViolation as exc:
            raise HttpError(400, str(exc)) from exc
        await send_json(send, 200, {"key": key, "session": token})

    async def _data_or_probe(
        self,
        uploads: ResumableUploads,
        route: ObjectRoute,
        request: Request,
        session: str,
        object_id: ObjectId,
    ) -> Progress:
        offset = request.header("upload-offset")
        if offset is not None and offset.strip() == "*":
            _empty_body(request)
            return await uploads.probe(session, object_id)
        start = _digits(request, "upload-offset")
        length = _digits(request, "content-length")
        body = self.meter(route, request.body(length))
        return await uploads.append(session, object_id, start, length, body)
