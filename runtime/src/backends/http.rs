//! HTTP reads: live through reqwest (rustls, the system's trust roots), or
//! simulated from the world's `http:` section, where each endpoint's answer
//! can change over virtual time (a hub that becomes healthy after 3 minutes).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::world::WorldPart;

/// A request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The URL, already parsed.
    pub url: url::Url,
    /// A body, with its content type.
    pub body: Option<(String, Vec<u8>)>,
    /// Accept any TLS certificate (self-signed test hubs).
    pub insecure: bool,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// A bearer token (never printed).
    pub bearer: Option<String>,
    /// How long to wait for the whole answer.
    pub timeout: Duration,
}

/// An answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing answered at that address.
    #[error("`{url}` is unreachable")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// No answer within the timeout.
    #[error("`{url}` did not answer within {after}")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout, as written.
        after: String,
    },
}

impl Error {
    /// The `kind` scripts see.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "Unreachable",
            Self::Timeout { .. } => "Timeout",
        }
    }
}

/// A request against the real network.
pub async fn live(req: Request) -> Result<Response, Error> {
    let url = req.url.to_string();
    let client = reqwest::Client::builder()
        .timeout(req.timeout)
        .danger_accept_invalid_certs(req.insecure)
        .user_agent(concat!("hubops/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Unreachable { url: url.clone(), source: Some(Box::new(e)) })?;
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|e| Error::Unreachable { url: url.clone(), source: Some(Box::new(e)) })?;
    let mut builder = client.request(method, req.url.clone());
    if let Some((content_type, body)) = &req.body {
        builder = builder.header("content-type", content_type).body(body.clone());
    }
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    if let Some(token) = &req.bearer {
        builder = builder.bearer_auth(token);
    }
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            Error::Timeout { url: url.clone(), after: crate::duration::format(req.timeout) }
        } else {
            Error::Unreachable { url: url.clone(), source: Some(Box::new(e)) }
        }
    };
    let resp = builder.send().await.map_err(classify)?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = resp.text().await.map_err(classify)?;
    Ok(Response { status, headers, body })
}

/// The `http:` section of a world: endpoints and their answers over time,
/// and the requests that changed something (so a rehearsal can be checked).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Answers by virtual time: the last one whose `after` has passed since
    /// the world's start is given.
    pub answers: Vec<Answer>,
}

/// An answer of a simulated endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub fn answer(&self, req: &Request, elapsed: Duration) -> Result<Response, Error> {
        let url = req.url.to_string();
        let method = if req.method == "HEAD" { "GET" } else { req.method.as_str() };
        let same_url = |e: &&Endpoint| url::Url::parse(&e.url).is_ok_and(|u| u == req.url);
        if !self.endpoints.iter().any(|e| same_url(&e)) {
            return Err(Error::Unreachable { url, source: None });
        }
        let Some(endpoint) = self.endpoints.iter().filter(same_url).find(|e| e.method.eq_ignore_ascii_case(method))
        else {
            return Ok(Response { status: 405, headers: BTreeMap::new(), body: "method not allowed".into() });
        };
        if endpoint.bearer.is_some() && endpoint.bearer != req.bearer {
            return Ok(Response { status: 403, headers: BTreeMap::new(), body: "forbidden".into() });
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
        let body = if req.method == "HEAD" { String::new() } else { body };
        Ok(Response { status: answer.status, headers, body })
    }

    /// Records a request that changes something (the gate's apply step).
    pub fn receive(&mut self, req: &Request) {
        self.received.push(Received {
            method: req.method.clone(),
            url: req.url.to_string(),
            body: req.body.as_ref().map(|(_, b)| String::from_utf8_lossy(b).into_owned()),
        });
    }
}
