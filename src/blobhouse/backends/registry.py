"""Build the configured backend, importing an engine's driver only when it is used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobhouse.backends.base import Backend

if TYPE_CHECKING:
    from blobhouse.server.config import StorageConfig

__all__ = ["build_backend"]


def build_backend(config: StorageConfig) -> Backend:
    """Turn a storage config into a backend; raises ValueError for unusable shapes."""
    if config.type == "memory":
        from blobhouse.backends.memory import MemoryBackend

        return MemoryBackend()
    if config.type == "filesystem":
        from blobhouse.backends.filesystem import FilesystemBackend

        return FilesystemBackend(config.path)
    if config.type == "tiered":
        from blobhouse.backends.filesystem import FilesystemBackend
        from blobhouse.backends.sql import SqlStore
        from blobhouse.backends.tiered import TieredBackend

        high = config.resolved_high_volume()
        long_term = config.resolved_long_term()
        return TieredBackend(
            SqlStore(high.url, name="high_volume"),
            FilesystemBackend(long_term.path, name="long_term"),
            threshold_bytes=config.threshold_bytes,
        )
    raise ValueError(
        f"storage type {config.type!r} can only be used as the high_volume tier of "
        "'tiered' storage in this release"
    )
