//! HTTP on a world: the `http:` section's endpoints, whose answers can
//! change over virtual time (a hub that becomes healthy after 3 minutes),
//! and, for hosts the section does not list, wherever the world's DNS and
//! load balancers lead (`backends::site`), or the load balancer a pinned
//! request names (`connect_to`). Requests that change something
//! are recorded in `received` (with when) only under `Permit::Apply`.
//!
//! Services that react answer by what happened rather than by the clock
//! alone: an answer `since` a request (a lab is ready 40 seconds after its
//! spawn was asked for; a mobu flock is gone once its DELETE was received)
//! or an Argo CD application's last successful sync (mobu's flocks are
//! back once `mobu` was synced) is given from then (`after` counts from
//! it). Of the answers whose time has come, the latest is given. An
//! endpoint may also answer only `while` objects of the world's clusters
//! say its service runs (the hub behind a route); when none of the
//! endpoints of a URL does, the ingress answers 503.
//!
//! ```yaml
//! http:
//!   endpoints:
//!     - url: https://rsp.example/n3/hub/api/users/tester
//!       bearer: hub-token
//!       while:                                   # every one must hold
//!         - {context: rsp, kind: ingress, namespace: nublado, name: hub,
//!            field: spec.rules.0.http.paths.0.path, equals: /n3}
//!       answers:
//!         - {status: 200, json: {name: tester, servers: {}}}
//!         - since: {request: POST https://rsp.example/n3/hub/api/users/tester/server}
//!           after: 40s
//!           status: 200
//!           json: {name: tester, servers: {"": {ready: true}}}
//!         - since: {synced: rsp argocd/mobu}     # CONTEXT NAMESPACE/NAME
//!           status: 200
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use jiff::Timestamp;

use super::{Error, Method, Request, Response, Write};
use crate::backends::k8s::select::lookup;
use crate::backends::k8s::world::K8sWorld;
use crate::backends::k8s::world_cluster::SECTION as CLUSTERS;
use crate::effects::Permit;
use crate::world::{Shared, WorldPart};

/// The `http:` section of a world: endpoints and their answers over time,
/// and the requests that changed something (so a rehearsal can be checked).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpWorld {
    /// The simulated endpoints.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Requests other than GET and HEAD received so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub received: Vec<Received>,
}

/// A request that was sent to the world.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Received {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The body, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// When it was received, on the world's clock (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// An object of the world's clusters that must be there (with a field of
/// that value) for an endpoint to answer.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// The cluster (kube context).
    pub context: String,
    /// The kind, as kubectl names it.
    pub kind: String,
    /// The namespace (none for cluster-scoped kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
    /// A dotted path in the object (`status.readyReplicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The value it must have (a string compares as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
}

/// What an answer is given since.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Since {
    /// The last request `METHOD URL` received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The last successful sync of Argo CD application `CONTEXT NAMESPACE/NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced: Option<String>,
}

/// One simulated URL.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The exact URL (query string included).
    pub url: String,
    /// The method it answers (default GET; GET endpoints answer HEAD too).
    #[serde(default = "get_method")]
    pub method: String,
    /// If set, requests must carry this bearer token, or get 403.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer: Option<String>,
    /// Where the endpoint is served (an IP address or a load balancer's
    /// name). When the world's DNS knows the URL's host, a request reaches
    /// the endpoint only if DNS leads there, as it would live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Its answers hold secrets (a Vault read): every string of their
    /// `json` and `body` is a secret of any run on this world from when the
    /// world loads, so output, journals and saved worlds show `***` for
    /// them, in a resumed run as in the run that first read them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
    /// It answers only while every one of these holds.
    #[serde(default, rename = "while", skip_serializing_if = "Vec::is_empty")]
    pub while_: Vec<Requires>,
    /// Answers by virtual time: of those whose time has come (`after`
    /// since the world's start, or since their `since`), the latest.
    pub answers: Vec<Answer>,
}

