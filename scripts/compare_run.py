#!/usr/bin/env python3
"""The measuring half of scripts/compare: starts each target on loopback, drives it with wrk,
and writes the results as Markdown, JSON and an SVG chart.

Only the standard library is used. The chart is written as SVG text directly, on purpose:
a bar per target and cell is a handful of ``<rect>`` elements, and a plotting library would
add a dependency (matplotlib, or a Rust crate built in release) to a script whose only other
needs are wrk and the peers. scripts/compare builds the binaries and prepares wrk and
the FastAPI peer's virtual environment, then calls this with what is available.

Per target, wrk cells of a fixed duration:

- ``public``: ``GET /public``, expect 200;
- ``public_h``: ``GET /public`` carrying the same ``Authorization`` header as ``protected``
  (which ``/public`` ignores), expect 200: the framework's floor for the same request bytes,
  so that ``protected ÷ public_h`` is the cost of the authentication layer alone;
- ``protected``: ``GET /protected`` with one token repeated, expect 200 (a sample serves it
  from its token cache);
- ``rotating``: ``GET /protected`` with distinct tokens in rotation, expect 200. A sample's
  token cache would hold them all after one pass, so for this cell each sample is started a
  second time with ``AUTH_TOKEN_CACHE_SIZE=0``: every request is a full verification;
- ``admin403``: ``GET /admin`` with a token without the admin role, expect 403;
- ``scraped``: ``protected`` while ``/metrics`` is scraped once a second (metrics are on by
  default), and ``nometrics``: ``protected`` with ``METRICS=0`` (no recorder):
  ``scraped ÷ nometrics`` is the cost of exporting metrics. Both instances run side by side,
  get a one-second warm-up each, then are loaded in turn for ``--rounds`` rounds
  (``nometrics`` first in odd rounds, second in even ones); each cell is the mean of its
  rounds, so that drift on a shared machine falls on both alike. Samples only; the peers
  have no ``/metrics``. ``--metrics-only`` runs just these two cells, and no peer;
- ``dpop_memory`` and ``dpop_redis``: ``GET /protected`` with one DPoP-bound token
  (``cnf.jkt``, RFC 9449), sent as ``Authorization: DPoP``, and a proof of its own with every
  request, as real clients send, expect 200; ``--dpop-duration`` seconds each. Each runs on a
  fresh instance with ``AUTH_PUBLIC_URL``, ``AUTH_DPOP=allowed``,
  ``AUTH_DPOP_MAX_AGE_SECS=300`` and ``AUTH_DPOP_REPLAY=memory``, or the ``redis://`` URL of
  one ``redis-server`` this script starts on loopback for the whole run (no persistence,
  flushed after each cell). wrk cannot sign, so the proofs are made just before the cell by
  scripts/compare_dpop.py (with ``--proof-python``, which has ``cryptography``): the
  ``protected`` rate times the duration times 1.2, at most ``PROOF_CAP``; each wrk thread
  sends its own slice, none twice. A thread that runs out sends a stand-in the server
  refuses (401), so the cell fails and says so. The token is served from the token cache
  like ``protected``'s, so ``dpop ÷ protected`` is the cost of the proof: its signature check
  and the ``jti``'s store round trip. Samples only. ``--dpop-only`` runs just ``protected``
  and these two cells, and no peer.

The server's CPU time per request is measured for every cell (and Redis's for
``dpop_redis``): it hardly depends on what else the machine runs.

A cell with any other status, or any socket error or timeout, is marked failed.
"""

import argparse
import datetime
import html
import http.client
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CELLS = [
    ("public", "/public", 200, "/public"),
    ("public_h", "/public", 200, "/public + token header"),
    ("protected", "/protected", 200, "/protected, 1 token"),
    ("rotating", "/protected", 200, "/protected, {tokens} tokens"),
    ("admin403", "/admin", 403, "/admin → 403"),
    ("scraped", "/protected", 200, "/protected, 1 token, /metrics scraped 1/s"),
    ("nometrics", "/protected", 200, "/protected, 1 token, METRICS=0"),
    ("dpop_memory", "/protected", 200, "/protected, DPoP proof each, memory store"),
    ("dpop_redis", "/protected", 200, "/protected, DPoP proof each, Redis store"),
]
# The cells that need the samples' /metrics, and those that need their DPoP support; peers
# run the others.
METRICS_CELLS = {"scraped", "nometrics"}
DPOP_CELLS = {"dpop_memory", "dpop_redis"}
SCRAPE_INTERVAL_SECS = 1.0
FASTAPI = "fastapi-peer"
JWT_AUTHORIZER = "jwt-authorizer-peer"
ISSUER_SAMPLE = "sample-axum"
START_TIMEOUT_SECS = 60

# The DPoP cells' settings. The origin is the contract's example; proofs name it in `htu`.
PUBLIC_URL = "https://api.example.test"
DPOP_MAX_AGE_SECS = 300
# Proofs are dated when they are made: the cell must end this long before they age out.
DPOP_AGE_MARGIN_SECS = 30
# More proofs than this would not help: the memory store holds at most 100,000 live `jti`s
# (api-auth's MemoryReplayStore::DEFAULT_CAPACITY, each kept for the maximum age plus twice
# the leeway), past which it refuses proofs (503) rather than forget one.
PROOF_CAP = 90_000
PROOF_FLOOR = 1_000
PROOF_MARGIN = 1.2

# Variables that would take a sample out of development mode or gate its routes.
CLEARED_ENV = (
    "AUTH_ISSUER",
    "AUTH_JWKS_URL",
    "AUTH_AUDIENCE",
    "AUTH_ALGORITHMS",
    "AUTH_HS256_SECRET",
    "AUTH_TOKEN_CACHE_SIZE",
    "AUTH_PUBLIC_URL",
    "AUTH_DPOP",
    "AUTH_DPOP_REPLAY",
    "AUTH_DPOP_MAX_AGE_SECS",
    "AUTH_DPOP_NONCE",
    "AUTH_MTLS_CERT_HEADER",
    "API_KEYS",
    "SHARED_SECRET",
    "FORCE_HTTPS",
    "METRICS",
    "LOG_FORMAT",
    "HOST",
    "PORT",
)


