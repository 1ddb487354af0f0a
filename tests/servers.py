"""Real ``blobhouse serve`` processes for tests that talk HTTP.

Every server runs as ``python -m blobhouse serve --config <yaml>`` on 127.0.0.1 and a
free port, in its own working directory with its own data directory, and writes its
PID to ``<data dir>/server.pid``. It runs in a new session, so the process group it
leads (granian's workers included) is ended by that PID and nothing else: SIGTERM
first, SIGKILL for the group if it lingers.

Configurations are plain dicts in the YAML layout of ``blobhouse serve --config``;
:func:`write_config` fills in tiered storage under the data directory and quiet logs
unless the test says otherwise.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SERVE_TIMEOUT = 60.0

#: Auth off: the configuration most HTTP and compatibility tests run.
OPEN_AUTH: dict[str, Any] = {"enforce": False}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    """The test environment minus anything that would reconfigure the server."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OS__", "BLOBHOUSE__")) and name != "BLOBHOUSE_CONFIG_FILE"
    }


def write_config(workdir: Path, config: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``config`` as YAML; storage defaults to tiered under ``workdir/data``."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    tree: dict[str, Any] = copy.deepcopy(dict(config))
    tree.setdefault("auth", dict(OPEN_AUTH))
    tree.setdefault("storage", {"type": "tiered", "path": str(data_dir)})
    tree.setdefault("logging", {"level": "WARN"})
    config_file = workdir / "blobhouse.yaml"
    config_file.write_text(yaml.safe_dump(tree, sort_keys=False))
    return config_file, data_dir


def serve_command(config_file: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "blobhouse",
        "serve",
        "--config",
        str(config_file),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra,
    ]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class ServerProcess:
    """One running ``blobhouse serve``; :meth:`stop` and :meth:`kill` end it by its PID."""

    process: subprocess.Popen[bytes]
    url: str
    workdir: Path
    data_dir: Path
    config_file: Path
    log_file: Path
    pid_file: Path
    stopped: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def peak_rss(self) -> int:
        """The largest VmHWM (bytes) among the server's processes (granian's worker too)."""
        peak = 0
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[2]) != self.pid:  # process group
                    continue
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
            except (OSError, ValueError, IndexError):
                continue
        return peak

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL for the whole process group."""
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)
        self._kill_group()
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the server and its workers at once: a crash, with no chance to clean up."""
        self.stopped = True
        self._kill_group()
        self.pid_file.unlink(missing_ok=True)

    def _kill_group(self) -> None:
        # start_new_session=True made the server the leader of its own group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT)


def launch_server(
    workdir: Path, config: Mapping[str, Any], *, extra_args: tuple[str, ...] = ()
) -> ServerProcess:
    """Start a server with ``config`` and wait until ``/health`` answers."""
    config_file, data_dir = write_config(workdir, config)
    last_log = ""
    for _attempt in range(3):  # another process may grab the free port first
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_file = workdir / f"server-{port}.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                serve_command(config_file, port, *extra_args),
                cwd=workdir,
                env=clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid_file = data_dir / "server.pid"
        pid_file.write_text(f"{process.pid}\n")
        server = ServerProcess(process, url, workdir, data_dir, config_file, log_file, pid_file)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if healthy(url):
                return server
            time.sleep(0.1)
        last_log = server.log()
        server.stop()
        if "address already in use" not in last_log.lower():
            break
    raise RuntimeError(f"blobhouse serve did not become healthy; its output:\n{last_log}")


def relaunch(server: ServerProcess) -> ServerProcess:
    """Start a new server on the same working directory and config (a restart)."""
    config = yaml.safe_load(server.config_file.read_text())
    return launch_server(server.workdir, config)


def run_serve(workdir: Path, config: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
    """Run ``blobhouse serve`` to completion (for configurations it must refuse)."""
    config_file, _ = write_config(workdir, config)
    port = free_port()
    try:
        return subprocess.run(
            serve_command(config_file, port),
            cwd=workdir,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SERVE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        # It started after all: subprocess.run has already killed it.
        raise AssertionError(f"blobhouse serve started with config {config!r}") from exc
