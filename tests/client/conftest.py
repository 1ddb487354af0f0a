from collections.abc import Iterator

import pytest

from blobhouse import Client, Session, Usecase
from tests.client.recorder import Recorder


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(recorder: Recorder) -> Iterator[Client]:
    with Client(recorder.url, retries=0, timeout_ms=5_000) as client:
        yield client


@pytest.fixture
def session(client: Client) -> Session:
    return client.session(Usecase("attachments"), org=42, project=7)
