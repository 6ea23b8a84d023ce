//! `http::` - health checks, hub API calls, and requests that change things
//! (silencing mobu with a DELETE). Reads (GET, HEAD) go straight to the
//! backend; POST, PUT, PATCH and DELETE are mutations and pass the effects
//! gate, which has the backend send a HEAD instead in a dry run. Live or on
//! the world is the backend's [`Http`] value, made from the run's target;
//! `expect` and `wait` wait through the run's one wait path. Any bearer token used is
//! redacted from everything the run writes.

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};

use super::options::Options;
use super::{script_error, ScriptResult};
use crate::backends::http::{Http, Method, Read, Request, Response, Write};
use crate::effects::{Change, Outcome, Permit};
use crate::run::{Poll, Run, Wait, WaitError, Waited};

#[export_module]
pub(crate) mod http {
    /// Sends a GET to a URL. Returns `#{status, headers, body, json, address}`; `json`
    /// is the parsed body when it is JSON, else `()`; `address` is where the
    /// answer came from (the IP and port connected to; on a world, the load
    /// balancer). Any status is an answer; only no answer is an error
    /// (`kind`: `Unreachable`, `Timeout`, `Invalid`).
    ///
    /// ```rhai
    /// let r = http::get("https://hub.example.org/hub/health");
    /// if r.status != 200 { fail(`hub unhealthy: ${r.status}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, url: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::read(&ctx, Read::Get, url, &rhai::Map::new())
    }

    /// Sends a GET to a URL with options: `headers` (map), `bearer` (a token; redacted
    /// from all output), `timeout` (default "30s"), `insecure` (accept any
    /// TLS certificate), `connect_to` (pin the request: connect to this
    /// address, a load balancer's host name or an IP with an optional
    /// `:port`, while the URL's host is still sent for TLS and `Host`, so a
    /// cluster can be asked for the public name before DNS points at it).
    ///
    /// ```rhai
    /// let users = http::get(`${hub}/hub/api/users`, #{ bearer: p.token, timeout: "10s" });
    /// let green = http::get("https://hub.example.org/hub/health", #{ connect_to: green_lb });
    /// ```
    #[rhai_fn(name = "get", return_raw)]
    pub fn get_with(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::read(&ctx, Read::Get, url, &options)
    }

    /// Sends a GET to a URL whose body must be JSON: returns the parsed body; a status
    /// other than 2xx (`kind` `Status`) or a body that is not JSON (`kind`
    /// `Invalid`) is an error. Options as for `get`, plus `secret: true`
    /// for an answer that holds secrets (a Vault read): every string in it
    /// is redacted from everything the run writes.
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
        super::read(&ctx, Read::Head, url, &options)
    }

    /// Sends a GET to a URL until it answers `status`, retrying `every` (default "10s")
    /// for at most `timeout` (default "5m"); a connection error counts as a
    /// retry. With `from` (an address, as for `connect_to`), the answer must
    /// also come from there: what tells blue from green behind one public
    /// name. Other options as for `get`. Returns the matching answer. In a
    /// dry run it asks once and, if the answer is not there yet, reports
    /// "would wait" and returns `#{would_wait: true}`.
    ///
    /// ```rhai
    /// http::expect("https://hub.example.org/hub/health", 200, #{ timeout: "10m" });
    /// http::expect("https://hub.example.org/hub/health", 200, #{ from: green_lb });
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

    /// Sends a GET to a URL until `until` (a closure over the answer map,
    /// as `get` returns it) returns true, retrying `every` (default "10s")
    /// for at most `timeout` (default "5m"); no answer counts as a retry.
    /// Options as for `expect`. Returns the answer that met it. In a dry
    /// run it asks once and, if the answer does not meet it yet, reports
    /// "would wait" and returns `#{would_wait: true}`. `Timeout` names the
    /// last answer seen.
    ///
    /// ```rhai
    /// let user = http::wait(`${hub}/hub/api/users/tester`,
    ///     |r| r.status == 200 && r.json.servers[""]?.ready == true,
    ///     #{ bearer: p.hub_token, timeout: "10m", every: "5s" });
    /// ```
    #[rhai_fn(name = "wait", return_raw)]
    pub fn wait_until(
        ctx: NativeCallContext,
        url: &str,
        until: rhai::FnPtr,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::wait_until(&ctx, url, &until, &options)
    }

    /// Sends a POST to a URL: a mutation, so it passes the effects gate (a dry run
    /// plans it and only sends a HEAD, to see that something answers there).
    /// Options as for `get`, plus `body` (a string, or a map sent as JSON).
    /// Returns the answer as `get` does, or `#{planned: true}` in a dry run; a
    /// refusal has the backend's `kind` (`Unreachable`, `Timeout`) and `gate`.
    ///
    /// ```rhai
    /// http::post(`${hub}/hub/api/users/alice/server`, #{ bearer: p.token });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn post(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::write(&ctx, Write::Post, url, &options)
    }

    /// Sends a PUT to a URL (a mutation through the gate). Options as for `post`.
    ///
    /// ```rhai
    /// http::put(url, #{ body: #{ enabled: false } });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn put(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::write(&ctx, Write::Put, url, &options)
    }

    /// Sends a PATCH to a URL (a mutation through the gate). Options as for `post`.
    ///
    /// ```rhai
    /// http::patch(url, #{ body: #{ admin: true }, bearer: p.token });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn patch(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::write(&ctx, Write::Patch, url, &options)
    }

    /// Sends a DELETE to a URL (a destructive mutation through the gate), e.g. to
    /// silence a `mobu` flock. Options as for `post`.
    ///
    /// ```rhai
    /// http::delete(`${base}/mobu/flocks/${flock}`, #{ bearer: p.token });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn delete(ctx: NativeCallContext, url: &str, options: rhai::Map) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::write(&ctx, Write::Delete, url, &options)
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_EXPECT_TIMEOUT: Duration = Duration::from_mins(5);
const DEFAULT_EVERY: Duration = Duration::from_secs(10);
const READ_OPTIONS: [&str; 5] = ["headers", "bearer", "timeout", "insecure", "connect_to"];
const JSON_OPTIONS: [&str; 6] = ["headers", "bearer", "timeout", "insecure", "secret", "connect_to"];
const EXPECT_OPTIONS: [&str; 7] = ["headers", "bearer", "timeout", "insecure", "every", "connect_to", "from"];
const WRITE_OPTIONS: [&str; 6] = ["headers", "bearer", "timeout", "insecure", "body", "connect_to"];

