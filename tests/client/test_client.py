"""``Client`` construction: retries, timeouts, tokens, URLs, sessions and scopes."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import urllib3
from urllib3.connection import HTTPConnection
from urllib3.exceptions import MaxRetryError, NewConnectionError

from blobhouse import Client, Usecase
from blobhouse.client._client import DEFAULT_CONNECT_TIMEOUT
from tests.client.recorder import Recorder


@pytest.fixture
def refused_url() -> str:
    """A loopback port with no listener: every connect is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def connect_attempts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    attempts: list[int] = []
    original = HTTPConnection._new_conn

    def counting(self: HTTPConnection) -> Any:
        attempts.append(1)
        return original(self)

    monkeypatch.setattr(HTTPConnection, "_new_conn", counting)
    return attempts


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


# --- retries ---------------------------------------------------------------------------


@pytest.mark.parametrize(("retries", "expected_attempts"), [(None, 4), (0, 1), (2, 3)])
def test_only_connects_are_retried_and_zero_retries_means_one_attempt(
    refused_url: str,
    connect_attempts: list[int],
    retries: int | None,
    expected_attempts: int,
) -> None:
    session = Client(refused_url, retries=retries).session(Usecase("attachments"))

    with pytest.raises(MaxRetryError) as caught:
        session.get("k")

    assert isinstance(caught.value.reason, NewConnectionError)
    assert len(connect_attempts) == expected_attempts


def test_streamed_put_is_retried_on_connect_failure_without_consuming_the_source(
    refused_url: str, connect_attempts: list[int]
) -> None:
    source = io.BytesIO(b"payload" * 1000)
    session = Client(refused_url, retries=2).session(Usecase("attachments"))

    with pytest.raises(MaxRetryError):
        session.put(source, key="k")

    assert len(connect_attempts) == 3
    assert source.tell() == 0


def test_default_retry_policy_never_replays_a_request() -> None:
    retry = Client("http://127.0.0.1:1")._transport.pool.retries

    assert isinstance(retry, urllib3.Retry)
    assert (retry.connect, retry.read, retry.other) == (3, 0, 0)
    assert retry.raise_on_redirect is False
    assert retry.respect_retry_after_header is False


@pytest.mark.parametrize("retries", [-1, True])
def test_invalid_retries_are_rejected(retries: int) -> None:
    with pytest.raises(ValueError, match="retries"):
        Client("http://127.0.0.1:1", retries=retries)


def test_connection_kwargs_can_replace_the_retry_policy() -> None:
    custom = urllib3.Retry(connect=7, read=0)
    client = Client("http://127.0.0.1:1", connection_kwargs={"retries": custom})
    assert client._transport.pool.retries is custom


# --- timeouts --------------------------------------------------------------------------


def test_timeout_ms_sets_the_read_timeout_and_keeps_the_connect_timeout() -> None:
    timeout = Client("http://127.0.0.1:1", timeout_ms=250)._transport.pool.timeout

    assert timeout.connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert timeout.read_timeout == 0.25


def test_without_timeout_ms_reads_wait_forever() -> None:
    timeout = Client("http://127.0.0.1:1")._transport.pool.timeout
    assert timeout.read_timeout is None


@pytest.mark.parametrize("timeout_ms", [0, -5])
def test_non_positive_timeout_is_rejected(timeout_ms: int) -> None:
    with pytest.raises(ValueError, match="timeout_ms must be positive"):
        Client("http://127.0.0.1:1", timeout_ms=timeout_ms)


def test_silent_server_hits_the_read_timeout(silent_url: str) -> None:
    session = Client(silent_url, timeout_ms=200).session(Usecase("attachments"))

    with pytest.raises(MaxRetryError):
        session.get("k")


# --- tokens ----------------------------------------------------------------------------


def test_token_must_be_a_secret_key_or_a_string() -> None:
    with pytest.raises(TypeError, match="SecretKey"):
        Client("http://127.0.0.1:1", token=object())  # type: ignore[arg-type]


def test_empty_token_means_no_token() -> None:
    client = Client("http://127.0.0.1:1", token="")
    assert "x-os-auth" not in client.session(Usecase("attachments"))._headers()


def test_propagate_traces_is_deprecated() -> None:
    with pytest.warns(DeprecationWarning, match="propagate_traces"):
        Client("http://127.0.0.1:1", propagate_traces=True)


def test_deprecated_trace_propagation_still_sends_requests(recorder: Recorder) -> None:
    with pytest.warns(DeprecationWarning, match="propagate_traces"):
        client = Client(recorder.url, propagate_traces=True)
    with client:
        client.session(Usecase("attachments")).put(b"x", key="k")
    assert recorder.last.method == "PUT"


# --- object URLs and scopes --------------------------------------------------------------


def test_object_url_is_absolute_and_scoped() -> None:
    session = Client("http://127.0.0.1:8888").session(
        Usecase("testing"), org=12345, project=1337, app_slug="email_app"
    )
    assert (
        session.object_url("foo/bar")
        == "http://127.0.0.1:8888/v1/objects/testing/org=12345;project=1337;app_slug=email_app/foo/bar"
    )


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://blobs.example:8443", "https://blobs.example:8443/v1/objects/testing/_/k"),
        ("http://[::1]:8888", "http://[::1]:8888/v1/objects/testing/_/k"),
        (
            "http://localhost:8888/api/prefix",
            "http://localhost:8888/api/prefix/v1/objects/testing/_/k",
        ),
        ("http://localhost", "http://localhost:80/v1/objects/testing/_/k"),
    ],
)
def test_object_url_keeps_scheme_host_and_prefix(base_url: str, expected: str) -> None:
    assert Client(base_url).session(Usecase("testing")).object_url("k") == expected


def test_object_url_with_token_validity_needs_a_signing_key() -> None:
    session = Client("http://127.0.0.1:1", token="t").session(Usecase("testing"))
    with pytest.raises(ValueError, match="needs a signing key"):
        session.object_url("k", token_validity=timedelta(minutes=5))


def test_scope_values_are_stringified_in_keyword_order() -> None:
    session = Client("http://127.0.0.1:1").session(Usecase("testing"), b=True, a=0, c="x")
    assert str(session.scopes) == "b=True;a=0;c=x"


@pytest.mark.parametrize(
    "scopes", [{"org": ""}, {"org": None}, {"org": "a.b"}, {"org": "a/b"}, {"café": "1"}]
)
def test_invalid_scopes_are_rejected(scopes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="scope"):
        Client("http://127.0.0.1:1").session(Usecase("testing"), **scopes)
