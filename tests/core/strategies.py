"""Hypothesis strategies for the wire-format values of ``blobhouse.core``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from blobhouse.core.durations import MAX_DURATION
from blobhouse.core.expiration import ExpirationPolicy, TimeToIdle, TimeToLive
from blobhouse.core.ids import MAX_KEY_BYTES, Scopes

SCOPE_CHARS = "ABCXYZabcxyz0189_-()$!+'"

usecases = st.from_regex(r"[A-Za-z0-9_-]{3,64}", fullmatch=True)
scope_parts = st.text(alphabet=SCOPE_CHARS, min_size=1, max_size=12)
scope_values = st.one_of(scope_parts, st.integers(min_value=0), st.booleans())
scope_mappings = st.dictionaries(scope_parts, scope_values, max_size=5)
scopes = st.lists(st.tuples(scope_parts, scope_parts), max_size=5).map(
    lambda pairs: Scopes(tuple(pairs))
)

# Characters that are special somewhere between a key and the server's parsed route.
AWKWARD = "/%;= ?#&+@:!$'()*,~.\\\t\"<>[]{}|^`é😀\u200b"


def _fit_key(text: str) -> str:
    """Trim characters off the end until the key fits the byte limit."""
    while len(text.encode("utf-8")) > MAX_KEY_BYTES:
        text = text[:-1]
    return text


keys = (
    st.text(
        alphabet=st.one_of(
            st.sampled_from(AWKWARD),
            st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
        ),
        min_size=1,
        max_size=MAX_KEY_BYTES,
    )
    .map(_fit_key)
    .filter(bool)
)

whole_second_durations = st.integers(min_value=0, max_value=int(MAX_DURATION.total_seconds())).map(
    lambda seconds: timedelta(seconds=seconds)
)

policies: st.SearchStrategy[ExpirationPolicy | None] = st.one_of(
    st.none(),
    whole_second_durations.map(TimeToLive),
    whole_second_durations.map(TimeToIdle),
)

header_texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=80)

utc_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
)

media_types = st.sampled_from(
    [
        "application/octet-stream",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/json",
        'multipart/form-data; boundary="a b"',
        "image/svg+xml",
        "application/vnd.api+json;version=2",
    ]
)

token_names = st.text(alphabet="abcXYZ019!#$%&'*+.^_`|~-", min_size=1, max_size=16)
