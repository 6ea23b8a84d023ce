//! How a run holds its locks: the local lock on each live system before
//! its first change, and a system's remote lock (a Kubernetes Lease) in the
//! scope a change works in, renewed while the run lives and released at
//! its end. The lock files and the Lease calls themselves are in
//! [`super::lock`] and the families.

use super::{lock, Run};
use crate::backends::Target;
use crate::effects::GateError;
use crate::journal::Event;

impl Run {
    /// Says how to hold `system`'s remote lock (a family that has one, such
    /// as Kubernetes' Lease, registers it when its handle is opened live).
    pub(crate) fn register_remote_lock(&self, system: &str, lock: std::sync::Arc<dyn lock::RemoteLock>) {
        self.remotes
            .makers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(system.to_string())
            .or_insert(lock);
    }

    /// Holds `system`'s remote lock in `scope` before a change there: taken
    /// once per run (asking before breaking another run's with
    /// `--break-lock`), renewed while the run lives, released at its end.
    pub(super) fn hold_remote<E>(&self, system: &str, scope: &str) -> Result<(), GateError<E>> {
        let key = (system.to_string(), scope.to_string());
        if self.remotes.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&key) {
            return Ok(());
        }
        let Some(maker) =
            self.remotes.makers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(system).cloned()
        else {
            return Ok(());
        };
        let target = format!("lease {system} {scope}");
        let holder = self.locks.holder().clone();
        let mut force = false;
        loop {
            let taken = self.gate.coordinate(|p| self.block_on_raw(maker.take(p, scope, &holder, force)));
            let taken = match taken {
                None => return Ok(()),
                Some(None) => return Err(GateError::Interrupted),
                Some(Some(Err(why))) => {
                    return Err(GateError::Stopped { why: format!("cannot take `{target}`: {why}") })
                }
                Some(Some(Ok(taken))) => taken,
            };
            let (action, by) = match taken {
                lock::Remote::Taken => ("acquired", None),
                lock::Remote::TakenOver(by) => ("taken_over", Some(by)),
                lock::Remote::Broken(by) => ("broken", Some(by)),
                lock::Remote::HeldBy(by) if self.break_lock && !force => {
                    let question = format!("`{target}` is held by {by}; break it and go on?");
                    let answer = self
                        .gate
                        .question(&self.gate_context(), &question)
                        .map_err(|e| GateError::Stopped { why: format!("cannot read the answer: {e}") })?;
                    if matches!(answer, crate::effects::Answer::Yes | crate::effects::Answer::YesByFlag) {
                        force = true;
                        continue;
                    }
                    self.record(&Event::Lock {
                        target: target.clone(),
                        action: "refused".into(),
                        holder: Some(by.clone()),
                    });
                    return Err(GateError::Stopped { why: format!("`{target}` is held by {by}") });
                }
                lock::Remote::HeldBy(by) => {
                    self.record(&Event::Lock {
                        target: target.clone(),
                        action: "refused".into(),
                        holder: Some(by.clone()),
                    });
                    return Err(GateError::Stopped {
                        why: format!(
                            "`{target}` is held by {by} (wait for it to end, or pass --break-lock if that run is gone)"
                        ),
                    });
                }
            };
            self.record(&Event::Lock { target, action: action.into(), holder: by });
            self.remotes.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key);
            return Ok(());
        }
    }

    /// Starts the thread that renews remote locks while the run lives (once).
    pub(super) fn keep_renewing(&self) {
        use std::sync::atomic::Ordering;
        if self.remotes.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_empty()
            || self.remotes.renewing.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let Some(me) = self.me.get().and_then(std::sync::Weak::upgrade) else { return };
        let spawned = std::thread::Builder::new().name("lease-renewal".into()).spawn(move || {
            let every = std::time::Duration::from_secs(
                u64::try_from(crate::backends::k8s::lease::DURATION_SECONDS / 3).unwrap_or(20),
            );
            let mut slept = std::time::Duration::ZERO;
            while !me.remotes.done.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(200));
                slept += std::time::Duration::from_millis(200);
                if slept >= every {
                    slept = std::time::Duration::ZERO;
                    me.renew_remotes();
                }
            }
        });
        if let Err(e) = spawned {
            self.printer.warn(&format!("cannot renew leases: {e}"));
        }
    }

    /// Renews every held remote lock (the renewing thread, every third of a lease).
    pub(super) fn renew_remotes(&self) {
        let held: Vec<(String, String)> =
            self.remotes.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect();
        let holder = self.locks.holder().clone();
        for (system, scope) in held {
            let Some(maker) =
                self.remotes.makers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&system).cloned()
            else {
                continue;
            };
            let renewed = self.gate.coordinate(|p| self.runtime.block_on(maker.renew(p, &scope, &holder)));
            if let Some(Ok(false) | Err(_)) = renewed {
                self.printer.warn(&format!("the lease on `{system}` in `{scope}` could not be renewed"));
            }
        }
    }

    /// Releases every held remote lock (the end of the run).
    pub(crate) fn release_remotes(&self) {
        self.remotes.done.store(true, std::sync::atomic::Ordering::SeqCst);
        let held: Vec<(String, String)> =
            std::mem::take(&mut *self.remotes.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
                .into_iter()
                .collect();
        let holder = self.locks.holder().clone();
        for (system, scope) in held {
            let Some(maker) =
                self.remotes.makers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&system).cloned()
            else {
                continue;
            };
            let released = self.gate.coordinate(|p| self.runtime.block_on(maker.release(p, &scope, &holder)));
            let target = format!("lease {system} {scope}");
            if let Some(Err(why)) = released {
                self.printer.warn(&format!("cannot release `{target}`: {why} (it expires by itself)"));
            } else {
                self.record(&Event::Lock { target, action: "released".into(), holder: None });
            }
        }
    }

    /// The local lock a live run takes on a system before its first change
    /// to it (dry runs too: two operators planning against one cluster at
    /// once are about to collide).
    pub(super) fn lock_system<E>(&self, system: &str) -> Result<(), GateError<E>> {
        if matches!(self.target, Target::World(_)) {
            return Ok(());
        }
        match self.locks.take(system) {
            Ok(true) => {
                self.record(&Event::Lock { target: system.to_string(), action: "acquired".into(), holder: None });
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(e) => {
                let holder = match &e {
                    lock::Error::Held { holder, .. } => Some(holder.clone()),
                    lock::Error::Io { .. } => None,
                };
                self.record(&Event::Lock { target: system.to_string(), action: "refused".into(), holder });
                Err(GateError::Stopped { why: e.to_string() })
            }
        }
    }
}
