//! Ctrl-C. The first press asks the run to stop at the next binding call or
//! script operation (the journal records it, exit 130); a second press ends
//! the process at once. Only the flag lives here; who checks it is the
//! engine's `on_progress` and every binding's entry. A leaf: it imports
//! nothing of hubops.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// A cancellation flag that sleeping waits can be woken by.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<(AtomicBool, Mutex<()>, Condvar)>,
    /// The flag this one also follows (see [`Cancel::child`]).
    parent: Option<Box<Cancel>>,
}

/// How long a child's sleep goes before it looks at its parent again.
const PARENT_CHECK: Duration = Duration::from_millis(50);

impl Cancel {
    /// A flag of its own that is also set whenever this one is: for work
    /// that can be stopped by itself (a search nobody waits for any more)
    /// and still stops on Ctrl-C.
    #[must_use]
    pub fn child(&self) -> Self {
        Self { inner: Arc::default(), parent: Some(Box::new(self.clone())) }
    }

    /// Asks everything that checks this flag (and its children) to stop.
    pub fn cancel(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.2.notify_all();
    }

    /// Whether cancellation was asked for, here or by a parent.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.load(Ordering::Relaxed) || self.parent.as_ref().is_some_and(|p| p.is_cancelled())
    }

    /// `Err` once cancelled.
    pub fn check(&self) -> Result<(), Interrupted> {
        if self.is_cancelled() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }

    /// Sleeps up to `d`, waking early when cancelled.
    /// A child wakes for its parent within 50 ms.
    pub(crate) fn wait_timeout(&self, d: Duration) {
        let guard = self.inner.1.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.is_cancelled() {
            let d = if self.parent.is_some() { d.min(PARENT_CHECK) } else { d };
            let _ = self.inner.2.wait_timeout(guard, d);
        }
    }
}

/// The process-wide Ctrl-C flag, with the handler installed on first use.
pub(crate) fn on_ctrl_c() -> Cancel {
    static FLAG: OnceLock<Cancel> = OnceLock::new();
    FLAG.get_or_init(|| {
        let cancel = Cancel::default();
        let handler = cancel.clone();
        let installed = ctrlc::set_handler(move || {
            if handler.is_cancelled() {
                // Second Ctrl-C: the operator means it.
                std::process::exit(130);
            }
            // A closed stderr must not turn Ctrl-C into a panic.
            let _ = writeln!(
                std::io::stderr(),
                "\ninterrupted: stopping at the next step boundary (Ctrl-C again to quit at once)"
            );
            handler.cancel();
        });
        if let Err(e) = installed {
            tracing::warn!("cannot install the Ctrl-C handler: {e}");
        }
        cancel
    })
    .clone()
}

/// Ctrl-C ended a wait or a call.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_stops_with_its_parent_but_not_the_parent_with_it() {
        let parent = Cancel::default();
        let alone = parent.child();
        alone.cancel();
        assert!(alone.is_cancelled());
        assert!(!parent.is_cancelled(), "stopping a child leaves the run going");
        let child = parent.child();
        let grandchild = child.child();
        let presser = {
            let parent = parent.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                parent.cancel();
            })
        };
        // A long sleep of a grandchild ends soon after the parent is cancelled.
        let start = std::time::Instant::now();
        while !grandchild.is_cancelled() {
            assert!(start.elapsed() < Duration::from_secs(30), "never woke for the parent");
            grandchild.wait_timeout(Duration::from_hours(1));
        }
        presser.join().unwrap();
        assert!(child.is_cancelled() && grandchild.is_cancelled());
    }
}
