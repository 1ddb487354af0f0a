"""Client-side metrics, with the names and tags the official client emits.

A deployment that already charts ``storage.put.latency`` from objectstore-client keeps
its dashboards when it switches to this client.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

__all__ = ["MetricsBackend", "NoOpMetricsBackend", "OperationMetrics", "measure"]

Tags = Mapping[str, str]


@runtime_checkable
class MetricsBackend(Protocol):
    """Where the client reports metrics (statsd, Sentry metrics, Prometheus, ...)."""

    def increment(self, name: str, value: int | float = 1, tags: Tags | None = None) -> None:
        """Add ``value`` to a counter."""

    def gauge(self, name: str, value: int | float, tags: Tags | None = None) -> None:
        """Set a gauge."""

    def distribution(
        self,
        name: str,
        value: int | float,
        tags: Tags | None = None,
        unit: str | None = None,
    ) -> None:
        """Record one sample of a distribution."""


class NoOpMetricsBackend:
    """The default backend: records nothing."""

    def increment(self, name: str, value: int | float = 1, tags: Tags | None = None) -> None:
        pass

    def gauge(self, name: str, value: int | float, tags: Tags | None = None) -> None:
        pass

    def distribution(
        self,
        name: str,
        value: int | float,
        tags: Tags | None = None,
        unit: str | None = None,
    ) -> None:
        pass


class OperationMetrics:
    """Sizes learnt while an operation runs, reported when it ends."""

    def __init__(self) -> None:
        self.uncompressed_size: int | None = None
        self.compressed_size: int | None = None
        self.compression = "none"


@contextmanager
def measure(backend: MetricsBackend, operation: str, usecase: str) -> Iterator[OperationMetrics]:
    """Time ``operation`` and report latency, sizes, ratio and throughput afterwards.

    Latency is reported even when the operation raises, so error spikes show up as
    latency samples too.
    """
    sizes = OperationMetrics()
    start = time.monotonic()
    try:
        yield sizes
    finally:
        elapsed = time.monotonic() - start
        _report(backend, operation, usecase, elapsed, sizes)


def _report(
    backend: MetricsBackend,
    operation: str,
    usecase: str,
    elapsed: float,
    sizes: OperationMetrics,
) -> None:
    prefix = f"storage.{operation}"
    backend.distribution(f"{prefix}.latency", elapsed, tags={"usecase": usecase})
    measured: list[tuple[int, str]] = []
    if sizes.uncompressed_size is not None:
        measured.append((sizes.uncompressed_size, "none"))
    if sizes.compressed_size is not None:
        measured.append((sizes.compressed_size, sizes.compression))
    for size, compression in measured:
        tags = {"usecase": usecase, "compression": compression}
        backend.distribution(f"{prefix}.size", size, tags=tags, unit="byte")
    if sizes.uncompressed_size and sizes.compressed_size:
        backend.distribution(
            f"{prefix}.compression_ratio",
            sizes.compressed_size / sizes.uncompressed_size,
            tags={"usecase": usecase, "compression": sizes.compression},
        )
    if elapsed > 0:
        for size, compression in measured:
            if size:
                tags = {"usecase": usecase, "compression": compression}
                backend.distribution(f"{prefix}.throughput", size / elapsed, tags=tags)
                backend.distribution(f"{prefix}.inverse_throughput", elapsed / size, tags=tags)
