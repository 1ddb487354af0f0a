"""The sync client's batching and compose against a real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from blobhouse import Client, Session, Usecase
from blobhouse.batching import BatchResult
from tests.servers import ServerProcess


@pytest.fixture
def session(blobhouse_server: ServerProcess) -> Iterator[Session]:
    with Client(blobhouse_server.url) as client:
        yield client.session(Usecase("syncbatch"), org=uuid.uuid4().int % 10**9)


def test_many_mixes_batched_and_individual_operations(session: Session) -> None:
    large = bytes((n * 7919) % 256 for n in range(1_200_000))  # over 1 MiB after zstd
    results = (
        session.many()
        .put(b"one", key="one", metadata={"n": "1"})
        .put(large, key="large")
        .put(b"created", key="created", if_absent=True)  # create-only: sent alone
        .put(b"anonymous")
        .send()
    )
    assert all(isinstance(result, BatchResult) for result in results)
    assert [r.status for r in results] == [201, 201, 201, 201]
    assert [r.key for r in results[:3]] == ["one", "large", "created"]

    got = session.many().get("one").get("large").head("created").get("nope").send()
    assert got[0].payload == b"one" and got[0].metadata and got[0].metadata.custom == {"n": "1"}
    assert got[1].payload == large
    assert got[2].status == 204
    assert (got[3].status, got[3].found) == (404, False)

    again = session.many().put(b"again", key="created", if_absent=True).send()
    assert again[0].status == 412 and again[0].error is not None


def test_many_past_one_thousand_operations_in_order(session: Session) -> None:
    batch = session.many()
    for n in range(1100):
        batch.put(b"%d" % n, key=f"k{n}", compress="none")
    assert len(batch) == 1100
    assert {r.status for r in batch.send()} == {201}
    deleted = session.many().delete("k0").delete("k1099").get("k1099").send()
    assert [r.status for r in deleted[:2]] == [204, 204]
    assert session.get("k0") is None and session.get("k1099") is None
    assert session.get("k500") is not None


def test_compose_concatenates_server_side(session: Session) -> None:
    session.put(b"<html>", key="p1", content_type="text/html")
    session.put(b"</html>", key="p2")
    key = session.compose(["p1", "p2"], filename="page.html")
    result = session.get(key)
    assert result is not None
    assert result.payload.read() == b"<html></html>"
    assert result.metadata.content_type == "text/html"
    assert result.metadata.filename == "page.html"


@pytest.mark.parametrize("sources", [[], "p1", ["ok", ""]])
def test_compose_checks_its_sources_before_sending(session: Session, sources: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message differs per case
        session.compose(sources)  # type: ignore[arg-type]
