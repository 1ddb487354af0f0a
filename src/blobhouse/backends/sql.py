"""Object rows in SQL: the high-volume tier (SQLite embedded, PostgreSQL in production).

Every object has one row holding its metadata, and either the payload inline (small
objects) or a reference to a blob in a long-term backend. The row is the commit point of
every write: a blob that no committed row names does not exist as far as readers go.

Writes read the previous row under a row lock (``SELECT ... FOR UPDATE`` on PostgreSQL; a
``BEGIN IMMEDIATE`` write transaction on SQLite) and replace it in the same transaction,
so concurrent writers to one key serialise: the last to commit wins and learns exactly
which blob it replaced, and no blob is orphaned or lost.

Every operation is a plain function over a SQLAlchemy ``Connection``; an engine runner
decides where it executes (see ``sql_runners``). The schema and statements are SQLAlchemy
Core, the migrations Alembic, so SQLite and PostgreSQL share both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from blobhouse.backends.base import (
    BackendError,
    BackendUnavailable,
    ObjectExists,
    Quota,
    QuotaExceeded,
)
from blobhouse.backends.records import (
    from_micros,
    policy_from_columns,
    policy_to_columns,
    to_micros,
)
from blobhouse.backends.sql_runners import SqlRunner, runner_for
from blobhouse.core.expiration import ExpirationPolicy
from blobhouse.core.ids import ObjectId, Scopes
from blobhouse.core.metadata import Metadata

__all__ = ["BlobRef", "ObjectRow", "SqlStore", "Usage", "objects_table", "usage_table"]

_meta = sa.MetaData()

objects_table = sa.Table(
    "objects",
    _meta,
    sa.Column("usecase", sa.String(64), primary_key=True),
    sa.Column("scope", sa.String(1024), primary_key=True),
    sa.Column("key", sa.String(1024), primary_key=True),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("compression", sa.String(16)),
    sa.Column("expiration_kind", sa.String(3)),
    sa.Column("expiration_micros", sa.BigInteger),
    sa.Column("time_created", sa.BigInteger, nullable=False),
    sa.Column("time_expires", sa.BigInteger),
    sa.Column("origin", sa.Text),
    sa.Column("filename", sa.Text),
    sa.Column("custom", sa.Text),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.LargeBinary),
    sa.Column("blob_backend", sa.String(64)),
    sa.Column("blob_key", sa.Text),
    sa.Index("ix_objects_time_expires", "time_expires"),
)

usage_table = sa.Table(
    "usage",
    _meta,
    sa.Column("usecase", sa.String(64), primary_key=True),
    sa.Column("scope", sa.String(1024), primary_key=True),
    sa.Column("objects", sa.BigInteger, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
)

_T = objects_table
_U = usage_table
_META_COLUMNS = [
    _T.c.content_type,
    _T.c.compression,
    _T.c.expiration_kind,
    _T.c.expiration_micros,
    _T.c.time_created,
    _T.c.time_expires,
    _T.c.origin,
    _T.c.filename,
    _T.c.custom,
    _T.c.size,
    _T.c.blob_backend,
    _T.c.blob_key,
]


@dataclass(frozen=True, slots=True)
class BlobRef:
    """Where a large payload lives: a long-term backend's name and the key within it."""

    backend: str
    key: str


@dataclass(frozen=True, slots=True)
class ObjectRow:
    metadata: Metadata
    payload: bytes | None
    blob: BlobRef | None


def _pk_params(object_id: ObjectId) -> dict[str, str]:
    return {
        "pk_usecase": object_id.usecase,
        "pk_scope": str(object_id.scopes),
        "pk_key": object_id.key,
    }