/// An answer of a simulated endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// From when (since the world's start) this answer is given: `0s`, `3m`.
    #[serde(default = "zero")]
    pub after: String,
    /// Status code.
    pub status: u16,
    /// A text body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A JSON body (sent as `application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// Headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Given from this on (else from the world's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
}

fn get_method() -> String {
    "GET".into()
}

fn zero() -> String {
    "0s".into()
}

impl WorldPart for HttpWorld {
    fn snapshot(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    fn snapshot_after(&self, elapsed: Duration) -> Value {
        // The saved world starts where the run left it: answers counted
        // from the start come that much sooner (those due are due at once).
        let mut world = self.clone();
        for answer in world.endpoints.iter_mut().flat_map(|e| e.answers.iter_mut()).filter(|a| a.since.is_none()) {
            let after = crate::duration::parse(&answer.after).unwrap_or_default();
            answer.after = crate::duration::format(after.saturating_sub(elapsed));
        }
        serde_json::to_value(world).unwrap_or(Value::Null)
    }
}

/// Loads the `http:` section.
pub(crate) fn load_world(section: &Value) -> Result<Box<dyn WorldPart>, String> {
    let world: HttpWorld = serde_json::from_value(section.clone()).map_err(|e| e.to_string())?;
    for endpoint in &world.endpoints {
        url::Url::parse(&endpoint.url).map_err(|e| format!("`{}` is not a URL: {e}", endpoint.url))?;
        if endpoint.answers.is_empty() {
            return Err(format!("endpoint `{}` has no answers", endpoint.url));
        }
        for answer in endpoint.answers.iter().filter(|_| endpoint.secret) {
            if let Some(json) = &answer.json {
                crate::redact::global().add_strings(json);
            }
            if let Some(body) = answer.body.as_deref().filter(|b| !b.is_empty()) {
                crate::redact::global().add(body);
            }
        }
        for answer in &endpoint.answers {
            crate::duration::parse(&answer.after).map_err(|e| format!("endpoint `{}`: `after`: {e}", endpoint.url))?;
            if let Some(since) = &answer.since {
                let ok = match (&since.request, &since.synced) {
                    (Some(r), None) => r.split_once(' ').is_some_and(|(_, u)| url::Url::parse(u).is_ok()),
                    (None, Some(s)) => s.split_once(' ').is_some_and(|(_, app)| app.split('/').count() == 2),
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "endpoint `{}`: `since` is `request: METHOD URL` or `synced: CONTEXT NAMESPACE/NAME`",
                        endpoint.url
                    ));
                }
            }
        }
    }
    Ok(Box::new(world))
}

/// What an answer's `since` and an endpoint's `while` need to know of the
/// rest of the world.
pub trait Facts {
    /// Whether `requires` holds.
    fn holds(&self, requires: &Requires) -> bool;
    /// When Argo CD application `CONTEXT NAMESPACE/NAME` last synced
    /// successfully.
    fn synced(&self, app: &str) -> Option<Timestamp>;
}

/// A world with nothing but the `http:` section.
struct Nothing;

impl Facts for Nothing {
    fn holds(&self, _: &Requires) -> bool {
        false
    }
    fn synced(&self, _: &str) -> Option<Timestamp> {
        None
    }
}

impl HttpWorld {
    /// Answers a request `elapsed` after the world's start, as a world with
    /// no clusters would. Only reads: a request that changes something is
    /// recorded with [`Self::receive`].
    pub fn answer<M: Method>(&self, req: &Request<M>, elapsed: Duration) -> Result<Response, Error> {
        let start = Timestamp::UNIX_EPOCH;
        let now = start.checked_add(elapsed).unwrap_or(start);
        self.answer_at(req, (start, now), &Nothing)
    }

