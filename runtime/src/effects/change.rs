//! The words every family and the gate share, in a leaf that imports nothing
//! of hubops: a [`Change`] a binding wants to make, the [`Permit`] the gate
//! hands its closure (checking or applying, never both, never chosen by the
//! binding), what the gate did ([`Outcome`]), why it did not
//! ([`GateError`]), the one trait every backend error implements
//! ([`Failure`]), and what the gate needs from a terminal ([`Console`]).
//!
//! A `Permit` can only be made by the gate (`effects::gate`): backends take
//! `&Permit` on every mutating call and read the mode from it, the way
//! kube-rs keeps `dry_run` in `PostParams` beside the call it governs.

use serde::Serialize;
use serde_json::Value;

/// What makes a [`Permit`] unforgeable: only the gate can make one.
#[derive(Debug)]
pub struct Seal(());

/// The gate's decision for one change: have the system check it (server-side
/// dry run, `DryRun=true`, `rsync --dry-run`, a precondition read) or make it.
#[derive(Debug)]
pub enum Permit {
    /// Validate only; nothing may change.
    Check(Seal),
    /// Make the change.
    Apply(Seal),
}

impl Permit {
    /// Only the gate decides.
    pub(super) fn new(check: bool) -> Self {
        if check {
            Self::Check(Seal(()))
        } else {
            Self::Apply(Seal(()))
        }
    }

    /// Whether this permit only allows checking.
    #[must_use]
    pub fn is_check(&self) -> bool {
        matches!(self, Self::Check(_))
    }

    /// A permit to apply, for unit tests of backends, which run without a gate.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        Self::new(false)
    }

    /// A permit to check, for unit tests of backends.
    #[cfg(test)]
    pub(crate) fn for_tests_check() -> Self {
        Self::new(true)
    }
}

/// A change a binding wants to make.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The system and handle it touches: `http`, `k8s/blue`, `route53/prod`.
    pub system: String,
    /// What is done: `create`, `delete`, `upsert`, `post`.
    pub verb: String,
    /// What it is done to: `pod daskhub/jupyter-alice`.
    pub target: String,
    /// The state before, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The state after, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// Whether it destroys something (asks for confirmation unless `--yes`).
    pub destructive: bool,
    /// Where in the system it works (a Kubernetes namespace): a live run
    /// holds the system's remote lock there (a Lease) before the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Whose remote lock guards it, when not its own system's: a Helm
    /// release's changes hold their cluster's Lease (`k8s/CONTEXT`).
    #[serde(skip)]
    pub locked_by: Option<String>,
    /// Why a change that destroys nothing is still asked about unless
    /// `--yes` (`moves the production name hub.cal-adapt.org`): a
    /// confirmation point like a delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// Whether making it twice does no harm (an rsync): a resumed run sends
    /// one that was in doubt again without asking first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub idempotent: bool,
}

impl Change {
    /// A change with no before/after and not destructive.
    #[must_use]
    pub fn new(system: impl Into<String>, verb: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            system: system.into(),
            verb: verb.into(),
            target: target.into(),
            before: None,
            after: None,
            destructive: false,
            scope: None,
            locked_by: None,
            confirm: None,
            idempotent: false,
        }
    }

    /// Where in the system the change works (a namespace).
    #[must_use]
    pub fn scoped(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Says that `system`'s remote lock guards the change (see `locked_by`).
    #[must_use]
    pub fn locked_by(mut self, system: impl Into<String>) -> Self {
        self.locked_by = Some(system.into());
        self
    }

    /// Marks the change destructive.
    #[must_use]
    pub fn destructive(mut self) -> Self {
        self.destructive = true;
        self
    }

    /// Makes the change a confirmation point for `reason` (`moves the
    /// production name hub.cal-adapt.org`): asked like a delete unless `--yes`.
    #[must_use]
    pub fn confirm(mut self, reason: impl Into<String>) -> Self {
        self.confirm = Some(reason.into());
        self
    }

    /// Whether the gate asks before making it (unless `--yes`).
    #[must_use]
    pub fn asks(&self) -> bool {
        self.destructive || self.confirm.is_some()
    }

    /// Marks the change safe to make again (see the `idempotent` field).
    #[must_use]
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Records the state before and after.
    #[must_use]
    pub fn before_after(mut self, before: Option<Value>, after: Option<Value>) -> Self {
        self.before = before;
        self.after = after;
        self
    }

    /// `delete pod daskhub/hub-0`.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("{} {}", self.verb, self.target)
    }
}

/// What the gate did with a change. Both carry what the backend answered:
/// the system's reply to the change, or to its check (a server-side dry
/// run's would-be object; often nothing).
#[derive(Debug)]
pub enum Outcome<T> {
    /// The change was made.
    Applied(T),
    /// Dry run: the system accepted the change as valid; nothing was made.
    Planned(T),
    /// An earlier run of the lineage made the change; this is its recorded
    /// answer (a resume).
    Replayed(T),
}

impl<T> Outcome<T> {
    /// The backend's answer, made or planned.
    pub fn into_inner(self) -> T {
        match self {
            Self::Applied(t) | Self::Planned(t) | Self::Replayed(t) => t,
        }
    }

