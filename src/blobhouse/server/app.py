"""The Blobhouse ASGI application: routing, lifespan, and turning errors into answers.

Runs under granian in production and uvicorn in development (``create_app`` is the
factory both call). Every error a client can cause is answered with its status and a JSON
body ``{"detail": ...}`` that says what was wrong; only a genuine server fault is a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from blobhouse.backends.base import (
    BackendError,
    BackendUnavailable,
    PayloadTooLarge,
    QuotaExceeded,
)
from blobhouse.backends.registry import build_backend
from blobhouse.core.urls import RouteError, parse_object_route
from blobhouse.server.auth import Authenticator, KeyDirectory, KeyError_
from blobhouse.server.batch import BatchHandler, build_bulk_limiter
from blobhouse.server.compose import ComposeHandler
from blobhouse.server.config import ConfigError, Settings, load_settings
from blobhouse.server.http import (
    ClientDisconnected,
    HttpError,
    Receive,
    Request,
    Scope,
    Send,
    send_bytes,
    send_json,
)
from blobhouse.server.logs import configure_logging
from blobhouse.server.objects import ObjectHandlers, build_admission
from blobhouse.service.resumable import ResumableUploads
from blobhouse.service.storage import StorageService

__all__ = ["BlobhouseApp", "create_app"]

log = logging.getLogger("blobhouse.server")

_INTERNAL = frozenset({b"/health", b"/ready"})
_NOT_YET = {
    "objects:multipart": "multipart uploads",
    "objects:multipart:parts": "multipart uploads",
    "objects:multipart:complete": "multipart uploads",
}


def check_startable(settings: Settings) -> Authenticator:
    """Refuse configurations that cannot be served safely; return the authenticator."""
    if settings.auth.enforce and not settings.auth.keys:
        raise ConfigError(
            "auth.enforce is true but no auth.keys are configured: every request would be "
            "refused. Configure keys (see README, 'Production'), or for a trusted network "
            "only set auth.enforce=false (OS__AUTH__ENFORCE=false)"
        )
    try:
        keys = KeyDirectory.from_config(settings.auth.keys)
    except KeyError_ as exc:
        raise ConfigError(str(exc)) from exc
    return Authenticator(keys, enforce=settings.auth.enforce)


class BlobhouseApp:
    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self.settings: Settings | None = settings
        self.service: StorageService | None = None
        self.objects: ObjectHandlers | None = None
        self.batch: BatchHandler | None = None
        self.compose: ComposeHandler | None = None
        self.uploads: ResumableUploads | None = None
        self.auth = Authenticator(KeyDirectory({}), enforce=False)
        self.draining = False
        self._background: list[asyncio.Task[None]] = []  # the reaper and sweepers
        self._startup_lock = asyncio.Lock()
        self.in_flight = 0
        self.max_requests = settings.http.max_requests if settings else 10_000

    # --- lifecycle --------------------------------------------------------------------

    async def startup(self) -> None:
        async with self._startup_lock:
            if self.service is not None:
                return
            settings = self._settings or load_settings()
            configure_logging(settings.logging.level, settings.logging.format)
            self.auth = check_startable(settings)
            if not settings.auth.enforce:
                log.warning(
                    "AUTHENTICATION IS NOT ENFORCED: anyone who can reach %s can read, write "
                    "and delete every object. Keep this server on a trusted network.",
                    settings.http_addr,
                )
            service = StorageService(
                build_backend(settings.storage),
                settings.usecase_policies(),
                quotas=settings.quotas(),
            )
            await service.open()
            self.settings = settings
            self.service = service
            admission = build_admission(settings)
            uploads: ResumableUploads | None = None
            if settings.resumable.enabled:
                uploads = ResumableUploads(
                    settings.resolved_staging_dir(),
                    service,
                    abandon_after=settings.resumable.abandon_after.total_seconds(),
                    keep_committed=settings.resumable.keep_committed.total_seconds(),
                )
                await uploads.open()
            self.uploads = uploads
            self.objects = ObjectHandlers(
                service, settings.limits.max_object_size, admission, uploads
            )
            self.batch = BatchHandler(service, admission, build_bulk_limiter(settings))
            self.compose = ComposeHandler(service, admission, settings.limits.max_object_size)
            self.max_requests = settings.http.max_requests
            if settings.reaper.enabled:
                interval = settings.reaper.interval.total_seconds()
                loop = asyncio.get_running_loop()
                self._background.append(
                    loop.create_task(service.run_reaper(interval, settings.reaper.batch))
                )
                if uploads is not None:
                    self._background.append(
                        loop.create_task(_every(interval, uploads.sweep, "upload sweeper"))
                    )

    async def shutdown(self) -> None:
        self.draining = True
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background.clear()
        if self.service is not None:
            await self.service.close()

    # --- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.error("startup failed: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.raw_path in _INTERNAL:  # probes neither count nor wait for the cap
            await self._route(request, send)
            return
        if self.in_flight >= self.max_requests:
            await self._answer_error(request, send, 503, "server busy: too many requests in flight")
            return
        self.in_flight += 1
        try:
            await self._route(request, send)
        except HttpError as exc:
            await self._answer_error(request, send, exc.status, exc.detail, exc.headers)
        except QuotaExceeded as exc:
            await self._answer_error(request, send, 413, str(exc), extra=exc.figures)
        except PayloadTooLarge as exc:
            await self._answer_error(
                request, send, 413, f"request body exceeds the limit of {exc.limit} bytes"
            )
        except ClientDisconnected:
            log.info("client disconnected during %s %s", request.method, request.raw_path)
        except BackendUnavailable as exc:
            log.error("%s", exc)
            await self._answer_error(request, send, 503, str(exc), [("retry-after", "1")])
        except BackendError as exc:
            log.exception("backend failure")
            await self._answer_error(request, send, 500, str(exc))
        except Exception:
            log.exception("unhandled error in %s %r", request.method, request.raw_path)
            await self._answer_error(request, send, 500, "internal server error")
        finally:
            self.in_flight -= 1

    async def _answer_error(
        self,
        request: Request,
        send: Send,
        status: int,
        detail: str,
        headers: list[tuple[str, str]] | None = None,
        *,
        extra: dict[str, object] | None = None,
    ) -> None:
        try:
            if request.method == "HEAD":
                await send_bytes(send, status, headers=headers)
            else:
                await send_json(send, status, {"detail": detail, **(extra or {})}, headers)
        except Exception:
            # Typically the response had already started (a stream failed midway) or the
            # client is gone; log it so a broken error path can never hide silently.
            log.warning(
                "could not send the %d answer for %s %r",
                status,
                request.method,
                request.raw_path,
                exc_info=True,
            )

    async def _route(self, request: Request, send: Send) -> None:
        path = request.raw_path
        if path == b"/health":
            await send_bytes(send, 200, b"OK", content_type="text/plain")
            return
        if path == b"/ready":
            await self._ready(send)
            return
        if self.objects is None:
            await self.startup()
        assert self.objects is not None
        # Authentication comes first, as upstream: a request without a token is a 400 even
        # when its path is also wrong, and nothing about the path leaks to a stranger.
        access = self.auth.authenticate(request) if path.startswith(b"/v1/") else None
        try:
            route = parse_object_route(path)
        except RouteError as exc:
            raise HttpError(400, f"invalid path: {exc}") from exc
        if route is None or access is None:
            raise HttpError(404, f"no such endpoint: {request.method} {path.decode('latin-1')}")
        if route.resource in _NOT_YET:
            raise HttpError(
                501, f"{_NOT_YET[route.resource]} are not implemented by this server yet"
            )
        if route.resource == "objects:compose":
            assert self.compose is not None
            await self.compose.handle(route, request, send, access)
            return
        if route.resource == "objects:batch":
            assert self.batch is not None
            await self.batch.handle(route, request, send, access)
            return
        await self.objects.handle(route, request, send, access)

    async def _ready(self, send: Send) -> None:
        marker = self.settings.resolved_drain_file() if self.settings else None
        draining = self.draining or (marker is not None and marker.exists())
        if draining or self.service is None:
            await send_bytes(send, 503, b"Shutting down", content_type="text/plain")
        else:
            await send_bytes(send, 200, b"OK", content_type="text/plain")


async def _every(interval: float, job: Callable[[], Awaitable[int]], name: str) -> None:
    """Run a housekeeping job forever (until cancelled); failures are logged and retried."""
    while True:
        try:
            removed = await job()
            if removed:
                log.info("%s removed %d items", name, removed)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; retrying in %ss", name, interval)
        await asyncio.sleep(interval)


def create_app(settings: Settings | None = None, **_: Any) -> BlobhouseApp:
    """ASGI factory: ``granian --factory blobhouse.server.app:create_app``.

    Without explicit settings they are read at startup from ``BLOBHOUSE_CONFIG_FILE`` and
    the ``OS__``/``BLOBHOUSE__`` environment, so worker processes agree with their parent.
    """
    return BlobhouseApp(settings)
