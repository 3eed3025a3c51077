#!/usr/bin/env python3
"""The measuring half of scripts/load: a mixed load on each sample, checked status by status.

Per sample (started in development mode, release build, logging at warn): mints valid
tokens through ``POST /dev/token``, builds invalid ones (a forged signature, an expired
token), then runs the mix twice, a warm-up and the measured run, each as three concurrent wrk
processes sharing the connections: half the requests with valid tokens (expect 200), a
quarter with invalid ones and a quarter with none (expect 401). Resident memory is read after
each run. Fails on any transport error, any unexpected status, or memory after the measured
run above 1.2x memory after the warm-up.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_run import CLEARED_ENV, Process, TargetError, mint_one, mint_tokens  # noqa: E402

MEMORY_GROWTH_LIMIT = 1.2
# wrk runs for a fixed window; each of its threads stops sending once it has read its quota
# of responses, so the window only has to be long enough for the quota to be reached.
WINDOW_SECS = 15
# (name, share of requests, share of connections, expected status, token file or None)
MIX = [("valid", 0.5, 0.5, 200), ("invalid", 0.25, 0.25, 401), ("missing", 0.25, 0.25, 401)]


def forge(token):
    """The same token with its signature's first characters changed."""
    head, _, signature = token.rpartition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{flipped}"


def run_wrk(args, lua, url, connections, requests, token_file, log):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPARE_")}
    env["COMPARE_MAX_RESPONSES"] = str(requests)
    if token_file:
        env["COMPARE_TOKEN_FILE"] = str(token_file)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{WINDOW_SECS}s", "--timeout", "10s", "-s", str(lua), url]
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=WINDOW_SECS + 60)
    log.write_text(run.stdout + run.stderr)
    line = next((l for l in run.stdout.splitlines() if l.startswith("COMPARE_RESULT ")), None)
    if run.returncode != 0 or line is None:
        raise TargetError(f"wrk exited with {run.returncode}: {run.stderr.strip()[:200]}")
    return json.loads(line.split(" ", 1)[1])


def one_run(args, lua, process, files, label, logs):
    """Runs the three parts of the mix at once; returns per-part results."""
    results = {}
    with ThreadPoolExecutor(len(MIX)) as pool:
        futures = {}
        for name, share, conn_share, expected in MIX:
            futures[name] = pool.submit(
                run_wrk,
                args,
                lua,
                process.base_url + "/protected",
                max(1, round(args.connections * conn_share)),
                round(args.requests * share),
                files.get(name),
                logs / f"{process.label}.{label}.{name}.wrk.txt",
            )
        for name, _, _, expected in MIX:
            data = futures[name].result()
            statuses = {int(k): v for k, v in data["statuses"].items()}
            errors = {k: v for k, v in data["errors"].items() if k != "status" and v}
            results[name] = {
                "quota": round(args.requests * share),
                "expected": expected,
                "responses": sum(statuses.values()),
                "statuses": statuses,
                "transport_errors": errors,
            }
    return results


def check(results):
    problems = []
    for name, r in results.items():
        unexpected = {s: n for s, n in r["statuses"].items() if s != r["expected"]}
        if unexpected:
            problems.append(f"{name}: unexpected statuses {unexpected}")
        if r["responses"] < r["quota"]:
            problems.append(f"{name}: {r['responses']} of {r['quota']} responses in {WINDOW_SECS} s")
        if r["transport_errors"]:
            problems.append(f"{name}: transport errors {r['transport_errors']}")
    return problems


def run_sample(args, lua, name, binary, out):
    logs = out / "logs"
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(HOST="127.0.0.1", PORT="0", RUST_LOG="warn")
    process = Process(name, [binary], env, logs)
    try:
        valid = mint_tokens(process.base_url, 100)
        expired = mint_one(process.base_url, {"sub": "late", "exp": int(time.time()) - 3600})
        invalid = [forge(t) for t in valid[:50]] + [expired]
        files = {}
        for kind, tokens in (("valid", valid), ("invalid", invalid)):
            path = out / f"tokens.{name}.{kind}.txt"
            path.write_text("\n".join(tokens) + "\n")
            files[kind] = path
        rss_start = process.rss_kib()
        started = time.monotonic()
        warm = one_run(args, lua, process, files, "warmup", logs)
        rss_warm = process.rss_kib()
        measured = one_run(args, lua, process, files, "measured", logs)
        rss_after = process.rss_kib()
        elapsed = time.monotonic() - started
        problems = check(warm) + check(measured)
        if rss_warm and rss_after > MEMORY_GROWTH_LIMIT * rss_warm:
            problems.append(f"memory grew from {rss_warm} KiB to {rss_after} KiB")
        if process.popen.poll() is not None:
            problems.append("the sample exited during the load")
        return {
            "sample": name,
            "measured": measured,
            "rss_start_kib": rss_start,
            "rss_warm_kib": rss_warm,
            "rss_after_kib": rss_after,
            "seconds": round(elapsed, 1),
            "problems": problems,
        }
    finally:
        process.stop()


def markdown(rows, args):
    lines = [
        f"Load check, {datetime.date.today()}, {os.cpu_count()} cores: {args.requests} requests "
        f"per run at {args.connections} connections (half valid tokens, a quarter invalid, a "
        "quarter missing), after a warm-up run of the same size.",
        "",
        "| sample | responses | 200 | 401 | other | transport errors | RSS start / after warm-up / after (MiB) | after ÷ warm-up | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['sample']} | | | | | | | | failed: {row['error']} |")
            continue
        m = row["measured"]
        statuses = {}
        for r in m.values():
            for s, n in r["statuses"].items():
                statuses[s] = statuses.get(s, 0) + n
        other = sum(n for s, n in statuses.items() if s not in (200, 401))
        errors = sum(sum(r["transport_errors"].values()) for r in m.values())
        ratio = row["rss_after_kib"] / row["rss_warm_kib"] if row["rss_warm_kib"] else 0
        mib = "/".join(f"{row[k] / 1024:.1f}" for k in ("rss_start_kib", "rss_warm_kib", "rss_after_kib"))
        result = "ok" if not row["problems"] else "; ".join(row["problems"])
        lines.append(
            f"| {row['sample']} | {sum(statuses.values())} | {statuses.get(200, 0)} | "
            f"{statuses.get(401, 0)} | {other} | {errors} | {mib} | {ratio:.2f} | {result} |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--sample", action="append", default=[], help="name=binary")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    lua = Path(args.root).resolve() / "scripts" / "compare.lua"
    rows = []
    for spec in args.sample:
        name, _, binary = spec.partition("=")
        print(f"==> {name}", flush=True)
        try:
            row = run_sample(args, lua, name, binary, out)
        except (TargetError, OSError, subprocess.TimeoutExpired) as e:
            row = {"sample": name, "error": str(e)}
        finally:
            Process.stop_all()
        rows.append(row)
        print("    " + ("ok" if not row.get("problems") and "error" not in row
                        else str(row.get("problems") or row.get("error"))), flush=True)
    table = markdown(rows, args)
    (out / "results.md").write_text(table)
    (out / "results.json").write_text(json.dumps(rows, indent=2, default=str))
    print(table)
    failed = [r for r in rows if "error" in r or r["problems"]]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
