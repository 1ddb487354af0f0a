"""Metadata headers, header-value escaping, timestamps, content-disposition (spec §2, §22.3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blobhouse.core.expiration import ExpirationPolicy, TimeToIdle, TimeToLive
from blobhouse.core.metadata import (
    DEFAULT_CONTENT_TYPE,
    Metadata,
    MetadataError,
    content_disposition,
    decode_header_value,
    encode_header_value,
    format_timestamp,
    metadata_from_request_headers,
    metadata_from_response_headers,
    metadata_request_headers,
    metadata_response_headers,
    parse_timestamp,
)
from tests.core.strategies import header_texts, media_types, policies, token_names, utc_datetimes

# A field value as HTTP carries it: visible ASCII and inner spaces, nothing at the edges.
FIELD_VALUE = re.compile(r"([\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?)?")


# --- header value escaping -------------------------------------------------------------


@given(header_texts)
def test_encoded_header_value_decodes_to_the_original(value: str) -> None:
    assert decode_header_value(encode_header_value(value)) == value


@given(header_texts)
def test_encoded_header_value_survives_http_field_rules(value: str) -> None:
    assert FIELD_VALUE.fullmatch(encode_header_value(value))


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("1.2.3.4 café", "1.2.3.4 caf%C3%A9"),
        ("résumé 100%.pdf", "r%C3%A9sum%C3%A9 100%25.pdf"),
        ("wert ü", "wert %C3%BC"),
        ("ä.txt", "%C3%A4.txt"),
        ("plain ascii", "plain ascii"),
        ("tab\there", "tab%09here"),
        (" padded ", "%20padded%20"),
        ("  ", "%20%20"),
        ("", ""),
    ],
)
def test_header_values_are_escaped_as_the_official_client_does(value: str, wire: str) -> None:
    assert encode_header_value(value) == wire


@pytest.mark.parametrize(("wire", "value"), [("100%", "100%"), ("%zz", "%zz"), ("50%41", "50A")])
def test_malformed_escapes_stay_literal(wire: str, value: str) -> None:
    assert decode_header_value(wire) == value


def test_escapes_that_are_not_utf8_are_errors() -> None:
    with pytest.raises(UnicodeDecodeError):
        decode_header_value("%FF.pdf")


# --- the full metadata round trip -------------------------------------------------------


@given(
    content_type=st.none() | media_types,
    compression=st.sampled_from([None, "zstd"]),
    policy=policies,
    origin=st.none() | header_texts,
    filename=st.none() | header_texts,
    custom=st.dictionaries(token_names, header_texts, max_size=4),
    created=utc_datetimes,
    size=st.integers(min_value=0, max_value=2**50),
)
def test_metadata_survives_client_to_server_to_client(
    content_type: str | None,
    compression: str | None,
    policy: ExpirationPolicy | None,
    origin: str | None,
    filename: str | None,
    custom: dict[str, str],
    created: datetime,
    size: int,
) -> None:
    sent = metadata_request_headers(
        content_type=content_type,
        compression=compression,
        expiration_policy=policy,
        origin=origin,
        filename=filename,
        custom=custom,
    )
    # An HTTP server hands header names over lowercased.
    stored = metadata_from_request_headers((name.lower(), value) for name, value in sent.items())
    expires = None if policy is None else created + policy.delta
    stored = stored.with_changes(time_created=created, time_expires=expires, size=size)

    received = metadata_from_response_headers(metadata_response_headers(stored))

    assert received == Metadata(
        content_type=content_type or DEFAULT_CONTENT_TYPE,
        compression=compression,
        expiration_policy=policy,
        time_created=created,
        time_expires=expires,
        origin=origin,
        filename=filename,
        size=size,
        custom={key.lower(): value for key, value in custom.items()},
    )


def test_response_headers_are_lowercase() -> None:
    meta = Metadata(
        content_type="text/plain",
        compression="zstd",
        expiration_policy=TimeToIdle(timedelta(hours=1)),
        time_created=datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        time_expires=datetime(2023, 11, 14, 23, 13, 20, tzinfo=UTC),
        origin="o",
        filename="f",
        size=3,
        custom={"mykey": "v"},
    )
    headers = metadata_response_headers(meta)
    assert all(name == name.lower() for name, _ in headers)
    assert dict(headers) == {
        "content-type": "text/plain",
        "content-encoding": "zstd",
        "x-sn-expiration": "tti:1h",
        "x-sn-time-created": "2023-11-14T22:13:20.000000Z",
        "x-sn-time-expires": "2023-11-14T23:13:20.000000Z",
        "x-sn-origin": "o",
        "x-sn-filename": "f",
        "content-disposition": 'attachment; filename="f"',
        "x-sn-size": "3",
        "x-snme-mykey": "v",
    }


def test_manual_objects_omit_expiration_headers() -> None:
    meta = Metadata(time_created=datetime(2024, 1, 1, tzinfo=UTC), time_expires=None)
    names = {name for name, _ in metadata_response_headers(meta)}
    assert "x-sn-expiration" not in names
    assert "x-sn-time-expires" not in names


def test_response_parsing_ignores_header_name_case_and_reads_full_humantime() -> None:
    meta = metadata_from_response_headers(
        [("Content-Type", "text/plain"), ("X-SN-Expiration", "ttl:2days"), ("X-SNME-Key", "v")]
    )
    assert meta.content_type == "text/plain"
    assert meta.expiration_policy == TimeToLive(timedelta(days=2))
    assert meta.custom == {"key": "v"}


def test_response_without_headers_means_defaults() -> None:
    assert metadata_from_response_headers([]) == Metadata()


def test_non_integer_size_is_an_error() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        metadata_from_response_headers([("x-sn-size", "lots")])


# --- what the server accepts --------------------------------------------------------------


def test_server_ignores_client_timestamps_and_size() -> None:
    meta = metadata_from_request_headers(
        [
            ("x-sn-time-created", "not even a timestamp"),
            ("x-sn-time-expires", "2020-01-01T00:00:00Z"),
            ("x-sn-size", "12"),
        ]
    )
    assert (meta.time_created, meta.time_expires, meta.size) == (None, None, None)


def test_repeated_request_headers_keep_the_last_value() -> None:
    meta = metadata_from_request_headers(
        [("x-snme-a", "1"), ("x-snme-a", "2"), ("x-sn-origin", "x")]
    )
    assert meta.custom == {"a": "2"}


def test_identity_encoding_means_uncompressed() -> None:
    assert metadata_from_request_headers([("content-encoding", "identity")]).compression is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("content-type", "not a media type", "invalid content-type"),
        ("content-encoding", "gzip", "only 'zstd'"),
        ("content-encoding", "br", "only 'zstd'"),
        ("x-sn-expiration", "garbage", "invalid expiration"),
        ("x-sn-expiration", "ttl:", "invalid expiration"),
        ("x-sn-origin", "café", "printable ASCII"),
        ("x-sn-filename", "%FF.pdf", "not valid UTF-8"),
        ("x-snme-", "v", "no name"),
    ],
)
def test_server_rejects_invalid_metadata_headers(name: str, value: str, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        metadata_from_request_headers([(name, value)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content_type": "text"}, "invalid content type"),
        ({"content_type": "text/plain\r\nx: y"}, "invalid content type"),
        ({"custom": {"bad key": "v"}}, "HTTP token"),
        ({"custom": {"": "v"}}, "HTTP token"),
    ],
)
def test_client_refuses_headers_the_server_would_reject(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        metadata_request_headers(**kwargs)  # type: ignore[arg-type]


# --- timestamps ------------------------------------------------------------------------


@given(utc_datetimes)
def test_timestamps_round_trip_to_the_microsecond(moment: datetime) -> None:
    assert parse_timestamp(format_timestamp(moment)) == moment


def test_timestamps_have_six_fraction_digits_and_z() -> None:
    moment = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert format_timestamp(moment) == "2023-11-14T22:13:20.000000Z"


def test_timestamps_are_written_in_utc() -> None:
    moment = datetime(2024, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2024-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-10-16T12:00:00.123456+00:00",
        "2026-10-16T12:00:00.123456Z",
        "2026-10-16T14:00:00.123456+02:00",
    ],
)
def test_timestamps_parse_with_z_or_offsets(text: str) -> None:
    assert parse_timestamp(text) == datetime(2026, 10, 16, 12, 0, 0, 123456, tzinfo=UTC)


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        parse_timestamp("2026-10-16T12:00:00")


# --- content-disposition ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        ('say "hi".txt', 'attachment; filename="say \\"hi\\".txt"'),
        ("path/to/file.txt", 'attachment; filename="path-to-file.txt"'),
        ("back\\slash.txt", 'attachment; filename="back-slash.txt"'),
        (".", 'attachment; filename="-"'),
        ("..", 'attachment; filename="--"'),
        ("a.", 'attachment; filename="a."'),
        ("", 'attachment; filename=""'),
        ("café.txt", "attachment; filename=\"caf_.txt\"; filename*=UTF-8''caf%C3%A9.txt"),
    ],
)
def test_content_disposition_is_derived_from_the_filename(filename: str, header: str) -> None:
    assert content_disposition(filename) == header


@pytest.mark.parametrize("filename", ["line\nbreak", "bell\x07", "del\x7f"])
def test_filenames_with_control_characters_get_no_disposition(filename: str) -> None:
    assert content_disposition(filename) is None


def test_raw_filename_header_is_kept_next_to_the_disposition() -> None:
    headers = dict(metadata_response_headers(Metadata(filename="path/to/file.txt")))
    assert headers["x-sn-filename"] == "path/to/file.txt"
    assert headers["content-disposition"] == 'attachment; filename="path-to-file.txt"'
