//! HTTP reads: live through reqwest (rustls, the system's trust roots), or
//! simulated from the world's `http:` section, where each endpoint's answer
//! can change over virtual time (a hub that becomes healthy after 3 minutes).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::world::WorldPart;

/// A GET request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The URL, already parsed.
    pub url: url::Url,
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

/// GET against the real network.
pub async fn live_get(req: Request) -> Result<Response, Error> {
    let url = req.url.to_string();
    let client = reqwest::Client::builder()
        .timeout(req.timeout)
        .user_agent(concat!("hubops/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Unreachable { url: url.clone(), source: Some(Box::new(e)) })?;
    let mut builder = client.get(req.url.clone());
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

/// The `http:` section of a world: endpoints and their answers over time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpWorld {
    /// The simulated endpoints.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// One simulated URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The exact URL (query string included).
    pub url: String,
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

fn zero() -> String {
    "0s".into()
}

impl WorldPart for HttpWorld {
    fn snapshot(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
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
    /// Answers a GET `elapsed` after the world's start.
    pub fn get(&self, req: &Request, elapsed: Duration) -> Result<Response, Error> {
        let url = req.url.to_string();
        let endpoint = self
            .endpoints
            .iter()
            .find(|e| url::Url::parse(&e.url).is_ok_and(|u| u == req.url))
            .ok_or_else(|| Error::Unreachable { url: url.clone(), source: None })?;
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
        Ok(Response { status: answer.status, headers, body })
    }
}
