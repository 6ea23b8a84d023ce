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
}

impl Cancel {
    /// Asks everything that checks this flag to stop.
    pub fn cancel(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.2.notify_all();
    }

    /// Whether cancellation was asked for.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.load(Ordering::Relaxed)
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
    pub(crate) fn wait_timeout(&self, d: Duration) {
        let guard = self.inner.1.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.is_cancelled() {
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