class TargetError(Exception):
    """A target could not be started or does not answer as the contract says."""


@dataclass
class Cell:
    """One wrk run."""

    status: str = "skipped"  # ok, failed, skipped
    reason: str = ""
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    statuses: dict = field(default_factory=dict)
    runs: list = field(default_factory=list)  # requests per second of each round, when rounds
    cpu_us: float = 0.0  # the server's CPU time per request, in µs, when measured
    store_cpu_us: float = 0.0  # Redis's CPU time per request, in µs, for dpop_redis


@dataclass
class Target:
    """One row of the table."""

    name: str
    kind: str  # sample or peer
    note: str = ""
    cells: dict = field(default_factory=dict)
    rss_idle_kib: int = 0
    rss_load_kib: int = 0


def mean_cell(cells):
    """One cell from several runs of it: the mean throughput and latencies, every run's
    requests and statuses; failed when any run failed."""
    failed = [c for c in cells if c.status != "ok"]
    merged = Cell(status="failed" if failed else "ok", reason="; ".join(c.reason for c in failed))
    merged.runs = [round(c.rps) for c in cells]
    count = len(cells) or 1
    merged.rps = sum(c.rps for c in cells) / count
    merged.p50_ms = sum(c.p50_ms for c in cells) / count
    merged.p99_ms = sum(c.p99_ms for c in cells) / count
    merged.requests = sum(c.requests for c in cells)
    merged.cpu_us = sum(c.cpu_us for c in cells) / count
    merged.store_cpu_us = sum(c.store_cpu_us for c in cells) / count
    for c in cells:
        for status, n in c.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + n
    return merged


