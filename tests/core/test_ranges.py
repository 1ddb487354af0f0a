"""Byte ranges: parsing, resolution against the stored size (spec §10, §17.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blobhouse.core.ranges import ByteRange, RangeError, RangeNotSatisfiable, RangeSpec, parse_range

TOTAL = len(b"Hello, Range Requests!")  # 22, the spec's example object


@pytest.mark.parametrize(
    ("header", "content_range", "length"),
    [
        ("bytes=0-4", "bytes 0-4/22", 5),
        ("bytes=-9", "bytes 13-21/22", 9),
        ("bytes=7-", "bytes 7-21/22", 15),
        ("bytes=3-1000", "bytes 3-21/22", 19),
        ("bytes=-100", "bytes 0-21/22", 22),
        ("Bytes=0-4", "bytes 0-4/22", 5),
        ("BYTES=21-21", "bytes 21-21/22", 1),
    ],
)
def test_satisfiable_ranges_resolve_like_the_spec(
    header: str, content_range: str, length: int
) -> None:
    spec = parse_range(header)
    assert spec is not None
    resolved = spec.resolve(TOTAL)
    assert resolved.content_range() == content_range
    assert resolved.length == length


def test_spec_example_slices_the_right_bytes() -> None:
    data = b"Hello, Range Requests!"
    for header, expected in [("bytes=0-4", b"Hello"), ("bytes=-9", b"Requests!")]:
        spec = parse_range(header)
        assert spec is not None
        resolved = spec.resolve(len(data))
        assert data[resolved.start : resolved.end + 1] == expected


@pytest.mark.parametrize("header", ["bytes=100-200", "bytes=22-", "bytes=22-30"])
def test_ranges_past_the_end_are_not_satisfiable(header: str) -> None:
    spec = parse_range(header)
    assert spec is not None
    with pytest.raises(RangeNotSatisfiable) as caught:
        spec.resolve(TOTAL)
    assert caught.value.total == TOTAL


def test_no_range_of_an_empty_object_is_satisfiable() -> None:
    for header in ["bytes=0-", "bytes=-1", "bytes=0-0"]:
        spec = parse_range(header)
        assert spec is not None
        with pytest.raises(RangeNotSatisfiable):
            spec.resolve(0)


def test_multiple_ranges_mean_the_whole_object() -> None:
    assert parse_range("bytes=0-4, 10-14") is None


@pytest.mark.parametrize(
    "header",
    [
        "items=0-10",
        "bytes=abc-def",
        "bytes=-0",
        "bytes=5-2",
        "bytes=5",
        "bytes",
        "bytes=-",
        "bytes=٣-4",
    ],
)
def test_malformed_ranges_are_rejected(header: str) -> None:
    with pytest.raises(RangeError):
        parse_range(header)


@given(
    st.one_of(
        st.builds(
            lambda first, extra: RangeSpec(
                first=first, last=None if extra is None else first + extra
            ),
            st.integers(min_value=0, max_value=2**40),
            st.none() | st.integers(min_value=0, max_value=2**40),
        ),
        st.builds(lambda n: RangeSpec(suffix=n), st.integers(min_value=1, max_value=2**40)),
    )
)
def test_range_header_a_client_sends_parses_back(spec: RangeSpec) -> None:
    assert parse_range(spec.header_value()) == spec


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"first": -1},
        {"first": 5, "last": 4},
        {"suffix": 0},
        {"suffix": 3, "first": 1},
        {"last": 3},
    ],
)
def test_impossible_range_specs_cannot_be_built(kwargs: dict[str, int]) -> None:
    with pytest.raises(RangeError):
        RangeSpec(**kwargs)


def test_byte_range_reports_its_length() -> None:
    assert ByteRange(0, 0, 1).length == 1
