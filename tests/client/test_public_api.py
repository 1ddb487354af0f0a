"""The top-level ``blobhouse`` package: exactly its ``__all__``, and client-only imports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from types import ModuleType

import objectstore_client

import blobhouse
import blobhouse.client

OFFICIAL_NAMES = {
    "Client",
    "Usecase",
    "Session",
    "GetResponse",
    "RequestError",
    "ObjectNotFound",
    "ExpiryExtensionRejected",
    "Compression",
    "ExpirationPolicy",
    "Metadata",
    "TimeToIdle",
    "TimeToLive",
    "MetricsBackend",
    "NoOpMetricsBackend",
    "Permission",
    "SecretKey",
    "TokenGenerator",
    "TokenProvider",
}


def public_names(module: ModuleType, keep: frozenset[str] = frozenset()) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if (not name.startswith("_") or name in keep) and not isinstance(value, ModuleType)
    }


def test_blobhouse_exports_exactly_its_all() -> None:
    assert public_names(blobhouse, frozenset({"__version__"})) == set(blobhouse.__all__)
    assert len(blobhouse.__all__) == len(set(blobhouse.__all__))


def test_client_package_exports_exactly_its_all() -> None:
    assert public_names(blobhouse.client) == set(blobhouse.client.__all__)


def test_top_level_names_are_the_client_packages_objects() -> None:
    for name in blobhouse.client.__all__:
        assert getattr(blobhouse, name) is getattr(blobhouse.client, name)


def test_exports_cover_the_official_client_names_we_implement() -> None:
    assert set(objectstore_client.__all__) >= OFFICIAL_NAMES
    assert set(blobhouse.__all__) == OFFICIAL_NAMES | {"__version__"}


def test_version_is_a_string() -> None:
    assert isinstance(blobhouse.__version__, str)
    assert blobhouse.__version__ != ""


# Anything beyond the client's two dependencies (and the standard library).
FORBIDDEN = [
    "sqlalchemy",
    "granian",
    "pydantic",
    "pydantic_settings",
    "alembic",
    "aiosqlite",
    "yaml",
    "typer",
    "rich",
    "uuid_utils",
    "sentry_sdk",
    "objectstore_client",
    "jwt",
    "filetype",
]


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_blobhouse_loads_no_server_dependencies() -> None:
    output = run_python(
        """
        import json, sys
        import blobhouse
        print(json.dumps(sorted(sys.modules)))
        """
    )
    loaded = set(json.loads(output))
    roots = {name.split(".")[0] for name in loaded}
    assert roots.isdisjoint(FORBIDDEN)
    assert not {"blobhouse.server", "blobhouse.service", "blobhouse.backends"} & loaded


def test_client_works_with_only_urllib3_and_zstandard_importable() -> None:
    output = run_python(
        f"""
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {FORBIDDEN!r}:
                    raise ModuleNotFoundError(f"blocked: {{name}}")
                return None

        sys.meta_path.insert(0, Block())
        import blobhouse
        session = blobhouse.Client("http://127.0.0.1:1").session(
            blobhouse.Usecase("attachments"), org=1
        )
        print(session.object_url("k"))
        """
    )
    assert output.strip() == "http://127.0.0.1:1/v1/objects/attachments/org=1/k"
