"""Batch key encoding and framing rules shared by client and server (spec §8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blobhouse.core.batch import (
    BatchKeyError,
    FramingError,
    PartSplitter,
    boundary_of,
    closing_delimiter,
    decode_batch_key,
    encode_batch_key,
    new_boundary,
    parse_status,
    part_head,
    status_line,
)


@given(st.text(min_size=1))
def test_any_key_round_trips_through_the_batch_encoding(key: str) -> None:
    encoded = encode_batch_key(key)
    assert encoded.isascii() and encoded.replace("%", "").isalnum()
    assert decode_batch_key(encoded) == key


def test_everything_but_letters_and_digits_is_escaped_in_uppercase_hex() -> None:
    assert encode_batch_key("a-b/c é") == "a%2Db%2Fc%20%C3%A9"


@pytest.mark.parametrize("text", ["%", "%4", "%zz", "%FF", "ü"])
def test_invalid_escapes_and_non_utf8_are_rejected(text: str) -> None:
    with pytest.raises(BatchKeyError):
        decode_batch_key(text)


def test_status_lines_round_trip() -> None:
    assert status_line(413) == "413 Payload Too Large"
    assert parse_status(status_line(204)) == 204
    with pytest.raises(ValueError, match="invalid batch operation status"):
        parse_status("OK")


def frame(parts: list[tuple[list[tuple[str, str]], bytes]], boundary: str) -> bytes:
    out = b""
    for number, (headers, body) in enumerate(parts):
        out += part_head(boundary, headers, first=number == 0) + body
    return out + closing_delimiter(boundary, any_parts=bool(parts))


PARTS = st.lists(
    st.tuples(
        st.lists(
            st.tuples(
                st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
                st.from_regex(r"[!-~]([ -~]{0,20}[!-~])?", fullmatch=True),
            ),
            max_size=4,
        ),
        st.binary(max_size=300),
    ),
    max_size=5,
)


@given(PARTS, st.integers(min_value=1, max_value=64))
def test_splitter_recovers_every_part_whatever_the_chunking(
    parts: list[tuple[list[tuple[str, str]], bytes]], step: int
) -> None:
    boundary = new_boundary()
    data = frame(parts, boundary)
    splitter = PartSplitter(boundary_of(f'multipart/form-data; boundary="{boundary}"'))
    found = []
    for start in range(0, len(data), step):
        found += splitter.feed(data[start : start + step])
    assert splitter.finished
    assert found == parts


def test_splitter_rejects_garbage_after_a_boundary() -> None:
    splitter = PartSplitter("b")
    with pytest.raises(FramingError, match="after a boundary"):
        splitter.feed(b"--bXX")


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "multipart/form-data", "multipart/mixed; boundary=x"]
)
def test_boundary_of_needs_multipart_form_data_with_a_boundary(content_type: str | None) -> None:
    with pytest.raises(FramingError):
        boundary_of(content_type)
