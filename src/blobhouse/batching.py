"""Types of ``Session.many()`` / ``AsyncSession.many()`` (batching, spec §8), for annotations.

``import blobhouse`` keeps exactly the official client's names; these live here.
"""

from blobhouse.client._batching import BatchResult
from blobhouse.client._client import SyncBatch

__all__ = ["BatchResult", "SyncBatch"]
