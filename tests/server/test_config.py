"""Settings: YAML, both env prefixes, upstream keys, and unknown keys rejected."""

from datetime import timedelta
from pathlib import Path

import pytest

from blobhouse.server.config import (
    ConfigError,
    FilesystemStorage,
    TieredStorage,
    load_settings,
)


def test_defaults_are_the_embedded_tiered_setup_on_port_8888() -> None:
    settings = load_settings(environ={})
    assert settings.http_addr == "127.0.0.1:8888"
    assert isinstance(settings.storage, TieredStorage)
    assert (
        settings.storage.resolved_high_volume().url == "sqlite+aiosqlite:///data/blobhouse.sqlite3"
    )
    assert settings.storage.resolved_long_term().path == "data/objects"
    assert settings.auth.enforce is True  # as upstream; `make serve` turns it off for development


def test_upstream_os_variables_configure_a_filesystem_server() -> None:
    settings = load_settings(
        environ={
            "OS__HTTP_ADDR": "127.0.0.1:18888",
            "OS__STORAGE__TYPE": "filesystem",
            "OS__STORAGE__PATH": "/srv/data",
            "OS__AUTH__ENFORCE": "false",
            "OS__LOGGING__LEVEL": "warn",
        }
    )
    assert settings.port == 18888
    assert settings.storage == FilesystemStorage(type="filesystem", path="/srv/data")
    assert settings.logging.level == "WARN"


def test_tiered_path_from_os_variable_holds_sqlite_and_files() -> None:
    settings = load_settings(environ={"OS__STORAGE__TYPE": "tiered", "OS__STORAGE__PATH": "/x"})
    assert isinstance(settings.storage, TieredStorage)
    assert settings.storage.resolved_high_volume().url.endswith("/x/blobhouse.sqlite3")
    assert settings.storage.resolved_long_term().path == "/x/objects"


def test_blobhouse_prefix_wins_over_os_prefix() -> None:
    settings = load_settings(
        environ={"OS__HTTP_ADDR": "127.0.0.1:1111", "BLOBHOUSE__HTTP_ADDR": "127.0.0.1:2222"}
    )
    assert settings.port == 2222


def test_environment_overrides_yaml(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("http_addr: 127.0.0.1:1000\nstorage: {type: filesystem, path: /a}\n")
    settings = load_settings(config, environ={"BLOBHOUSE__STORAGE__PATH": "/b"})
    assert settings.port == 1000
    assert settings.storage == FilesystemStorage(type="filesystem", path="/b")


def test_usecase_expiration_rules_parse_humantime(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "usecases:\n  attachments:\n    expiration:\n      manual: {allowed: false}\n"
        "      ttl: {max: 90d}\n"
    )
    policy = load_settings(config, environ={}).usecase_policies()["attachments"]
    assert policy.manual.allowed is False
    assert policy.ttl.max == timedelta(days=90)


@pytest.mark.parametrize(
    ("yaml_text", "environ", "expected"),
    [
        ("htp_addr: 1.2.3.4:5\n", {}, "htp_addr: unknown key"),
        ("", {"OS__STORAGE__PATHH": "/x"}, "pathh: unknown key"),
        ("storage: {type: floppy}\n", {}, "storage"),
        ("http_addr: nonsense\n", {}, "http_addr"),
        ("usecases: {'a b': {}}\n", {}, "usecases"),
        ("reaper: {interval: soon}\n", {}, "reaper.interval"),
        ("- a list\n", {}, "must hold a mapping"),
        ("storage: [unclosed\n", {}, "not valid YAML"),
    ],
)
def test_bad_settings_are_rejected_with_the_key_named(
    tmp_path: Path, yaml_text: str, environ: dict[str, str], expected: str
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ=environ)
    assert expected in str(info.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.yaml", environ={})


def test_storage_path_alone_keeps_the_default_tiered_type() -> None:
    settings = load_settings(environ={"OS__STORAGE__PATH": "/srv/blobs"})
    assert isinstance(settings.storage, TieredStorage)
    assert settings.storage.path == "/srv/blobs"


def test_numeric_scope_values_in_yaml_are_read_as_text(tmp_path: Path) -> None:
    config = tmp_path / "blobhouse.yaml"
    config.write_text(
        "killswitches:\n  - scopes: {org: 42}\n"
        "rate_limits:\n  throughput:\n    rules:\n      - {scopes: {org: 7}, rps: 1}\n"
    )
    settings = load_settings(config, environ={})
    assert settings.killswitches[0].scopes == {"org": "42"}
    assert settings.rate_limits.throughput.rules[0].scope_map() == {"org": "7"}
