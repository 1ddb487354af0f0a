"""Decompressing zstd objects on the way out, for clients that cannot.

Only downloads through a URL (signed or ``?os_auth=``) are decoded, and only when their
``Accept-Encoding`` does not admit zstd: a browser saving an attachment wants the file,
while API clients rely on getting the stored bytes untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import zstandard

__all__ = ["accepts_zstd", "decompress_stream"]


def accepts_zstd(header: str | None) -> bool:
    """Whether an Accept-Encoding header admits zstd (``zstd`` or ``*`` with q > 0)."""
    if not header:
        return False
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        if coding not in ("zstd", "*"):
            continue
        quality = params.strip().lower()
        if quality.startswith("q="):
            try:
                if float(quality[2:]) <= 0:
                    continue
            except ValueError:
                continue
        return True
    return False


async def decompress_stream(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Decode a (possibly multi-frame) zstd stream chunk by chunk, in bounded memory."""
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    try:
        async for chunk in body:
            while chunk:
                out = decompressor.decompress(chunk)
                if out:
                    yield out
                chunk = decompressor.unused_data if decompressor.eof else b""
                if decompressor.eof:
                    decompressor = zstandard.ZstdDecompressor().decompressobj()
    finally:
        closer = getattr(body, "aclose", None)
        if closer is not None:
            await closer()