/// `http::get`, `http::delete`, ...: how errors name the function.
fn function<M: Method>(method: M) -> String {
    format!("http::{}", method.name().to_ascii_lowercase())
}

/// A request from a URL and checked options; `timeout` is the whole
/// answer's (the `timeout` option, except for `expect`, where it is the
/// wait's).
fn request<M: Method>(
    run: &Run,
    method: M,
    url: &str,
    opts: Options<'_>,
    timeout: Duration,
) -> ScriptResult<Request<M>> {
    let parsed = url::Url::parse(url).map_err(|e| script_error("Invalid", &format!("`{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(script_error("Invalid", &format!("`{url}` is not an http or https URL")));
    }
    let bearer = opts.str("bearer")?;
    if let Some(token) = &bearer {
        run.redactor().add(token);
    }
    let insecure = opts.bool("insecure")?.unwrap_or(false);
    let connect_to = opts.str("connect_to")?;
    if let Some(address) = &connect_to {
        crate::backends::http::split_address(address).map_err(|why| script_error("Invalid", &why))?;
    }
    let headers =
        opts.map("headers")?.unwrap_or_default().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let body = match opts.get("body") {
        None => None,
        Some(b) if b.is_string() => Some(("text/plain; charset=utf-8".to_string(), b.to_string().into_bytes())),
        Some(b) => {
            let json: serde_json::Value = rhai::serde::from_dynamic(b)?;
            Some(("application/json".to_string(), json.to_string().into_bytes()))
        }
    };
    Ok(Request { method, url: parsed, body, insecure, headers, bearer, timeout, connect_to })
}

fn read(ctx: &NativeCallContext, method: Read, url: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    let opts = Options::new(&function(method), options, &READ_OPTIONS)?;
    let timeout = opts.duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT);
    let req = request(&run, method, url, opts, timeout)?;
    let http = Http::new(run.target());
    let response = run.block_on(http.read(&req))?.map_err(|e| run.fail(&e))?;
    Ok(to_map(response))
}

fn get_json(ctx: &NativeCallContext, url: &str, options: &rhai::Map) -> ScriptResult<Dynamic> {
    let run = Run::from_context(ctx)?;
    let secret = Options::new("http::get_json", options, &JSON_OPTIONS)?.bool("secret")?.unwrap_or(false);
    let mut options = options.clone();
    options.remove("secret");
    let response = read(ctx, Read::Get, url, &options)?;
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
    if secret {
        run.redactor().add_strings(&json);
    }
    rhai::serde::to_dynamic(json)
}

/// What a dry run's wait answers: no status, and `would_wait`.
fn would_wait() -> rhai::Map {
    let mut map =
        to_map(Response { status: 0, headers: std::collections::BTreeMap::new(), body: String::new(), address: None });
    map.insert("would_wait".into(), true.into());
    map
}

fn wait_until(ctx: &NativeCallContext, url: &str, until: &rhai::FnPtr, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let opts = Options::new("http::wait", options, &EXPECT_OPTIONS)?;
    let timeout = opts.duration("timeout")?.unwrap_or(DEFAULT_EXPECT_TIMEOUT);
    let every = opts.duration("every")?.unwrap_or(DEFAULT_EVERY).max(Duration::from_millis(100));
    let req = request(&run, Read::Get, url, opts, DEFAULT_TIMEOUT)?;
    let http = Http::new(run.target());
    let wait = Wait::new(format!("{url} as wanted"), timeout)
        .label(format!("for {url} to answer as wanted"))
        .journal(format!("http {url} as wanted"));
    // Each look runs when the run calls the poll, on the script thread:
    // the condition is a script closure, which must not run inside the
    // runtime.
    let look = |remaining: Duration| -> ScriptResult<Poll<Response>> {
        let look = Request { timeout: req.timeout.min(remaining.max(Duration::from_secs(1))), ..req.clone() };
        match run.block_on(http.read(&look))? {
            Ok(response) => {
                let progress = format!("status {}", response.status);
                if until.call_within_context::<bool>(ctx, (to_map(response.clone()),))? {
                    Ok(Poll::Done(response))
                } else {
                    Ok(Poll::pending(progress, every))
                }
            }
            Err(e) => Ok(Poll::pending(run.redactor().redact(&e.to_string()), every)),
        }
    };
    match run.wait(&wait, |remaining| std::future::ready(look(remaining))) {
        Ok(Waited::Done { value, .. }) => Ok(to_map(value)),
        Ok(Waited::WouldWait { .. }) => Ok(would_wait()),
        Err(WaitError::Failed(e)) => Err(e),
        Err(WaitError::Timeout { progress, .. }) => Err(script_error(
            "Timeout",
            &run.redactor().redact(&format!(
                "`{url}` did not answer as wanted within {} (last: {})",
                crate::duration::format(timeout),
                progress.unwrap_or_default()
            )),
        )),
        Err(WaitError::Interrupted) => Err(script_error("Interrupted", "interrupted")),
        Err(WaitError::Stopped(why)) => Err(script_error("Runaway", &why)),
    }
}

fn expect(ctx: &NativeCallContext, url: &str, status: i64, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let opts = Options::new("http::expect", options, &EXPECT_OPTIONS)?;
    let timeout = opts.duration("timeout")?.unwrap_or(DEFAULT_EXPECT_TIMEOUT);
    let every = opts.duration("every")?.unwrap_or(DEFAULT_EVERY).max(Duration::from_millis(100));
    let from = opts.str("from")?;
    if let Some(address) = &from {
        crate::backends::http::split_address(address).map_err(|why| script_error("Invalid", &why))?;
    }
    let req = request(&run, Read::Get, url, opts, DEFAULT_TIMEOUT)?;
    let http = Http::new(run.target());
    let pinned = req.connect_to.as_deref().map(|a| format!(" at {a}")).unwrap_or_default();
    let source = from.as_deref().map(|a| format!(" from {a}")).unwrap_or_default();
    let what = format!("{url}{pinned} -> {status}{source}");
    let wait = Wait::new(what.clone(), timeout)
        .label(format!("for {url}{pinned} to answer {status}{source}"))
        .journal(format!("http {what}"));
    let waited = run.wait(&wait, async |remaining: Duration| {
        // No single look outlasts the wait (but each gets a second).
        let look = Request { timeout: req.timeout.min(remaining.max(Duration::from_secs(1))), ..req.clone() };
        // A status other than the one expected, an answer from elsewhere,
        // or no answer, is a retry; the progress changes (and is shown)
        // only when what is seen does.
        let response = match http.read(&look).await {
            Ok(response) => response,
            Err(e) => return Ok(Poll::pending(run.redactor().redact(&e.to_string()), every)),
        };
        let came_from = response.address.clone().unwrap_or_else(|| "an unknown address".into());
        if i64::from(response.status) != status {
            let seen = match &from {
                None => format!("status {}", response.status),
                Some(_) => format!("status {} from {came_from}", response.status),
            };
            return Ok(Poll::pending(seen, every));
        }
        match &from {
            None => Ok(Poll::Done(response)),
            Some(wanted) => match http.answered_from(&response, wanted).await {
                Ok(true) => Ok(Poll::Done(response)),
                Ok(false) => Ok(Poll::pending(
                    format!("status {} from {came_from}, which is not {wanted}", response.status),
                    every,
                )),
                Err(e) => Err(e),
            },
        }
    });
    match waited {
        Ok(Waited::Done { value, .. }) => Ok(to_map(value)),
        Ok(Waited::WouldWait { .. }) => Ok(would_wait()),
        Err(WaitError::Timeout { progress, .. }) => Err(script_error(
            "Timeout",
            &run.redactor().redact(&format!(
                "`{url}`{pinned} did not answer {status}{source} within {} (last: {})",
                crate::duration::format(timeout),
                progress.unwrap_or_default()
            )),
        )),
        Err(WaitError::Interrupted) => Err(script_error("Interrupted", "interrupted")),
        Err(WaitError::Stopped(why)) => Err(script_error("Runaway", &why)),
        Err(WaitError::Failed(e)) => Err(run.fail(&e)),
    }
}

fn write(ctx: &NativeCallContext, method: Write, url: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let opts = Options::new(&function(method), options, &WRITE_OPTIONS)?;
    let timeout = opts.duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT);
    let req = request(&run, method, url, opts, timeout)?;
    let body = req.body.as_ref().map(|(_, b)| String::from_utf8_lossy(b).into_owned());
    let mut change =
        Change::new("http", method.name().to_ascii_lowercase(), url).before_after(None, body.map(Into::into));
    if method == Write::Delete {
        change = change.destructive();
    }
    let http = Http::new(run.target());
    match run.change(change, async |p: &Permit| http.send(p, &req).await)? {
        Outcome::Applied(response) | Outcome::Replayed(response) => Ok(to_map(response)),
        Outcome::Planned(_) => {
            let mut map = to_map(Response {
                status: 0,
                headers: std::collections::BTreeMap::new(),
                body: String::new(),
                address: None,
            });
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
    map.insert("address".into(), response.address.map_or(Dynamic::UNIT, Dynamic::from));
    map
}
