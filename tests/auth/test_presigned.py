"""Pre-signed URLs against a real server: signed GET/HEAD (spec §7, §17.3, §17.8), our
signed PUT extension, and decompression of downloads through URLs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import objectstore_client
import pytest
import zstandard

import blobhouse
from tests.auth.conftest import AuthServer
from tests.auth.support import (
    USECASE,
    bearer,
    flip_middle,
    object_path,
    raw_get,
    raw_signed_url,
    raw_status,
    request,
    signed_url,
    token,
)

pytestmark = pytest.mark.server

AWKWARD_KEYS = [
    "plain-key",
    "with space",
    "café-unicode",
    "emoji-😀",
    "plus+sign",
    "sub!$'()*+,=delims",
    "tilde~dot.key",
    "100%literal-percent",
    "looks%20encoded",
    "nested/path/segments",
    "quote'apostrophe",
    "at@sign",
    "colon:separated",
    "ampersand&inside",
    "semi;colon",
    "equals=sign",
]


def new_key() -> str:
    return f"obj-{uuid.uuid4().hex}"


@pytest.fixture
def ours(auth_server: AuthServer) -> Iterator[blobhouse.Session]:
    secret = blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    with blobhouse.Client(auth_server.url, token=secret, timeout_ms=10_000) as client:
        yield client.session(blobhouse.Usecase(USECASE), org=17, project="awk!ward")


@pytest.fixture
def official(auth_server: AuthServer) -> objectstore_client.Session:
    secret = objectstore_client.SecretKey("test_kid", auth_server.keys.test_v2.private_pem)
    client = objectstore_client.Client(auth_server.url, token=secret, timeout_ms=10_000)
    return client.session(objectstore_client.Usecase(USECASE), org=17, project="awk!ward")


def seed(auth_server: AuthServer, key: str, body: bytes, content_type: str = "text/plain") -> str:
    """Store ``body`` uncompressed at ``testing/_/<key>`` by hand; return its path."""
    path = object_path(key)
    headers = {**bearer(token(auth_server.keys.test_v1.private_key)), "content-type": content_type}
    assert request("PUT", auth_server.url + path, headers=headers, body=body).status == 200
    return path


def read_back(auth_server: AuthServer, path: str) -> bytes | None:
    answer = request("GET", auth_server.url + path, headers=admin(auth_server))
    return answer.body if answer.status == 200 else None


def admin(auth_server: AuthServer) -> dict[str, str]:
    return bearer(token(auth_server.keys.test_v1.private_key))


# --- signed GET and HEAD (spec §7.3, §17.3) ------------------------------------------------


def test_signed_get_returns_the_body(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"signed body")
    answer = request("GET", signed_url(auth_server.url, auth_server.keys.test_v1.private_key, path))
    assert (answer.status, answer.body) == (200, b"signed body")
    assert answer.header("content-type") == "text/plain"


def test_signed_head_is_204(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"head me")
    url = signed_url(auth_server.url, auth_server.keys.test_v1.private_key, path, method="HEAD")
    answer = request("HEAD", url)
    assert answer.status == 204
    assert answer.body == b""


def test_get_signature_also_serves_head(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"either")
    url = signed_url(auth_server.url, auth_server.keys.test_v1.private_key, path)
    assert request("HEAD", url).status == 204


def test_signed_url_ignores_auth_headers(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"no header needed")
    url = signed_url(auth_server.url, auth_server.keys.test_v1.private_key, path)
    answer = request("GET", url, headers={"x-os-auth": "Bearer garbage"})
    assert (answer.status, answer.body) == (200, b"no header needed")


def test_signed_delete_is_403(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"survivor")
    key = auth_server.keys.test_v1.private_key
    signed_for_delete = signed_url(auth_server.url, key, path, method="DELETE")
    assert request("DELETE", signed_for_delete).status == 403
    signed_for_get = signed_url(auth_server.url, key, path)
    assert request("DELETE", signed_for_get).status == 403
    assert read_back(auth_server, path) == b"survivor"


def test_signed_post_and_patch_are_403(auth_server: AuthServer) -> None:
    key = auth_server.keys.test_v1.private_key
    collection = object_path("")
    assert (
        request("POST", signed_url(auth_server.url, key, collection, method="POST")).status == 403
    )
    path = seed(auth_server, new_key(), b"x")
    patch = signed_url(auth_server.url, key, path, method="PATCH")
    assert request("PATCH", patch, headers={"content-type": "application/json"}).status == 403


def test_tampered_signature_is_401(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"x")
    url = signed_url(auth_server.url, auth_server.keys.test_v1.private_key, path)
    head, _, signature = url.rpartition("os_sig=")
    assert request("GET", f"{head}os_sig={flip_middle(signature)}").status == 401


def test_signature_for_another_path_is_401(auth_server: AuthServer) -> None:
    target = seed(auth_server, new_key(), b"target")
    other = object_path(new_key())
    url = signed_url(auth_server.url, auth_server.keys.test_v1.private_key, other)
    assert request("GET", url.replace(other, target)).status == 401


def test_stretched_duration_is_401(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"x")
    url = signed_url(auth_server.url, auth_server.keys.test_v1.private_key, path)
    assert request("GET", url.replace("os_duration=3600", "os_duration=7200")).status == 401


def test_unknown_kid_is_401(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"x")
    url = signed_url(auth_server.url, auth_server.keys.stranger.private_key, path, kid="nope")
    assert request("GET", url).status == 401


def test_signature_by_an_unregistered_key_is_401(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"x")
    url = signed_url(auth_server.url, auth_server.keys.stranger.private_key, path)
    assert request("GET", url).status == 401


def test_expired_signature_is_401(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"x")
    url = signed_url(
        auth_server.url,
        auth_server.keys.test_v1.private_key,
        path,
        signed_at=datetime.now(UTC) - timedelta(hours=2),
        duration=timedelta(hours=1),
    )
    assert request("GET", url).status == 401


def test_timestamp_slightly_in_the_future_is_accepted(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"skew")
    url = signed_url(
        auth_server.url,
        auth_server.keys.test_v1.private_key,
        path,
        signed_at=datetime.now(UTC) + timedelta(seconds=30),
    )
    answer = request("GET", url)
    assert (answer.status, answer.body) == (200, b"skew")


def test_timestamp_far_in_the_future_is_401(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"x")
    url = signed_url(
        auth_server.url,
        auth_server.keys.test_v1.private_key,
        path,
        signed_at=datetime.now(UTC) + timedelta(minutes=5),
    )
    assert request("GET", url).status == 401


def test_validity_over_seven_days_is_400(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"x")
    url = signed_url(
        auth_server.url, auth_server.keys.test_v1.private_key, path, duration=timedelta(days=8)
    )
    assert request("GET", url).status == 400


def test_readonly_key_signature_works_for_get(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"read only signer")
    url = signed_url(
        auth_server.url, auth_server.keys.readonly.private_key, path, kid="readonly_kid"
    )
    answer = request("GET", url)
    assert (answer.status, answer.body) == (200, b"read only signer")


def test_signature_by_second_key_version_verifies(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"v2")
    url = signed_url(auth_server.url, auth_server.keys.test_v2.private_key, path)
    assert request("GET", url).status == 200


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("os_kid=test_kid&os_duration=60", 400),  # no timestamp
        ("os_kid=test_kid&os_timestamp=yesterday&os_duration=60", 400),
        ("os_kid=test_kid&os_timestamp=2024-01-01T00:00:00%2B01:00&os_duration=60", 400),
        ("os_kid=test_kid&os_timestamp={now}&os_duration=-5", 400),
        ("os_kid=test_kid&os_timestamp={now}&os_duration=1.5", 400),
        # Unicode digits pass str.isdigit() but are not whole seconds (were a 500).
        ("os_kid=test_kid&os_timestamp={now}&os_duration=%C2%B2", 400),
        ("os_kid=test_kid&os_timestamp={now}&os_duration=%D9%A1%D9%A2", 400),
        # Far beyond any timedelta (was an OverflowError: 500).
        ("os_kid=test_kid&os_timestamp={now}&os_duration=99999999999999999999", 400),
        ("os_kid=test_kid&os_timestamp={now}&os_duration=" + "9" * 5000, 400),
        # Timestamps at the ends of the calendar (were an OverflowError: 500).
        ("os_kid=test_kid&os_timestamp=0001-01-01T00:00:00Z&os_duration=60", 401),
        ("os_kid=test_kid&os_timestamp=9999-12-31T23:59:59Z&os_duration=604800", 401),
    ],
)
def test_malformed_signed_parameters(auth_server: AuthServer, query: str, status: int) -> None:
    path = seed(auth_server, new_key(), b"x")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = raw_signed_url(
        auth_server.url, auth_server.keys.test_v1.private_key, path, query.format(now=now)
    )
    assert request("GET", url).status == status


def test_padded_signature_is_400(auth_server: AuthServer) -> None:
    path = seed(auth_server, new_key(), b"x")
    url = signed_url(auth_server.url, auth_server.keys.test_v1.private_key, path)
    assert request("GET", url + "%3D%3D").status == 400
    assert request("GET", url + "==").status == 400


# --- awkward keys through URLs built by both clients (spec §17.8) ---------------------------


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_awkward_key_round_trips_through_our_presigned_get(
    ours: blobhouse.Session, key: str
) -> None:
    body = f"content of {key}".encode()
    assert ours.put(body, key=key) == key
    url = ours.presigned_object_url("GET", key)
    answer = request("GET", url)
    assert (answer.status, answer.body) == (200, body)
    head = request("HEAD", ours.presigned_object_url("HEAD", key))
    assert head.status == 204


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_awkward_key_round_trips_through_the_official_presigned_get(
    official: objectstore_client.Session, key: str
) -> None:
    body = f"official {key}".encode()
    assert official.put(body, key=key) == key
    answer = request("GET", official.presigned_object_url("GET", key))
    assert (answer.status, answer.body) == (200, body)


def test_both_clients_build_the_same_url(
    ours: blobhouse.Session, official: objectstore_client.Session
) -> None:
    # Equal in the same second (both clients stamp whole seconds); retry across a tick.
    for _ in range(5):
        for key in AWKWARD_KEYS:
            mine = ours.presigned_object_url("GET", key, timedelta(minutes=90, seconds=0.5))
            theirs = official.presigned_object_url("GET", key, timedelta(minutes=90, seconds=0.5))
            if mine.rpartition("&os_sig=")[0] != theirs.rpartition("&os_sig=")[0]:
                break
        else:
            return
    pytest.fail("our presigned URLs differ from the official client's")


def test_signature_over_a_raw_utf8_path_verifies(auth_server: AuthServer) -> None:
    # curl sends a literal "café" as raw UTF-8 bytes; the signer signed that very path.
    seed(auth_server, "café-raw", b"raw bytes")
    literal = "/v1/objects/testing/_/café-raw"
    url = signed_url(auth_server.url, auth_server.keys.test_v1.private_key, literal)
    target = url[len(auth_server.url) :].encode("utf-8")
    assert raw_status(auth_server.url, target) == 200


def test_literal_percent_key_is_stored_literally(ours: blobhouse.Session) -> None:
    ours.put(b"literal", key="looks%20encoded")
    assert "looks%2520encoded" in ours.presigned_object_url("GET", "looks%20encoded")
    response = ours.get("looks%20encoded")
    assert response is not None
    assert response.payload.read() == b"literal"
    assert ours.get("looks encoded") is None


def test_our_presigned_url_with_a_base_path_prefix_signs_the_prefix(
    auth_server: AuthServer,
) -> None:
    # The server does not serve a prefix, so the URL is re-pointed at the same path; the
    # signature must then fail, proving the prefix was part of what was signed.
    secret = blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    prefixed = blobhouse.Client(f"{auth_server.url}/pre fix", token=secret)
    session = prefixed.session(blobhouse.Usecase(USECASE))
    url = session.presigned_object_url("GET", "k")
    assert "/pre%20fix/v1/objects/testing/_/k?" in url
    assert request("GET", url.replace("/pre%20fix", "")).status == 401


def test_our_client_refuses_what_the_server_would(auth_server: AuthServer) -> None:
    secret = blobhouse.SecretKey("test_kid", auth_server.keys.test_v1.private_pem)
    session = blobhouse.Client(auth_server.url, token=secret).session(blobhouse.Usecase(USECASE))
    with pytest.raises(ValueError, match="presigned_put_url"):
        session.presigned_object_url("PUT", "k")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported"):
        session.presigned_object_url("DELETE", "k")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exceeds the maximum"):
        session.presigned_object_url("GET", "k", timedelta(days=7, seconds=1))
    url = session.presigned_object_url("GET", "k", timedelta(days=7))
    assert dict(parse_qsl(urlsplit(url).query))["os_duration"] == "604800"
    static = blobhouse.Client(auth_server.url, token="a.b.c").session(blobhouse.Usecase(USECASE))
    with pytest.raises(ValueError, match="no secret key"):
        static.presigned_object_url("GET", "k")
    with pytest.raises(ValueError, match="no secret key"):
        static.presigned_put_url("k")
    nothing = blobhouse.Client(auth_server.url).session(blobhouse.Usecase(USECASE))
    with pytest.raises(ValueError, match="no secret key"):
        nothing.presigned_object_url("GET", "k")


def test_our_url_has_the_spec_shape(ours: blobhouse.Session) -> None:
    url = ours.presigned_object_url("HEAD", "a b", timedelta(seconds=90.2))
    parts = urlsplit(url)
    assert parts.path.endswith("/v1/objects/testing/org=17;project=awk!ward/a%20b")
    names = [name for name, _ in parse_qsl(parts.query)]
    assert names == ["os_kid", "os_timestamp", "os_duration", "os_sig"]
    params = dict(parse_qsl(parts.query))
    assert params["os_kid"] == "test_kid"
    assert params["os_duration"] == "91"
    datetime.strptime(params["os_timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert "=" not in params["os_sig"]
    assert len(params["os_sig"]) == 86  # 64 bytes, base64url without padding


# --- signed PUT URLs (extension) ------------------------------------------------------------


def test_signed_put_uploads_with_plain_urllib(
    auth_server: AuthServer, ours: blobhouse.Session
) -> None:
    key = new_key()
    url = ours.presigned_put_url(key)
    answer = request("PUT", url, body=b"uploaded", headers={"content-type": "text/csv"})
    assert answer.status == 200
    assert answer.json() == {"key": key}
    response = ours.get(key)
    assert response is not None
    assert response.payload.read() == b"uploaded"
    assert response.metadata.content_type == "text/csv"


def test_signed_put_url_can_be_reused_until_it_expires(ours: blobhouse.Session) -> None:
    key = new_key()
    url = ours.presigned_put_url(key)
    for body in (b"first", b"second"):
        assert request("PUT", url, body=body, headers={"content-type": "text/plain"}).status == 200
    response = ours.get(key)
    assert response is not None
    assert response.payload.read() == b"second"


def test_signed_put_over_max_size_is_413(ours: blobhouse.Session) -> None:
    key = new_key()
    url = ours.presigned_put_url(key, max_size=10)
    headers = {"content-type": "text/plain"}
    assert request("PUT", url, body=b"x" * 10, headers=headers).status == 200
    assert request("PUT", url, body=b"x" * 11, headers=headers).status == 413
    response = ours.get(key)
    assert response is not None
    assert response.payload.read() == b"x" * 10


def test_signed_put_over_max_size_is_413_when_streamed(ours: blobhouse.Session) -> None:
    url = ours.presigned_put_url(new_key(), max_size=10)
    chunks = iter([b"x" * 8, b"y" * 8])  # no Content-Length: chunked
    answer = request("PUT", url, body=chunks, headers={"content-type": "text/plain"})
    assert answer.status == 413


def test_signed_put_with_the_wrong_content_type_is_403(ours: blobhouse.Session) -> None:
    key = new_key()
    url = ours.presigned_put_url(key, content_type="application/vnd.api+json")
    assert "os_content_type=application%2Fvnd.api%2Bjson" in url
    for wrong in ("text/plain", "application/json", "application/vnd.api"):
        answer = request("PUT", url, body=b"{}", headers={"content-type": wrong})
        assert answer.status == 403, wrong
    assert ours.head(key) is None
    good = request("PUT", url, body=b"{}", headers={"content-type": "application/vnd.api+json"})
    assert good.status == 200
    metadata = ours.head(key)
    assert metadata is not None
    assert metadata.content_type == "application/vnd.api+json"


def test_signed_put_without_content_type_when_one_is_required_is_403(
    ours: blobhouse.Session,
) -> None:
    url = ours.presigned_put_url(new_key(), content_type="image/png")
    # http.client would add a form content type for urllib; send octet-stream explicitly.
    answer = request(
        "PUT", url, body=b"\x89PNG", headers={"content-type": "application/octet-stream"}
    )
    assert answer.status == 403


def test_signed_put_with_the_readonly_key_is_403(auth_server: AuthServer) -> None:
    secret = blobhouse.SecretKey("readonly_kid", auth_server.keys.readonly.private_pem)
    session = blobhouse.Client(auth_server.url, token=secret).session(blobhouse.Usecase(USECASE))
    url = session.presigned_put_url(new_key())
    assert request("PUT", url, body=b"x", headers={"content-type": "text/plain"}).status == 403


def test_tampered_max_size_is_401(ours: blobhouse.Session) -> None:
    url = ours.presigned_put_url(new_key(), max_size=10)
    stretched = url.replace("os_max_size=10", "os_max_size=1000")
    answer = request("PUT", stretched, body=b"x" * 100, headers={"content-type": "text/plain"})
    assert answer.status == 401
    dropped = url.replace("&os_max_size=10", "")
    answer = request("PUT", dropped, body=b"x" * 100, headers={"content-type": "text/plain"})
    assert answer.status == 401


def test_renaming_limits_to_upper_case_does_not_lift_them(ours: blobhouse.Session) -> None:
    # The canonical form lowercases parameter names, so OS_MAX_SIZE carries the same
    # signature as os_max_size; the server must read it as the same limit.
    key = new_key()
    url = ours.presigned_put_url(key, max_size=4, content_type="text/plain")
    renamed = url.replace("os_max_size=", "OS_MAX_SIZE=").replace(
        "os_content_type=", "OS_CONTENT_TYPE="
    )
    too_big = request("PUT", renamed, body=b"x" * 100, headers={"content-type": "text/plain"})
    assert too_big.status == 413
    wrong_type = request("PUT", renamed, body=b"x", headers={"content-type": "text/html"})
    assert wrong_type.status == 403
    assert ours.head(key) is None


def test_signed_put_url_does_not_allow_get_or_delete(ours: blobhouse.Session) -> None:
    key = new_key()
    ours.put(b"existing", key=key)
    url = ours.presigned_put_url(key)
    assert request("GET", url).status == 401  # signed for PUT, not GET
    assert request("DELETE", url).status == 403
    response = ours.get(key)
    assert response is not None
    assert response.payload.read() == b"existing"


def test_get_signature_does_not_allow_put(auth_server: AuthServer, ours: blobhouse.Session) -> None:
    key = new_key()
    ours.put(b"keep", key=key)
    url = ours.presigned_object_url("GET", key)
    assert request("PUT", url, body=b"x", headers={"content-type": "text/plain"}).status == 401


def test_presigned_put_url_arguments_are_checked(ours: blobhouse.Session) -> None:
    with pytest.raises(ValueError, match="max_size"):
        ours.presigned_put_url("k", max_size=-1)
    with pytest.raises(ValueError, match="max_size"):
        ours.presigned_put_url("k", max_size=True)
    with pytest.raises(ValueError, match="content type"):
        ours.presigned_put_url("k", content_type="not a type")
    with pytest.raises(ValueError, match="exceeds the maximum"):
        ours.presigned_put_url("k", timedelta(days=8))


def test_presigned_put_url_needs_write_on_the_secret_key(auth_server: AuthServer) -> None:
    secret = blobhouse.SecretKey(
        "test_kid",
        auth_server.keys.test_v1.private_pem,
        permissions=[blobhouse.Permission.OBJECT_READ],
    )
    session = blobhouse.Client(auth_server.url, token=secret).session(blobhouse.Usecase(USECASE))
    with pytest.raises(ValueError, match=r"object\.write"):
        session.presigned_put_url("k")


def test_signed_put_of_zstd_body_is_decoded_on_read(ours: blobhouse.Session) -> None:
    key = new_key()
    frame = zstandard.ZstdCompressor().compress(b"compressed upload")
    url = ours.presigned_put_url(key, content_type="text/plain")
    headers = {"content-type": "text/plain", "content-encoding": "zstd"}
    assert request("PUT", url, body=frame, headers=headers).status == 200
    response = ours.get(key)
    assert response is not None
    assert response.payload.read() == b"compressed upload"


# --- downloads through URLs decompress ----------------------------------------------------


def test_presigned_download_is_decompressed_without_accept_encoding(
    ours: blobhouse.Session,
) -> None:
    key = new_key()
    plain = b"zstd on disk, plain on the wire " * 50
    ours.put(plain, key=key)  # the usecase default: zstd
    url = ours.presigned_object_url("GET", key)
    answer = raw_get(url)
    assert answer.status == 200
    assert answer.body == plain
    assert answer.header("content-encoding") is None


def test_presigned_download_with_identity_is_decompressed(ours: blobhouse.Session) -> None:
    key = new_key()
    ours.put(b"identity please", key=key)
    answer = raw_get(ours.presigned_object_url("GET", key), {"accept-encoding": "identity"})
    assert (answer.status, answer.body) == (200, b"identity please")
    assert answer.header("content-encoding") is None


def test_presigned_download_accepting_zstd_gets_the_stored_bytes(
    ours: blobhouse.Session,
) -> None:
    key = new_key()
    plain = b"stay compressed " * 50
    ours.put(plain, key=key)
    answer = raw_get(ours.presigned_object_url("GET", key), {"accept-encoding": "zstd"})
    assert answer.status == 200
    assert answer.header("content-encoding") == "zstd"
    assert answer.body != plain
    assert zstandard.ZstdDecompressor().decompressobj().decompress(answer.body) == plain


def test_os_auth_download_is_decompressed(ours: blobhouse.Session) -> None:
    key = new_key()
    ours.put(b"query token download", key=key)
    answer = raw_get(ours.object_url(key, token_validity=timedelta(minutes=1)))
    assert (answer.status, answer.body) == (200, b"query token download")
    assert answer.header("content-encoding") is None


def test_header_authenticated_download_keeps_the_stored_bytes(
    auth_server: AuthServer, ours: blobhouse.Session
) -> None:
    key = new_key()
    plain = b"api clients get what was stored " * 20
    ours.put(plain, key=key)
    headers = {**bearer(ours.mint_token()), "accept-encoding": "identity"}
    answer = raw_get(ours.object_url(key), headers)
    assert answer.status == 200
    assert answer.header("content-encoding") == "zstd"
    assert zstandard.ZstdDecompressor().decompressobj().decompress(answer.body) == plain
