#!/usr/bin/env python3
"""The measuring half of scripts/cache-memory: resident memory of a sample whose token cache
is filled with the largest tokens the contract allows.

Starts the sample in development mode, calibrates a payload of many small array items
(``{"sub": ..., "a": [0, 0, ...]}``) so that the minted token is just under the 8 KiB token
limit, then mints that many distinct tokens through ``POST /dev/token`` and presents each
once to ``/protected`` (every one must answer 200, so every one is verified and offered to
the cache). Reads VmRSS before and after, prints both and exits non-zero when the growth or
the total is above the limit given.
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


def mint(conn, claims):
    conn.request("POST", "/dev/token", body=json.dumps(claims), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise TargetError(f"POST /dev/token answered {response.status}: {body[:200]!r}")
    return json.loads(body)["token"]


def claims(index, items):
    return {"sub": f"u{index:08d}", "a": [0] * items}


def calibrate(conn):
    """The item count whose token is the largest under the limit (tokens of one length)."""
    items = 2000
    while len(mint(conn, claims(0, items + 1))) <= MAX_TOKEN_BYTES:
        # Each item adds 2 bytes of JSON, about 2.7 of base64url: step by what is left.
        left = MAX_TOKEN_BYTES - len(mint(conn, claims(0, items)))
        items += max(1, left * 3 // 8)
    while len(mint(conn, claims(0, items))) > MAX_TOKEN_BYTES:
        items -= 1
    return items


def present(base_url, items, start, count, step):
    """Mints and presents tokens start, start+step, ... below count; returns the statuses."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    statuses = {}
    try:
        for index in range(start, count, step):
            token = mint(conn, claims(index, items))
            conn.request("GET", "/protected", headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
    finally:
        conn.close()
    return statuses


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--limit-mib", type=int, default=256)
    parser.add_argument("--log-dir", required=True)
    args = parser.parse_args()

    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(HOST="127.0.0.1", PORT="0", RUST_LOG="warn")
    process = Process(Path(args.binary).name, [args.binary], env, log_dir)
    try:
        parts = urlsplit(process.base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        items = calibrate(conn)
        size = len(mint(conn, claims(0, items)))
        conn.close()
        rss_before = process.rss_kib()
        started = time.monotonic()
        with ThreadPoolExecutor(WORKERS) as pool:
            results = list(
                pool.map(lambda w: present(process.base_url, items, w, args.tokens, WORKERS), range(WORKERS))
            )
        elapsed = time.monotonic() - started
        rss_after = process.rss_kib()
        statuses = {}
        for result in results:
            for status, n in result.items():
                statuses[status] = statuses.get(status, 0) + n
        if process.popen.poll() is not None:
            raise TargetError("the sample exited during the run")
    finally:
        process.stop()

    print(f"tokens presented: {args.tokens}, each {size} bytes ({items} array items), {elapsed:.1f} s")
    print(f"statuses: {dict(sorted(statuses.items()))}")
    print(f"VmRSS before: {rss_before / 1024:.1f} MiB, after: {rss_after / 1024:.1f} MiB")
    problems = []
    if statuses != {200: args.tokens}:
        problems.append("every token must be accepted")
    if rss_after > args.limit_mib * 1024:
        problems.append(f"VmRSS above {args.limit_mib} MiB")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TargetError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
