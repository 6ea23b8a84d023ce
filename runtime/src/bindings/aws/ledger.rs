//! The run's ledger of idempotent creates in one account, by token, so that
//! a create asks AWS "did I make this already?" once per run instead of
//! once per call: the first lookup loads everything tagged with the run's
//! id (a resumed run keeps its id and finds what it made), later creates
//! are added as they are answered, and a token whose create got no clear
//! answer is looked up for real.
//!
//! It lives with the binding's handle, not in the backend: its keys come
//! from the run (lineage, current step), its waits stop on the run's Ctrl-C,
//! and it lives as long as the run's handle; the lookups it makes are
//! ordinary reads of the backend account.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::read;
use crate::backends::aws::{Account, Query, Tags, RUN_TAG, TOKEN_TAG};
use crate::bindings::ScriptResult;
use crate::effects::Outcome;
use crate::run::Run;

/// What a create makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// An EBS volume.
    Volume,
    /// An EBS snapshot.
    Snapshot,
}

impl Kind {
    /// `volume`, `snapshot`.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Volume => "volume",
            Self::Snapshot => "snapshot",
        }
    }
}

/// What the run knows about a create's token.
pub(crate) enum Earlier {
    /// Nothing was made with it.
    Nothing,
    /// This id was made with it.
    Made(String),
    /// Maybe something was: look it up.
    Unknown,
}

/// The creates of this run in one account.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    state: Mutex<State>,
    /// Signalled when a token's create settles.
    settled: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Kinds already loaded from AWS.
    loaded: BTreeSet<Kind>,
    /// Token -> id of what it made.
    made: HashMap<String, String>,
    /// Tokens whose create failed or got no answer: it may have been made.
    in_doubt: HashSet<String>,
    /// Tokens whose create is being made now (by a `parallel` worker).
    in_flight: HashSet<String>,
}

/// A token whose create this call is making; a second create with the same
/// token waits until this one settles, then finds what it made.
pub(crate) struct Claim<'a> {
    ledger: &'a Ledger,
    token: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.ledger.lock().in_flight.remove(&self.token);
        self.ledger.settled.notify_all();
    }
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims `token` for one create, waiting while another call (a
    /// `parallel` worker) is making a create with the same token.
    pub(crate) fn claim(&self, run: &Run, token: &str) -> ScriptResult<Claim<'_>> {
        let mut state = self.lock();
        while state.in_flight.contains(token) {
            run.check_cancelled()?;
            state = match self.settled.wait_timeout(state, Duration::from_millis(200)) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state.in_flight.insert(token.to_string());
        Ok(Claim { ledger: self, token: token.to_string() })
    }

    /// Whether a create of `kind` with `token` was made before, loading
    /// the run's creates of that kind with one lookup the first time.
    /// Tokens given by the script may come from other runs, so they are
    /// always looked up (`explicit`).
    pub(crate) fn earlier(
        &self,
        run: &Run,
        account: &Account,
        kind: Kind,
        token: &str,
        explicit: bool,
    ) -> ScriptResult<Earlier> {
        if explicit {
            return Ok(Earlier::Unknown);
        }
        // Held while loading, so that `parallel` workers load once.
        let mut state = self.lock();
        if state.in_doubt.contains(token) {
            return Ok(Earlier::Unknown);
        }
        if !state.loaded.contains(&kind) {
            let ours = Query { tags: [(RUN_TAG.to_string(), run.lineage().to_string())].into(), ..Query::default() };
            let found: Vec<(String, Tags)> = match kind {
                Kind::Volume => read(run, account.volumes(&ours))?.into_iter().map(|v| (v.id, v.tags)).collect(),
                Kind::Snapshot => read(run, account.snapshots(&ours))?.into_iter().map(|s| (s.id, s.tags)).collect(),
            };
            for (id, tags) in found {
                if let Some(t) = tags.get(TOKEN_TAG) {
                    state.made.insert(t.clone(), id);
                }
            }
            state.loaded.insert(kind);
        }
        Ok(state.made.get(token).map_or(Earlier::Nothing, |id| Earlier::Made(id.clone())))
    }

    /// Notes how a create with `token` ended: made, only planned, or
    /// failed (then it may have been made after all).
    pub(crate) fn remember<T>(&self, token: &str, outcome: &ScriptResult<Outcome<T>>, id: impl FnOnce(&T) -> String) {
        let mut state = self.lock();
        match outcome {
            Ok(Outcome::Applied(made) | Outcome::Replayed(made)) => {
                state.made.insert(token.to_string(), id(made));
            }
            Ok(Outcome::Planned(_)) => {}
            Err(_) => {
                state.in_doubt.insert(token.to_string());
            }
        }
    }
}
