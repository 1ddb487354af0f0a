"""Usecases, scopes and keys: the naming rules shared by client and server."""

from __future__ import annotations

import pytest
from hypothesis import given

from blobhouse.core.ids import (
    EMPTY_SCOPES,
    IdError,
    ObjectId,
    Scopes,
    generate_key,
    validate_key,
    validate_usecase,
)
from tests.core.strategies import scope_mappings, scopes


@given(scope_mappings)
def test_scopes_built_by_a_client_parse_back_on_the_server(mapping: dict[str, object]) -> None:
    built = Scopes.of(mapping)

    parsed = Scopes.parse(str(built))

    assert parsed == built
    assert [name for name, _ in parsed] == list(mapping)
    assert [value for _, value in parsed] == [str(value) for value in mapping.values()]


@given(scopes)
def test_scope_text_round_trips_even_with_repeated_names(value: Scopes) -> None:
    assert Scopes.parse(str(value)) == value


def test_empty_scopes_are_written_as_underscore() -> None:
    assert str(Scopes.of()) == EMPTY_SCOPES == "_"
    assert Scopes.parse("_") == Scopes()


def test_scope_order_is_kept() -> None:
    assert str(Scopes.of(org=1, project=2)) == "org=1;project=2"
    assert str(Scopes.of(project=2, org=1)) == "project=2;org=1"
    assert Scopes.of(org=1, project=2) != Scopes.of(project=2, org=1)


def test_scope_values_are_stringified_like_the_official_client() -> None:
    assert str(Scopes.of(a=True, b=0, c=False)) == "a=True;b=0;c=False"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "org",
        "org=",
        "=1",
        "org=1;",
        ";org=1",
        "org=1;;p=2",
        "org=a.b",
        "org=a b",
        "org=é",
        "a=b=c",
    ],
)
def test_malformed_scope_text_is_rejected(text: str) -> None:
    with pytest.raises(IdError):
        Scopes.parse(text)


@pytest.mark.parametrize("value", [None, "", "a.b", "a/b", "a;b", "a=b", "ü"])
def test_invalid_scope_values_are_rejected(value: object) -> None:
    with pytest.raises(IdError, match="scope"):
        Scopes.of(org=value)


@pytest.mark.parametrize("name", ["abc", "A-b_9", "x" * 64])
def test_valid_usecases_are_accepted(name: str) -> None:
    assert validate_usecase(name) == name


@pytest.mark.parametrize("name", ["", "ab", "x" * 65, "a.b.c", "has space", "ümlaut", "a/bc"])
def test_invalid_usecases_are_rejected(name: str) -> None:
    with pytest.raises(IdError):
        validate_usecase(name)


def test_usecase_errors_are_value_errors() -> None:
    assert issubclass(IdError, ValueError)


def test_keys_up_to_the_byte_limit_are_accepted() -> None:
    assert validate_key("😀" * 256) == "😀" * 256  # 1024 bytes of UTF-8


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "must not be empty"),
        ("😀" * 256 + "x", "1025 bytes"),
        ("a\x00b", "NUL"),
        ("\ud800", "not valid UTF-8"),
    ],
)
def test_invalid_keys_are_rejected(key: str, message: str) -> None:
    with pytest.raises(IdError, match=message):
        validate_key(key)


def test_storage_path_separates_scopes_from_key() -> None:
    oid = ObjectId.create("attachments", Scopes.of(org=17, project=42), "abc123")
    assert oid.storage_path == "attachments/org.17/project.42/objects/abc123"
    assert ObjectId.create("attachments", Scopes(), "a/b").storage_path == "attachments/objects/a/b"


def test_generated_keys_are_lowercase_uuid4() -> None:
    key = generate_key()
    assert len(key) == 36
    assert key == key.lower()
    assert key[14] == "4"
