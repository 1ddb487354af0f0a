"""``Usecase``: names follow the server's rule, compression is zstd or none."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from blobhouse import TimeToLive, Usecase


@pytest.mark.parametrize("name", ["abc", "attachments", "A-b_9", "x" * 64, "---", "123"])
def test_valid_usecase_names_are_accepted(name: str) -> None:
    assert Usecase(name).name == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ab", "3-64 characters"),
        ("", "3-64 characters"),
        ("x" * 65, "3-64 characters"),
        ("with space", "only ASCII letters"),
        ("dotted.name", "only ASCII letters"),
        ("caféé", "only ASCII letters"),
        ("slash/es", "only ASCII letters"),
    ],
)
def test_invalid_usecase_names_are_rejected(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Usecase(name)


def test_usecase_defaults_to_zstd_and_no_expiration() -> None:
    usecase = Usecase("attachments")
    assert usecase.compression == "zstd"
    assert usecase.expiration_policy is None


def test_usecase_keeps_its_defaults() -> None:
    policy = TimeToLive(timedelta(days=7))
    usecase = Usecase("attachments", "none", policy)
    assert (usecase.compression, usecase.expiration_policy) == ("none", policy)


def test_unknown_compression_is_rejected() -> None:
    with pytest.raises(ValueError, match="'zstd' or 'none'"):
        Usecase("attachments", compression="gzip")  # type: ignore[arg-type]


def test_expiration_policy_must_be_a_policy() -> None:
    with pytest.raises(TypeError, match="TimeToLive, TimeToIdle or None"):
        Usecase("attachments", expiration_policy=timedelta(days=1))  # type: ignore[arg-type]


def test_usecase_name_is_read_only() -> None:
    usecase = Usecase("attachments")
    with pytest.raises(dataclasses.FrozenInstanceError):
        usecase.name = "other"  # type: ignore[misc]