# Statements are built once with bind parameters: building a SQLAlchemy expression per
# request cost more than executing it (profiled on the GET path).
_WHERE_PK = sa.and_(
    _T.c.usecase == sa.bindparam("pk_usecase"),
    _T.c.scope == sa.bindparam("pk_scope"),
    _T.c.key == sa.bindparam("pk_key"),
)
_SELECT_ROW = sa.select(*_META_COLUMNS, _T.c.payload).where(_WHERE_PK)
_SELECT_META = sa.select(*_META_COLUMNS).where(_WHERE_PK)
_SELECT_PREVIOUS = sa.select(_T.c.blob_backend, _T.c.blob_key, _T.c.time_expires, _T.c.size).where(
    _WHERE_PK
)
_DELETE_ROW = sa.delete(_T).where(_WHERE_PK).returning(_T.c.blob_backend, _T.c.blob_key, _T.c.size)
_SCOPE_USAGE = sa.select(_U.c.objects, _U.c.bytes).where(
    _U.c.usecase == sa.bindparam("pk_usecase"), _U.c.scope == sa.bindparam("pk_scope")
)
# PostgreSQL sums BIGINT as NUMERIC (a Decimal in Python, which JSON cannot carry into a
# 413's figures): cast back so both engines answer plain integers.
_USECASE_USAGE = sa.select(
    sa.cast(sa.func.coalesce(sa.func.sum(_U.c.objects), 0), sa.BigInteger).label("objects"),
    sa.cast(sa.func.coalesce(sa.func.sum(_U.c.bytes), 0), sa.BigInteger).label("bytes"),
).where(_U.c.usecase == sa.bindparam("pk_usecase"))
_BUMP_EXPIRY = (
    sa.update(_T)
    .where(_WHERE_PK, _T.c.time_expires < sa.bindparam("new_expires"))
    .values(time_expires=sa.bindparam("new_expires"))
)
_EXTEND_EXPIRY = (
    sa.update(_T)
    .where(_WHERE_PK, _T.c.time_expires < sa.bindparam("new_expires"))
    .values(
        time_expires=sa.bindparam("new_expires"),
        expiration_kind=sa.bindparam("new_kind"),
        expiration_micros=sa.bindparam("new_micros"),
    )
)
_PICK_EXPIRED = (
    sa.select(_T.c.usecase, _T.c.scope, _T.c.key)
    .where(_T.c.time_expires <= sa.bindparam("now"))
    .limit(sa.bindparam("limit"))
)
_DELETE_EXPIRED = (
    sa.delete(_T)
    .where(_WHERE_PK, _T.c.time_expires <= sa.bindparam("now"))
    .returning(_T.c.blob_backend, _T.c.blob_key, _T.c.size)
)
_VALUE_COLUMNS = [c.name for c in _T.columns]


def _upsert(insert: Any) -> Any:
    stmt = insert(_T).values({name: sa.bindparam(name) for name in _VALUE_COLUMNS})
    return stmt.on_conflict_do_update(
        index_elements=["usecase", "scope", "key"],
        set_={name: stmt.excluded[name] for name in _VALUE_COLUMNS[3:]},
    )


def _usage_upsert(insert: Any) -> Any:
    stmt = insert(_U).values(
        usecase=sa.bindparam("pk_usecase"),
        scope=sa.bindparam("pk_scope"),
        objects=sa.bindparam("d_objects"),
        bytes=sa.bindparam("d_bytes"),
    )
    return stmt.on_conflict_do_update(
        index_elements=["usecase", "scope"],
        set_={
            "objects": _U.c.objects + stmt.excluded.objects,
            "bytes": _U.c.bytes + stmt.excluded.bytes,
        },
    )


@dataclass(frozen=True, slots=True)
class Usage:
    usecase: str
    scope: str
    objects: int
    bytes: int


_ADVISORY_LOCK = sa.text("SELECT pg_advisory_xact_lock(:lock)")


