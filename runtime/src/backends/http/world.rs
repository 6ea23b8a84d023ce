//! HTTP on a world: the `http:` section's endpoints, whose answers can
//! change over virtual time (a hub that becomes healthy after 3 minutes),
//! and, for hosts the section does not list, wherever the world's DNS and
//! load balancers lead (`backends::site`), or the load balancer a pinned
//! request names (`connect_to`). Requests that change something
//! are recorded in `received` only under `Permit::Apply`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Error, Method, Request, Response, Write};
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
    /// Answers by virtual time: the last one whose `after` has passed since
    /// the world's start is given.
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
}

/// Loads the `http:` section.
pub(crate) fn load_world(section: &Value) -> Result<Box<dyn WorldPart>, String> {
    let world: HttpWorld = serde_json::from_value(section.clone()).map_err(|e| e.to_string())?;
    for endpoint in &world.endpoints {
        url::Url::parse(&endpoint.url).map_err(|e| format!("`{}` is not a URL: {e}", endpoint.url))?;
        if endpoint.answers.is_empty() {
            return Err(format!("endpoint `{}` has no answers", endpoint.url));
        }
        for answer in &endpoint.answers {
            crate::duration::parse(&answer.after).map_err(|e| format!("endpoint `{}`: `after`: {e}", endpoint.url))?;
        }
    }
    Ok(Box::new(world))
}

impl HttpWorld {
    /// Answers a request `elapsed` after the world's start. Only reads: a
    /// request that changes something is recorded with [`Self::receive`].
    pub fn answer<M: Method>(&self, req: &Request<M>, elapsed: Duration) -> Result<Response, Error> {
        let url = req.url.to_string();
        let head = req.method.name() == "HEAD";
        let method = if head { "GET" } else { req.method.name() };
        let same_url = |e: &&Endpoint| url::Url::parse(&e.url).is_ok_and(|u| u == req.url);
        if !self.endpoints.iter().any(|e| same_url(&e)) {
            return Err(Error::Unreachable { url, source: None });
        }
        let Some(endpoint) = self.endpoints.iter().filter(same_url).find(|e| e.method.eq_ignore_ascii_case(method))
        else {
            return Ok(Response {
                status: 405,
                headers: BTreeMap::new(),
                body: "method not allowed".into(),
                address: None,
            });
        };
        if endpoint.bearer.is_some() && endpoint.bearer != req.bearer {
            return Ok(Response { status: 403, headers: BTreeMap::new(), body: "forbidden".into(), address: None });
        }
        let answer = endpoint
            .answers
            .iter()
            .rfind(|a| crate::duration::parse(&a.after).is_ok_and(|after| after <= elapsed))
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

    /// Records a request that changes something; under `Permit::Check`
    /// nothing is recorded.
    pub fn receive(&mut self, permit: &Permit, req: &Request<Write>) {
        if permit.is_check() {
            return;
        }
        self.received.push(Received {
            method: req.method.name().to_string(),
            url: req.url.to_string(),
            body: req.body.as_ref().map(|(_, b)| String::from_utf8_lossy(b).into_owned()),
        });
    }
}

/// Answers a request now: endpoints the world file lists win (where DNS
/// leads to them); other hosts go where the world's DNS and load balancers
/// lead.
pub(crate) fn answer<M: Method>(world: &Shared, req: &Request<M>) -> Result<Response, Error> {
    let now = world.now();
    let mut w = world.lock();
    let elapsed = Duration::try_from(now.duration_since(w.start())).unwrap_or_default();
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
    match w.part::<HttpWorld>("http").map(|part| part.answer(req, elapsed)) {
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
    // Recorded whatever the answer: the request was sent.
    if let Some(part) = world.lock().part_mut::<HttpWorld>("http") {
        part.receive(permit, req);
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
        world.lock().part_mut::<HttpWorld>("http").unwrap().receive(&Permit::for_tests_check(), &req);
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
