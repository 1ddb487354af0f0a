"""What ``Session`` puts on the wire and how it reads answers, against a request recorder."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import pytest
import zstandard

from blobhouse import (
    Client,
    Metadata,
    RequestError,
    Session,
    TimeToIdle,
    TimeToLive,
    Usecase,
    __version__,
)
from blobhouse.client._compression import CHUNK_SIZE
from tests.client.recorder import Recorder, Reply

SCOPE_PATH = "/v1/objects/attachments/org=42;project=7"


def zstd_frames(*parts: bytes) -> bytes:
    return b"".join(zstandard.ZstdCompressor().compress(part) for part in parts)


def unzstd(data: bytes) -> bytes:
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    return reader.read()


class TrackingReader(io.BytesIO):
    """A source that remembers how much each ``read`` asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.requested: list[int] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.requested.append(-1 if size is None else size)
        return super().read(size)


# --- put ------------------------------------------------------------------------------


def test_keyless_put_posts_compressed_bytes_to_the_collection(
    recorder: Recorder, session: Session
) -> None:
    recorder.reply(Reply.json(201, {"key": "generated-1"}))
    payload = b"hello blobhouse " * 100

    key = session.put(payload)

    assert key == "generated-1"
    request = recorder.last
    assert request.method == "POST"
    assert request.path == SCOPE_PATH + "/"
    assert request.header("content-encoding") == "zstd"
    assert request.header("user-agent") == f"blobhouse-client/{__version__}"
    assert request.header("x-os-auth") is None
    assert request.header("content-length") == str(len(request.body))
    assert unzstd(request.body) == payload


def test_keyed_put_percent_encodes_the_key_like_the_official_client(
    recorder: Recorder, session: Session
) -> None:
    recorder.reply(Reply.json(200, {"key": "dir/some key%;=café"}))

    key = session.put(b"x", key="dir/some key%;=café")

    assert key == "dir/some key%;=café"
    assert recorder.last.method == "PUT"
    assert recorder.last.path == SCOPE_PATH + "/dir/some%20key%25;=caf%C3%A9"


def test_empty_key_is_treated_as_no_key(recorder: Recorder, session: Session) -> None:
    recorder.reply(Reply.json(201, {"key": "gen"}))
    assert session.put(b"x", key="") == "gen"
    assert recorder.last.method == "POST"


def test_put_sends_metadata_headers_percent_encoded(recorder: Recorder, session: Session) -> None:
    session.put(
        b"data",
        key="k",
        content_type="text/plain; charset=utf-8",
        metadata={"MyKey": "wert ü"},
        origin="1.2.3.4 café",
        filename="résumé 100%.pdf",
        expiration_policy=TimeToLive(timedelta(days=1, hours=2, seconds=5)),
    )

    request = recorder.last
    assert request.header("content-type") == "text/plain; charset=utf-8"
    assert request.header("x-snme-MyKey") == "wert %C3%BC"
    assert request.header("x-sn-origin") == "1.2.3.4 caf%C3%A9"
    assert request.header("x-sn-filename") == "r%C3%A9sum%C3%A9 100%25.pdf"
    assert request.header("x-sn-expiration") == "ttl:1d 2h 5s"


def test_usecase_expiration_applies_unless_the_put_overrides_it(
    recorder: Recorder, client: Client
) -> None:
    usecase = Usecase("attachments", expiration_policy=TimeToIdle(timedelta(hours=1, minutes=30)))
    session = client.session(usecase, org=1)

    session.put(b"a", key="k")
    assert recorder.last.header("x-sn-expiration") == "tti:1h 30m"

    session.put(b"a", key="k", expiration_policy=TimeToLive(timedelta(days=30)))
    assert recorder.last.header("x-sn-expiration") == "ttl:30d"


def test_put_without_policy_sends_no_expiration_header(
    recorder: Recorder, session: Session
) -> None:
    session.put(b"a", key="k")
    assert recorder.last.header("x-sn-expiration") is None


def test_uncompressed_put_sends_the_bytes_as_they_are(recorder: Recorder, session: Session) -> None:
    session.put(b"raw bytes", key="k", compress="none")

    assert recorder.last.header("content-encoding") is None
    assert recorder.last.body == b"raw bytes"


def test_usecase_without_compression_sends_raw_bytes(recorder: Recorder, client: Client) -> None:
    client.session(Usecase("raw-data", compression="none")).put(b"plain", key="k")

    assert recorder.last.path == "/v1/objects/raw-data/_/k"
    assert recorder.last.header("content-encoding") is None
    assert recorder.last.body == b"plain"


