#!/usr/bin/env python3
"""The measuring half of scripts/cache-memory: resident memory of a sample whose token cache
is filled with the largest tokens the contract allows, one shape of claims at a time.

For each shape, starts the sample in development mode, calibrates a payload of that shape so
that the minted token is just under the 8 KiB token limit, then mints that many distinct
tokens through ``POST /dev/token`` and presents each once to ``/protected`` (every one must
answer 200, so every one is verified and offered to the cache). Reads VmRSS before and after
and VmHWM (the peak) at the end, prints one line per shape and exits non-zero when a token is
refused or VmRSS or VmHWM ends above the limit given.

Shapes (``--shapes``, comma-separated; all by default):

- ``numbers``: ``{"sub": ..., "a": [0, 0, ...]}``, many small array items;
- ``objects``: ``{"sub": ..., "a": [{"": 0}, {"": 0}, ...]}``, many small objects;
- ``nested``: ``{"sub": ..., "a": [{"": {"": ... 0}}, ...]}``, chains of one-member objects
  as deep as the JSON parser's nesting limit allows;
- ``strings``: ``{"sub": ..., "a": "xxxx..."}``, one long string.
"""

import argparse
import http.client
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_run import CLEARED_ENV, Process, TargetError  # noqa: E402

MAX_TOKEN_BYTES = 8 * 1024
WORKERS = 4
# serde_json refuses a 128th level of nested arrays and objects; the top-level object and the
# array "a" take two of them.
MAX_CHAIN_DEPTH = 125


def chain(depth):
    value = 0
    for _ in range(depth):
        value = {"": value}
    return value


def numbers(items):
    return [0] * items


def objects(items):
    return [{"": 0} for _ in range(items)]


def nested(items):
    """`items` one-member objects, in chains as deep as the parser allows."""
    chains = [chain(MAX_CHAIN_DEPTH) for _ in range(items // MAX_CHAIN_DEPTH)]
    if items % MAX_CHAIN_DEPTH:
        chains.append(chain(items % MAX_CHAIN_DEPTH))
    return chains


def strings(items):
    return "x" * items


SHAPES = {"numbers": numbers, "objects": objects, "nested": nested, "strings": strings}


def claims(shape, index, items):
    return {"sub": f"u{index:08d}", "a": SHAPES[shape](items)}


def mint(conn, claims):
    body = json.dumps(claims, separators=(",", ":"))
    conn.request("POST", "/dev/token", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise TargetError(f"POST /dev/token answered {response.status}: {body[:200]!r}")
    return json.loads(body)["token"]


def calibrate(conn, shape):
    """The item count whose token is the largest under the limit (tokens of one length)."""
    low, high = 1, 1
    while len(mint(conn, claims(shape, 0, high))) <= MAX_TOKEN_BYTES:
        low, high = high, high * 2
    # Token length grows with the item count: the largest count that fits lies in [low, high).
    while high - low > 1:
        middle = (low + high) // 2
        if len(mint(conn, claims(shape, 0, middle))) <= MAX_TOKEN_BYTES:
            low = middle
        else:
            high = middle
    return low


def present(base_url, shape, items, start, count, step):
    """Mints and presents tokens start, start+step, ... below count; returns the statuses."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    statuses = {}
    try:
        for index in range(start, count, step):
            token = mint(conn, claims(shape, index, items))
            conn.request("GET", "/protected", headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
    finally:
        conn.close()
    return statuses


def status_kib(pid, field):
    """A `Vm*` line of /proc/PID/status, in KiB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def measure(binary, shape, tokens, log_dir):
    """Fills a fresh sample's cache with tokens of one shape; returns what was measured."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(HOST="127.0.0.1", PORT="0", RUST_LOG="warn")
    process = Process(f"{Path(binary).name}-{shape}", [binary], env, log_dir)
    try:
        parts = urlsplit(process.base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        items = calibrate(conn, shape)
        size = len(mint(conn, claims(shape, 0, items)))
        conn.close()
        rss_before = status_kib(process.pid, "VmRSS")
        started = time.monotonic()
        with ThreadPoolExecutor(WORKERS) as pool:
            results = list(
                pool.map(
                    lambda w: present(process.base_url, shape, items, w, tokens, WORKERS),
                    range(WORKERS),
                )
            )
        elapsed = time.monotonic() - started
        rss_after = status_kib(process.pid, "VmRSS")
        hwm = status_kib(process.pid, "VmHWM")
        if process.popen.poll() is not None:
            raise TargetError(f"the sample exited during the {shape} run")
    finally:
        process.stop()
    statuses = {}
    for result in results:
        for status, n in result.items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "shape": shape,
        "items": items,
        "size": size,
        "elapsed": elapsed,
        "statuses": dict(sorted(statuses.items())),
        "rss_before": rss_before,
        "rss_after": rss_after,
        "hwm": hwm,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--limit-mib", type=int, default=256)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--log-dir", required=True)
    args = parser.parse_args()

    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        raise TargetError(f"unknown shape(s) {', '.join(unknown)}; known: {', '.join(SHAPES)}")
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)

    problems = []
    print(f"{args.tokens} distinct tokens per shape, each presented once to /protected")
    print(f"{'shape':<8} {'token bytes':>11} {'items':>6} {'VmRSS before':>13} {'VmRSS after':>12} "
          f"{'VmHWM':>9} {'seconds':>8}  statuses")
    for shape in shapes:
        m = measure(args.binary, shape, args.tokens, log_dir)
        print(f"{shape:<8} {m['size']:>11} {m['items']:>6} {m['rss_before'] / 1024:>9.1f} MiB "
              f"{m['rss_after'] / 1024:>8.1f} MiB {m['hwm'] / 1024:>5.1f} MiB {m['elapsed']:>8.1f}  "
              f"{m['statuses']}", flush=True)
        if m["statuses"] != {200: args.tokens}:
            problems.append(f"{shape}: every token must be accepted")
        if max(m["rss_after"], m["hwm"]) > args.limit_mib * 1024:
            problems.append(f"{shape}: resident memory above {args.limit_mib} MiB")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TargetError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        Process.stop_all()