    /// Whether the change was only planned.
    pub fn is_planned(&self) -> bool {
        matches!(self, Self::Planned(_))
    }

    /// Whether the answer was handed back from an earlier run's journal.
    pub fn is_replayed(&self) -> bool {
        matches!(self, Self::Replayed(_))
    }
}

/// An error of a backend, as scripts will see it: every family's error type
/// implements this, so one converter builds every script error map.
pub trait Failure: std::error::Error + Send + Sync + 'static {
    /// The `kind` scripts see: `NotFound`, `Conflict`, `Forbidden`,
    /// `Invalid`, `Timeout`, `Unreachable`, `Throttled`, ...
    fn kind(&self) -> &'static str;

    /// Extra fields for the script's error map (`code`, `contexts`, ...).
    fn fields(&self) -> Vec<(&'static str, Value)> {
        Vec::new()
    }

    /// What to do about it, where a hint helps.
    fn hint(&self) -> Option<String> {
        None
    }
}

/// A failure that is only a kind and a message: for checks that have no
/// typed error of their own, and for binding families added from outside.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Plain {
    /// The `kind` scripts see.
    pub kind: &'static str,
    /// What happened.
    pub message: String,
}

impl Plain {
    /// A failure of this kind.
    #[must_use]
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
}

impl Failure for Plain {
    fn kind(&self) -> &'static str {
        self.kind
    }
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum GateError<E> {
    /// The system refused the change (or, in a dry run, would refuse it).
    #[error("{verb} {target} failed")]
    Refused {
        /// The change's verb.
        verb: String,
        /// The change's target.
        target: String,
        /// Whether this was only a check (dry run).
        checked_only: bool,
        /// The system's answer, typed.
        #[source]
        source: E,
    },
    /// The operator answered no.
    #[error("declined: {verb} {target}")]
    Declined {
        /// The change's verb.
        verb: String,
        /// The change's target.
        target: String,
    },
    /// A change needs an answer and there is no terminal.
    #[error("{verb} {target} {why} and needs confirmation, but there is no terminal to ask on")]
    NeedsConfirmation {
        /// The change's verb.
        verb: String,
        /// The change's target.
        target: String,
        /// Why it is asked (`is destructive`, ...).
        why: String,
    },
    /// Ctrl-C was pressed.
    #[error("interrupted")]
    Interrupted,
    /// The run must stop before making any change (its journal cannot be
    /// written: no change is made that the audit log would not show).
    #[error("the run stops: {why}")]
    Stopped {
        /// Why.
        why: String,
    },
    /// A resumed run found the recorded answer of a change it must not send
    /// again, but cannot read it back.
    #[error("{verb} {target} was made by an earlier run, but its recorded answer cannot be read back: {why}")]
    Unreplayable {
        /// The change's verb.
        verb: String,
        /// The change's target.
        target: String,
        /// Why not.
        why: String,
    },
}

impl<E> GateError<E> {
    /// The backend's error, when the system refused.
    pub fn refusal(&self) -> Option<&E> {
        match self {
            Self::Refused { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A change as the plan lists it.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The change, secrets redacted.
    pub change: Change,
    /// Why the system would refuse it, if it would.
    pub would_fail: Option<String>,
}

/// How a question was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A person answered yes at the terminal.
    Yes,
    /// A person answered no.
    No,
    /// `--yes` answered.
    YesByFlag,
    /// `--ack NAME` answered an acknowledgement (`--yes` never does).
    AckByFlag,
    /// A dry run: the question would be asked.
    WouldAsk,
    /// Nobody can answer: no terminal and no `--yes`.
    NoTerminal,
}

impl Answer {
    /// The journal's word for it.
    #[must_use]
    pub fn journal(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::YesByFlag => "yes_by_flag",
            Self::AckByFlag => "ack_by_flag",
            Self::WouldAsk => "would_ask",
            Self::NoTerminal => "no_terminal",
        }
    }
}

/// What the gate shows a person and asks them; output.rs implements it, so
/// the gate never writes to a terminal itself.
pub trait Console {
    /// A dry run checked a change: planned, or it would fail.
    fn planned(&self, change: &Change, would_fail: Option<&str>);
    /// A change is about to be made.
    fn applying(&self, change: &Change);
    /// A question was answered without asking (`--yes`, dry run).
    fn answered(&self, question: &str, answer: Answer);
    /// A resumed run hands back a change an earlier run made, without making it again.
    fn replayed(&self, change: &Change);
    /// Asks a yes/no question; `None` when there is no terminal to ask on.
    fn ask(&self, question: &str) -> Option<std::io::Result<bool>>;
}

/// What a resumed run takes over from the runs before it in its lineage:
/// the changes they made (by key, with what the system answered) and the
/// ones they were making when they stopped (in doubt).
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Key -> the recorded answer.
    pub applied: std::collections::HashMap<String, Value>,
    /// Keys whose change was started but never recorded as made or failed.
    pub in_doubt: std::collections::HashSet<String>,
}