    /// Answers a request at `now` (the world started at `start`).
    pub fn answer_at<M: Method>(
        &self,
        req: &Request<M>,
        (start, now): (Timestamp, Timestamp),
        facts: &dyn Facts,
    ) -> Result<Response, Error> {
        let url = req.url.to_string();
        let head = req.method.name() == "HEAD";
        let method = if head { "GET" } else { req.method.name() };
        let same_url = |e: &&Endpoint| url::Url::parse(&e.url).is_ok_and(|u| u == req.url);
        if !self.endpoints.iter().any(|e| same_url(&e)) {
            return Err(Error::Unreachable { url, source: None });
        }
        let text =
            |status: u16, body: &str| Response { status, headers: BTreeMap::new(), body: body.into(), address: None };
        let mut methods =
            self.endpoints.iter().filter(same_url).filter(|e| e.method.eq_ignore_ascii_case(method)).peekable();
        if methods.peek().is_none() {
            return Ok(text(405, "method not allowed"));
        }
        // As an ingress answers when the service behind the route is down.
        let Some(endpoint) = methods.find(|e| e.while_.iter().all(|r| facts.holds(r))) else {
            return Ok(text(503, "no healthy upstream"));
        };
        if endpoint.bearer.is_some() && endpoint.bearer != req.bearer {
            return Ok(text(403, "forbidden"));
        }
        let from = |a: &Answer| -> Option<Timestamp> {
            let after = crate::duration::parse(&a.after).ok()?;
            let base = match &a.since {
                // Due from the start: older than any request received, also
                // those a saved world received before its (moved) start.
                None if after.is_zero() => return Some(Timestamp::MIN),
                None => start,
                Some(Since { request: Some(r), .. }) => self.last_received(r)?,
                Some(Since { synced: Some(app), .. }) => facts.synced(app)?,
                Some(_) => return None,
            };
            base.checked_add(after).ok()
        };
        let answer = endpoint
            .answers
            .iter()
            .enumerate()
            .filter_map(|(i, a)| from(a).filter(|t| *t <= now).map(|t| (t, i, a)))
            .max_by_key(|(t, i, _)| (*t, *i))
            .map(|(_, _, a)| a)
            .ok_or(Error::Unreachable { url, source: None })?;
        let mut headers = answer.headers.clone();
        let body = match (&answer.json, &answer.body) {
            (Some(json), _) => {
                headers.entry("content-type".into()).or_insert_with(|| "application/json".into());
                json.to_string()
            }
            (None, Some(body)) => body.clone(),
            (None, None) => String::new(),
        };
        let body = if head { String::new() } else { body };
        Ok(Response { status: answer.status, headers, body, address: None })
    }

    /// When the world last received `METHOD URL`.
    fn last_received(&self, request: &str) -> Option<Timestamp> {
        let (method, url) = request.split_once(' ')?;
        let url = url::Url::parse(url.trim()).ok()?;
        self.received
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && url::Url::parse(&r.url).is_ok_and(|u| u == url))
            .filter_map(|r| r.at.as_deref().and_then(|t| t.parse::<Timestamp>().ok()))
            .max()
    }

    /// Records a request that changes something, received at `now`; under
    /// `Permit::Check` nothing is recorded.
    pub fn receive(&mut self, permit: &Permit, req: &Request<Write>, now: Timestamp) {
        if permit.is_check() {
            return;
        }
        self.received.push(Received {
            method: req.method.name().to_string(),
            url: req.url.to_string(),
            body: req.body.as_ref().map(|(_, b)| String::from_utf8_lossy(b).into_owned()),
            at: Some(now.to_string()),
        });
    }
}

/// The world's clusters, as endpoints and answers ask about them.
struct Clusters<'a>(Option<&'a K8sWorld>);

