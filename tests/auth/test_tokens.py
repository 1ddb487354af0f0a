"""Token authentication against a real server: the error map, where tokens travel,
scopes, key rotation and ``max_permissions`` (spec §6, §17.4)."""

from __future__ import annotations

import base64
import json
import uuid

import jwt
import pytest

from tests.auth.conftest import AuthServer
from tests.auth.support import (
    b64url,
    bearer,
    claims,
    flip_middle,
    object_path,
    request,
    token,
    unsigned_token,
)

pytestmark = pytest.mark.server


def new_key() -> str:
    return f"obj-{uuid.uuid4().hex}"


def url_of(server: AuthServer, key: str, scopes: str = "_", usecase: str = "testing") -> str:
    return server.url + object_path(key, scopes, usecase)


def admin(server: AuthServer, scopes: dict[str, str] | None = None) -> dict[str, str]:
    return bearer(token(server.keys.test_v1.private_key, scopes or {"org": "*"}))


def seed(server: AuthServer, key: str, body: bytes, scopes: str = "_") -> str:
    """Store ``body`` with an all-powerful token for exactly this path; return its URL."""
    url = url_of(server, key, scopes)
    pairs = dict(piece.split("=") for piece in scopes.split(";")) if scopes != "_" else {}
    answer = request(
        "PUT",
        url,
        headers={**admin(server, pairs), "content-type": "text/plain"},
        body=body,
    )
    assert answer.status in (200, 201), answer.body
    return url


# --- the auth error map (spec §6.6) -------------------------------------------------------


def test_no_token_is_400(auth_server: AuthServer) -> None:
    answer = request("GET", url_of(auth_server, new_key()))
    assert answer.status == 400
    assert "token" in answer.json()["detail"].lower()


def test_jwt_without_kid_is_400(auth_server: AuthServer) -> None:
    headless = token(auth_server.keys.test_v1.private_key, kid=None)
    assert "kid" not in jwt.get_unverified_header(headless)
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(headless)).status == 400


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "e30.e30", "...", "Zm9v.YmFy.YmF6"])
def test_undecodable_token_is_401(auth_server: AuthServer, garbage: str) -> None:
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(garbage)).status == 401


def test_token_with_invalid_json_payload_is_401(auth_server: AuthServer) -> None:
    header = b64url(json.dumps({"alg": "EdDSA", "kid": "test_kid"}).encode())
    forged = f"{header}.{b64url(b'{not json')}.{b64url(b'x' * 64)}"
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(forged)).status == 401


def test_token_expired_beyond_the_leeway_is_401(auth_server: AuthServer) -> None:
    expired = token(auth_server.keys.test_v1.private_key, expires_in=-120)
    answer = request("GET", url_of(auth_server, new_key()), headers=bearer(expired))
    assert answer.status == 401
    assert "expired" in answer.json()["detail"].lower()


def test_token_expired_within_the_leeway_still_works(auth_server: AuthServer) -> None:
    key = new_key()
    seed(auth_server, key, b"leeway")
    recent = token(auth_server.keys.test_v1.private_key, expires_in=-20)
    answer = request("GET", url_of(auth_server, key), headers=bearer(recent))
    assert answer.status == 200
    assert answer.body == b"leeway"


def test_token_without_exp_is_401(auth_server: AuthServer) -> None:
    payload = claims()
    del payload["exp"]
    unexpiring = jwt.encode(
        payload,
        auth_server.keys.test_v1.private_key,
        algorithm="EdDSA",
        headers={"kid": "test_kid"},
    )
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(unexpiring)).status == 401


def test_alg_none_is_401(auth_server: AuthServer) -> None:
    forged = unsigned_token({"alg": "none", "kid": "test_kid", "typ": "JWT"}, claims(), b"")
    assert forged.endswith(".")
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(forged)).status == 401


def test_hs256_signed_with_the_public_key_pem_is_401(auth_server: AuthServer) -> None:
    # The classic algorithm-confusion attack: HMAC keyed with the (public) verification key.
    forged = unsigned_token(
        {"alg": "HS256", "kid": "test_kid", "typ": "JWT"},
        claims(),
        auth_server.keys.test_v1.public_pem,
    )
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(forged)).status == 401


