"""Batch requests built and answers split by hand, independent of the server's parser."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

BOUNDARY = "test-boundary-7d1e"


@dataclass(frozen=True)
class Op:
    kind: str
    key: str | None = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_key: str | None = None  # sent verbatim instead of encoding ``key``


def encode_key(key: str) -> str:
    """Everything but ASCII letters and digits as %XX (what the Rust client sends)."""
    return (
        quote(key, safe="")
        .replace("-", "%2D")
        .replace(".", "%2E")
        .replace("_", "%5F")
        .replace("~", "%7E")
    )


def build(ops: Sequence[Op], boundary: str = BOUNDARY) -> bytes:
    out = bytearray()
    for op in ops:
        lines = [f"--{boundary}", "content-disposition: form-data; name=part"]
        lines.append(f"x-sn-batch-operation-kind: {op.kind}")
        if op.raw_key is not None:
            lines.append(f"x-sn-batch-operation-key: {op.raw_key}")
        elif op.key is not None:
            lines.append(f"x-sn-batch-operation-key: {encode_key(op.key)}")
        lines.extend(f"{name}: {value}" for name, value in op.headers.items())
        out += ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + op.body + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


@dataclass(frozen=True)
class Part:
    headers: dict[str, str]
    body: bytes

    @property
    def index(self) -> int:
        return int(self.headers["x-sn-batch-operation-index"])

    @property
    def status(self) -> int:
        return int(self.headers["x-sn-batch-operation-status"].split(" ", 1)[0])

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def parts(self) -> dict[int, Part]:
        """Parts by operation index (each index must appear once)."""
        match = re.fullmatch(
            r'multipart/form-data; boundary="(os-boundary-[0-9a-f]{32})"',
            self.headers["content-type"],
        )
        assert match, self.headers["content-type"]
        delimiter = f"--{match.group(1)}".encode()
        assert self.body.endswith(delimiter + b"--"), self.body[-80:]
        chunks = self.body[: -len(delimiter) - 2].split(delimiter)
        assert chunks[0] == b""
        parts: dict[int, Part] = {}
        for chunk in chunks[1:]:
            assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n"), chunk[:80]
            head, _, body = chunk[2:-2].partition(b"\r\n\r\n")
            headers = dict(
                line.split(": ", 1) for line in head.decode("latin-1").split("\r\n") if line
            )
            part = Part(headers, body)
            assert part.index not in parts, f"index {part.index} answered twice"
            parts[part.index] = part
        return parts


def post(
    url: str,
    path: str,
    body: bytes,
    content_type: str | None = f"multipart/form-data; boundary={BOUNDARY}",
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> Answer:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["content-type"] = content_type
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


def batch(url: str, usecase: str, scopes: str, ops: Sequence[Op], **kwargs: Any) -> Answer:
    return post(url, f"/v1/objects:batch/{usecase}/{scopes}/", build(ops), **kwargs)