impl Facts for Clusters<'_> {
    fn holds(&self, r: &Requires) -> bool {
        let Some(cluster) = self.0.and_then(|k| k.clusters.get(&r.context)) else { return false };
        let Ok(kind) = cluster.resolve(&r.kind) else { return false };
        let Ok(obj) = cluster.get(&kind, r.namespace.as_deref().unwrap_or(""), &r.name) else { return false };
        match (&r.field, &r.equals) {
            (Some(field), Some(want)) => lookup(&obj, field).is_some_and(|v| match (v, want) {
                (Value::String(a), Value::String(b)) => a == b,
                (a, b) => a == b,
            }),
            (Some(field), None) => lookup(&obj, field).is_some_and(|v| !v.is_null()),
            _ => true,
        }
    }

    fn synced(&self, app: &str) -> Option<Timestamp> {
        let (context, at) = app.split_once(' ')?;
        let (ns, name) = at.split_once('/')?;
        let cluster = self.0?.clusters.get(context)?;
        let kind = cluster.resolve(crate::backends::argocd::KIND).ok()?;
        let app = cluster.get(&kind, ns, name).ok()?;
        let state = app.pointer("/status/operationState")?;
        if state.get("phase").and_then(Value::as_str) != Some("Succeeded") {
            // The last successful sync is what the world still shows
            // while a new one runs: Argo CD keeps no more than that.
            return None;
        }
        state.get("finishedAt")?.as_str()?.parse().ok()
    }
}

/// Answers a request now: endpoints the world file lists win (where DNS
/// leads to them); other hosts go where the world's DNS and load balancers
/// lead.
pub(crate) fn answer<M: Method>(world: &Shared, req: &Request<M>) -> Result<Response, Error> {
    let now = world.now();
    let mut w = world.lock();
    let start = w.start();
    let elapsed = Duration::try_from(now.duration_since(start)).unwrap_or_default();
    if let Some(clusters) = w.part_mut::<K8sWorld>(CLUSTERS) {
        clusters.start = Some(start);
        clusters.settle(elapsed);
    }
    let served_at = w.part::<HttpWorld>("http").and_then(|part| {
        part.endpoints
            .iter()
            .find(|e| url::Url::parse(&e.url).is_ok_and(|u| u == req.url))
            .and_then(|e| e.address.clone())
    });
    let struck = crate::world::faults::of(&w).and_then(|f| f.http_status(req.url.as_str(), elapsed));
    if let Some((status, body)) = struck {
        let body = if req.method.name() == "HEAD" { String::new() } else { body };
        return Ok(Response { status, headers: BTreeMap::new(), body, address: req.connect_to.clone() });
    }
    if let (Some(at), Some(host)) = (served_at, req.url.host_str()) {
        if let Some(leads) = crate::backends::site::follow(&w, host, now) {
            let same = |a: &String| a.trim_end_matches('.').eq_ignore_ascii_case(at.trim_end_matches('.'));
            if !leads.iter().any(same) {
                let to = leads.last().cloned().unwrap_or_default();
                let why = format!(
                    "tcp connect error: Connection timed out (os error 110): `{host}` leads to {to}, and the endpoint is at {at}"
                );
                return Err(Error::Unreachable { url: req.url.to_string(), source: Some(why.into()) });
            }
        }
    }
    let facts = Clusters(w.part::<K8sWorld>(CLUSTERS));
    match w.part::<HttpWorld>("http").map(|part| part.answer_at(req, (start, now), &facts)) {
        Some(Err(Error::Unreachable { .. })) | None => {
            crate::backends::site::route(&mut w, &req.url, req.connect_to.as_deref(), now)
                .unwrap_or_else(|| Err(nowhere(&w, req, now)))
        }
        Some(answer) => answer,
    }
}

/// A request that reaches nothing: where the world's DNS led it, if it did.
fn nowhere<M: Method>(w: &crate::world::World, req: &Request<M>, now: jiff::Timestamp) -> Error {
    let host = req.url.host_str().unwrap_or_default();
    let source = crate::backends::site::follow(w, host, now).and_then(|leads| leads.last().cloned()).map(|to| {
        format!("tcp connect error: Connection timed out (os error 110): `{host}` leads to {to}, where the world has no load balancer or ingress").into()
    });
    Error::Unreachable { url: req.url.to_string(), source }
}