def test_unknown_kid_is_401(auth_server: AuthServer) -> None:
    stranger = token(auth_server.keys.stranger.private_key, kid="no_such_kid")
    answer = request("GET", url_of(auth_server, new_key()), headers=bearer(stranger))
    assert answer.status == 401
    assert "no_such_kid" in answer.json()["detail"]


def test_known_kid_signed_by_another_key_is_401(auth_server: AuthServer) -> None:
    impostor = token(auth_server.keys.stranger.private_key, kid="test_kid")
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(impostor)).status == 401


def test_tampered_payload_is_401(auth_server: AuthServer) -> None:
    key = new_key()
    seed(auth_server, key, b"secret", "org=2")
    header, _, signature = token(auth_server.keys.test_v1.private_key, {"org": "1"}).split(".")
    widened = b64url(json.dumps(claims({"org": "2"})).encode())
    forged = f"{header}.{widened}.{signature}"
    answer = request("GET", url_of(auth_server, key, "org=2"), headers=bearer(forged))
    assert answer.status == 401


def test_tampered_signature_is_401(auth_server: AuthServer) -> None:
    header, payload, signature = token(auth_server.keys.test_v1.private_key).split(".")
    forged = f"{header}.{payload}.{flip_middle(signature)}"
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(forged)).status == 401


def test_missing_permission_is_403(auth_server: AuthServer) -> None:
    key = new_key()
    seed(auth_server, key, b"keep me")
    reader = bearer(token(auth_server.keys.test_v1.private_key, permissions=["object.read"]))
    assert request("PUT", url_of(auth_server, key), headers=reader, body=b"x").status == 403
    assert request("DELETE", url_of(auth_server, key), headers=reader).status == 403
    answer = request("GET", url_of(auth_server, key), headers=reader)
    assert (answer.status, answer.body) == (200, b"keep me")


def test_empty_permissions_are_403_for_reads(auth_server: AuthServer) -> None:
    nothing = bearer(token(auth_server.keys.test_v1.private_key, permissions=[]))
    assert request("GET", url_of(auth_server, new_key()), headers=nothing).status == 403


@pytest.mark.parametrize(
    "permissions",
    [["object.read", "object.admin"], ["read"], ["OBJECT.READ"], [""]],
)
def test_unknown_permission_string_is_401(auth_server: AuthServer, permissions: list[str]) -> None:
    bad = token(auth_server.keys.test_v1.private_key, permissions=permissions)
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(bad)).status == 401


@pytest.mark.parametrize(
    "extra",
    [
        {"res": None},
        {"res": {"org": "1"}},  # no os:usecase
        {"res": {"os:usecase": "testing", "org": 1}},  # scope value not a string
        {"permissions": "object.read"},  # not a list
        {"aud": "someone-else"},
        {"iss": "evil"},
    ],
)
def test_bad_claims_are_401(auth_server: AuthServer, extra: dict[str, object]) -> None:
    bad = token(auth_server.keys.test_v1.private_key, extra=extra)
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(bad)).status == 401


def test_accepted_audience_and_issuer(auth_server: AuthServer) -> None:
    key = new_key()
    seed(auth_server, key, b"aud")
    good = token(
        auth_server.keys.test_v1.private_key,
        extra={"aud": ["objectstore", "other"], "iss": "relay"},
    )
    assert request("GET", url_of(auth_server, key), headers=bearer(good)).status == 200


@pytest.mark.parametrize(
    "extra",
    [
        {"iat": 4_000_000_000},  # issued "in the future": not checked (spec §6.3)
        {"nbf": 4_000_000_000},  # nbf is not validated
        {"sub": 123, "jti": 456},  # claims the spec does not look at
    ],
)
def test_claims_the_spec_does_not_check_are_ignored(
    auth_server: AuthServer, extra: dict[str, object]
) -> None:
    key = new_key()
    seed(auth_server, key, b"unchecked")
    relaxed = token(auth_server.keys.test_v1.private_key, extra=extra)
    assert request("GET", url_of(auth_server, key), headers=bearer(relaxed)).status == 200


