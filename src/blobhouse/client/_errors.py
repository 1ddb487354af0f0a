"""Exceptions the client raises for answers it cannot turn into a result.

Network failures are not wrapped: they surface as urllib3 exceptions (``MaxRetryError``,
``ProtocolError``, ``ReadTimeoutError``), exactly as with the official client, so code
that already catches those keeps working.
"""

from __future__ import annotations

import urllib3

__all__ = ["ExpiryExtensionRejected", "ObjectNotFound", "RequestError", "raise_for_status"]

# Enough of an error body to act on, without dumping a whole HTML error page.
_DETAIL_LIMIT = 300


class RequestError(Exception):
    """The server answered with an error status (or something the client cannot use).

    ``status`` is the HTTP status and ``response`` the body text, for callers that need
    more than the message.
    """

    def __init__(self, message: str, status: int | None, response: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.response = response


class ObjectNotFound(RequestError):
    """The object was observed to be absent or expired."""


class ExpiryExtensionRejected(RequestError):
    """The object's expiration deadline could not be extended (non-expiring or raced)."""


def _body_text(response: urllib3.BaseHTTPResponse) -> str:
    data = response.data or response.read() or b""
    return data.decode("utf-8", "replace")


def raise_for_status(
    response: urllib3.BaseHTTPResponse,
    operation: str,
    *,
    error_type: type[RequestError] = RequestError,
) -> None:
    """Raise ``error_type`` for a 3xx-5xx answer; ``operation`` names what was attempted.

    Redirects count as errors because the client does not follow them (it cannot replay
    a streamed body); the message names the ``Location`` so the caller can fix the URL.
    """
    status = response.status
    if status < 300:
        return
    text = _body_text(response)
    message = f"Blobhouse {operation} failed with status {status}"
    if status < 400:
        message += f" (redirect to {response.headers.get('location')!r}; check base_url)"
    if text.strip():
        detail = text.strip()
        if len(detail) > _DETAIL_LIMIT:
            detail = detail[:_DETAIL_LIMIT] + "..."
        message += f": {detail}"
    raise error_type(message, status, text)