def test_precompressed_put_sends_bytes_untouched_but_declares_zstd(
    recorder: Recorder, session: Session
) -> None:
    frame = zstd_frames(b"already compressed")

    session.put(frame, key="k", precompressed="zstd")

    assert recorder.last.header("content-encoding") == "zstd"
    assert recorder.last.body == frame


def test_file_put_streams_compressed_chunks_without_reading_the_whole_file(
    recorder: Recorder, session: Session
) -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB
    source = TrackingReader(payload)

    session.put(source, key="big")

    request = recorder.last
    assert request.chunked
    assert request.header("content-length") is None
    assert request.header("content-encoding") == "zstd"
    assert unzstd(request.body) == payload
    assert all(0 < size <= CHUNK_SIZE for size in source.requested)


def test_uncompressed_file_put_streams_chunked(recorder: Recorder, session: Session) -> None:
    payload = b"0123456789" * 50_000
    source = TrackingReader(payload)

    session.put(source, key="big", compress="none")

    assert recorder.last.chunked
    assert recorder.last.body == payload
    assert all(0 < size <= CHUNK_SIZE for size in source.requested)


def test_put_accepts_the_deprecated_compression_keyword_with_a_warning(
    recorder: Recorder, session: Session
) -> None:
    with pytest.warns(DeprecationWarning, match="compress"):
        session.put(b"x", key="k", compression="none")
    assert recorder.last.body == b"x"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compress": "none", "compression": "none"}, "either"),
        ({"compress": "zstd", "precompressed": "zstd"}, "not both"),
        ({"compress": "gzip"}, "invalid compression"),
        ({"precompressed": "none"}, "invalid precompressed"),
        ({"content_type": "not a media type"}, "invalid content type"),
        ({"metadata": {"bad key": "v"}}, "HTTP token"),
        ({"expiration_policy": TimeToLive(timedelta(seconds=-1))}, "negative"),
        ({"key": "x" * 1025}, "1025 bytes"),
    ],
)
def test_invalid_put_arguments_are_rejected_before_sending(
    recorder: Recorder, session: Session, kwargs: dict[str, object], message: str
) -> None:
    with (
        pytest.warns(DeprecationWarning, match="deprecated")
        if "compression" in kwargs
        else nullcontext(),
        pytest.raises(ValueError, match=message),
    ):
        session.put(b"x", **kwargs)  # type: ignore[arg-type]
    assert recorder.requests == []


def test_put_if_absent_sends_if_none_match_and_a_conflict_raises_412(
    recorder: Recorder, session: Session
) -> None:
    recorder.reply(Reply.json(412, {"detail": "object already exists"}))

    with pytest.raises(RequestError) as caught:
        session.put(b"x", key="k", if_absent=True)

    assert recorder.last.header("if-none-match") == "*"
    assert caught.value.status == 412
    assert caught.value.response is not None
    assert "already exists" in caught.value.response


def test_put_answer_without_a_key_is_a_request_error(recorder: Recorder, session: Session) -> None:
    recorder.reply(Reply(200, b"<html>proxy page</html>"))

    with pytest.raises(RequestError, match="without a JSON key") as caught:
        session.put(b"x", key="k")
    assert caught.value.status == 200


def test_put_accepts_bytearray_and_memoryview(recorder: Recorder, session: Session) -> None:
    session.put(bytearray(b"abc"), key="k", compress="none")  # type: ignore[arg-type]
    assert recorder.last.body == b"abc"
    session.put(memoryview(b"def"), key="k", compress="none")  # type: ignore[arg-type]
    assert recorder.last.body == b"def"


def test_put_rejects_text(session: Session) -> None:
    with pytest.raises(TypeError, match="bytes or a binary file-like"):
        session.put("text", key="k")  # type: ignore[arg-type]


def test_put_rejects_text_streams(session: Session) -> None:
    with pytest.raises(TypeError, match="binary mode"):
        session.put(io.StringIO("text"), key="k")  # type: ignore[arg-type]


# --- get ------------------------------------------------------------------------------

STORED_HEADERS = [
    ("content-type", "text/plain"),
    ("x-sn-expiration", "ttl:1day"),
    ("x-sn-time-created", "2026-07-23T10:00:00.123456Z"),
    ("x-sn-time-expires", "2026-07-24T10:00:00.123456Z"),
    ("x-sn-origin", "caf%C3%A9"),
    ("x-sn-filename", "a%20b.txt"),
    ("x-sn-size", "42"),
    ("x-snme-source", "upload-service"),
]


