//! `http::` - health checks, hub API calls, and requests that change things
//! (silencing mobu with a DELETE). Reads go straight to the backend; POST,
//! PUT, PATCH and DELETE are mutations and pass the effects gate. Live or on
//! the world, decided by the run's target, never by the binding. Any bearer
//! token used is redacted from everything the run writes.

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};

use super::{duration_arg, script_error, ScriptResult};
use crate::backends::http::{self as backend, HttpWorld, Request, Response};
use crate::effects::Change;
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;

#[export_module]
pub(crate) mod http {
    /// Sends a GET to a URL. Returns `#{status, headers, body, json}`; `json` is the
    /// parsed body when it is JSON, else `()`. Any status is an answer; only
    /// no answer is an error (`kind`: `Unreachable`, `Timeout`, `Invalid`).
    ///
    /// ```rhai
    /// let r = http::get("https://hub.example.org/hub/health");
    /// if r.status != 200 { fail(`hub unhealthy: ${r.status}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, url: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::read(&ctx, "GET", url, &rhai::Map::new())
    }

    /// Sends a GET to a URL with options: `headers` (map), `bearer` (a token; redacted
    /// from all output), `timeout` (default "30s"), `insecure` (accept any
    /// TLS certificate).
    ///
    /// ```rhai
    /// let users = http::get(`${hub}/hub/api/users`, #{ bearer: p.token, timeout: "10s" });
    /// ```
    #[rhai_fn(name = "get", return_raw)]
    pub fn get_with(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::read(&ctx, "GET", url, &options)
    }

    /// Sends a GET to a URL whose body must be JSON: returns the parsed body; a status
    /// other than 2xx (`kind` `Status`) or a body that is not JSON (`kind`
    /// `Invalid`) is an error. Options as for `get`.
    ///
    /// ```rhai
    /// let info = http::get_json("https://hub.example.org/hub/api/", #{});
    /// print(info.version);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get_json(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<Dynamic, Box<EvalAltResult>> {
        super::get_json(&ctx, url, &options)
    }

    /// Sends a HEAD to a URL (like `curl -I`). Options as for `get`.
    ///
    /// ```rhai
    /// let r = http::head("https://hub.example.org/hub/health", #{});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn head(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::read(&ctx, "HEAD", url, &options)
    }

    /// Sends a GET to a URL until it answers `status`, retrying `every` (default "10s")
    /// for at most `timeout` (default "5m"); a connection error counts as a
    /// retry. Other options as for `get`. Returns the matching answer. In a
    /// dry run it asks once and, if the answer is not there yet, reports
    /// "would wait" and returns `#{would_wait: true}`.
    ///
    /// ```rhai
    /// http::expect("https://hub.example.org/hub/health", 200, #{ timeout: "10m" });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn expect(
        ctx: NativeCallContext,
        url: &str,
        status: i64,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::expect(&ctx, url, status, &options)
    }

    /// Sends a POST to a URL: a mutation, so it passes the effects gate (a dry run
    /// plans it and sends nothing). Options as for `get`, plus `body` (a
    /// string, or a map sent as JSON).
    ///
    /// ```rhai
    /// http::post(`${hub}/hub/api/users/alice/server`, #{ bearer: p.token });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn post(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::write(&ctx, "POST", url, &options)
    }

    /// Sends a PUT to a URL (a mutation through the gate). Options as for `post`.
    ///
    /// ```rhai
    /// http::put(url, #{ body: #{ enabled: false } });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn put(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::write(&ctx, "PUT", url, &options)
    }

    /// Sends a PATCH to a URL (a mutation through the gate). Options as for `post`.
    ///
    /// ```rhai
    /// http::patch(url, #{ body: #{ admin: true }, bearer: p.token });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn patch(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::write(&ctx, "PATCH", url, &options)
    }

    /// Sends a DELETE to a URL (a destructive mutation through the gate), e.g. to
    /// silence a `mobu` flock. Options as for `post`.
    ///
    /// ```rhai
    /// http::delete(`${base}/mobu/flocks/${flock}`, #{ bearer: p.token });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn delete(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::write(&ctx, "DELETE", url, &options)
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const OPTIONS: [&str; 5] = ["headers", "bearer", "timeout", "insecure", "body"];

