"""The Blobhouse Python client: a drop-in for ``objectstore_client`` (0.2.10).

Switching is one import::

    from blobhouse import Client, Usecase  # was: from objectstore_client import ...

    client = Client("http://localhost:8888")
    session = client.session(Usecase("attachments"), org=42, project=7)
    key = session.put(b"hello", content_type="text/plain")
    response = session.get(key)

Differences from the official client: ``retries=0`` means no retries; the connect
timeout is 1 s; expiration headers are parsed with the full humantime grammar; puts
of file-like objects stream chunk by chunk; resumable uploads retry after a short
backoff (0.5 s, then 1 s) rather than 2-5 s. Extensions: ``put(if_absent=True)``,
``get(byte_range=...)``, ``Session.presigned_put_url`` (signed upload URLs),
``Session.many()`` (batches, spec §8) and ``Session.compose`` (server-side
concatenation). The async client is :mod:`blobhouse.aio`; the storage facade is
:mod:`blobhouse.facade`.

Signing keys work as in the official client::

    key = SecretKey("my-service", Path("my-service.private.pem").read_text())
    client = Client("http://localhost:8888", token=key)  # a fresh JWT per request
"""

from blobhouse.client._auth import SecretKey, TokenGenerator, TokenProvider
from blobhouse.client._client import Client, Session, Usecase
from blobhouse.client._errors import ExpiryExtensionRejected, ObjectNotFound, RequestError
from blobhouse.client._metrics import MetricsBackend, NoOpMetricsBackend
from blobhouse.client._models import Compression, GetResponse
from blobhouse.core.expiration import ExpirationPolicy, TimeToIdle, TimeToLive
from blobhouse.core.metadata import Metadata
from blobhouse.core.permissions import Permission

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
]