# --- where the token travels (spec §6.2, §17.4) ---------------------------------------------


def test_x_os_auth_wins_over_authorization(auth_server: AuthServer) -> None:
    key = new_key()
    seed(auth_server, key, b"precedence")
    good = f"Bearer {token(auth_server.keys.test_v1.private_key)}"
    url = url_of(auth_server, key)
    both = {"x-os-auth": good, "authorization": "Bearer garbage"}
    assert request("GET", url, headers=both).status == 200
    reversed_ = {"x-os-auth": "Bearer garbage", "authorization": good}
    assert request("GET", url, headers=reversed_).status == 401


def test_x_os_auth_without_bearer_does_not_fall_back_to_authorization(
    auth_server: AuthServer,
) -> None:
    good = f"Bearer {token(auth_server.keys.test_v1.private_key)}"
    headers = {"x-os-auth": token(auth_server.keys.test_v1.private_key), "authorization": good}
    assert request("GET", url_of(auth_server, new_key()), headers=headers).status == 400


def test_authorization_header_alone_works(auth_server: AuthServer) -> None:
    key = new_key()
    seed(auth_server, key, b"authz")
    headers = {"authorization": f"Bearer {token(auth_server.keys.test_v1.private_key)}"}
    assert request("GET", url_of(auth_server, key), headers=headers).status == 200


def test_valid_header_wins_over_garbage_os_auth(auth_server: AuthServer) -> None:
    key = new_key()
    seed(auth_server, key, b"header wins")
    url = url_of(auth_server, key) + "?os_auth=garbage"
    answer = request("GET", url, headers=bearer(token(auth_server.keys.test_v1.private_key)))
    assert (answer.status, answer.body) == (200, b"header wins")


def test_os_auth_query_alone_works(auth_server: AuthServer) -> None:
    key = new_key()
    seed(auth_server, key, b"query token")
    reader = token(auth_server.keys.test_v1.private_key, permissions=["object.read"])
    answer = request("GET", f"{url_of(auth_server, key)}?os_auth={reader}")
    assert (answer.status, answer.body) == (200, b"query token")


def test_tampered_os_auth_query_is_401(auth_server: AuthServer) -> None:
    header, payload, signature = token(auth_server.keys.test_v1.private_key).split(".")
    forged = f"{header}.{payload}.{flip_middle(signature)}"
    assert request("GET", f"{url_of(auth_server, new_key())}?os_auth={forged}").status == 401


@pytest.mark.parametrize("prefix", ["Bearer ", "bearer ", "BEARER ", "bEaReR "])
def test_bearer_prefix_is_case_insensitive(auth_server: AuthServer, prefix: str) -> None:
    key = new_key()
    seed(auth_server, key, b"any case")
    headers = {"x-os-auth": prefix + token(auth_server.keys.test_v1.private_key)}
    assert request("GET", url_of(auth_server, key), headers=headers).status == 200


def test_header_without_bearer_prefix_counts_as_no_token(auth_server: AuthServer) -> None:
    headers = {"authorization": f"Basic {base64.b64encode(b'user:pass').decode()}"}
    assert request("GET", url_of(auth_server, new_key()), headers=headers).status == 400


# --- scopes (spec §6.5) ---------------------------------------------------------------------


def test_wildcard_scope_covers_every_value(auth_server: AuthServer) -> None:
    everyone = bearer(token(auth_server.keys.test_v1.private_key, {"org": "*"}))
    for org in ("1", "2", "999"):
        key = new_key()
        url = url_of(auth_server, key, f"org={org}")
        assert request("PUT", url, headers=everyone, body=org.encode()).status == 200
        assert request("GET", url, headers=everyone).body == org.encode()
        assert request("DELETE", url, headers=everyone).status == 204


