"""A fresh PostgreSQL database per test session, on the server at 127.0.0.1:5432.

PostgreSQL must be running (``make test`` starts it); if it is not, these tests fail
rather than skip.
"""

from __future__ import annotations

import os
import uuid

import asyncpg

ADMIN_DSN = os.environ.get("BLOBHOUSE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


async def create_database() -> str:
    name = f"blobhouse_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def sqlalchemy_url(name: str) -> str:
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"
