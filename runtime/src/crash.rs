//! Test-only crash points: with the `crash-points` feature (the end-to-end
//! tests build hubops with it; release builds do not have it),
//! `HUBOPS_CRASH_AT=KIND:N` kills the process with SIGKILL at the Nth point
//! of that kind (`change`: after the Nth applied change is journaled;
//! `step-start`, `step-end`: at the Nth step boundary), so kill-and-resume
//! tests are deterministic; `HUBOPS_PAUSE_AT=KIND:N:MS` sleeps there
//! instead, so concurrency tests can start a second run while the first
//! holds its locks. Without the feature, every point is a no-op.

/// A crash point of `kind`, reached for the `n`th time.
#[cfg(feature = "crash-points")]
pub(crate) fn point(kind: &str, n: usize) {
    if let Ok(at) = std::env::var("HUBOPS_CRASH_AT") {
        if at.split_once(':').is_some_and(|(k, v)| k == kind && v.parse() == Ok(n)) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
    if let Ok(at) = std::env::var("HUBOPS_PAUSE_AT") {
        let parts: Vec<&str> = at.split(':').collect();
        if let [k, v, ms] = parts[..] {
            if k == kind && v.parse() == Ok(n) {
                std::thread::sleep(std::time::Duration::from_millis(ms.parse().unwrap_or(0)));
            }
        }
    }
}

/// A crash point (no-op: built without the `crash-points` feature).
#[cfg(not(feature = "crash-points"))]
pub(crate) fn point(_kind: &str, _n: usize) {}
