"""Blobhouse: a multi-tenant blob store speaking Sentry's objectstore v1 protocol.

Importing ``blobhouse`` gives the client API only (it needs just urllib3 and
zstandard); the server lives in ``blobhouse.server`` and its dependencies are the
``server`` extra.
"""

from blobhouse._version import __version__
from blobhouse.client import (
    Client,
    Compression,
    ExpirationPolicy,
    ExpiryExtensionRejected,
    GetResponse,
    Metadata,
    MetricsBackend,
    NoOpMetricsBackend,
    ObjectNotFound,
    Permission,
    RequestError,
    SecretKey,
    Session,
    TimeToIdle,
    TimeToLive,
    TokenGenerator,
    TokenProvider,
    Usecase,
)

__all__ = [
    "Client",
    "Compression",
    "ExpirationPolicy",
    "ExpiryExtensionRejected",
    "GetResponse",
    "Metadata",
    "MetricsBackend",
    "NoOpMetricsBackend",
    "ObjectNotFound",
    "Permission",
    "RequestError",
    "SecretKey",
    "Session",
    "TimeToIdle",
    "TimeToLive",
    "TokenGenerator",
    "TokenProvider",
    "Usecase",
    "__version__",
]