def _lock_id(name: str) -> int:
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _enforce(
    conn: sa.Connection, object_id: ObjectId, quota: Quota, d_objects: int, d_bytes: int
) -> None:
    """Raise QuotaExceeded if adding this much would pass a limit (inside the write txn)."""
    if d_objects <= 0 and d_bytes <= 0:
        return  # shrinking never fails, even over quota
    key = {"pk_usecase": object_id.usecase, "pk_scope": str(object_id.scopes)}
    if conn.dialect.name == "postgresql":
        # Counters are read then written; under READ COMMITTED two writers would both see
        # room. A transaction lock per limited usecase/scope makes the check exact.
        if quota.max_bytes is not None or quota.max_objects is not None:
            conn.execute(_ADVISORY_LOCK, {"lock": _lock_id(object_id.usecase)})
        if quota.scope_max_bytes is not None or quota.scope_max_objects is not None:
            lock = _lock_id(f"{object_id.usecase}/{object_id.scopes}")
            conn.execute(_ADVISORY_LOCK, {"lock": lock})
    checks = [
        (
            "scope",
            str(object_id.scopes),
            _SCOPE_USAGE,
            quota.scope_max_objects,
            quota.scope_max_bytes,
        ),
        ("usecase", object_id.usecase, _USECASE_USAGE, quota.max_objects, quota.max_bytes),
    ]
    for level, name, query, max_objects, max_bytes in checks:
        if max_objects is None and max_bytes is None:
            continue
        row = conn.execute(query, key).first()
        objects, size = (row.objects, row.bytes) if row is not None else (0, 0)
        if max_objects is not None and d_objects > 0 and objects + d_objects > max_objects:
            raise QuotaExceeded(level, name, "objects", max_objects, objects, d_objects)
        if max_bytes is not None and d_bytes > 0 and size + d_bytes > max_bytes:
            raise QuotaExceeded(level, name, "bytes", max_bytes, size, d_bytes)


def _row_to_metadata(row: Mapping[Any, Any]) -> Metadata:
    expires = row["time_expires"]
    custom = row["custom"]
    return Metadata(
        content_type=row["content_type"],
        compression=row["compression"],
        expiration_policy=policy_from_columns(row["expiration_kind"], row["expiration_micros"]),
        time_created=from_micros(row["time_created"]),
        time_expires=None if expires is None else from_micros(expires),
        origin=row["origin"],
        filename=row["filename"],
        size=row["size"],
        custom=json.loads(custom) if custom else {},
    )


def _blob(row: Mapping[Any, Any]) -> BlobRef | None:
    if row["blob_key"] is None:
        return None
    return BlobRef(row["blob_backend"], row["blob_key"])


def _values(
    object_id: ObjectId, meta: Metadata, payload: bytes | None, blob: BlobRef | None
) -> dict[str, Any]:
    kind, micros = policy_to_columns(meta.expiration_policy)
    assert meta.time_created is not None and meta.size is not None
    return {
        "usecase": object_id.usecase,
        "scope": str(object_id.scopes),
        "key": object_id.key,
        "content_type": meta.content_type,
        "compression": meta.compression,
        "expiration_kind": kind,
        "expiration_micros": micros,
        "time_created": to_micros(meta.time_created),
        "time_expires": None if meta.time_expires is None else to_micros(meta.time_expires),
        "origin": meta.origin,
        "filename": meta.filename,
        "custom": json.dumps(meta.custom, separators=(",", ":")) if meta.custom else None,
        "size": meta.size,
        "payload": payload,
        "blob_backend": None if blob is None else blob.backend,
        "blob_key": None if blob is None else blob.key,
    }


