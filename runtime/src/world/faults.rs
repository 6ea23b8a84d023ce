//! The `faults:` section of a world (or `hubops run --faults FILE`): what
//! goes wrong in real maintenance windows, injected where a world answers a
//! binding's call, so a rehearsal walks the refusal and rollback paths the
//! way the site would make it walk them.
//!
//! ```yaml
//! faults:
//!   seed: 7                        # draws of `probability` (default 0)
//!   inject:
//!     - { kind: route53-throttle, zone: cal-adapt.org, times: 2 }
//!     - { kind: route53-pending, zone: cal-adapt.org, for: 20m }
//!     - { kind: aws-error, operation: CreateVolume, code: VolumeLimitExceeded,
//!         message: "You have exceeded your maximum gp3 storage limit", probability: 0.1 }
//!     - { kind: rsync-exit, match: alice, exit: 24 }
//!     - { kind: argocd-sync-fails, app: argocd/hub, message: "one or more objects failed to apply" }
//!     - { kind: pod-never-terminates, context: cae-blue, namespace: daskhub, pod: jupyter-alice }
//!     - { kind: api-unreachable, context: cae-green, after: 5m, for: 2m }
//!     - { kind: http-status, url: "https://hub.cal-adapt.org/hub/health", status: 502, after: 10m }
//! ```
//!
//! A fault strikes the calls it matches: the first `times` of them (default
//! 1), or, with `probability`, each one with that chance (at most `times`
//! times when both are given), drawn from a generator seeded with `seed`:
//! the scheduler runs a rehearsal's calls in a fixed order, so the same
//! world strikes the same calls every time. `api-unreachable` and
//! `http-status` strike every call in their span of virtual time;
//! `pod-never-terminates` every delete of the pod. A fault struck `times` times is used up, and a
//! saved world keeps only what is left (and the generator where it is), so
//! a resumed rehearsal goes on as the site would.
//!
//! Only the world's half of a family reads this, and only changes under
//! `Permit::Apply` use faults up: a dry run on a world never trips over a
//! fault that the real system's validation would not show (an unreachable
//! API server would, and does).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{World, WorldPart};

/// The section's name in a world file.
pub const SECTION: &str = "faults";

/// Route53's answer to too many requests (after the SDK's own retries).
pub const THROTTLED: (&str, &str) = ("Throttling", "Rate exceeded");

/// The `faults:` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Seed of the generator `probability` draws from.
    #[serde(default)]
    pub seed: u64,
    /// The faults.
    #[serde(default)]
    pub inject: Vec<Fault>,
}

/// One fault: what it strikes, and how often. (Unknown fields are refused
/// by [`Kind`], which sees every field but these.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fault {
    /// What goes wrong.
    #[serde(flatten)]
    pub kind: Kind,
    /// How many matching calls it strikes (default 1; with `probability`
    /// alone, no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// The chance that it strikes a matching call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// The kinds of fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Kind {
    /// Route53 answers `Throttling: Rate exceeded` to a record change.
    Route53Throttle {
        /// Only changes to this zone (a name, `cal-adapt.org`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
    },
    /// A record change stays `PENDING`: `GetChange` says so and no
    /// authoritative server answers it, for `for` (absent: for good).
    Route53Pending {
        /// Only changes to this zone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
        /// How long it stays pending: `20m`.
        #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
        stuck_for: Option<String>,
    },
    /// An EC2 or Route53 call fails with this AWS error.
    AwsError {
        /// The API operation: `CreateVolume`, `CreateSnapshot`, ...
        operation: String,
        /// AWS's error code: `VolumeLimitExceeded`.
        code: String,
        /// AWS's message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Only calls about this resource (a volume, snapshot or zone id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// An rsync whose source or destination contains `match` exits with
    /// `exit`; 24 is "some files vanished before they could be transferred".
    RsyncExit {
        /// A piece of the source or destination path (`alice`).
        #[serde(rename = "match")]
        pattern: String,
        /// rsync's exit status.
        exit: i32,
    },
    /// A sync of an Argo CD Application fails.
    ArgocdSyncFails {
        /// Only this Application, `NAMESPACE/NAME`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app: Option<String>,
        /// The sync's message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A pod that is deleted stays `Terminating` (a finalizer or a kubelet
    /// that never confirms).
    PodNeverTerminates {
        /// Only on this cluster.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
        /// Only in this namespace.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        /// The pod.
        pod: String,
    },
    /// Requests to URLs starting with `url` get this status (a hub behind
    /// a load balancer answering 502), from `after` for `for`, like
    /// `api-unreachable`.
    HttpStatus {
        /// The start of the URLs: `https://hub.cal-adapt.org/hub/health`.
        url: String,
        /// The status: `502`.
        status: u16,
        /// The body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        /// When it starts: `10m`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// For how long.
        #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
        lasting: Option<String>,
    },
    /// A cluster's API server does not answer, from `after` (since the
    /// world's start, default at once) for `for` (default for good).
    ApiUnreachable {
        /// The kube context.
        context: String,
        /// When it stops answering: `5m`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// For how long: `2m`.
        #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
        down_for: Option<String>,
    },
}

/// A call a fault may strike.
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    /// An AWS API call.
    Aws {
        /// The operation.
        operation: &'a str,
        /// What it is about (volume, snapshot or zone id or name; `""`).
        target: &'a str,
        /// The zone's name, for Route53 record changes.
        zone: Option<&'a str>,
    },
    /// An rsync.
    Rsync {
        /// Source, as given.
        src: &'a str,
        /// Destination, as given.
        dst: &'a str,
    },
    /// A sync of an Argo CD Application.
    ArgoSync {
        /// `NAMESPACE/NAME`.
        app: &'a str,
    },
}

