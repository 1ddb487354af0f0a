"""Values the client hands back; metadata and expiration types come from ``blobhouse.core``."""

from __future__ import annotations

from typing import IO, Literal, NamedTuple

from blobhouse.core.metadata import Metadata

__all__ = ["Compression", "GetResponse"]

# What a usecase or a put may ask for; on the wire only "zstd" ever appears.
Compression = Literal["zstd", "none"]


class GetResponse(NamedTuple):
    """An object's metadata and a stream of its content.

    ``payload`` holds a live connection: read it to the end or close it, otherwise the
    connection cannot be reused. When the client decompressed it, ``metadata.compression``
    is None, describing the bytes ``payload`` yields.
    """

    metadata: Metadata
    payload: IO[bytes]
