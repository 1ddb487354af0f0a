"""Durations: full humantime grammar in, ``d h m s`` out (spec §5.1, §22.3.2)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given

from blobhouse.core.durations import MAX_DURATION, DurationError, format_duration, parse_duration
from tests.core.strategies import whole_second_durations

WIRE_FORM = re.compile(r"0s|(?=\d)(\d+d)?( ?\d+h)?( ?\d+m)?( ?\d+s)?")


@given(whole_second_durations)
def test_formatted_duration_parses_back_exactly(delta: timedelta) -> None:
    assert parse_duration(format_duration(delta)) == delta


@given(whole_second_durations)
def test_formatted_duration_uses_only_the_units_every_client_reads(delta: timedelta) -> None:
    assert WIRE_FORM.fullmatch(format_duration(delta))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("2h37min", timedelta(hours=2, minutes=37)),
        ("7d", timedelta(days=7)),
        ("1 days 7200 seconds", timedelta(days=1, hours=2)),
        ("1day", timedelta(days=1)),
        ("2days", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("2 weeks", timedelta(weeks=2)),
        ("1month", timedelta(seconds=2_630_016)),
        ("2months 29days 2h 52m 48s", timedelta(days=90)),
        ("1M", timedelta(seconds=2_630_016)),
        ("1y", timedelta(seconds=31_557_600)),
        ("1year", timedelta(days=365.25)),
        ("11months 30days 3h 50m 24s", timedelta(days=365)),
        ("1month 13h 26m 24s", timedelta(days=31)),
        ("400d 1m 30s", timedelta(days=400, seconds=90)),
        ("100ms", timedelta(milliseconds=100)),
        ("1500 msec", timedelta(seconds=1.5)),
        ("250us", timedelta(microseconds=250)),
        ("3 hrs 2 mins 1 sec", timedelta(hours=3, minutes=2, seconds=1)),
        ("0s", timedelta(0)),
    ],
)
def test_humantime_inputs_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_units_are_case_sensitive() -> None:
    assert parse_duration("1m") == timedelta(minutes=1)
    assert parse_duration("1M") == timedelta(seconds=2_630_016)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=1, hours=2, seconds=5), "1d 2h 5s"),
        (timedelta(days=400, minutes=1, seconds=30), "400d 1m 30s"),
        (timedelta(0), "0s"),
        (timedelta(milliseconds=999), "0s"),
        (timedelta(seconds=30), "30s"),
        (timedelta(seconds=5400), "1h 30m"),
        (timedelta(hours=1), "1h"),
        (timedelta(days=30), "30d"),
        (timedelta(days=1, microseconds=5), "1d"),
    ],
)
def test_durations_format_in_the_d_h_m_s_form(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


def test_long_durations_with_microseconds_are_truncated_not_rounded_up() -> None:
    assert format_duration(timedelta(days=36_500, microseconds=999_999)) == "36500d"
    assert format_duration(timedelta(days=1_000_000, microseconds=999_999)) == "1000000d"


@pytest.mark.parametrize("delta", [timedelta(seconds=-1), timedelta(microseconds=-1)])
def test_negative_durations_cannot_be_formatted(delta: timedelta) -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(delta)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "garbage",
        "30",
        "s",
        "-5s",
        "+5s",
        "1.5h",
        "5 parsecs",
        "1D",
        "1h,30m",
        "ttl:1d",
        "1h x",
    ],
)
def test_invalid_durations_are_rejected(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_durations_beyond_the_maximum_are_rejected() -> None:
    limit_days = MAX_DURATION.days
    assert parse_duration(f"{limit_days}d") == MAX_DURATION
    with pytest.raises(DurationError, match="longer than"):
        parse_duration(f"{limit_days}d 1s")
    with pytest.raises(DurationError, match="longer than"):
        parse_duration("9" * 40 + "y")