/// EC2 and Route53 operations the world answers, for checking names.
const OPERATIONS: &[&str] = &[
    "CreateSnapshot",
    "CreateVolume",
    "CreateTags",
    "DeleteSnapshot",
    "DeleteVolume",
    "DescribeSnapshots",
    "DescribeVolumes",
    "DescribeVolumesModifications",
    "ModifyVolume",
    "ChangeResourceRecordSets",
    "GetChange",
    "ListHostedZonesByName",
    "ListResourceRecordSets",
];

impl WorldPart for Faults {
    fn snapshot(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Loads the `faults:` section (or a `--faults` file).
pub(crate) fn load_world(section: &Value) -> Result<Box<dyn WorldPart>, String> {
    parse(section).map(|f| Box::new(f) as Box<dyn WorldPart>)
}

/// Loads a `--faults` file: the section's content, or a file with a
/// `faults:` key (copied from a world).
pub(crate) fn load_file(text: &str) -> Result<Box<dyn WorldPart>, String> {
    crate::yaml_limits::check(text).map_err(|why| format!("the file {why}"))?;
    let yaml: serde_norway::Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let value: Value = serde_json::to_value(yaml).map_err(|e| e.to_string())?;
    let section = match value.get(SECTION) {
        Some(inner) if value.as_object().is_some_and(|m| m.len() == 1) => inner.clone(),
        _ => value,
    };
    load_world(&section)
}

/// Parses and checks a `faults:` section.
pub(crate) fn parse(section: &Value) -> Result<Faults, String> {
    let faults: Faults = serde_json::from_value(section.clone()).map_err(|e| e.to_string())?;
    for (i, fault) in faults.inject.iter().enumerate() {
        let at = format!("fault {}", i + 1);
        if let Some(p) = fault.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{at}: `probability` must be between 0 and 1, not {p}"));
            }
        }
        let duration = |field: &str, d: &Option<String>| {
            d.as_deref()
                .map_or(Ok(()), |d| crate::duration::parse(d).map(drop).map_err(|e| format!("{at}: `{field}`: {e}")))
        };
        match &fault.kind {
            Kind::Route53Pending { stuck_for, .. } => duration("for", stuck_for)?,
            Kind::ApiUnreachable { after, down_for: lasting, .. } | Kind::HttpStatus { after, lasting, .. } => {
                duration("after", after)?;
                duration("for", lasting)?;
            }
            Kind::AwsError { operation, .. } if !OPERATIONS.contains(&operation.as_str()) => {
                let hint = crate::suggestion::closest(operation, OPERATIONS.iter().copied()).map_or_else(
                    || format!("operations: {}", OPERATIONS.join(", ")),
                    |s| format!("did you mean `{s}`?"),
                );
                return Err(format!("{at}: `{operation}` is not an operation the world answers ({hint})"));
            }
            Kind::ArgocdSyncFails { app: Some(app), .. } if app.split('/').filter(|p| !p.is_empty()).count() != 2 => {
                return Err(format!("{at}: `app` is NAMESPACE/NAME, not `{app}`"));
            }
            _ => {}
        }
    }
    Ok(faults)
}

