"""Object paths: what the client sends must parse back to the same object on the server."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from blobhouse.core.ids import Scopes
from blobhouse.core.urls import RESOURCES, RouteError, encode_path, object_path, parse_object_route
from tests.core.strategies import keys, scopes, usecases


@given(usecases, scopes, keys)
@example("attachments", Scopes.of(org=1), "looks%20encoded")
@example("attachments", Scopes.of(org=1), "/leading/and/trailing/")
@example("attachments", Scopes(), "😀" * 256)
@example("attachments", Scopes(), "semi;colon=equals sign?query#fragment")
def test_client_path_parses_back_to_the_same_object(
    usecase: str, scope_value: Scopes, key: str
) -> None:
    path = object_path(usecase, scope_value, key)

    route = parse_object_route(path.encode("ascii"))

    assert route is not None
    assert (route.resource, route.usecase, route.scopes, route.key) == (
        "objects",
        usecase,
        scope_value,
        key,
    )


@given(usecases, scopes)
def test_collection_path_parses_to_no_key(usecase: str, scope_value: Scopes) -> None:
    path = object_path(usecase, scope_value, None)

    assert path.endswith("/")
    route = parse_object_route(path.encode("ascii"))
    assert route is not None
    assert (route.usecase, route.scopes, route.key) == (usecase, scope_value, None)


@pytest.mark.parametrize("resource", RESOURCES)
def test_every_resource_round_trips(resource: str) -> None:
    path = object_path("attachments", Scopes.of(org=1), "a/b c", resource=resource)
    route = parse_object_route(path.encode("ascii"))
    assert route is not None
    assert (route.resource, route.key) == (resource, "a/b c")


@pytest.mark.parametrize(
    ("key", "wire"),
    [
        ("some key", "some%20key"),
        ("100%literal", "100%25literal"),
        ("café", "caf%C3%A9"),
        ("semi;colon", "semi;colon"),
        ("equals=sign", "equals=sign"),
        ("at@sign", "at@sign"),
        ("colon:x", "colon:x"),
        ("nested/path", "nested/path"),
        ("looks%20encoded", "looks%2520encoded"),
        ("emoji-😀", "emoji-%F0%9F%98%80"),
    ],
)
def test_keys_are_percent_encoded_like_the_official_client(key: str, wire: str) -> None:
    assert object_path("attachments", Scopes(), key) == f"/v1/objects/attachments/_/{wire}"


def test_scopes_are_not_escaped() -> None:
    scope_value = Scopes.of(org=42, project=7, odd="$!+'()")
    assert object_path("attachments", scope_value, "k") == (
        "/v1/objects/attachments/org=42;project=7;odd=$!+'()/k"
    )


def test_encode_path_keeps_the_safe_set_literal() -> None:
    assert encode_path("/a:b@c!$&'()*+,;=d") == "/a:b@c!$&'()*+,;=d"
    assert encode_path("/?#[] %") == "/%3F%23%5B%5D%20%25"


@pytest.mark.parametrize(
    "path",
    [b"/health", b"/v1/", b"/v1/objects/attachments", b"/v2/objects/a/_/k", b"/v1/unknown/abc/_/k"],
)
def test_non_object_paths_are_not_routes(path: bytes) -> None:
    assert parse_object_route(path) is None


@pytest.mark.parametrize(
    "path",
    [
        b"/v1/objects/ab/_/k",
        b"/v1/objects/attachments/org/k",
        b"/v1/objects/attachments/org=a.b/k",
        b"/v1/objects/attachments/_/%FF",
        b"/v1/objects/attachments/_/a%00b",
        b"/v1/objects/attachments//k",
    ],
)
def test_invalid_object_routes_are_rejected(path: bytes) -> None:
    with pytest.raises(RouteError):
        parse_object_route(path)


def test_oversized_key_is_rejected_by_the_server_parser() -> None:
    path = object_path("attachments", Scopes(), "😀" * 256 + "x")
    with pytest.raises(RouteError, match="1025 bytes"):
        parse_object_route(path.encode("ascii"))
