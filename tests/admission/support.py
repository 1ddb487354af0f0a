"""Plain HTTP for the admission tests: single requests, timed runs and uploads held open.

Every request opens its own connection with ``http.client``, so a refused upload whose
body the server never read cannot spoil the next request on a reused connection.

Rate-limit runs are timed on the client: the first request is sent after the clock
starts and the last answer arrives before it stops, so the measured ``elapsed`` covers
every moment the server's buckets could have refilled. A bucket of capacity ``c`` that
refills ``r`` tokens a second admits at most ``c + r * elapsed`` requests in such a run;
the tests assert that bound (and that a full bucket admits its capacity), never a
duration.
"""

from __future__ import annotations

import http.client
import json
import select
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        assert self.headers.get("content-type") == "application/json", self.headers
        return json.loads(self.body)

    @property
    def detail(self) -> str:
        detail: str = self.json()["detail"]
        return detail


def _connection(url: str, timeout: float = REQUEST_TIMEOUT) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", url  # loopback only
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def _reply(response: http.client.HTTPResponse) -> Reply:
    body = response.read()
    return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)


def call(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request on a fresh connection; ``url`` is the server, ``path`` the target."""
    connection = _connection(url)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        return _reply(connection.getresponse())
    finally:
        connection.close()


def object_path(usecase: str, scopes: str, key: str = "") -> str:
    return f"/v1/objects/{usecase}/{scopes}/{key}"


@dataclass(frozen=True)
class Run:
    """Answers to requests sent one after another, and the time they all fit in."""

    replies: list[Reply]
    elapsed: float

    @property
    def statuses(self) -> list[int]:
        return [reply.status for reply in self.replies]

    def count(self, status: int) -> int:
        return sum(1 for reply in self.replies if reply.status == status)

    def rejected(self) -> list[Reply]:
        return [reply for reply in self.replies if reply.status == 429]


def run_until_rejected(send: Callable[[], Reply], limit: int = 40) -> Run:
    """Send until the first 429 (at most ``limit`` requests)."""
    replies: list[Reply] = []
    started = time.monotonic()
    for _ in range(limit):
        replies.append(send())
        if replies[-1].status == 429:
            break
    return Run(replies, time.monotonic() - started)


def run_all(sends: list[Callable[[], Reply]]) -> Run:
    """Send every request in order, whatever the answers."""
    started = time.monotonic()
    replies = [send() for send in sends]
    return Run(replies, time.monotonic() - started)


class HeldUpload:
    """A PUT whose headers and first half of the body are sent, the rest held back.

    The server has started the request (it is in flight and, past admission, holds a
    backend permit) until :meth:`finish` sends the rest. :meth:`answered` tells whether
    the server already replied early, i.e. refused it.
    """

    def __init__(self, url: str, path: str, body: bytes) -> None:
        self.url = url
        self.path = path
        self.body = body
        self.connection = _connection(url)
        self._open()

    def _open(self) -> None:
        connection = self.connection
        connection.putrequest("PUT", self.path)
        connection.putheader("content-length", str(len(self.body)))
        connection.endheaders()
        connection.send(self.body[: len(self.body) // 2])

    def answered(self) -> bool:
        sock = self.connection.sock
        if sock is None:
            return True
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)

    def reopen(self) -> None:
        self.connection.close()
        self.connection = _connection(self.url)
        self._open()

    def finish(self) -> Reply:
        self.connection.send(self.body[len(self.body) // 2 :])
        return _reply(self.connection.getresponse())

    def close(self) -> None:
        self.connection.close()


def saturate(
    holds: list[HeldUpload], probe: Callable[[], Reply], status: int, attempts: int = 100
) -> Reply:
    """Probe until it is refused with ``status`` while every held upload is still open.

    A held upload that reached the server while a probe was using the last slot was
    itself refused; it is reopened, so the loop ends with all of them admitted.
    """
    for _ in range(attempts):
        for hold in holds:
            if hold.answered():
                hold.reopen()
        reply = probe()
        if reply.status == status and not any(hold.answered() for hold in holds):
            return reply
        time.sleep(0.05)
    raise AssertionError(f"the server never answered {status} while {len(holds)} uploads were held")