fn request(run: &Run, method: &str, url: &str, options: &rhai::Map, allowed: &[&str]) -> ScriptResult<Request> {
    for key in options.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(script_error(
                "Invalid",
                &format!(
                    "`http::{}` has no option `{key}` (options: {})",
                    method.to_ascii_lowercase(),
                    allowed.join(", ")
                ),
            ));
        }
    }
    let parsed = url::Url::parse(url).map_err(|e| script_error("Invalid", &format!("`{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(script_error("Invalid", &format!("`{url}` is not an http or https URL")));
    }
    let timeout = options.get("timeout").map_or(Ok(DEFAULT_TIMEOUT), |t| duration_arg(t, "`timeout`"))?;
    let bearer = options.get("bearer").filter(|b| !b.is_unit()).map(ToString::to_string);
    if let Some(token) = &bearer {
        run.redactor().add(token);
    }
    let insecure = match options.get("insecure") {
        None => false,
        Some(v) => v.as_bool().map_err(|_| script_error("Invalid", "`insecure` must be true or false"))?,
    };
    let mut headers = Vec::new();
    if let Some(h) = options.get("headers") {
        let map = h.read_lock::<rhai::Map>().ok_or_else(|| script_error("Invalid", "`headers` must be a map"))?;
        for (k, v) in map.iter() {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    let body = match options.get("body") {
        None => None,
        Some(b) if b.is_string() => Some(("text/plain; charset=utf-8".to_string(), b.to_string().into_bytes())),
        Some(b) => {
            let json: serde_json::Value = rhai::serde::from_dynamic(b)?;
            Some(("application/json".to_string(), json.to_string().into_bytes()))
        }
    };
    Ok(Request { method: method.into(), url: parsed, body, insecure, headers, bearer, timeout })
}

/// Sends a request that changes nothing (GET, HEAD, and the gate's checks).
fn send(run: &Run, req: Request) -> ScriptResult<Result<Response, backend::Error>> {
    match run.world() {
        Some(world) => {
            let mut world = world.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = run.clock().now();
            let elapsed = Duration::try_from(now.duration_since(world.start())).unwrap_or_default();
            // Endpoints the world file lists win; other hosts go where the
            // world's DNS and load balancers lead.
            let listed = world.part::<HttpWorld>("http").map(|part| part.answer(&req, elapsed));
            Ok(match listed {
                Some(Err(backend::Error::Unreachable { .. })) | None => {
                    crate::backends::site::route(&mut world, &req, now)
                        .unwrap_or_else(|| Err(backend::Error::Unreachable { url: req.url.to_string(), source: None }))
                }
                Some(answer) => answer,
            })
        }
        None => run.block_on(backend::live(req)),
    }
}

fn http_error(run: &Run, e: &backend::Error) -> Box<EvalAltResult> {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    script_error(e.kind(), &run.redactor().redact(&message))
}

fn read(ctx: &NativeCallContext, method: &str, url: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let req = request(&run, method, url, options, &OPTIONS[..4])?;
    let response = send(&run, req)?.map_err(|e| http_error(&run, &e))?;
    Ok(to_map(response))
}

fn get_json(ctx: &NativeCallContext, url: &str, options: &rhai::Map) -> ScriptResult<Dynamic> {
    let run = Run::from_context(ctx)?;
    let response = read(ctx, "GET", url, options)?;
    let status = response.get("status").and_then(|s| s.as_int().ok()).unwrap_or(0);
    if !(200..300).contains(&status) {
        return Err(script_error("Status", &run.redactor().redact(&format!("`{url}` answered {status}"))));
    }
    let body = response.get("body").map(ToString::to_string).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
        let start: String = body.chars().take(60).collect();
        script_error(
            "Invalid",
            &run.redactor().redact(&format!("`{url}` did not answer JSON ({e}); the body starts: {start:?}")),
        )
    })?;
    rhai::serde::to_dynamic(json)
}

fn expect(ctx: &NativeCallContext, url: &str, status: i64, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let mut options = options.clone();
    let timeout = options.remove("timeout").map_or(Ok(Duration::from_mins(5)), |t| duration_arg(&t, "`timeout`"))?;
    let every = options
        .remove("every")
        .map_or(Ok(Duration::from_secs(10)), |t| duration_arg(&t, "`every`"))?
        .max(Duration::from_millis(100));
    let started = run.clock().now();
    loop {
        let req = request(&run, "GET", url, &options, &OPTIONS[..4])?;
        let last = match send(&run, req)? {
            Ok(response) if i64::from(response.status) == status => {
                run.record(&crate::journal::Event::Wait {
                    what: format!("http {url} -> {status}"),
                    duration_ms: Duration::try_from(run.clock().now().duration_since(started))
                        .unwrap_or_default()
                        .as_millis() as u64,
                    outcome: "done".into(),
                    virtual_time: run.clock().is_virtual(),
                });
                return Ok(to_map(response));
            }
            Ok(response) => format!("status {}", response.status),
            Err(e) => run.redactor().redact(&e.to_string()),
        };
        if run.dry_run() {
            // Nothing changed in a dry run, so waiting cannot help: say what
            // would be waited for, as the other waits do.
            run.record(&crate::journal::Event::Wait {
                what: format!("http {url} -> {status}"),
                duration_ms: 0,
                outcome: "would_wait".into(),
                virtual_time: run.clock().is_virtual(),
            });
            run.printer().status(
                crate::output::Tone::Plan,
                "Would wait",
                &format!("for {url} to answer {status} (now: {last})"),
            );
            let mut map =
                to_map(Response { status: 0, headers: std::collections::BTreeMap::new(), body: String::new() });
            map.insert("would_wait".into(), true.into());
            return Ok(map);
        }
        let waited = Duration::try_from(run.clock().now().duration_since(started)).unwrap_or_default();
        if waited >= timeout {
            return Err(script_error(
                "Timeout",
                &format!("`{url}` did not answer {status} within {} (last: {last})", crate::duration::format(timeout)),
            ));
        }
        run.printer().status(crate::output::Tone::Progress, "Waiting", &format!("{url} -> {status} (last: {last})"));
        run.clock().sleep(every, &run.cancel, |_| {}).map_err(|_| script_error("Interrupted", "interrupted"))?;
    }
}

fn write(ctx: &NativeCallContext, method: &str, url: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let req = request(&run, method, url, options, &OPTIONS)?;
    let body = req.body.as_ref().map(|(_, b)| String::from_utf8_lossy(b).into_owned());
    let mut change = Change::new("http", method.to_ascii_lowercase(), url).before_after(None, body.map(Into::into));
    if method == "DELETE" {
        change = change.destructive();
    }
    let world = run.world().cloned();
    let clock_run = run.clone();
    let check_req = req.clone();
    // HTTP has no dry run: the check is that the URL is well formed (done
    // above) and that something answers there (a HEAD, which changes nothing).
    let check = move |_: &crate::effects::Permit| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let head = Request { method: "HEAD".into(), body: None, ..check_req };
        match send(&clock_run, head) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Box::new(e)),
            Err(e) => Err(e.to_string().into()),
        }
    };
    let apply_run = run.clone();
    let apply = move |_: &crate::effects::Permit| -> Result<Response, Box<dyn std::error::Error + Send + Sync>> {
        if let Some(world) = world {
            let answer = send(&apply_run, req.clone()).map_err(|e| e.to_string())?;
            let mut world = world.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(part) = world.part_mut::<HttpWorld>("http") {
                part.receive(&req);
            }
            return answer.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
        }
        apply_run.block_on(backend::live(req)).map_err(|e| e.to_string())?.map_err(|e| Box::new(e) as _)
    };
    match run.change_legacy(change, check, apply)? {
        Outcome::Applied(response) => Ok(to_map(response)),
        Outcome::Planned => {
            let mut map =
                to_map(Response { status: 0, headers: std::collections::BTreeMap::new(), body: String::new() });
            map.insert("planned".into(), true.into());
            Ok(map)
        }
    }
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
