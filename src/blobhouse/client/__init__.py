"""The Blobhouse Python client: a drop-in for ``objectstore_client`` (0.2.10).

Switching is one import::

    from blobhouse import Client, Usecase  # was: from objectstore_client import ...

    client = Client("http://localhost:8888")
    session = client.session(Usecase("attachments"), org=42, project=7)
    key = session.put(b"hello", content_type="text/plain")
    response = session.get(key)

Differences from the official client: ``retries=0`` means no retries; the connect
timeout is 1 s; expiration headers are parsed with the full humantime grammar; puts
of file-like objects stream chunk by chunk; ``put(if_absent=True)`` and
``get(byte_range=...)`` are extensions; signing keys, pre-signed URLs, multipart,
resumable uploads and ``extend_expiry`` are not supported yet.
"""

from blobhouse.client._client import Client, Session, Usecase
from blobhouse.client._errors import ExpiryExtensionRejected, ObjectNotFound, RequestError
from blobhouse.client._metrics import MetricsBackend, NoOpMetricsBackend
from blobhouse.client._models import Compression, GetResponse
from blobhouse.core.expiration import ExpirationPolicy, TimeToIdle, TimeToLive
from blobhouse.core.metadata import Metadata

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
    "RequestError",
    "Session",
    "TimeToIdle",
    "TimeToLive",
    "Usecase",
]
