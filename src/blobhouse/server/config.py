"""Server settings: defaults < YAML file < ``OS__`` variables < ``BLOBHOUSE__`` variables.

One settings tree serves both names: ``BLOBHOUSE__STORAGE__TYPE`` and the upstream
``OS__STORAGE__TYPE`` address the same key, so Blobhouse can stand in for the upstream
server without new configuration. Unknown keys are errors that name the key, never
silently ignored: a typo in a production config must not fall back to a default.

Pydantic models are used directly rather than pydantic-settings' sources, because two
prefixes, YAML and JSON-valued variables have to merge into one tree before validation.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from blobhouse.backends.base import Quota
from blobhouse.core.durations import DurationError, parse_duration
from blobhouse.core.ids import IdError, validate_usecase
from blobhouse.core.permissions import Permission
from blobhouse.service.policy import KindRule, UsecasePolicy

__all__ = ["ConfigError", "Settings", "load_settings"]

ENV_PREFIXES = ("OS__", "BLOBHOUSE__")  # later prefixes win
CONFIG_FILE_ENV = "BLOBHOUSE_CONFIG_FILE"


class ConfigError(Exception):
    """Settings that cannot be used; the message says which key and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    try:
        return parse_duration(str(value))
    except DurationError as exc:
        raise ValueError(str(exc)) from exc


class MemoryStorage(_Strict):
    """Objects in process memory; lost on restart. For tests only."""

    type: Literal["memory"]


class FilesystemStorage(_Strict):
    """One file per object under ``path`` (upstream default ``data``)."""

    type: Literal["filesystem"]
    path: str = "data"


class SqlStorage(_Strict):
    """A SQL database (``sqlite+aiosqlite:///file`` or ``postgresql+asyncpg://...``)."""

    type: Literal["sql"]
    url: str


class TieredStorage(_Strict):
    """Small objects inline in SQL, large ones in ``long_term``.

    ``path`` is the shorthand of the embedded setup: ``<path>/blobhouse.sqlite3`` for the
    high-volume tier and ``<path>/objects`` for the long-term tier.
    """

    type: Literal["tiered"]
    path: str = "data"
    high_volume: SqlStorage | None = None
    long_term: FilesystemStorage | None = None
    threshold_bytes: int = Field(default=1 << 20, ge=0)

    def resolved_high_volume(self) -> SqlStorage:
        if self.high_volume is not None:
            return self.high_volume
        db = Path(self.path) / "blobhouse.sqlite3"
        return SqlStorage(type="sql", url=f"sqlite+aiosqlite:///{db}")

    def resolved_long_term(self) -> FilesystemStorage:
        if self.long_term is not None:
            return self.long_term
        return FilesystemStorage(type="filesystem", path=str(Path(self.path) / "objects"))


StorageConfig = Annotated[
    MemoryStorage | FilesystemStorage | SqlStorage | TieredStorage, Field(discriminator="type")
]


class KeyConfig(_Strict):
    """One key id: its Ed25519 public key files (several during rotation) and the most any
    token signed with it may do."""

    key_files: list[str] = Field(min_length=1)
    max_permissions: list[Permission] = Field(default_factory=list)


class AuthConfig(_Strict):
    """Token auth. On by default: with ``enforce`` and no keys the server refuses to start."""

    enforce: bool = True
    keys: dict[str, KeyConfig] = Field(default_factory=dict)


class KindRuleConfig(_Strict):
    allowed: bool = True
    max: timedelta | None = None

    _parse_max = field_validator("max", mode="before")(
        lambda value: None if value is None else _duration(value)
    )


class ExpirationRules(_Strict):
    manual: KindRuleConfig = Field(default_factory=KindRuleConfig)
    ttl: KindRuleConfig = Field(default_factory=KindRuleConfig)
    tti: KindRuleConfig = Field(default_factory=KindRuleConfig)


_SIZE = re.compile(r"\s*([0-9]+)\s*([KMGTP]?i?B?)\s*", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}