def test_get_decompresses_every_zstd_frame_and_clears_compression(
    recorder: Recorder, session: Session
) -> None:
    body = zstd_frames(b"first part, ", b"second part, ", b"third part")
    recorder.reply(Reply(200, body, [*STORED_HEADERS, ("content-encoding", "zstd")]))

    response = session.get("report")

    assert response is not None
    assert recorder.last.method == "GET"
    assert recorder.last.path == SCOPE_PATH + "/report"
    assert response.payload.read() == b"first part, second part, third part"
    assert response.metadata == Metadata(
        content_type="text/plain",
        compression=None,
        expiration_policy=TimeToLive(timedelta(days=1)),
        time_created=datetime(2026, 7, 23, 10, 0, 0, 123456, tzinfo=UTC),
        time_expires=datetime(2026, 7, 24, 10, 0, 0, 123456, tzinfo=UTC),
        origin="café",
        filename="a b.txt",
        size=42,
        custom={"source": "upload-service"},
    )
    response.payload.close()


def test_get_payload_supports_line_iteration(recorder: Recorder, session: Session) -> None:
    body = zstd_frames(b"one\ntw", b"o\nthree\n")
    recorder.reply(Reply(200, body, [("content-encoding", "zstd")]))

    response = session.get("lines")

    assert response is not None
    with response.payload as payload:
        assert list(payload) == [b"one\n", b"two\n", b"three\n"]


@pytest.mark.parametrize(
    "options",
    [{"decompress": False}, {"accept_encoding": ["zstd"]}, {"accept_encoding": ["*"]}],
)
def test_get_can_return_the_stored_compressed_bytes(
    recorder: Recorder, session: Session, options: dict[str, object]
) -> None:
    body = zstd_frames(b"compressed")
    recorder.reply(Reply(200, body, [("content-encoding", "zstd")]))

    response = session.get("k", **options)  # type: ignore[arg-type]

    assert response is not None
    assert response.metadata.compression == "zstd"
    assert response.payload.read() == body


def test_get_of_uncompressed_object_returns_it_unchanged(
    recorder: Recorder, session: Session
) -> None:
    recorder.reply(Reply(200, b"plain", [("content-type", "text/plain")]))

    response = session.get("k")

    assert response is not None
    assert response.metadata.compression is None
    assert response.payload.read() == b"plain"


def test_get_of_missing_object_returns_none(recorder: Recorder, session: Session) -> None:
    recorder.reply(Reply(404))
    assert session.get("missing") is None
    # The connection is still usable afterwards.
    recorder.reply(Reply(200, b"ok"))
    response = session.get("present")
    assert response is not None
    assert response.payload.read() == b"ok"


@pytest.mark.parametrize(
    ("byte_range", "header"),
    [((2, 5), "bytes=2-5"), ((3, None), "bytes=3-"), ((0, 0), "bytes=0-0")],
)
def test_get_with_byte_range_sends_range_and_returns_the_raw_slice(
    recorder: Recorder,
    session: Session,
    byte_range: tuple[int, int | None],
    header: str,
) -> None:
    recorder.reply(
        Reply(206, b"\x28\xb5", [("content-encoding", "zstd"), ("content-range", "bytes 0-1/9")])
    )

    response = session.get("k", byte_range=byte_range)

    assert recorder.last.header("range") == header
    assert response is not None
    assert response.metadata.compression == "zstd"
    assert response.payload.read() == b"\x28\xb5"


def test_unsatisfiable_range_raises_416(recorder: Recorder, session: Session) -> None:
    recorder.reply(Reply(416, headers=[("content-range", "bytes */22")]))

    with pytest.raises(RequestError) as caught:
        session.get("k", byte_range=(100, 200))
    assert caught.value.status == 416


def test_range_answered_with_full_body_raises(recorder: Recorder, session: Session) -> None:
    recorder.reply(Reply(200, b"whole object"))

    with pytest.raises(RequestError, match="instead of 206"):
        session.get("k", byte_range=(0, 3))


@pytest.mark.parametrize("byte_range", [(-1, 3), (5, 2)])
def test_invalid_byte_range_is_rejected_before_sending(
    recorder: Recorder, session: Session, byte_range: tuple[int, int]
) -> None:
    with pytest.raises(ValueError, match="range"):
        session.get("k", byte_range=byte_range)
    assert recorder.requests == []