class Process:
    """A server we started: its output goes to log files, its address is read from them."""

    running = []

    def __init__(self, label, argv, env, log_dir, cwd=None):
        self.label = label
        self.stdout_path = log_dir / f"{label}.out"
        self.stderr_path = log_dir / f"{label}.err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(
                argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd
            )
        Process.running.append(self)
        self.base_url = self._wait_for_address()

    @property
    def pid(self):
        return self.popen.pid

    def _wait_for_address(self):
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline:
            text = self.stdout_path.read_text(errors="replace")
            for line in text.splitlines():
                if line.startswith("listening on http://"):
                    return line.split("listening on ", 1)[1].strip()
            code = self.popen.poll()
            if code is not None:
                last = self.stderr_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise TargetError(f"exited with code {code}: {' '.join(last)[:200]}")
            time.sleep(0.05)
        raise TargetError(f"no 'listening on' line within {START_TIMEOUT_SECS} s")

    def rss_kib(self):
        """VmRSS of the process, in KiB (0 when it is gone)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def cpu_secs(self):
        """User and system CPU time the process has used, in seconds (0 when it is gone)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def stop(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self in Process.running:
            Process.running.remove(self)

    @classmethod
    def stop_all(cls):
        for process in list(cls.running):
            process.stop()


def free_loopback_port():
    """A TCP port free on 127.0.0.1 now (for a server that cannot be told to take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def redis_command(port, *words, timeout=5):
    """Sends one command to the Redis server on loopback ``port`` (RESP: an array of bulk
    strings) and returns the first line of its reply."""
    command = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(command.encode())
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.decode(errors="replace").strip()


class RedisServer(Process):
    """A ``redis-server`` for the ``dpop_redis`` cells: loopback, a free port, nothing
    persisted; its ``base_url`` is the ``redis://`` URL the samples are given."""

    def __init__(self, binary, log_dir):
        self.port = free_loopback_port()
        argv = [
            binary, "--bind", "127.0.0.1", "--port", str(self.port),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]
        super().__init__("redis-server", argv, dict(os.environ), log_dir)

    def _wait_for_address(self):
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline:
            code = self.popen.poll()
            if code is not None:
                last = self.stdout_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise TargetError(f"redis-server exited with code {code}: {' '.join(last)[:200]}")
            try:
                if redis_command(self.port, "PING", timeout=1) == "+PONG":
                    return f"redis://127.0.0.1:{self.port}"
            except OSError:
                pass
            time.sleep(0.05)
        raise TargetError(f"redis-server did not answer PING within {START_TIMEOUT_SECS} s")

    def flush(self):
        """Forgets every key (between cells, so that each starts with an empty store)."""
        reply = redis_command(self.port, "FLUSHALL")
        if reply != "+OK":
            raise TargetError(f"redis-server answered FLUSHALL with {reply!r}")


class ProofMaker:
    """One DPoP client key for the run, and proofs by it, made by scripts/compare_dpop.py
    under a Python that has ``cryptography``."""

    def __init__(self, python, root, out):
        self.python = python
        self.script = root / "scripts" / "compare_dpop.py"
        self.out = out
        self.key_file = out / "dpop-client-key.pem"
        self.jkt = self._run("key", self.key_file).strip()

    def _run(self, *args):
        run = subprocess.run(
            [self.python, str(self.script), *map(str, args)],
            capture_output=True, text=True, timeout=300,
        )
        if run.returncode != 0:
            raise TargetError(f"compare_dpop.py {args[0]} failed: {run.stderr.strip()[-200:]}")
        return run.stdout

    def proofs(self, label, token, count):
        """Writes ``count`` fresh proofs for ``GET /protected`` with ``token``; returns the
        file (about 0.5 KB a proof), which the caller deletes once used."""
        token_file = self.out / f"dpop-token.{label}.txt"
        token_file.write_text(token + "\n")
        proof_file = self.out / f"dpop-proofs.{label}.txt"
        try:
            self._run(
                "proofs", self.key_file, token_file, count, f"{PUBLIC_URL}/protected", proof_file
            )
        finally:
            token_file.unlink(missing_ok=True)
        return proof_file


def dpop(token, proof):
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


def request(base_url, method, path, headers=None, body=None, timeout=10):
    """One HTTP request; returns (status, body bytes)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Scraper:
    """Scrapes ``/metrics`` at a fixed interval in a thread while a cell runs."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.stopped = threading.Event()
        self.scrapes = 0
        self.failures = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stopped.wait(SCRAPE_INTERVAL_SECS):
            try:
                status, _ = request(self.base_url, "GET", "/metrics", timeout=5)
                ok = status == 200
            except OSError:
                ok = False
            self.scrapes += 1
            self.failures += 0 if ok else 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stopped.set()
        self.thread.join()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def wait_healthy(base_url, path):
    deadline = time.monotonic() + START_TIMEOUT_SECS
    while time.monotonic() < deadline:
        try:
            if request(base_url, "GET", path, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TargetError(f"{path} never answered 200")


def mint_tokens(issuer_url, count, workers=4):
    """Mints ``count`` distinct role-less tokens through the dev issuer's ``POST /dev/token``."""
    tokens = [None] * count
    errors = []
    parts = urlsplit(issuer_url)

    def work(start):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            for i in range(start, count, workers):
                body = json.dumps({"sub": f"user-{i}"})
                conn.request("POST", "/dev/token", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
                if response.status != 200:
                    raise TargetError(f"POST /dev/token answered {response.status}")
                tokens[i] = json.loads(payload)["token"]
        except (OSError, ValueError, KeyError, TargetError) as e:
            errors.append(str(e))
        finally:
            conn.close()

    pool = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors or any(t is None for t in tokens):
        raise TargetError(f"minting tokens failed: {errors[:1]}")
    return tokens


def mint_one(issuer_url, claims):
    status, body = request(
        issuer_url, "POST", "/dev/token", {"Content-Type": "application/json"}, json.dumps(claims)
    )
    if status != 200:
        raise TargetError(f"POST /dev/token answered {status}")
    try:
        return json.loads(body)["token"]
    except (ValueError, KeyError) as e:
        raise TargetError(f"POST /dev/token: unexpected body ({e})") from e


def probe(base_url, user_token, admin_token, contract=True):
    """Checks the routes the cells use before loading them (and, for a sample, the contract's
    401 without a token)."""
    checks = [
        ("/public", {}, 200),
        ("/protected", bearer(user_token), 200),
        ("/admin", bearer(user_token), 403),
        ("/admin", bearer(admin_token), 200),
    ]
    if contract:
        checks.append(("/protected", {}, 401))
    for path, headers, expected in checks:
        status, _ = request(base_url, "GET", path, headers)
        if status != expected:
            what = "with a token" if headers else "without a token"
            raise TargetError(f"probe: GET {path} {what} answered {status}, expected {expected}")


class Runner:
    """Runs the wrk cells and keeps the results."""

    def __init__(self, args):
        self.args = args
        self.root = Path(args.root).resolve()
        self.out = Path(args.out).resolve()
        self.logs = self.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.lua = self.root / "scripts" / "compare.lua"
        self.targets = []
        self.proof_maker = None  # set by start_dpop when the DPoP cells can run
        self.redis = None  # the replay store of the dpop_redis cells, when it can run
        self.dpop_notes = []  # why DPoP cells did not run

    def base_env(self, **extra):
        env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
        # No per-request logging anywhere: refusals (the 403 cell) are logged at info level.
        env["RUST_LOG"] = "warn"
        env.update(HOST="127.0.0.1", PORT="0")
        env.update(extra)
        return env

    def wrk(self, target, cell_name, base_url, path, expected, token=None, token_file=None,
            scrape=False, duration=None, server=None, store=None, proofs=None):
        """One wrk run. ``server`` and ``store``: the processes whose CPU time per request is
        measured; ``proofs``: (DPoP-bound token, proof file) for the DPoP cells."""
        duration = duration or self.args.duration
        if scrape:
            with Scraper(base_url) as scraper:
                cell = self.wrk(
                    target, cell_name, base_url, path, expected, token, token_file,
                    duration=duration, server=server,
                )
            if cell.status == "ok" and (scraper.failures or not scraper.scrapes):
                cell.status = "failed"
                cell.reason = f"{scraper.failures} of {scraper.scrapes} scrapes failed"
            return cell
        cell = Cell()
        argv = [
            self.args.wrk,
            f"-t{self.args.threads}",
            f"-c{self.args.connections}",
            f"-d{duration}s",
            "--timeout",
            "5s",
            "-s",
            str(self.lua),
        ]
        if token:
            argv += ["-H", f"Authorization: Bearer {token}"]
        argv.append(base_url + path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPARE_")}
        if token_file:
            env["COMPARE_TOKEN_FILE"] = str(token_file)
        if proofs:
            dpop_token, proof_file = proofs
            env.update(
                COMPARE_DPOP_TOKEN=dpop_token,
                COMPARE_PROOF_FILE=str(proof_file),
                COMPARE_PROOF_SLICES=str(self.args.threads),
            )
        log = self.logs / f"{target.name}.{cell_name}.wrk.txt"
        cpu_before = {p: p.cpu_secs() for p in (server, store) if p is not None}
        try:
            run = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=duration + 60
            )
        except subprocess.TimeoutExpired:
            cell.status, cell.reason = "failed", "wrk did not finish"
            return cell
        cpu_used = {p: p.cpu_secs() - before for p, before in cpu_before.items()}
        log.write_text(run.stdout + run.stderr)
        line = next((l for l in run.stdout.splitlines() if l.startswith("COMPARE_RESULT ")), None)
        if run.returncode != 0 or line is None:
            cell.status, cell.reason = "failed", f"wrk exited with {run.returncode}"
            return cell
        data = json.loads(line.split(" ", 1)[1])
        cell.requests = data["requests"]
        cell.statuses = {int(k): v for k, v in data["statuses"].items()}
        duration = data["duration_us"] / 1e6
        cell.rps = cell.requests / duration if duration else 0.0
        cell.p50_ms = data["p50_us"] / 1000
        cell.p99_ms = data["p99_us"] / 1000
        if cell.requests:
            cell.cpu_us = cpu_used.get(server, 0.0) * 1e6 / cell.requests
            cell.store_cpu_us = cpu_used.get(store, 0.0) * 1e6 / cell.requests
        unexpected = {s: n for s, n in cell.statuses.items() if s != expected}
        socket_errors = {k: v for k, v in data["errors"].items() if k != "status" and v}
        exhausted = data.get("proofs_exhausted", 0)
        if cell.requests == 0:
            cell.status, cell.reason = "failed", "no response"
        elif exhausted:
            cell.status = "failed"
            cell.reason = f"ran out of proofs: {exhausted:,} requests sent without one (401)"
        elif unexpected:
            cell.status = "failed"
            cell.reason = ", ".join(f"{n}× {s}" for s, n in sorted(unexpected.items()))
        elif socket_errors:
            cell.status = "failed"
            cell.reason = ", ".join(f"{n} {k} errors" for k, n in socket_errors.items())
        else:
            cell.status = "ok"
        return cell

    def run_cells(self, target, process, names, token, token_file):
        base_url = process.base_url
        for name, path, expected, _ in CELLS:
            if name not in names:
                continue
            print(f"  {target.name}: {name} ({self.args.duration} s)", flush=True)
            if name == "rotating":
                cell = self.wrk(target, name, base_url, path, expected, token_file=token_file,
                                server=process)
            elif name == "public":
                cell = self.wrk(target, name, base_url, path, expected, server=process)
            elif name == "scraped":
                cell = self.wrk(target, name, base_url, path, expected, token=token, scrape=True,
                                server=process)
            else:
                cell = self.wrk(target, name, base_url, path, expected, token=token,
                                server=process)
            target.cells[name] = cell
            if cell.status != "ok":
                print(f"    failed: {cell.reason}", flush=True)

    def write_tokens(self, label, tokens):
        path = self.out / f"tokens.{label}.txt"
        path.write_text("\n".join(tokens) + "\n")
        return path

    def run_sample(self, name, binary):
        """Runs a sample; returns its cache-less instance and its tokens when it is the issuer."""
        target = Target(name, "sample")
        self.targets.append(target)
        cached = uncached = None
        try:
            print(f"{name}: starting (development mode, default token cache)", flush=True)
            cached = Process(f"{name}.cached", [binary], self.base_env(), self.logs)
            wait_healthy(cached.base_url, "/healthz")
            target.rss_idle_kib = cached.rss_kib()
            user = mint_one(cached.base_url, {"sub": "u1"})
            admin = mint_one(cached.base_url, {"sub": "u1", "roles": ["admin"]})
            probe(cached.base_url, user, admin)
            cells = {"protected"} if self.args.dpop_only else {
                "public", "public_h", "protected", "admin403"
            }
            self.run_cells(target, cached, cells, user, None)
            target.rss_load_kib = cached.rss_kib()
            cached.stop()

            self.run_dpop_cells(target, binary)
            if self.args.dpop_only:
                return None, None, None

            self.run_metrics_cells(target, binary)

            print(f"{name}: starting again with AUTH_TOKEN_CACHE_SIZE=0", flush=True)
            uncached = Process(
                f"{name}.uncached", [binary], self.base_env(AUTH_TOKEN_CACHE_SIZE="0"), self.logs
            )
            wait_healthy(uncached.base_url, "/healthz")
            print(f"  {name}: minting {self.args.tokens} tokens", flush=True)
            tokens = mint_tokens(uncached.base_url, self.args.tokens)
            token_file = self.write_tokens(name, tokens)
            self.run_cells(target, uncached, {"rotating"}, None, token_file)
            if name == ISSUER_SAMPLE:
                return uncached, tokens, token_file
            uncached.stop()
        except (TargetError, OSError) as e:
            target.note = str(e)
            print(f"  {name}: {e}", flush=True)
            for process in (cached, uncached):
                if process is not None:
                    process.stop()
        return None, None, None

    def run_metrics_cells(self, target, binary):
        """The ``scraped`` and ``nometrics`` cells: a metered and an unmetered instance side by
        side, loaded in turn (unmetered first) for ``--rounds`` rounds; each cell keeps the
        mean of its rounds."""
        name = target.name
        print(f"{name}: starting with metrics on, and with METRICS=0", flush=True)
        metered = Process(f"{name}.metered", [binary], self.base_env(), self.logs)
        try:
            unmetered = Process(f"{name}.nometrics", [binary], self.base_env(METRICS="0"), self.logs)
        except TargetError:
            metered.stop()
            raise
        try:
            instances = {"nometrics": unmetered, "scraped": metered}
            users = {}
            for cell_name, process in instances.items():
                wait_healthy(process.base_url, "/healthz")
                users[cell_name] = mint_one(process.base_url, {"sub": "u1"})
                status, _ = request(process.base_url, "GET", "/protected", bearer(users[cell_name]))
                if status != 200:
                    raise TargetError(f"probe: GET /protected answered {status}, expected 200")
                self.wrk(target, f"{cell_name}.warmup", process.base_url, "/protected", 200,
                         token=users[cell_name], duration=1)
            runs = {cell_name: [] for cell_name in instances}
            order = list(instances)
            for round_number in range(1, self.args.rounds + 1):
                # A, B, then B, A: a steady drift of the machine's speed favours neither.
                for cell_name in order if round_number % 2 else reversed(order):
                    process = instances[cell_name]
                    print(f"  {name}: {cell_name}, round {round_number} of {self.args.rounds} "
                          f"({self.args.duration} s)", flush=True)
                    cell = self.wrk(target, f"{cell_name}.{round_number}", process.base_url,
                                    "/protected", 200, token=users[cell_name],
                                    scrape=cell_name == "scraped", server=process)
                    runs[cell_name].append(cell)
                    if cell.status != "ok":
                        print(f"    failed: {cell.reason}", flush=True)
            for cell_name, cells in runs.items():
                target.cells[cell_name] = mean_cell(cells)
        finally:
            metered.stop()
            unmetered.stop()

    def run_dpop_cells(self, target, binary):
        """The ``dpop_memory`` and ``dpop_redis`` cells, each on a fresh instance."""
        if self.proof_maker is None:
            return
        stores = [("dpop_memory", "memory", None)]
        if self.redis is not None:
            stores.append(("dpop_redis", self.redis.base_url, self.redis))
        for cell_name, replay, store in stores:
            try:
                cell = self.run_dpop_cell(target, binary, cell_name, replay, store)
            finally:
                if store is not None:
                    store.flush()
            target.cells[cell_name] = cell
            if cell.status != "ok":
                print(f"    failed: {cell.reason}", flush=True)

    def run_dpop_cell(self, target, binary, cell_name, replay, store):
        """One DPoP cell: an instance with DPoP allowed and ``replay`` as its replay store, a
        token bound to the run's client key, proofs made now, then wrk."""
        name = target.name
        label = f"{name}.{cell_name}"
        duration = self.args.dpop_duration
        print(f"{name}: starting with AUTH_DPOP=allowed, AUTH_DPOP_REPLAY={replay}", flush=True)
        env = self.base_env(
            AUTH_PUBLIC_URL=PUBLIC_URL,
            AUTH_DPOP="allowed",
            AUTH_DPOP_REPLAY=replay,
            AUTH_DPOP_MAX_AGE_SECS=str(DPOP_MAX_AGE_SECS),
        )
        process = proof_file = None
        try:
            process = Process(label, [binary], env, self.logs)
            wait_healthy(process.base_url, "/healthz")
            token = mint_one(process.base_url, {"sub": "u1", "cnf": {"jkt": self.proof_maker.jkt}})
            # The probe's proof: accepted once, refused when replayed, refused with Bearer.
            probe_file = self.proof_maker.proofs(f"{label}.probe", token, 1)
            probe_proof = probe_file.read_text().strip()
            probe_file.unlink()
            for headers, expected, what in (
                (bearer(token), 401, "a DPoP-bound token as Bearer"),
                (dpop(token, probe_proof), 200, "a DPoP-bound token and its proof"),
                (dpop(token, probe_proof), 401, "the same proof again"),
            ):
                status, _ = request(process.base_url, "GET", "/protected", headers)
                if status != expected:
                    raise TargetError(
                        f"probe: GET /protected with {what} answered {status}, expected {expected}"
                    )
            count = self.proof_count(target)
            print(f"  {name}: {cell_name}: making {count:,} proofs", flush=True)
            made = time.monotonic()
            proof_file = self.proof_maker.proofs(label, token, count)
            elapsed = time.monotonic() - made
            if elapsed + duration + DPOP_AGE_MARGIN_SECS > DPOP_MAX_AGE_SECS:
                return Cell(status="failed", reason=f"making the proofs took {elapsed:.0f} s: "
                            "they would age out during the cell")
            print(f"  {name}: {cell_name} ({duration} s, proofs made in {elapsed:.1f} s)",
                  flush=True)
            return self.wrk(target, cell_name, process.base_url, "/protected", 200,
                            duration=duration, server=process, store=store,
                            proofs=(token, proof_file))
        except (TargetError, OSError, subprocess.TimeoutExpired) as e:
            return Cell(status="failed", reason=str(e))
        finally:
            if process is not None:
                process.stop()
            if proof_file is not None:
                proof_file.unlink(missing_ok=True)

    def proof_count(self, target):
        """Enough proofs for one DPoP cell: it cannot outrun the plain ``protected`` cell of
        the same sample (the same request, plus a proof to check), so that rate times the
        duration, with a margin for a machine whose speed drifts; ``PROOF_CAP`` without it."""
        rate = ok_rps(target, "protected")
        if rate is None:
            return PROOF_CAP
        wanted = math.ceil(rate * self.args.dpop_duration * PROOF_MARGIN)
        return max(PROOF_FLOOR, min(PROOF_CAP, wanted))

    def run_metrics_only(self, name, binary):
        target = Target(name, "sample")
        self.targets.append(target)
        try:
            self.run_metrics_cells(target, binary)
        except (TargetError, OSError) as e:
            target.note = str(e)
            print(f"  {name}: {e}", flush=True)

    def run_peer(self, name, argv, issuer, tokens, token_file, cwd=None):
        target = Target(name, "peer")
        self.targets.append(target)
        process = None
        try:
            print(f"{name}: starting (keys from {issuer.base_url})", flush=True)
            env = self.base_env(
                AUTH_ISSUER=issuer.base_url,
                AUTH_JWKS_URL=f"{issuer.base_url}/.well-known/jwks.json",
            )
            process = Process(name, argv, env, self.logs, cwd=cwd)
            wait_healthy(process.base_url, "/public")
            target.rss_idle_kib = process.rss_kib()
            admin = mint_one(issuer.base_url, {"sub": "u1", "roles": ["admin"]})
            probe(process.base_url, tokens[0], admin, contract=False)
            cells = {c[0] for c in CELLS} - METRICS_CELLS - DPOP_CELLS
            self.run_cells(target, process, cells, tokens[0], token_file)
            target.rss_load_kib = process.rss_kib()
        except (TargetError, OSError) as e:
            target.note = str(e)
            print(f"  {name}: {e}", flush=True)
        finally:
            if process is not None:
                process.stop()

    def skip(self, name, kind, reason):
        self.targets.append(Target(name, kind, note=reason))
        print(f"{name}: skipped ({reason})", flush=True)

    def run(self):
        samples = dict(s.split("=", 1) for s in self.args.sample)
        unavailable = dict(s.split("=", 1) for s in self.args.unavailable)
        order = [ISSUER_SAMPLE] + sorted(n for n in set(samples) | set(unavailable) if n != ISSUER_SAMPLE)
        issuer = tokens = token_file = None
        if not self.args.metrics_only:
            self.start_dpop()
        for name in order:
            if self.args.metrics_only:
                if name in samples:
                    self.run_metrics_only(name, samples[name])
                else:
                    self.skip(name, "sample", unavailable[name])
                continue
            if name in samples:
                started = self.run_sample(name, samples[name])
                if name == ISSUER_SAMPLE:
                    issuer, tokens, token_file = started
            elif name in unavailable:
                self.skip(name, "sample", unavailable[name])
            if name == ISSUER_SAMPLE and not self.args.dpop_only:
                self.run_peers(issuer, tokens, token_file)
                if issuer is not None:
                    issuer.stop()

    def start_dpop(self):
        """Prepares the DPoP cells (the client key, the Redis server) and notes what cannot
        run."""
        why_not = self.args.dpop_unavailable or "no Python with cryptography to sign proofs"
        if not self.args.proof_python:
            self.dpop_notes.append(f"DPoP cells not run: {why_not}")
            return
        try:
            self.proof_maker = ProofMaker(self.args.proof_python, self.root, self.out)
        except (TargetError, OSError, subprocess.TimeoutExpired) as e:
            self.dpop_notes.append(f"DPoP cells not run: {e}")
            return
        if not self.args.redis_server:
            why_not = self.args.redis_unavailable or "no redis-server"
            self.dpop_notes.append(f"`dpop_redis` not run: {why_not}")
            return
        try:
            self.redis = RedisServer(self.args.redis_server, self.logs)
            print(f"redis-server: {self.redis.base_url}", flush=True)
        except (TargetError, OSError) as e:
            self.dpop_notes.append(f"`dpop_redis` not run: {e}")

    def run_peers(self, issuer, tokens, token_file):
        peers = [
            (FASTAPI, self.args.fastapi_python and [self.args.fastapi_python, "fastapi_app.py"],
             self.root / "scripts" / "peers", self.args.fastapi_unavailable),
            (JWT_AUTHORIZER, self.args.jwt_authorizer_peer and [self.args.jwt_authorizer_peer],
             None, self.args.jwt_authorizer_unavailable),
        ]
        for name, argv, cwd, why_not in peers:
            if not argv:
                self.skip(name, "peer", why_not or "not available")
            elif issuer is None:
                self.skip(name, "peer", f"needs {ISSUER_SAMPLE} as its token issuer")
            else:
                self.run_peer(name, argv, issuer, tokens, token_file, cwd=cwd)


# ---------------------------------------------------------------------------------------
# Reporting


def cell_label(name, tokens):
    label = next(c[3] for c in CELLS if c[0] == name)
    return label.format(tokens=f"{tokens:,}")


def fmt_rps(cell):
    if cell is None:
        return "–"
    if cell.status != "ok":
        return f"failed ({cell.reason})" if cell.reason else "failed"
    return f"{cell.rps:,.0f}"


def fmt_latency(cell):
    if cell is None or cell.status != "ok":
        return "–"
    return f"{cell.p50_ms:.2f} / {cell.p99_ms:.2f}"


def fmt_mib(kib):
    return f"{kib / 1024:.1f}" if kib else "–"


def ok_rps(target, cell):
    c = target.cells.get(cell) if target else None
    return c.rps if c is not None and c.status == "ok" and c.rps > 0 else None


def ratio(a, b):
    return "–" if a is None or b is None else f"{a / b:.2f}"


def metrics_cost(targets, meta):
    """The ``scraped ÷ nometrics`` table, with every round's figure."""
    lines = [
        "## Cost of metrics",
        "",
        f"`/protected` with one repeated token; {meta['rounds']} round(s) of {meta['duration']} s "
        "per instance, in the order off, on, on, off, …; requests per second, mean (rounds), and "
        "the server's CPU time per request.",
        "",
        "| sample | METRICS=0 | metrics on, /metrics scraped 1/s | ratio | CPU µs/request, off / on |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in targets:
        if t.kind != "sample":
            continue
        off, on = t.cells.get("nometrics"), t.cells.get("scraped")
        if off is None or on is None:
            lines.append(f"| {t.name} | skipped: {t.note or 'not run'} | | | |")
            continue
        def figure(cell):
            runs = ", ".join(f"{r:,}" for r in cell.runs)
            return f"{fmt_rps(cell)} ({runs})" if cell.runs else fmt_rps(cell)
        lines.append(
            f"| {t.name} | {figure(off)} | {figure(on)} | "
            f"{ratio(ok_rps(t, 'scraped'), ok_rps(t, 'nometrics'))} | "
            f"{off.cpu_us:.1f} / {on.cpu_us:.1f} |"
        )
    return lines


def dpop_cost(targets, meta):
    """The DPoP cells against the plain ``protected`` cell, with the CPU time per request."""
    lines = [
        "## Cost of DPoP proofs",
        "",
        f"`/protected` with one DPoP-bound token and a fresh ES256 proof per request, "
        f"{meta['dpop_duration']} s per cell, each on a fresh instance with `AUTH_DPOP=allowed` "
        f"and `AUTH_DPOP_MAX_AGE_SECS={meta['dpop_max_age_secs']}`; the token is served from "
        "the token cache, as in `/protected, 1 token` (the plain bearer cell, "
        f"{meta['duration']} s), so the difference is the proof: its signature check and the "
        "`jti`'s round trip to the replay store. Requests per second, and the server's CPU "
        "time per request (for Redis, plus redis-server's).",
        "",
        "| sample | bearer, 1 token | DPoP, memory store | DPoP, Redis store "
        "| memory ÷ bearer | Redis ÷ bearer | CPU µs/request: bearer / memory / Redis + redis-server |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in targets:
        if t.kind != "sample":
            continue
        plain, memory, redis = (t.cells.get(n) for n in ("protected", "dpop_memory", "dpop_redis"))
        if plain is None and memory is None:
            lines.append(f"| {t.name} | skipped: {t.note or 'not run'} | | | | | |")
            continue
        def cpu(cell, store=False):
            if cell is None or cell.status != "ok":
                return "–"
            return f"{cell.cpu_us:.1f}" + (f" + {cell.store_cpu_us:.1f}" if store else "")
        lines.append(
            f"| {t.name} | {fmt_rps(plain)} | {fmt_rps(memory)} | {fmt_rps(redis)} | "
            f"{ratio(ok_rps(t, 'dpop_memory'), ok_rps(t, 'protected'))} | "
            f"{ratio(ok_rps(t, 'dpop_redis'), ok_rps(t, 'protected'))} | "
            f"{cpu(plain)} / {cpu(memory)} / {cpu(redis, store=True)} |"
        )
    notes = meta.get("dpop_notes") or []
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return lines


def cost_report(title, section, meta):
    """A report of one cost alone (``--dpop-only``, ``--metrics-only``): its title, the run's
    date, machine and load, then ``section``'s lines."""
    return "\n".join(
        [
            f"# {title}",
            "",
            f"- date: {meta['date']}",
            f"- machine: `nproc` = {meta['nproc']}, {meta['cpu']}, Linux {meta['kernel']}",
            f"- load: {meta['wrk']}, {meta['threads']} thread(s), {meta['connections']} "
            "connections, on loopback, sharing the cores with the server; release builds in "
            "development mode",
            "",
            *section,
            "",
        ]
    )


def markdown(targets, meta):
    tokens = meta["tokens"]
    names = [c[0] for c in CELLS]
    if meta["dpop_only"]:
        return cost_report("The cost of DPoP proofs", dpop_cost(targets, meta), meta)
    if meta["metrics_only"]:
        return cost_report("The cost of metrics", metrics_cost(targets, meta), meta)
    lines = [
        "# Comparing the frameworks",
        "",
        f"- date: {meta['date']}",
        f"- machine: `nproc` = {meta['nproc']}, {meta['cpu']}, Linux {meta['kernel']}",
        f"- load: {meta['wrk']}, {meta['threads']} thread(s), {meta['connections']} connections, "
        f"{meta['duration']} s per cell, on loopback, sharing the cores with the server",
        f"- samples: release builds in development mode; `{cell_label('rotating', tokens)}` runs "
        "against a second instance with `AUTH_TOKEN_CACHE_SIZE=0` (every request fully "
        f"verified); peers verify tokens of `{ISSUER_SAMPLE}`'s development issuer",
        "",
        "## Requests per second",
        "",
        "| target | " + " | ".join(cell_label(n, tokens) for n in names) + " | RSS idle (MiB) | RSS after load (MiB) |",
        "|---|" + "---:|" * (len(names) + 2),
    ]
    for t in targets:
        if not t.cells:
            lines.append(f"| {t.name} | skipped: {t.note} |" + " |" * (len(names) + 1))
            continue
        row = [fmt_rps(t.cells.get(n)) for n in names]
        lines.append(f"| {t.name} | " + " | ".join(row) + f" | {fmt_mib(t.rss_idle_kib)} | {fmt_mib(t.rss_load_kib)} |")
    lines += [
        "",
        "## Latency, p50 / p99 (ms)",
        "",
        "| target | " + " | ".join(cell_label(n, tokens) for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for t in targets:
        if t.cells:
            lines.append(f"| {t.name} | " + " | ".join(fmt_latency(t.cells.get(n)) for n in names) + " |")
    notes = [t for t in targets if t.note and t.cells]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {t.name}: {t.note}" for t in notes]

    by_name = {t.name: t for t in targets}
    fastapi = by_name.get(FASTAPI)
    peer = by_name.get(JWT_AUTHORIZER)
    lines += [
        "",
        "## Ratios (requests per second)",
        "",
        "| target | /protected ÷ /public (1 token) | /protected ÷ /public, same request bytes "
        f"| /protected ÷ /public ({tokens:,} tokens) | ÷ FastAPI, /protected 1 token "
        f"| ÷ FastAPI, /protected {tokens:,} tokens | metrics scraped ÷ METRICS=0 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in targets:
        if not t.cells:
            continue
        lines.append(
            f"| {t.name} | {ratio(ok_rps(t, 'protected'), ok_rps(t, 'public'))} | "
            f"{ratio(ok_rps(t, 'protected'), ok_rps(t, 'public_h'))} | "
            f"{ratio(ok_rps(t, 'rotating'), ok_rps(t, 'public'))} | "
            f"{ratio(ok_rps(t, 'protected'), ok_rps(fastapi, 'protected'))} | "
            f"{ratio(ok_rps(t, 'rotating'), ok_rps(fastapi, 'rotating'))} | "
            f"{ratio(ok_rps(t, 'scraped'), ok_rps(t, 'nometrics'))} |"
        )
    axum = by_name.get(ISSUER_SAMPLE)
    lines += [
        "",
        f"{ISSUER_SAMPLE} ÷ {JWT_AUTHORIZER}: "
        + ", ".join(
            f"{cell_label(n, tokens)} {ratio(ok_rps(axum, n), ok_rps(peer, n))}"
            for n in names
            if n not in METRICS_CELLS | DPOP_CELLS
        ),
        "",
        *metrics_cost(targets, meta),
        "",
        *dpop_cost(targets, meta),
        "",
        "The chart is `chart.svg` beside this file; raw figures in `results.json`, wrk output and "
        "server logs in `logs/`.",
        "",
    ]
    return "\n".join(lines)


PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]


def svg_chart(targets, meta):
    """One panel per cell: a horizontal bar per target, requests per second, linear scale."""
    tokens = meta["tokens"]
    shown = [t for t in targets if t.cells]
    width, label_w, bar_h, gap, panel_gap = 860, 170, 18, 6, 34
    plot_w = width - label_w - 110
    colour = {t.name: PALETTE[i % len(PALETTE)] for i, t in enumerate(shown)}
    parts = []
    y = 56
    for name, _, expected, _ in CELLS:
        if not any(name in t.cells for t in shown):
            continue
        values = [ok_rps(t, name) or 0 for t in shown]
        top = max(values) if any(values) else 1
        parts.append(
            f'<text x="10" y="{y}" class="panel">{html.escape(cell_label(name, tokens))} '
            f"(expect {expected})</text>"
        )
        y += 10
        for t in shown:
            cell = t.cells.get(name)
            parts.append(f'<text x="{label_w - 8}" y="{y + bar_h - 5}" class="label">{html.escape(t.name)}</text>')
            if cell is not None and cell.status == "ok":
                w = max(1.0, plot_w * cell.rps / top)
                parts.append(
                    f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour[t.name]}"/>'
                )
                parts.append(
                    f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h - 5}" class="value">{cell.rps:,.0f}/s</text>'
                )
            else:
                text = "failed" if cell is not None and cell.status == "failed" else "not run"
                parts.append(f'<text x="{label_w + 4}" y="{y + bar_h - 5}" class="missing">{text}</text>')
            y += bar_h + gap
        y += panel_gap
    height = y
    subtitle = (
        f"{meta['date']} · nproc {meta['nproc']} · wrk -t{meta['threads']} -c{meta['connections']} "
        f"-d{meta['duration']}s · loopback"
    )
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
            "<style>"
            ".title{font-size:16px;font-weight:bold}.sub{font-size:11px;fill:#555}"
            ".panel{font-size:13px;font-weight:bold}.label{font-size:12px;text-anchor:end}"
            ".value{font-size:11px}.missing{font-size:11px;fill:#b00;font-style:italic}"
            "</style>",
            f'<rect width="{width}" height="{height}" fill="white"/>',
            '<text x="10" y="20" class="title">Requests per second (higher is better)</text>',
            f'<text x="10" y="36" class="sub">{html.escape(subtitle)}</text>',
            *parts,
            "</svg>",
            "",
        ]
    )


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def wrk_version(wrk):
    run = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    first = (run.stdout + run.stderr).strip().splitlines()[:1]
    return " ".join(first[0].split()[:2]) if first else "wrk"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the workspace root")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--duration", type=int, default=5, help="seconds per cell")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=10_000, help="tokens in rotation")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating runs of the scraped and nometrics cells")
    parser.add_argument("--metrics-only", action="store_true",
                        help="only the scraped and nometrics cells, samples only")
    parser.add_argument("--dpop-duration", type=int, default=3, help="seconds per DPoP cell")
    parser.add_argument("--dpop-only", action="store_true",
                        help="only the protected and DPoP cells, samples only")
    parser.add_argument("--proof-python",
                        help="a Python with cryptography, to sign DPoP proofs (none: no DPoP cells)")
    parser.add_argument("--dpop-unavailable", help="why the DPoP cells cannot run")
    parser.add_argument("--redis-server", help="the redis-server binary (none: no dpop_redis)")
    parser.add_argument("--redis-unavailable", help="why the dpop_redis cells cannot run")
    parser.add_argument("--sample", action="append", default=[], metavar="NAME=BINARY")
    parser.add_argument("--unavailable", action="append", default=[], metavar="NAME=REASON")
    parser.add_argument("--fastapi-python", help="python of the FastAPI peer's environment")
    parser.add_argument("--fastapi-unavailable", help="why the FastAPI peer cannot run")
    parser.add_argument("--jwt-authorizer-peer", help="the jwt-authorizer peer binary")
    parser.add_argument("--jwt-authorizer-unavailable", help="why that peer cannot run")
    args = parser.parse_args()
    if args.tokens < 1 or args.duration < 1 or args.rounds < 1 or args.connections < args.threads:
        parser.error(
            "need --tokens >= 1, --duration >= 1, --rounds >= 1 and --connections >= --threads"
        )
    if not 1 <= args.dpop_duration <= DPOP_MAX_AGE_SECS - DPOP_AGE_MARGIN_SECS - 60:
        parser.error(f"need 1 <= --dpop-duration <= {DPOP_MAX_AGE_SECS - DPOP_AGE_MARGIN_SECS - 60}")
    if args.metrics_only and args.dpop_only:
        parser.error("--metrics-only and --dpop-only exclude each other")

    def stop(signum, _frame):
        Process.stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "wrk": wrk_version(args.wrk),
        "threads": args.threads,
        "connections": args.connections,
        "duration": args.duration,
        "tokens": args.tokens,
        "rounds": args.rounds,
        "metrics_only": args.metrics_only,
        "dpop_only": args.dpop_only,
        "dpop_duration": args.dpop_duration,
        "dpop_max_age_secs": DPOP_MAX_AGE_SECS,
    }
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
        meta["nproc"] = int(nproc)
    except (OSError, ValueError):
        pass
    print(f"date: {meta['date']}   nproc: {meta['nproc']}   {meta['cpu']}", flush=True)

    runner = Runner(args)
    started = time.monotonic()
    try:
        runner.run()
    finally:
        Process.stop_all()
    meta["measuring_secs"] = round(time.monotonic() - started)
    meta["dpop_notes"] = runner.dpop_notes

    out = runner.out
    (out / "results.md").write_text(markdown(runner.targets, meta))
    (out / "chart.svg").write_text(svg_chart(runner.targets, meta))
    (out / "results.json").write_text(
        json.dumps(
            {
                "meta": meta,
                "targets": [
                    {
                        "name": t.name,
                        "kind": t.kind,
                        "note": t.note,
                        "rss_idle_kib": t.rss_idle_kib,
                        "rss_after_load_kib": t.rss_load_kib,
                        "cells": {n: vars(c) for n, c in t.cells.items()},
                    }
                    for t in runner.targets
                ],
            },
            indent=2,
        )
    )
    print()
    print(markdown(runner.targets, meta))
    print(f"measuring took {meta['measuring_secs']} s; wrote {out}/results.md, chart.svg, results.json")
    failed = any(c.status != "ok" for t in runner.targets for c in t.cells.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