def _byte_size(value: Any) -> Any:
    """``1048576``, ``"512MiB"``, ``"10GB"``: quotas read better with units."""
    if value is None or isinstance(value, int):
        return value
    match = _SIZE.fullmatch(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a size such as 1048576, 512MiB or 10GB")
    number, unit = int(match.group(1)), match.group(2).upper()
    binary = "I" in unit
    prefix = unit.replace("I", "").replace("B", "")
    factor = _UNITS[prefix] if not binary else 1024 ** ("KMGTP".index(prefix) + 1)
    return number * factor


class QuotaConfig(_Strict):
    """Stored-data limits of a usecase: in total and per scope; writes past them get 413."""

    max_bytes: int | None = Field(default=None, ge=0)
    max_objects: int | None = Field(default=None, ge=0)
    scope_max_bytes: int | None = Field(default=None, ge=0)
    scope_max_objects: int | None = Field(default=None, ge=0)

    _sizes = field_validator("max_bytes", "scope_max_bytes", mode="before")(_byte_size)


class UsecaseConfig(_Strict):
    expiration: ExpirationRules = Field(default_factory=ExpirationRules)
    quota: QuotaConfig | None = None

    def policy(self) -> UsecasePolicy:
        rules = self.expiration
        return UsecasePolicy(
            manual=KindRule(rules.manual.allowed, rules.manual.max),
            ttl=KindRule(rules.ttl.allowed, rules.ttl.max),
            tti=KindRule(rules.tti.allowed, rules.tti.max),
        )


class LoggingConfig(_Strict):
    level: Literal["TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "OFF"] = "INFO"
    format: Literal["auto", "pretty", "simplified", "json"] = "auto"

    _upper = field_validator("level", mode="before")(lambda value: str(value).upper())


class ReaperConfig(_Strict):
    """The background task that deletes expired objects."""

    enabled: bool = True
    interval: timedelta = timedelta(seconds=60)
    batch: int = Field(default=1000, ge=1)

    _parse_interval = field_validator("interval", mode="before")(_duration)


class ResumableConfig(_Strict):
    """Resumable uploads of objectstore-client 0.2.10 (spec §22.6)."""

    enabled: bool = True
    # Where sessions are staged; default: ``.resumable`` under the storage path (a
    # temporary directory for memory storage). Several servers need it on shared storage.
    staging_dir: str | None = None
    abandon_after: timedelta = timedelta(hours=24)
    keep_committed: timedelta = timedelta(hours=1)

    _parse_durations = field_validator("abandon_after", "keep_committed", mode="before")(_duration)


class LimitsConfig(_Strict):
    """Request limits; an upload beyond ``max_object_size`` answers 413."""

    max_object_size: int = Field(default=5 << 30, ge=1)


def _scope_values_as_text(value: Any) -> Any:
    """``org: 42`` in YAML is an int; scope values are text on the wire, so accept both."""
    if isinstance(value, Mapping):
        return {name: str(item) if isinstance(item, int) else item for name, item in value.items()}
    if isinstance(value, list):
        return [
            (pair[0], str(pair[1]) if isinstance(pair[1], int) else pair[1])
            if isinstance(pair, list | tuple) and len(pair) == 2
            else pair
            for pair in value
        ]
    return value


class KillswitchConfig(_Strict):
    """Refuse matching requests with 403: every given condition must hold."""

    usecase: str | None = None
    scopes: dict[str, str] = Field(default_factory=dict)
    service: str | None = None  # glob against x-downstream-service, pod suffix stripped

    _stringify = field_validator("scopes", mode="before")(
        lambda value: _scope_values_as_text(value)
    )


class ThroughputRuleConfig(_Strict):
    usecase: str | None = None
    scopes: list[tuple[str, str]] | dict[str, str] = Field(default_factory=dict)
    rps: float | None = Field(default=None, ge=0)
    pct: float | None = Field(default=None, ge=0, le=100)

    _stringify = field_validator("scopes", mode="before")(
        lambda value: _scope_values_as_text(value)
    )

    def scope_map(self) -> dict[str, str]:
        return dict(self.scopes) if isinstance(self.scopes, list) else self.scopes


class ThroughputConfig(_Strict):
    global_rps: float | None = Field(default=None, ge=0)
    burst: int = Field(default=0, ge=0)
    usecase_pct: float | None = Field(default=None, ge=0, le=100)
    scope_pct: float | None = Field(default=None, ge=0, le=100)
    rules: list[ThroughputRuleConfig] = Field(default_factory=list)


class BandwidthConfig(_Strict):
    global_bps: float | None = Field(default=None, ge=0)
    burst_ms: int = Field(default=1000, ge=0)
    usecase_pct: float | None = Field(default=None, ge=0, le=100)
    scope_pct: float | None = Field(default=None, ge=0, le=100)
    report_only: bool = False


class RateLimitsConfig(_Strict):
    throughput: ThroughputConfig = Field(default_factory=ThroughputConfig)
    bandwidth: BandwidthConfig = Field(default_factory=BandwidthConfig)
    # Beyond upstream: keep the buckets in Redis so limits hold across instances.
    redis_url: str | None = None
    redis_prefix: str = "blobhouse:limits:"


class HttpConfig(_Strict):
    max_requests: int = Field(default=10_000, ge=0)  # in-flight cap; beyond it 503


class ServiceConfig(_Strict):
    max_concurrency: int = Field(default=500, ge=0)  # backend permits; beyond them 429
    concurrency_queue: int = Field(default=0, ge=0)
    concurrency_timeout: timedelta = timedelta(seconds=1)
    bulk_concurrency_pct: int = Field(default=60, ge=1, le=100)

    _parse_timeout = field_validator("concurrency_timeout", mode="before")(_duration)


class Settings(_Strict):
    http_addr: str = "127.0.0.1:8888"
    storage: StorageConfig = Field(default_factory=lambda: TieredStorage(type="tiered"))
    auth: AuthConfig = Field(default_factory=AuthConfig)
    usecases: dict[str, UsecaseConfig] = Field(default_factory=dict)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    reaper: ReaperConfig = Field(default_factory=ReaperConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    drain_file: str | None = None
    resumable: ResumableConfig = Field(default_factory=ResumableConfig)
    killswitches: list[KillswitchConfig] = Field(default_factory=list)
    rate_limits: RateLimitsConfig = Field(default_factory=RateLimitsConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)

    @field_validator("usecases")
    @classmethod
    def _valid_usecase_names(cls, value: dict[str, UsecaseConfig]) -> dict[str, UsecaseConfig]:
        for name in value:
            try:
                validate_usecase(name)
            except IdError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("http_addr")
    @classmethod
    def _valid_addr(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"http_addr must be host:port, got {value!r}")
        return value

    @model_validator(mode="after")
    def _quotas_need_usage_counters(self) -> Settings:
        with_quota = [name for name, config in self.usecases.items() if config.quota]
        if with_quota and not isinstance(self.storage, TieredStorage):
            raise ValueError(
                f"quotas (usecases {', '.join(with_quota)}) need tiered storage, whose SQL tier "
                f"keeps the usage counters; storage.type is {self.storage.type!r}"
            )
        return self

    def quotas(self) -> dict[str, Quota]:
        return {
            name: Quota(
                config.quota.max_bytes,
                config.quota.max_objects,
                config.quota.scope_max_bytes,
                config.quota.scope_max_objects,
            )
            for name, config in self.usecases.items()
            if config.quota is not None
        }

    @property
    def host(self) -> str:
        return self.http_addr.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.http_addr.rpartition(":")[2])

    def resolved_drain_file(self) -> Path | None:
        """Where ``blobhouse down`` puts the marker that makes ``/ready`` answer 503."""
        if self.drain_file is not None:
            return Path(self.drain_file)
        storage = self.storage
        if isinstance(storage, TieredStorage | FilesystemStorage):
            return Path(storage.path) / "blobhouse.down"
        return None

    def resolved_staging_dir(self) -> Path:
        """Where resumable upload sessions are kept."""
        if self.resumable.staging_dir is not None:
            return Path(self.resumable.staging_dir)
        storage = self.storage
        if isinstance(storage, TieredStorage | FilesystemStorage):
            return Path(storage.path) / ".resumable"
        return Path(tempfile.gettempdir()) / f"blobhouse-resumable-{os.getuid()}"

    def usecase_policies(self) -> dict[str, UsecasePolicy]:
        return {name: config.policy() for name, config in self.usecases.items()}


# --- loading ------------------------------------------------------------------------


def _env_value(raw: str) -> Any:
    """JSON or figment's inline syntax (``{kid={key_files=["a.pem"]}}``) for maps and lists."""
    text = raw.strip()
    if text[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
        try:
            return _InlineParser(text).parse()
        except ValueError:
            return raw
    return raw


class _InlineParser:
    """The figment inline form upstream deployments use in ``OS__`` variables."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> Any:
        value = self._value()
        self._space()
        if self.pos != len(self.text):
            raise ValueError(f"unexpected text at {self.pos}")
        return value

    def _space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        self._space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise ValueError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def _value(self) -> Any:
        char = self._peek()
        if char == "{":
            return self._items("{", "}", keyed=True)
        if char == "[":
            return self._items("[", "]", keyed=False)
        if char in ('"', "'"):
            return self._quoted(char)
        return self._bare()

    def _items(self, open_: str, close: str, *, keyed: bool) -> Any:
        self._expect(open_)
        mapping: dict[str, Any] = {}
        items: list[Any] = []
        while self._peek() != close:
            if keyed:
                key = self._quoted(self._peek()) if self._peek() in "\"'" else self._bare("=")
                self._expect("=")
                mapping[str(key)] = self._value()
            else:
                items.append(self._value())
            if self._peek() == ",":
                self.pos += 1
            elif self._peek() != close:
                raise ValueError(f"expected ',' or {close!r} at {self.pos}")
        self.pos += 1
        return mapping if keyed else items

    def _quoted(self, quote_char: str) -> str:
        self._expect(quote_char)
        out = []
        while self.pos < len(self.text) and self.text[self.pos] != quote_char:
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            out.append(self.text[self.pos])
            self.pos += 1
        self._expect(quote_char)
        return "".join(out)

    def _bare(self, stops: str = ",]}") -> str:
        self._space()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stops + "=":
            self.pos += 1
        token = self.text[start : self.pos].strip()
        if not token:
            raise ValueError(f"empty value at {start}")
        return token


def _env_tree(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for prefix in ENV_PREFIXES:
        for name, raw in sorted(environ.items()):
            if not name.startswith(prefix) or name == CONFIG_FILE_ENV:
                continue
            path = [part.lower() for part in name[len(prefix) :].split("__")]
            if not all(path):
                raise ConfigError(f"environment variable {name}: empty key segment")
            node = tree
            for part in path[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ConfigError(f"environment variable {name}: {part!r} is not a section")
                node = child
            node[path[-1]] = _env_value(raw)
    return tree


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = ".".join(
            str(part) for part in item["loc"] if not str(part).startswith("function")
        )
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see the README's config reference)"
        lines.append(f"  {location or '<root>'}: {message}")
    return "invalid configuration:\n" + "\n".join(lines)


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from a YAML file, the environment and explicit overrides."""
    env = os.environ if environ is None else environ
    if config_file is None:
        config_file = env.get(CONFIG_FILE_ENV) or None
    # A storage section without a type (say only OS__STORAGE__PATH) means the default.
    tree: dict[str, Any] = {"storage": {"type": "tiered"}}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(Path(config_file).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {config_file} is not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {config_file} must hold a mapping at the top level")
        tree = _merge(tree, loaded or {})
    tree = _merge(tree, _env_tree(env))
    tree = _merge(tree, overrides or {})
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None