class SqlStore:
    """The high-volume tier: object rows with inline payloads or blob references."""

    def __init__(self, url: str, name: str = "sql") -> None:
        self.url = url
        self.name = name
        self._runner: SqlRunner = runner_for(url, name)
        self._sqlite = self._runner.dialect == "sqlite"
        self._upsert = _upsert(sqlite.insert if self._sqlite else postgresql.insert)
        # PostgreSQL locks the previous row; SQLite's BEGIN IMMEDIATE already serialises.
        self._previous = _SELECT_PREVIOUS if self._sqlite else _SELECT_PREVIOUS.with_for_update()
        self._count = _usage_upsert(sqlite.insert if self._sqlite else postgresql.insert)

    # --- lifecycle --------------------------------------------------------------------

    async def open(self) -> None:
        try:
            await self._runner.open()
            await self._runner.write(_upgrade_schema)
        except (OSError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            await self._runner.close()
            raise BackendUnavailable(self.name, f"cannot open {self._safe_url()}: {exc}") from exc

    async def close(self) -> None:
        await self._runner.close()

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # --- reads ------------------------------------------------------------------------

    async def get_row(self, object_id: ObjectId, *, with_payload: bool = True) -> ObjectRow | None:
        query = _SELECT_ROW if with_payload else _SELECT_META
        async with self._guard():
            row = await self._runner.read_one(query, _pk_params(object_id))
        if row is None:
            return None
        payload = row["payload"] if with_payload else None
        return ObjectRow(_row_to_metadata(row), payload, _blob(row))

    # --- writes -----------------------------------------------------------------------

    async def write(
        self,
        object_id: ObjectId,
        meta: Metadata,
        *,
        payload: bytes | None = None,
        blob: BlobRef | None = None,
        if_absent: bool = False,
        quota: Quota | None = None,
    ) -> BlobRef | None:
        """Insert or replace the row; return the blob the previous row referenced.

        Usage counters change in the same transaction, and a quota is checked against
        them there, so concurrent writers can never jointly overshoot it.
        """
        values = _values(object_id, meta, payload, blob)
        key = _pk_params(object_id)
        now = values["time_created"]
        previous, upsert, count = self._previous, self._upsert, self._count

        sqlite_engine = self._sqlite

        def run(conn: sa.Connection) -> BlobRef | None:
            old = conn.execute(previous, key).first()
            if old is None and not sqlite_engine:
                # FOR UPDATE locks nothing when the row is absent: claim the key with a
                # plain INSERT; if a concurrent writer claimed it first, lock theirs.
                try:
                    with conn.begin_nested():
                        if quota is not None:
                            _enforce(conn, object_id, quota, 1, values["size"])
                        conn.execute(_T.insert(), values)
                except sa.exc.IntegrityError:
                    old = conn.execute(previous, key).first()
                else:
                    conn.execute(count, {**key, "d_objects": 1, "d_bytes": values["size"]})
                    return None
            old_row = None if old is None else old._mapping
            if old_row is not None and if_absent:
                expires = old_row["time_expires"]
                if expires is None or expires > now:
                    raise ObjectExists(str(object_id))
            d_objects = 0 if old_row is not None else 1
            d_bytes = values["size"] - (0 if old_row is None else old_row["size"])
            if quota is not None:
                _enforce(conn, object_id, quota, d_objects, d_bytes)
            conn.execute(upsert, values)
            if d_objects or d_bytes:
                conn.execute(count, {**key, "d_objects": d_objects, "d_bytes": d_bytes})
            return None if old_row is None else _blob(old_row)

        async with self._guard():
            return await self._runner.write(run)

    async def delete(self, object_id: ObjectId) -> tuple[bool, BlobRef | None]:
        key = _pk_params(object_id)

        count = self._count

        def run(conn: sa.Connection) -> tuple[bool, BlobRef | None]:
            row = conn.execute(_DELETE_ROW, key).first()
            if row is None:
                return False, None
            conn.execute(count, {**key, "d_objects": -1, "d_bytes": -row.size})
            return True, _blob(row._mapping)

        async with self._guard():
            return await self._runner.write(run)

    async def set_expiry(
        self,
        object_id: ObjectId,
        time_expires: datetime,
        policy: ExpirationPolicy | None = None,
    ) -> bool:
        """Move the deadline later (never earlier); with ``policy``, store it too."""
        params: dict[str, Any] = {**_pk_params(object_id), "new_expires": to_micros(time_expires)}
        stmt = _BUMP_EXPIRY
        if policy is not None:
            kind, micros = policy_to_columns(policy)
            params.update(new_kind=kind, new_micros=micros)
            stmt = _EXTEND_EXPIRY

        def run(conn: sa.Connection) -> bool:
            return bool(conn.execute(stmt, params).rowcount)

        async with self._guard():
            return await self._runner.write(run)

    async def take_expired(
        self, now: datetime, limit: int
    ) -> list[tuple[ObjectId, BlobRef | None]]:
        """Delete up to ``limit`` expired rows; return them with the blobs they named."""
        micros = to_micros(now)
        count = self._count

        def run(conn: sa.Connection) -> list[tuple[ObjectId, BlobRef | None]]:
            taken: list[tuple[ObjectId, BlobRef | None]] = []
            for row in conn.execute(_PICK_EXPIRED, {"now": micros, "limit": limit}).all():
                params = {
                    "pk_usecase": row.usecase,
                    "pk_scope": row.scope,
                    "pk_key": row.key,
                    "now": micros,
                }
                gone = conn.execute(_DELETE_EXPIRED, params).first()
                if gone is not None:
                    conn.execute(count, {**params, "d_objects": -1, "d_bytes": -gone.size})
                    object_id = ObjectId(row.usecase, Scopes.parse(row.scope), row.key)
                    taken.append((object_id, _blob(gone._mapping)))
            return taken

        async with self._guard():
            return await self._runner.write(run)

    # --- usage --------------------------------------------------------------------------

    async def check_quota(self, object_id: ObjectId, quota: Quota, *, adding_bytes: int) -> None:
        """Early refusal before a large upload; the commit checks again, exactly.

        An overwrite adds no object and only the growth in bytes, as the commit counts it.
        """
        key = _pk_params(object_id)

        def run(conn: sa.Connection) -> None:
            old = conn.execute(_SELECT_PREVIOUS, key).first()
            if old is None:
                _enforce(conn, object_id, quota, 1, adding_bytes)
            else:
                _enforce(conn, object_id, quota, 0, adding_bytes - old.size)

        async with self._guard():
            await self._runner.write(run)

    async def usage(
        self, usecase: str | None = None, scope_prefix: str | None = None
    ) -> list[Usage]:
        """Counters per (usecase, scope), optionally filtered; for operators and quotas."""
        query = sa.select(_U).order_by(_U.c.usecase, _U.c.scope)
        if usecase is not None:
            query = query.where(_U.c.usecase == usecase)
        if scope_prefix is not None:
            query = query.where(
                sa.or_(_U.c.scope == scope_prefix, _U.c.scope.startswith(scope_prefix + ";"))
            )

        def run(conn: sa.Connection) -> list[Usage]:
            return [Usage(r.usecase, r.scope, r.objects, r.bytes) for r in conn.execute(query)]

        async with self._guard():
            return await self._runner.write(run)

    # --- errors -----------------------------------------------------------------------

    def _guard(self) -> _EngineErrors:
        return _EngineErrors(self.name)


class _EngineErrors:
    """Turn driver errors into BackendError/BackendUnavailable naming this backend."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or not isinstance(exc, sa.exc.SQLAlchemyError | OSError):
            return
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | OSError):
            raise BackendUnavailable(self.name, str(exc).splitlines()[0]) from exc
        raise BackendError(self.name, str(exc).splitlines()[0]) from exc


def _upgrade_schema(sync_conn: sa.Connection) -> None:
    """Bring the schema to the newest Alembic revision, inside the caller's transaction."""
    if sync_conn.dialect.name == "postgresql":
        # Several instances may start at once; one migrates, the others wait and see it done.
        sync_conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7212031906)")
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = sync_conn
    command.upgrade(config, "head")
