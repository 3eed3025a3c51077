# Shell functions shared by scripts/compare and scripts/load (sourced, not run).

# Installs wrk from Debian's packages when it is missing (as root, with apt-get), logging to
# the file $1; exits with an instruction when it still is not there.
ensure_wrk() {
    local log=$1
    if ! command -v wrk >/dev/null; then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
            echo "==> installing wrk (apt-get)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >"$log" 2>&1 ||
                { apt-get update -qq >>"$log" 2>&1 &&
                  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >>"$log" 2>&1; }
        fi
        command -v wrk >/dev/null || { echo "error: wrk is needed (apt-get install wrk)" >&2; exit 2; }
    fi
}

# Installs redis-server from Debian's packages when it is missing (as root, with apt-get),
# logging to the file $1; returns non-zero when it still is not there (the caller decides
# whether that is fatal).
ensure_redis_server() {
    local log=$1
    if ! command -v redis-server >/dev/null; then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
            echo "==> installing redis-server (apt-get)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >"$log" 2>&1 ||
                { apt-get update -qq >>"$log" 2>&1 &&
                  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >>"$log" 2>&1; }
        fi
        command -v redis-server >/dev/null
    fi
}

# Prints the workspace's target directory (honours CARGO_TARGET_DIR and .cargo/config).
cargo_target_dir() {
    cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