def test_wildcard_does_not_cover_scopes_the_token_lacks(auth_server: AuthServer) -> None:
    everyone = bearer(token(auth_server.keys.test_v1.private_key, {"org": "*"}))
    url = url_of(auth_server, new_key(), "org=1;project=2")
    assert request("GET", url, headers=everyone).status == 403


def test_partial_scope_token_reaches_parent_and_empty_scope(auth_server: AuthServer) -> None:
    narrow = bearer(token(auth_server.keys.test_v1.private_key, {"org": "1", "project": "2"}))
    for scopes in ("org=1;project=2", "org=1", "project=2", "_"):
        key = new_key()
        url = url_of(auth_server, key, scopes)
        assert request("PUT", url, headers=narrow, body=b"x").status == 200, scopes
        assert request("GET", url, headers=narrow).status == 200, scopes
    for scopes in ("org=1;project=3", "org=2", "org=1;project=2;team=4"):
        url = url_of(auth_server, new_key(), scopes)
        assert request("PUT", url, headers=narrow, body=b"x").status == 403, scopes


def test_scope_order_does_not_matter_for_authorization(auth_server: AuthServer) -> None:
    narrow = bearer(token(auth_server.keys.test_v1.private_key, {"org": "1", "project": "2"}))
    url = url_of(auth_server, new_key(), "project=2;org=1")
    assert request("PUT", url, headers=narrow, body=b"x").status == 200


def test_token_for_one_org_never_touches_another(auth_server: AuthServer) -> None:
    key = new_key()
    victim = seed(auth_server, key, b"org 2 data", "org=2")
    org1 = bearer(token(auth_server.keys.test_v1.private_key, {"org": "1"}))
    assert request("GET", victim, headers=org1).status == 403
    assert request("HEAD", victim, headers=org1).status == 403
    assert request("PUT", victim, headers=org1, body=b"overwritten").status == 403
    assert request("DELETE", victim, headers=org1).status == 403
    same_key_in_org1 = url_of(auth_server, key, "org=1")
    assert request("GET", same_key_in_org1, headers=org1).status == 404
    answer = request("GET", victim, headers=admin(auth_server, {"org": "2"}))
    assert (answer.status, answer.body) == (200, b"org 2 data")


def test_wrong_usecase_is_403(auth_server: AuthServer) -> None:
    other = bearer(token(auth_server.keys.test_v1.private_key, {"org": "*"}, usecase="other"))
    assert request("GET", url_of(auth_server, new_key(), "org=1"), headers=other).status == 403
    wildcard_usecase = bearer(token(auth_server.keys.test_v1.private_key, usecase="*"))
    assert request("GET", url_of(auth_server, new_key()), headers=wildcard_usecase).status == 403


# --- key rotation and max_permissions (spec §6.3, §6.4) -------------------------------------


def test_tokens_from_either_key_version_verify(auth_server: AuthServer) -> None:
    key = new_key()
    seed(auth_server, key, b"rotated")
    for version in (auth_server.keys.test_v1, auth_server.keys.test_v2):
        answer = request(
            "GET", url_of(auth_server, key), headers=bearer(token(version.private_key))
        )
        assert (answer.status, answer.body) == (200, b"rotated")


def test_expired_token_from_second_key_version_is_401(auth_server: AuthServer) -> None:
    stale = token(auth_server.keys.test_v2.private_key, expires_in=-120)
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(stale)).status == 401


def test_max_permissions_cut_down_what_a_token_claims(auth_server: AuthServer) -> None:
    key = new_key()
    url = seed(auth_server, key, b"read only")
    greedy = bearer(token(auth_server.keys.readonly.private_key, kid="readonly_kid"))
    assert request("PUT", url, headers=greedy, body=b"nope").status == 403
    assert request("DELETE", url, headers=greedy).status == 403
    answer = request("GET", url, headers=greedy)
    assert (answer.status, answer.body) == (200, b"read only")


def test_readonly_kid_signed_by_the_test_key_is_401(auth_server: AuthServer) -> None:
    crossed = token(auth_server.keys.test_v1.private_key, kid="readonly_kid")
    assert request("GET", url_of(auth_server, new_key()), headers=bearer(crossed)).status == 401