def test_server_error_raises_request_error_with_status_and_body(
    recorder: Recorder, session: Session
) -> None:
    detail = {"detail": "backend failure", "causes": ["disk full"]}
    recorder.reply(Reply.json(500, detail))

    with pytest.raises(RequestError, match=r"status 500: .*backend failure") as caught:
        session.get("k")

    assert caught.value.status == 500
    assert json.loads(caught.value.response or "") == detail


def test_redirects_are_not_followed(recorder: Recorder, session: Session) -> None:
    recorder.reply(Reply(301, headers=[("location", "https://elsewhere/")]))

    with pytest.raises(RequestError, match="redirect to 'https://elsewhere/'") as caught:
        session.put(b"x", key="k")
    assert caught.value.status == 301
    assert len(recorder.requests) == 1


# --- head / delete -------------------------------------------------------------------


def test_head_reads_metadata(recorder: Recorder, session: Session) -> None:
    recorder.reply(Reply(204, headers=[*STORED_HEADERS, ("content-encoding", "zstd")]))

    metadata = session.head("k")

    assert recorder.last.method == "HEAD"
    assert metadata is not None
    assert metadata.compression == "zstd"
    assert metadata.origin == "café"
    assert metadata.expiration_policy == TimeToLive(timedelta(days=1))


def test_head_of_missing_object_returns_none(recorder: Recorder, session: Session) -> None:
    recorder.reply(Reply(404))
    assert session.head("missing") is None


def test_delete_sends_delete(recorder: Recorder, session: Session) -> None:
    recorder.reply(Reply(204))
    session.delete("a/b")
    assert (recorder.last.method, recorder.last.path) == ("DELETE", SCOPE_PATH + "/a/b")


def test_delete_raises_on_404_like_the_official_client(
    recorder: Recorder, session: Session
) -> None:
    recorder.reply(Reply(404))
    with pytest.raises(RequestError) as caught:
        session.delete("missing")
    assert caught.value.status == 404


@pytest.mark.parametrize("operation", ["get", "head", "delete"])
def test_empty_key_is_rejected(session: Session, operation: str) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        getattr(session, operation)("")


# --- client-wide request settings ------------------------------------------------------


def test_static_token_is_sent_as_x_os_auth_bearer(recorder: Recorder) -> None:
    with Client(recorder.url, token="abc.def.ghi") as client:
        client.session(Usecase("attachments")).put(b"x", key="k")
    assert recorder.last.header("x-os-auth") == "Bearer abc.def.ghi"


def test_base_url_path_prefix_is_kept(recorder: Recorder) -> None:
    with Client(recorder.url + "/api/prefix/") as client:
        client.session(Usecase("attachments"), org=1).delete("k")
    assert recorder.last.path == "/api/prefix/v1/objects/attachments/org=1/k"


def test_connection_kwargs_headers_merge_over_the_user_agent(recorder: Recorder) -> None:
    kwargs = {"headers": {"User-Agent": "custom/1", "X-Extra": "1"}}
    with Client(recorder.url, connection_kwargs=kwargs) as client:
        client.session(Usecase("attachments")).head("k")
    assert recorder.last.header("user-agent") == "custom/1"
    assert recorder.last.header("x-extra") == "1"


class RecordingMetrics:
    def __init__(self) -> None:
        self.samples: list[tuple[str, float, dict[str, str]]] = []

    def increment(self, name: str, value: float = 1, tags: Mapping[str, str] | None = None) -> None:
        pass

    def gauge(self, name: str, value: float, tags: Mapping[str, str] | None = None) -> None:
        pass

    def distribution(
        self,
        name: str,
        value: float,
        tags: Mapping[str, str] | None = None,
        unit: str | None = None,
    ) -> None:
        self.samples.append((name, value, dict(tags or {})))


def test_put_reports_latency_and_sizes_to_the_metrics_backend(recorder: Recorder) -> None:
    metrics = RecordingMetrics()
    payload = b"a" * 10_000
    with Client(recorder.url, metrics_backend=metrics) as client:
        client.session(Usecase("attachments")).put(payload, key="k")

    by_name = {(name, tags.get("compression")): value for name, value, tags in metrics.samples}
    assert ("storage.put.latency", None) in by_name
    assert by_name["storage.put.size", "none"] == len(payload)
    assert by_name["storage.put.size", "zstd"] == len(recorder.last.body)
    assert all(tags["usecase"] == "attachments" for _, _, tags in metrics.samples)