/// The fault of `world` that strikes `call`, if one does. `live_call`:
/// the call really happens (a read, or a change under `Permit::Apply`); a
/// change a dry run only checks meets no fault.
pub(crate) fn strike(world: &mut World, call: Call<'_>, live_call: bool) -> Option<Struck> {
    if !live_call {
        return None;
    }
    world.part_mut::<Faults>(SECTION)?.strike(call)
}

/// The world's faults, if it has any.
pub(crate) fn of(world: &World) -> Option<&Faults> {
    world.part::<Faults>(SECTION)
}

/// Whether `elapsed` is in the span from `after` (default 0) for `lasting`
/// (default for good).
fn within(after: Option<&String>, lasting: Option<&String>, elapsed: Duration) -> bool {
    let from = span(after).unwrap_or_default();
    elapsed >= from && span(lasting).is_none_or(|d| elapsed < from.saturating_add(d))
}

fn span(d: Option<&String>) -> Option<Duration> {
    d.and_then(|d| crate::duration::parse(d).ok())
}

/// A fault that struck a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Struck {
    /// The call fails with this AWS error: operation, code, message.
    AwsError(String, String, String),
    /// The record change stays pending this long (`None`: for good).
    Pending(Option<Duration>),
    /// rsync exits with this status.
    RsyncExit(i32),
    /// The sync fails with this message.
    SyncFails(String),
}

impl Faults {
    /// The fault that strikes `call` now, if one does; a struck fault with
    /// `times` has one strike less.
    pub fn strike(&mut self, call: Call<'_>) -> Option<Struck> {
        let i = self.inject.iter().position(|f| f.matches(call))?;
        let fault = self.inject[i].clone();
        if let Some(p) = fault.probability {
            if self.draw() >= p {
                return None;
            }
        }
        let unlimited = fault.times.is_none() && fault.probability.is_some();
        if !unlimited {
            let left = fault.times.unwrap_or(1).saturating_sub(1);
            if left == 0 {
                self.inject.remove(i);
            } else {
                self.inject[i].times = Some(left);
            }
        }
        let aws = |operation: &str, code: &str, message: &str| {
            Struck::AwsError(operation.to_string(), code.to_string(), message.to_string())
        };
        Some(match (&fault.kind, call) {
            (Kind::Route53Throttle { .. }, Call::Aws { operation, .. }) => aws(operation, THROTTLED.0, THROTTLED.1),
            (Kind::Route53Pending { stuck_for, .. }, _) => Struck::Pending(span(stuck_for.as_ref())),
            (Kind::AwsError { operation, code, message, .. }, _) => {
                aws(operation, code, message.as_deref().unwrap_or("injected by the world's faults"))
            }
            (Kind::RsyncExit { exit, .. }, _) => Struck::RsyncExit(*exit),
            (Kind::ArgocdSyncFails { message, .. }, _) => Struck::SyncFails(
                message.clone().unwrap_or_else(|| "one or more synchronization tasks completed unsuccessfully".into()),
            ),
            _ => return None,
        })
    }

    /// Whether the API server of `context` answers `elapsed` after the
    /// world's start.
    #[must_use]
    pub fn unreachable(&self, context: &str, elapsed: Duration) -> bool {
        self.inject.iter().any(|f| match &f.kind {
            Kind::ApiUnreachable { context: c, after, down_for } if c == context => {
                within(after.as_ref(), down_for.as_ref(), elapsed)
            }
            _ => false,
        })
    }

    /// The status (and body) a request to `url` gets `elapsed` after the
    /// world's start, when a fault says.
    #[must_use]
    pub fn http_status(&self, url: &str, elapsed: Duration) -> Option<(u16, String)> {
        self.inject.iter().find_map(|f| match &f.kind {
            Kind::HttpStatus { url: prefix, status, body, after, lasting }
                if url.starts_with(prefix.as_str()) && within(after.as_ref(), lasting.as_ref(), elapsed) =>
            {
                Some((*status, body.clone().unwrap_or_default()))
            }
            _ => None,
        })
    }

