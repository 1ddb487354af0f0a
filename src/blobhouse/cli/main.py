"""``blobhouse``: run and operate a Blobhouse server."""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from blobhouse.server.config import CONFIG_FILE_ENV, ConfigError, Settings, load_settings

app = typer.Typer(
    name="blobhouse",
    help="Blobhouse: multi-tenant blob storage speaking the objectstore v1 protocol.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML settings file (env vars BLOBHOUSE__*/OS__* win)."),
]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _settings(config: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    try:
        return load_settings(config, overrides=overrides)
    except ConfigError as exc:
        _fail(str(exc))
        raise AssertionError from exc  # unreachable


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default 8888).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    server: Annotated[str, typer.Option(help="granian (default) or uvicorn.")] = "granian",
) -> None:
    """Start the HTTP server."""
    overrides: dict[str, Any] = {}
    base = _settings(config)
    if host is not None or port is not None:
        addr = f"{host or base.host}:{port if port is not None else base.port}"
        overrides["http_addr"] = addr
    settings = _settings(config, overrides)
    from blobhouse.server.app import check_startable

    try:
        check_startable(settings)
    except ConfigError as exc:
        _fail(str(exc))
    asyncio.run(_prepare_storage(settings))

    # Workers rebuild settings from the environment, so hand them the same inputs.
    if config is not None:
        os.environ[CONFIG_FILE_ENV] = str(config.resolve())
    if overrides:
        os.environ["BLOBHOUSE__HTTP_ADDR"] = settings.http_addr
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            "blobhouse.server.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level="warning",
        )
        return
    if server != "granian":
        _fail(f"unknown server {server!r}; use granian or uvicorn")
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        "blobhouse.server.app:create_app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        log_level=LogLevels.warning,
        backlog=1024,
    ).serve()


async def _prepare_storage(settings: Settings) -> None:
    """Open storage once up front: migrations run, and bad storage fails loudly here."""
    from blobhouse.backends.registry import build_backend

    try:
        backend = build_backend(settings.storage)
        await backend.open()
        await backend.close()
    except Exception as exc:
        _fail(f"cannot open storage: {exc}")


@app.command()
def down(config: ConfigOption = None) -> None:
    """Mark the server as draining: /ready answers 503 until `blobhouse up`."""
    marker = _settings(config).resolved_drain_file()
    if marker is None:
        _fail("no drain_file is configured for this storage type; set drain_file")
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    typer.echo(f"draining: created {marker}")


@app.command()
def up(config: ConfigOption = None) -> None:
    """Undo `blobhouse down`: /ready answers 200 again."""
    marker = _settings(config).resolved_drain_file()
    if marker is not None and marker.exists():
        marker.unlink()
    typer.echo("ready")


@app.command()
def healthcheck(config: ConfigOption = None) -> None:
    """Exit 0 when the configured server answers /health."""
    settings = _settings(config)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{host}:{settings.port}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            ok = response.status == 200
    except OSError as exc:
        _fail(f"{url} is not answering: {exc}", code=1)
        return
    if not ok:
        _fail(f"{url} answered {response.status}", code=1)
    typer.echo("OK")


keys_app = typer.Typer(help="Manage Ed25519 signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("generate")
def keys_generate(
    kid: Annotated[
        str, typer.Option(help="Key id; names the files <kid>.private.pem/.public.pem.")
    ],
    out: Annotated[Path, typer.Option(help="Directory to write the PEM files to.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Create an Ed25519 key pair: the private key signs tokens, the public one verifies."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_path = out / f"{kid}.private.pem"
    public_path = out / f"{kid}.public.pem"
    for path in (private_path, public_path):
        if path.exists() and not force:
            _fail(f"{path} exists; pass --force to overwrite it")
    key = Ed25519PrivateKey.generate()
    out.mkdir(parents=True, exist_ok=True)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(public_pem)
    typer.echo(f"private key: {private_path} (keep secret; mode 600)")
    typer.echo(f"public key:  {public_path} (list it under auth.keys.{kid}.key_files)")


_PERMISSION_NAMES = {"read": "object.read", "write": "object.write", "delete": "object.delete"}


@app.command()
def token(
    key: Annotated[Path, typer.Option(help="Ed25519 private key (PEM).")],
    kid: Annotated[str, typer.Option(help="Key id the server knows the public key by.")],
    usecase: Annotated[str, typer.Option(help="Usecase the token is for.")],
    scope: Annotated[
        list[str] | None, typer.Option(help="name=value (repeatable; value * = any).")
    ] = None,
    permissions: Annotated[str, typer.Option(help="Comma list of read,write,delete.")] = "read",
    ttl: Annotated[str, typer.Option(help="Validity, e.g. 10m, 1h, 7d.")] = "10m",
) -> None:
    """Mint a token (EdDSA JWT) for one usecase and scope; prints it to stdout."""
    import time

    import jwt

    from blobhouse.core.durations import DurationError, parse_duration
    from blobhouse.core.ids import IdError, validate_usecase
    from blobhouse.core.permissions import USECASE_CLAIM

    try:
        validate_usecase(usecase)
        validity = parse_duration(ttl)
    except (IdError, DurationError) as exc:
        _fail(str(exc))
        return
    res: dict[str, str] = {USECASE_CLAIM: usecase}
    for item in scope or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            _fail(f"--scope {item!r} must look like name=value")
        res[name] = value
    granted = []
    for name in filter(None, (p.strip() for p in permissions.split(","))):
        full = _PERMISSION_NAMES.get(name, name)
        if full not in _PERMISSION_NAMES.values():
            _fail(f"unknown permission {name!r}; use read, write, delete")
        granted.append(full)
    try:
        secret = key.read_text()
    except OSError as exc:
        _fail(f"cannot read {key}: {exc}")
        return
    claims = {
        "res": res,
        "permissions": granted,
        "exp": int(time.time() + validity.total_seconds()),
    }
    try:
        encoded = jwt.encode(claims, secret, algorithm="EdDSA", headers={"kid": kid})
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        _fail(f"{key} is not an Ed25519 private key: {exc}")
        return
    typer.echo(encoded)


@app.command()
def usage(
    config: ConfigOption = None,
    usecase: Annotated[str | None, typer.Option(help="Only this usecase.")] = None,
    scope: Annotated[
        str | None, typer.Option(help="Only this scope and those under it, e.g. org=42.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Objects and bytes stored per usecase and scope (read from the SQL tier)."""
    import dataclasses
    import json

    settings = _settings(config)
    rows = asyncio.run(_read_usage(settings, usecase, scope))
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(row) for row in rows]))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("usecase", "scope", "objects", "bytes")
    for row in rows:
        table.add_row(row.usecase, row.scope, f"{row.objects:,}", f"{row.bytes:,}")
    Console().print(table)


async def _read_usage(settings: Settings, usecase: str | None, scope: str | None) -> list[Any]:
    from blobhouse.backends.registry import build_backend
    from blobhouse.backends.tiered import TieredBackend

    backend = build_backend(settings.storage)
    if not isinstance(backend, TieredBackend):
        _fail(f"usage counters need tiered storage; storage.type is {settings.storage.type!r}")
        raise AssertionError  # unreachable
    await backend.high_volume.open()
    try:
        return await backend.high_volume.usage(usecase, scope)
    finally:
        await backend.high_volume.close()


@app.command()
def version() -> None:
    """Print the version."""
    from blobhouse import __version__

    typer.echo(f"blobhouse {__version__}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
