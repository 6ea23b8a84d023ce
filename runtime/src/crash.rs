//! Test-only crash points: with the `crash-points` feature (the end-to-end
//! tests build hubops with it; release builds do not have it),
//! `HUBOPS_CRASH_AT=KIND:N` kills the process with SIGKILL at the Nth point
//! of that kind (`change`: after the Nth applied change is journaled;
//! `step-start`, `step-end`: at the Nth step boundary), so kill-and-resume
//! tests are deterministic. Without the feature, every point is a no-op.

/// A crash point of `kind`, reached for the `n`th time.
#[cfg(feature = "crash-points")]
pub(crate) fn point(kind: &str, n: usize) {
    let Ok(at) = std::env::var("HUBOPS_CRASH_AT") else { return };
    if at.split_once(':').is_some_and(|(k, v)| k == kind && v.parse() == Ok(n)) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// A crash point (no-op: built without the `crash-points` feature).
#[cfg(not(feature = "crash-points"))]
pub(crate) fn point(_kind: &str, _n: usize) {}