    /// The pods of `context` that never finish terminating: `(namespace,
    /// pod)`, namespace `None` for any.
    #[must_use]
    pub fn stuck_pods(&self, context: &str) -> Vec<(Option<String>, String)> {
        self.inject
            .iter()
            .filter_map(|f| match &f.kind {
                Kind::PodNeverTerminates { context: c, namespace, pod }
                    if c.as_deref().is_none_or(|c| c == context) =>
                {
                    Some((namespace.clone(), pod.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// A number in [0, 1) from the seeded generator (splitmix64), which
    /// moves on: the next draw differs, and a saved world keeps where it is.
    fn draw(&mut self) -> f64 {
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1_u64 << 53) as f64
    }
}

impl Fault {
    fn matches(&self, call: Call<'_>) -> bool {
        let same_zone = |want: &Option<String>, zone: Option<&str>| {
            want.as_deref().is_none_or(|w| {
                zone.is_some_and(|z| z.trim_end_matches('.').eq_ignore_ascii_case(w.trim_end_matches('.')))
            })
        };
        match (&self.kind, call) {
            (Kind::Route53Throttle { zone }, Call::Aws { operation, zone: z, .. })
            | (Kind::Route53Pending { zone, .. }, Call::Aws { operation, zone: z, .. })
                if operation == "ChangeResourceRecordSets" =>
            {
                same_zone(zone, z)
            }
            (Kind::AwsError { operation, target, .. }, Call::Aws { operation: op, target: t, zone }) => {
                operation == op && target.as_deref().is_none_or(|want| want == t || zone == Some(want))
            }
            (Kind::RsyncExit { pattern, .. }, Call::Rsync { src, dst }) => {
                src.contains(pattern) || dst.contains(pattern)
            }
            (Kind::ArgocdSyncFails { app, .. }, Call::ArgoSync { app: a }) => app.as_deref().is_none_or(|w| w == a),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(yaml: &str) -> Faults {
        let value: Value = serde_norway::from_str(yaml).unwrap();
        parse(&value).unwrap()
    }

    const CHANGE: Call<'static> =
        Call::Aws { operation: "ChangeResourceRecordSets", target: "Z1", zone: Some("cal-adapt.org.") };

    #[test]
    fn a_fault_strikes_its_first_calls_then_is_used_up() {
        let mut f = faults("inject: [{ kind: route53-throttle, zone: cal-adapt.org, times: 2 }]");
        let throttled =
            Some(Struck::AwsError("ChangeResourceRecordSets".into(), "Throttling".into(), "Rate exceeded".into()));
        assert_eq!(f.strike(CHANGE), throttled);
        assert_eq!(f.strike(CHANGE), throttled);
        assert_eq!(f.strike(CHANGE), None);
        assert!(f.inject.is_empty(), "used up, so a saved world no longer has it");
        let mut other = faults("inject: [{ kind: route53-throttle, zone: example.org }]");
        assert_eq!(other.strike(CHANGE), None, "another zone");
    }

    #[test]
    fn probability_draws_from_the_seed_the_same_way_every_time() {
        let strikes = |seed: u64| {
            let mut f = faults(&format!(
                "seed: {seed}\ninject: [{{ kind: rsync-exit, match: alice, exit: 24, probability: 0.5 }}]"
            ));
            (0..32)
                .map(|_| f.strike(Call::Rsync { src: "nfs:/homes/alice/", dst: "/new/alice/" }).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(strikes(7), strikes(7));
        assert_ne!(strikes(7), strikes(8));
        let hits = strikes(7).iter().filter(|s| **s).count();
        assert!((8..=24).contains(&hits), "about half: {hits}");
    }

    #[test]
    fn an_api_server_is_down_for_its_span() {
        let f = faults("inject: [{ kind: api-unreachable, context: green, after: 5m, for: 2m }]");
        let at = |m: u64| f.unreachable("green", Duration::from_mins(m));
        assert_eq!((at(4), at(5), at(6), at(7)), (false, true, true, false));
        assert!(!f.unreachable("blue", Duration::from_mins(6)));
    }

    #[test]
    fn bad_faults_are_named() {
        let bad = |yaml: &str| parse(&serde_norway::from_str(yaml).unwrap()).unwrap_err();
        assert_eq!(
            bad("inject: [{ kind: aws-error, operation: CreateVolumes, code: X }]"),
            "fault 1: `CreateVolumes` is not an operation the world answers (did you mean `CreateVolume`?)"
        );
        assert_eq!(
            bad("inject: [{ kind: rsync-exit, match: a, exit: 24, probability: 2 }]"),
            "fault 1: `probability` must be between 0 and 1, not 2"
        );
        assert!(bad("inject: [{ kind: route53-pending, for: soon }]").starts_with("fault 1: `for`: "));
        assert!(
            bad("inject: [{ kind: meteor }]").contains("unknown variant `meteor`"),
            "{}",
            bad("inject: [{ kind: meteor }]")
        );
        assert!(bad("inject: [{ kind: rsync-exit, match: a, exit: 24, tims: 2 }]").contains("unknown field `tims`"));
    }
}
