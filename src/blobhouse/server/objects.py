"""Handlers for ``/v1/objects/{usecase}/{scopes}/{key}`` (spec §1–§5, §10, §22).

Each handler parses and validates everything before touching storage, in the upstream
order (path, range, metadata, usecase policy), so a bad request never stores a byte.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from blobhouse.backends.base import ObjectExists
from blobhouse.core.durations import DurationError, parse_duration
from blobhouse.core.ids import generate_key
from blobhouse.core.metadata import (
    MetadataError,
    metadata_from_request_headers,
    metadata_response_headers,
    parse_timestamp,
)
from blobhouse.core.permissions import Permission
from blobhouse.core.ranges import RangeError, RangeNotSatisfiable, RangeSpec, parse_range
from blobhouse.core.urls import ObjectRoute
from blobhouse.server.admission import (
    BandwidthLimiter,
    ConcurrencyLimiter,
    Killswitch,
    Killswitches,
    LocalBuckets,
    LocalDebt,
    RedisBuckets,
    RedisDebt,
    ThroughputLimiter,
    ThroughputRule,
)
from blobhouse.server.auth import Access
from blobhouse.server.compression import accepts_zstd, decompress_stream
from blobhouse.server.config import Settings
from blobhouse.server.http import HttpError, Request, Send, send_bytes, send_json, send_stream
from blobhouse.server.resumable import ResumableHandler
from blobhouse.service.policy import PolicyViolation
from blobhouse.service.resumable import ResumableUploads
from blobhouse.service.storage import NotExtendable, StorageService

__all__ = ["ObjectHandlers"]

_ACCEPT_RANGES = ("accept-ranges", "bytes")
_MAX_PATCH_BODY = 64 * 1024


def _parse_extension(body: object) -> dict[str, Any]:
    """``{"extend_expiry": {"at": ts}}`` or ``{"extend_expiry": {"after": d, "from": ...}}``.

    Well-formed JSON of the wrong shape is a 422, as upstream's JSON extractor answers.
    """
    if not isinstance(body, dict) or set(body) != {"extend_expiry"}:
        raise HttpError(422, 'body must be {"extend_expiry": {...}}')
    spec = body["extend_expiry"]
    if not isinstance(spec, dict):
        raise HttpError(422, 'body must be {"extend_expiry": {...}}')
    if set(spec) == {"at"} and isinstance(spec["at"], str):
        try:
            return {"at": parse_timestamp(spec["at"])}
        except ValueError as exc:
            raise HttpError(422, f"invalid 'at' timestamp: {exc}") from exc
    if set(spec) == {"after", "from"} and isinstance(spec["after"], str):
        anchor = spec["from"]
        if anchor not in ("now", "creation"):
            raise HttpError(422, "'from' must be 'now' or 'creation'")
        try:
            after = parse_duration(spec["after"])
        except DurationError as exc:
            raise HttpError(422, f"invalid 'after' duration: {exc}") from exc
        return {"after": after, "from_creation": anchor == "creation"}
    raise HttpError(422, "extend_expiry needs either 'at', or 'after' with 'from'")


@dataclass(frozen=True, slots=True)
class Admission:
    killswitches: Killswitches
    throughput: ThroughputLimiter
    bandwidth: BandwidthLimiter
    concurrency: ConcurrencyLimiter


def build_admission(settings: Settings) -> Admission:
    limits = settings.rate_limits
    throughput = limits.throughput
    bandwidth = limits.bandwidth
    buckets: LocalBuckets | RedisBuckets | None = None
    debt: LocalDebt | RedisDebt | None = None
    if limits.redis_url is not None:
        # Several instances share one budget: buckets live in Redis, timed by its clock.
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(limits.redis_url)
        buckets = RedisBuckets(client, limits.redis_prefix)
        debt = RedisDebt(client, limits.redis_prefix)
    return Admission(
        Killswitches([Killswitch(k.usecase, k.scopes, k.service) for k in settings.killswitches]),
        ThroughputLimiter(
            throughput.global_rps,
            throughput.burst,
            throughput.usecase_pct,
            throughput.scope_pct,
            [
                ThroughputRule(rule.usecase, rule.scope_map(), rule.rps, rule.pct)
                for rule in throughput.rules
            ],
            buckets,
        ),
        BandwidthLimiter(
            bandwidth.global_bps,
            bandwidth.burst_ms,
            bandwidth.usecase_pct,
            bandwidth.scope_pct,
            bandwidth.report_only,
            debt,
        ),
        ConcurrencyLimiter(
            settings.service.max_concurrency,
            settings.service.concurrency_queue,
            settings.service.concurrency_timeout.total_seconds(),
        ),
    )


class ObjectHandlers:
    def __init__(
        self,
        service: StorageService,
        max_object_size: int,
        admission: Admission,
        uploads: ResumableUploads | None = None,
    ) -> None:
        self.service = service
        self.max_object_size = max_object_size
        self.admission = admission
        self._metering = admission.bandwidth.active
        self.resumable = ResumableHandler(uploads, max_object_size, self._metered)

    async def handle(
        self, route: ObjectRoute, request: Request, send: Send, access: Access
    ) -> None:
        admission = self.admission
        admission.killswitches.check(
            route.usecase, route.scopes, request.header("x-downstream-service")
        )
        await admission.bandwidth.check(route.usecase, route.scopes)
        await admission.throughput.check(route.usecase, route.scopes)
        async with admission.concurrency.permit():
            await self._dispatch(route, request, send, access)

    def _metered(self, route: ObjectRoute, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        if not self._metering:
            return body
        return self.admission.bandwidth.metered(route.usecase, route.scopes, body)

    async def _dispatch(
        self, route: ObjectRoute, request: Request, send: Send, access: Access
    ) -> None:
        method = request.method
        upload_type = request.query_param("upload_type")
        session = request.query_param("session")
        if (upload_type is not None or session is not None) and method != "GET":
            # Resumable uploads (client 0.2.10): never an ordinary insert or delete.
            await self.resumable.handle(route, request, send, access, upload_type, session)
            return
        if route.key is None:
            if method != "POST":
                raise HttpError(
                    405,
                    f"{method} is not allowed on a collection; POST inserts with a "
                    "server-assigned key",
                    [("allow", "POST")],
                )
            await self._insert(route, request, send, access, generate_key(), created=True)
            return
        if method == "PUT":
            await self._insert(route, request, send, access, route.key, created=False)
        elif method == "GET":
            await self._get(route, request, send, access)
        elif method == "HEAD":
            access.require(Permission.OBJECT_READ, route.usecase, route.scopes, method)
            await self._head(route, send)
        elif method == "DELETE":
            access.require(Permission.OBJECT_DELETE, route.usecase, route.scopes, method)
            await self.service.delete(route.object_id())
            await send_bytes(send, 204)
        elif method == "PATCH":
            await self._patch(route, request, send, access)
        else:
            raise HttpError(
                405,
                f"{method} is not allowed on an object",
                [("allow", "GET, HEAD, PUT, DELETE")],
            )

    async def _insert(
        self,
        route: ObjectRoute,
        request: Request,
        send: Send,
        access: Access,
        key: str,
        *,
        created: bool,
    ) -> None:
        try:
            metadata = metadata_from_request_headers(request.headers)
            self.service.check_policy(route.usecase, metadata)
        except (MetadataError, PolicyViolation) as exc:
            raise HttpError(400, str(exc)) from exc
        access.require(Permission.OBJECT_WRITE, route.usecase, route.scopes, request.method)
        limit = self.max_object_size
        if access.max_size is not None:
            limit = min(limit, access.max_size)
        if access.content_type is not None and metadata.content_type != access.content_type:
            raise HttpError(
                403,
                f"this signed URL only accepts content-type {access.content_type!r}, "
                f"got {metadata.content_type!r}",
            )
        if_none_match = request.header("if-none-match")
        if_absent = False
        if if_none_match is not None:
            if if_none_match.strip() != "*":
                raise HttpError(400, "only 'If-None-Match: *' (create-only) is supported")
            if_absent = True
        object_id = route.object_id(key)
        body = self._metered(route, request.body(limit))  # uploads spend bandwidth too
        try:
            await self.service.insert(object_id, metadata, body, if_absent=if_absent)
        except ObjectExists:
            raise HttpError(412, f"an object already exists at key {key!r}") from None
        await send_json(send, 201 if created else 200, {"key": key})

    async def _get(self, route: ObjectRoute, request: Request, send: Send, access: Access) -> None:
        spec: RangeSpec | None = None
        range_header = request.header("range")
        if range_header is not None:
            try:
                spec = parse_range(range_header)
            except RangeError as exc:
                raise HttpError(400, str(exc)) from exc
        access.require(Permission.OBJECT_READ, route.usecase, route.scopes, request.method)
        # A browser or curl following a URL gets the real file when it cannot take zstd;
        # API clients authenticated by header always get the stored bytes (spec §4).
        decode = access.via_url and not accepts_zstd(request.header("accept-encoding"))
        if decode:
            spec = None
        try:
            stored = await self.service.get(route.object_id(), spec)
        except RangeNotSatisfiable as exc:
            # 416 only for objects that exist; the backend checks the range against them.
            raise HttpError(
                416,
                str(exc),
                [("content-range", f"bytes */{exc.total}"), _ACCEPT_RANGES],
            ) from None
        if stored is None:
            raise HttpError(404, "object not found")
        if decode and stored.metadata.compression == "zstd":
            plain = stored.metadata.with_changes(compression=None, size=None)
            headers = metadata_response_headers(plain)
            body = decompress_stream(self._metered(route, stored.body))
            await send_stream(send, 200, headers, body)
            return
        headers = metadata_response_headers(stored.metadata)
        headers.append(_ACCEPT_RANGES)
        if stored.range is not None:
            headers.append(("content-range", stored.range.content_range()))
            headers.append(("content-length", str(stored.range.length)))
            status = 206
        else:
            headers.append(("content-length", str(stored.metadata.size or 0)))
            status = 200
        await send_stream(send, status, headers, self._metered(route, stored.body))

    async def _patch(
        self, route: ObjectRoute, request: Request, send: Send, access: Access
    ) -> None:
        """Expiry extension (client 0.2.10 ``extend_expiry``, spec §22.7)."""
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise HttpError(415, "PATCH needs a JSON body with Content-Type: application/json")
        raw = b"".join([chunk async for chunk in request.body(_MAX_PATCH_BODY)])
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HttpError(400, f"body is not valid JSON: {exc}") from exc
        target = _parse_extension(body)
        access.require(Permission.OBJECT_WRITE, route.usecase, route.scopes, request.method)
        try:
            await self.service.extend_expiry(route.object_id(), **target)
        except LookupError:
            raise HttpError(404, "object not found") from None
        except NotExtendable as exc:
            raise HttpError(409, str(exc)) from exc
        except PolicyViolation as exc:
            raise HttpError(400, str(exc)) from exc
        await send_bytes(send, 204)

    async def _head(self, route: ObjectRoute, send: Send) -> None:
        meta = await self.service.head(route.object_id())
        if meta is None:
            await send_bytes(send, 404)
            return
        headers = metadata_response_headers(meta)
        headers.append(_ACCEPT_RANGES)
        await send_bytes(send, 204, headers=headers)
