//! The logs of a whole test process, captured by a process-wide subscriber.
//!
//! It is installed before any event is emitted and read by one test at a time. A subscriber
//! scoped to a thread (`tracing::subscriber::with_default`) would race with other tests
//! registering the same callsites and could miss events.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

/// Locks `mutex`, whether or not a test that held it panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The captured log text of the whole process, filtered by `directives` (an `EnvFilter`
/// such as `api_auth=info`) given by the first call.
pub fn capture(directives: &str) -> &'static Mutex<Vec<u8>> {
    static CAPTURE: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(directives))
            .with_ansi(false)
            .with_writer(move || CaptureWriter(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other subscriber in this test binary");
        buffer
    })
}

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
