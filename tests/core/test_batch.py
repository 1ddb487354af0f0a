"""Batch key encoding and framing rules shared by client and server (spec §8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blobhouse.core.batch import (
    BatchKeyError,
    decode_batch_key,
    encode_batch_key,
    parse_status,
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