/// Sends a request that changes something to the world: its answer, and
/// the request recorded in `received`. Under `Permit::Check` only a HEAD to
/// the URL is answered and nothing is recorded.
pub(crate) fn send(world: &Shared, permit: &Permit, req: &Request<Write>) -> Result<Response, Error> {
    if permit.is_check() {
        return answer(world, &req.head());
    }
    let answered = answer(world, req);
    let now = world.now();
    // Recorded whatever the answer: the request was sent.
    if let Some(part) = world.lock().part_mut::<HttpWorld>("http") {
        part.receive(permit, req, now);
    }
    answered
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::world::World;

    const WORLD: &str = "name: t\nstart: 2026-11-21T06:00:00Z\nhttp:\n  endpoints:\n    - url: https://mobu.example.org/flocks/x\n      answers: [{ status: 200, body: flock }]\n    - url: https://mobu.example.org/flocks/x\n      method: DELETE\n      answers: [{ status: 204 }]\n";

    fn shared(text: &str) -> Shared {
        let world = World::load(text, "t.yaml", &[("http", load_world)]).unwrap();
        let start = world.start();
        Shared::new(world, Arc::new(Clock::starting_at(start)))
    }

    fn delete(url: &str) -> Request<Write> {
        request(Write::Delete, url)
    }

    fn request<M>(method: M, url: &str) -> Request<M> {
        Request {
            method,
            url: url.parse().unwrap(),
            body: None,
            insecure: false,
            headers: Vec::new(),
            bearer: None,
            timeout: Duration::from_secs(5),
            connect_to: None,
        }
    }

    fn received(world: &Shared) -> Vec<(String, String)> {
        let w = world.lock();
        w.part::<HttpWorld>("http").unwrap().received.iter().map(|r| (r.method.clone(), r.url.clone())).collect()
    }

    #[test]
    fn a_checked_send_answers_a_head_and_records_nothing() {
        let world = shared(WORLD);
        let req = delete("https://mobu.example.org/flocks/x");
        let checked = send(&world, &Permit::for_tests_check(), &req).unwrap();
        assert_eq!((checked.status, checked.body.as_str()), (200, ""), "the GET endpoint answers the HEAD");
        assert!(received(&world).is_empty(), "a check records nothing");
        let before = world.lock().to_yaml(world.now());
        world.lock().part_mut::<HttpWorld>("http").unwrap().receive(&Permit::for_tests_check(), &req, world.now());
        assert_eq!(world.lock().to_yaml(world.now()), before, "receive under Check changes nothing");

        let applied = send(&world, &Permit::for_tests(), &req).unwrap();
        assert_eq!(applied.status, 204);
        assert_eq!(received(&world), [("DELETE".to_string(), "https://mobu.example.org/flocks/x".to_string())]);
    }

    #[test]
    fn a_checked_send_to_nowhere_fails_as_unreachable() {
        let world = shared(WORLD);
        let err = send(&world, &Permit::for_tests_check(), &delete("https://nowhere.example.org/x")).unwrap_err();
        assert_eq!(crate::effects::Failure::kind(&err), "Unreachable");
        assert!(received(&world).is_empty());
    }

    #[test]
    fn answers_change_over_virtual_time() {
        let world = shared("name: t\nstart: 2026-11-21T06:00:00Z\nhttp:\n  endpoints:\n    - url: https://hub.example.org/hub/health\n      answers: [{ after: 0s, status: 503 }, { after: 2m, status: 200 }]\n");
        let get = request(super::super::Read::Get, "https://hub.example.org/hub/health");
        assert_eq!(answer(&world, &get).unwrap().status, 503);
        world.clock().sleep(Duration::from_mins(2), &crate::cancel::Cancel::default(), |_| {}).unwrap();
        assert_eq!(answer(&world, &get).unwrap().status, 200);
    }
}
