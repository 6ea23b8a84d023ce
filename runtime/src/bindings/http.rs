//! `http::` - reads over HTTP: health checks and hub API calls. Live or on
//! the world, decided by the run's target, never by the binding.

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};

use super::{duration_arg, script_error, ScriptResult};
use crate::backends::http::{self as backend, HttpWorld, Request, Response};
use crate::run::Run;

#[export_module]
pub(crate) mod http {
    /// GETs a URL. Returns `#{status, headers, body, json}`; `json` is the
    /// parsed body when it is JSON, else `()`. Any status is an answer; only
    /// no answer is an error (`kind`: `Unreachable`, `Timeout`, `Invalid`).
    ///
    /// ```rhai
    /// let r = http::get("https://hub.example.org/hub/health");
    /// if r.status != 200 { fail(`hub unhealthy: ${r.status}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, url: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::get(&ctx, url, &rhai::Map::new())
    }

    /// GETs a URL with options: `headers` (map), `bearer` (token, never
    /// printed or journaled when it comes from a secret parameter), `timeout`
    /// (default `"30s"`).
    ///
    /// ```rhai
    /// let users = http::get(`${hub}/hub/api/users`, #{ bearer: p.token, timeout: "10s" });
    /// ```
    #[rhai_fn(name = "get", return_raw)]
    pub fn get_with(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::get(&ctx, url, &options)
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const OPTIONS: [&str; 3] = ["headers", "bearer", "timeout"];

fn request(url: &str, options: &rhai::Map) -> ScriptResult<Request> {
    for key in options.keys() {
        if !OPTIONS.contains(&key.as_str()) {
            return Err(script_error(
                "Invalid",
                &format!("`http::get` has no option `{key}` (options: {})", OPTIONS.join(", ")),
            ));
        }
    }
    let parsed = url::Url::parse(url).map_err(|e| script_error("Invalid", &format!("`{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(script_error("Invalid", &format!("`{url}` is not an http or https URL")));
    }
    let timeout = options.get("timeout").map_or(Ok(DEFAULT_TIMEOUT), |t| duration_arg(t, "`timeout`"))?;
    let bearer = options.get("bearer").filter(|b| !b.is_unit()).map(ToString::to_string);
    let mut headers = Vec::new();
    if let Some(h) = options.get("headers") {
        let map = h.read_lock::<rhai::Map>().ok_or_else(|| script_error("Invalid", "`headers` must be a map"))?;
        for (k, v) in map.iter() {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    Ok(Request { url: parsed, headers, bearer, timeout })
}

fn get(ctx: &NativeCallContext, url: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let req = request(url, options)?;
    let answer = match run.world() {
        Some(world) => {
            let world = world.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let elapsed = run.clock().now().duration_since(world.start());
            let elapsed = Duration::try_from(elapsed).unwrap_or_default();
            match world.part::<HttpWorld>("http") {
                Some(part) => part.get(&req, elapsed),
                None => Err(backend::Error::Unreachable { url: req.url.to_string(), source: None }),
            }
        }
        None => run.block_on(backend::live_get(req))?,
    };
    let response = answer.map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        script_error(e.kind(), &run.redactor().redact(&message))
    })?;
    Ok(to_map(response))
}

fn to_map(response: Response) -> rhai::Map {
    let json = serde_json::from_str::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|v| rhai::serde::to_dynamic(v).ok())
        .unwrap_or(Dynamic::UNIT);
    let mut headers = rhai::Map::new();
    for (k, v) in response.headers {
        headers.insert(k.into(), v.into());
    }
    let mut map = rhai::Map::new();
    map.insert("status".into(), i64::from(response.status).into());
    map.insert("headers".into(), headers.into());
    map.insert("body".into(), response.body.into());
    map.insert("json".into(), json);
    map
}
