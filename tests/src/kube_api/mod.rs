//! A Kubernetes API server for tests and the benchmark: std threads on a
//! loopback port, speaking the API's REST shapes for the kinds the tests
//! use. It stores objects, answers failures with `Status` objects (404
//! `NotFound`, 409 `AlreadyExists`/`Conflict`, 403 `Forbidden`, 422
//! `Invalid`), filters lists by `labelSelector` and `fieldSelector`, serves
//! discovery for a CRD (`applications.argoproj.io`), streams watch events,
//! honours `dryRun=All` (validates, stores nothing), keeps a deleted object
//! that has finalizers (`deletionTimestamp`, a namespace `Terminating`)
//! until a test clears them or a patch removes them, binds pre-bound
//! claims to their volumes (`binder.rs`) and records every
//! request so tests can assert on them. It is not a real API server: no
//! authentication, no admission chain, no resourceVersion semantics beyond
//! a counter.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use self::wire::{decode, discovery_groups, discovery_resources, selected, url_pairs};

mod binder;
mod streams;
mod wire;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, `PATCH`, `PUT`, `DELETE`.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// `content-type`.
    pub content_type: String,
    /// The body.
    pub body: String,
}

impl Recorded {
    /// Whether the request changes (or would change) something.
    #[must_use]
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }

    /// Whether it asks for a server-side dry run: `dryRun=All` in the query,
    /// or (deletes) `"dryRun": ["All"]` in the body.
    #[must_use]
    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| v == "All")
            || serde_json::from_str::<Value>(&self.body).is_ok_and(|b| b["dryRun"] == json!(["All"]))
    }
}

// (group, version, plural, kind, namespaced)
const KINDS: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "pods", "Pod", true),
    ("", "v1", "services", "Service", true),
    ("", "v1", "namespaces", "Namespace", false),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true),
    ("", "v1", "persistentvolumes", "PersistentVolume", false),
    ("", "v1", "configmaps", "ConfigMap", true),
    ("", "v1", "secrets", "Secret", true),
    ("apps", "v1", "deployments", "Deployment", true),
    ("apps", "v1", "statefulsets", "StatefulSet", true),
    ("coordination.k8s.io", "v1", "leases", "Lease", true),
    ("storage.k8s.io", "v1", "storageclasses", "StorageClass", false),
    ("argoproj.io", "v1alpha1", "applications", "Application", true),
];

#[derive(Default)]
struct State {
    objects: Vec<Value>,
    requests: Vec<Recorded>,
    revision: u64,
    forbidden: Vec<String>,
    /// Events sent, one per watch request: (`MODIFIED` or `DELETED`, object).
    pending: Vec<(&'static str, Value)>,
    /// The folder whose `NS/POD/` subfolders are the pods' working
    /// folders, where their commands run.
    pods: Option<std::path::PathBuf>,
}

/// The running server. Its threads end with the test process.
#[derive(Clone)]
pub struct FakeApi {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}),
    )
}

fn group_of(obj: &Value) -> &str {
    obj["apiVersion"].as_str().and_then(|a| a.rsplit_once('/')).map_or("", |(g, _)| g)
}

impl FakeApi {
    /// Starts a server holding `objects`.
    #[must_use]
    pub fn start(objects: Vec<Value>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let api = Self { url, state: Arc::new(Mutex::new(State::default())) };
        for obj in objects {
            let _ = api.insert(obj);
        }
        let server = api.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        api
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(&self, mut obj: Value) -> Value {
        let mut state = self.lock();
        state.revision += 1;
        obj["metadata"]["resourceVersion"] = json!(state.revision.to_string());
        if obj["metadata"]["uid"].is_null() {
            obj["metadata"]["uid"] = json!(format!("uid-{}", state.revision));
        }
        state.objects.push(obj.clone());
        obj
    }

    /// Every request so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Every stored object.
    #[must_use]
    pub fn objects(&self) -> Vec<Value> {
        self.lock().objects.clone()
    }

    /// Answers 403 to writes whose path contains `fragment`.
    pub fn forbid(&self, fragment: &str) {
        self.lock().forbidden.push(fragment.into());
    }

    /// The next watch sends this object as a MODIFIED event (then it is
    /// stored).
    pub fn on_next_watch(&self, obj: Value) {
        self.lock().pending.push(("MODIFIED", obj));
    }

    /// The next watch sees this object deleted (then it is gone).
    pub fn delete_on_next_watch(&self, obj: Value) {
        self.lock().pending.push(("DELETED", obj));
    }

    /// The controller behind an object's finalizers is done: they are
    /// cleared and, if it was being deleted, the object goes.
    pub fn clear_finalizers(&self, kind: &str, name: &str) {
        let mut state = self.lock();
        let Some(i) =
            state.objects.iter().position(|o| o["kind"] == json!(kind) && o["metadata"]["name"] == json!(name))
        else {
            return;
        };
        if state.objects[i]["metadata"]["deletionTimestamp"].is_null() {
            state.objects[i]["metadata"]["finalizers"] = json!([]);
        } else {
            state.objects.remove(i);
        }
    }

    /// Keeps the pods' folders in `dir` (the test's own scratch folder,
    /// removed with it); without it they go to a folder in the system's
    /// temporary folder named after the server's port.
    pub fn pods_in(&self, dir: &std::path::Path) {
        self.lock().pods = Some(dir.to_path_buf());
    }

    /// The working folder of a pod: commands `exec` runs there, for real.
    #[must_use]
    #[allow(clippy::disallowed_methods)] // the test server's own pods (see `streams::run`)
    pub fn pod_dir(&self, ns: &str, pod: &str) -> std::path::PathBuf {
        let root = {
            let mut state = self.lock();
            let port = self.url.rsplit(':').next().unwrap_or("0").to_string();
            state.pods.get_or_insert_with(|| std::env::temp_dir().join(format!("hubops-kube-api-{port}"))).clone()
        };
        let dir = root.join(ns).join(pod);
        let _ = std::fs::create_dir_all(&dir);
        dir
    }

    /// The absolute path of `path` (relative to the pod's folder) in a pod:
    /// what scripts name, since commands run on this machine.
    #[must_use]
    pub fn pod_path(&self, ns: &str, pod: &str, path: &str) -> String {
        self.pod_dir(ns, pod).join(path.trim_start_matches('/')).display().to_string()
    }

    /// Puts a file into a pod's folder, for exec.
    #[allow(clippy::disallowed_methods)] // the test server's own pods (see `streams::run`)
    pub fn put_file(&self, ns: &str, pod: &str, path: &str, text: &str) {
        let full = std::path::PathBuf::from(self.pod_path(ns, pod, path));
        if let Some(parent) = full.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(full, text);
    }

    /// A file in a pod's folder.
    #[must_use]
    pub fn file(&self, ns: &str, pod: &str, path: &str) -> Option<String> {
        std::fs::read_to_string(self.pod_path(ns, pod, path)).ok()
    }

    /// A kubeconfig whose `contexts` all point at this server; the first is
    /// current.
    #[must_use]
    pub fn kubeconfig(&self, contexts: &[&str]) -> String {
        let mut text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {}\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: tester\n  user:\n    token: not-a-secret\ncontexts:\n",
            contexts.first().copied().unwrap_or("fake"),
            self.url
        );
        for c in contexts {
            text.push_str(&format!(
                "- name: {c}\n  context:\n    cluster: fake\n    user: tester\n    namespace: default\n"
            ));
        }
        text
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
        let _ = stream.set_nodelay(true);
        let mut writer = stream;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("/").to_string());
            let (mut length, mut content_type, mut ws_key) = (0usize, String::new(), None);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                let lower = header.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if let Some(v) = lower.strip_prefix("content-type:") {
                    content_type = v.trim().to_string();
                }
                if lower.starts_with("sec-websocket-key:") {
                    ws_key = header.split_once(':').map(|(_, v)| v.trim().to_string());
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let (path, raw_query) = target.split_once('?').unwrap_or((&target, ""));
            let query: BTreeMap<String, String> = url_pairs(raw_query);
            let req = Recorded {
                method,
                path: path.to_string(),
                query,
                content_type,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            self.lock().requests.push(req.clone());
            if let (Some(key), true) = (&ws_key, req.path.ends_with("/exec")) {
                let command: Vec<String> =
                    raw_query.split('&').filter_map(|p| p.strip_prefix("command=")).map(decode).collect();
                self.exec(writer, &req, key, &command);
                return;
            }
            if req.query.get("watch").is_some_and(|w| w == "true" || w == "1") {
                self.watch(&mut writer, &req);
                return;
            }
            let (code, answer) = self.answer(&req);
            let text = match &answer {
                Value::String(raw) => raw.clone(),
                other => other.to_string(),
            };
            let head = format!(
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                text.len()
            );
            // One write: a header and body in two segments would meet the
            // client's delayed ACK and cost 40 ms per request.
            if writer.write_all(format!("{head}{text}").as_bytes()).is_err() {
                return;
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn answer(&self, req: &Recorded) -> (u16, Value) {
        match req.path.as_str() {
            "/version" => {
                return (200, json!({"major": "1", "minor": "34", "gitVersion": "v1.34.0", "platform": "linux/amd64"}))
            }
            "/api" => {
                return (200, json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}))
            }
            "/apis" => return (200, discovery_groups()),
            _ => {}
        }
        let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let (group, version, rest) = match segments.as_slice() {
            ["api", v, rest @ ..] => ("", *v, rest),
            ["apis", g, v, rest @ ..] => (*g, *v, rest),
            _ => return status(404, "NotFound", "the server could not find the requested resource"),
        };
        if rest.is_empty() {
            return (200, discovery_resources(group, version));
        }
        let (ns, rest) = match rest {
            ["namespaces", ns, more @ ..] if !more.is_empty() => (Some(*ns), more),
            other => (None, other),
        };
        let Some(&(_, _, plural, kind, namespaced)) = KINDS.iter().find(|k| k.0 == group && k.2 == rest[0]) else {
            return status(404, "NotFound", "the server could not find the requested resource");
        };
        let name = rest.get(1).copied();
        let sub = rest.get(2).copied();
        if req.is_write() && self.lock().forbidden.iter().any(|f| req.path.contains(f.as_str())) {
            let what =
                name.map_or_else(|| format!("{plural} is forbidden"), |n| format!("{plural} \"{n}\" is forbidden"));
            return status(
                403,
                "Forbidden",
                &format!("{what}: User \"tester\" cannot {} resource \"{plural}\"", req.method.to_ascii_lowercase()),
            );
        }
        let matches = |o: &Value, name: &str| {
            o["kind"] == json!(kind)
                && group_of(o) == group
                && o["metadata"]["name"] == json!(name)
                && (!namespaced || ns.is_none() || o["metadata"]["namespace"] == json!(ns))
        };
        let dry = req.dry_run();
        match (req.method.as_str(), name) {
            ("GET", None) => {
                let items: Vec<Value> = self
                    .lock()
                    .objects
                    .iter()
                    .filter(|o| {
                        o["kind"].as_str() == Some(kind)
                            && group_of(o) == group
                            && (ns.is_none() || o["metadata"]["namespace"].as_str() == ns)
                    })
                    .filter(|o| selected(o, &req.query))
                    .cloned()
                    .collect();
                let rv = self.lock().revision.to_string();
                (
                    200,
                    json!({"kind": format!("{kind}List"), "apiVersion": if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }, "metadata": {"resourceVersion": rv}, "items": items}),
                )
            }
            ("GET", Some(name)) => {
                let found = self.lock().objects.iter().find(|o| matches(o, name)).cloned();
                if sub == Some("log") {
                    return match found {
                        Some(_) => (200, Value::String(format!("log of {name}\n"))),
                        None => status(404, "NotFound", &format!("pods \"{name}\" not found")),
                    };
                }
                found.map_or_else(|| status(404, "NotFound", &format!("{plural} \"{name}\" not found")), |o| (200, o))
            }
            ("POST", None) => {
                let Ok(mut obj) = serde_json::from_str::<Value>(&req.body) else {
                    return status(400, "BadRequest", "not JSON");
                };
                let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
                if name.contains("invalid") {
                    return status(422, "Invalid", &format!("{kind} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": rejected by the test server"));
                }
                if self.lock().objects.iter().any(|o| matches(o, &name)) {
                    return status(409, "AlreadyExists", &format!("{plural} \"{name}\" already exists"));
                }
                if let Some(ns) = ns {
                    obj["metadata"]["namespace"] = json!(ns);
                }
                if !dry {
                    obj = self.insert(obj);
                    self.bind_claims();
                }
                (201, obj)
            }
            ("PATCH", Some(name)) => {
                let Ok(patch) = serde_json::from_str::<Value>(&req.body) else {
                    return status(400, "BadRequest", "not JSON");
                };
                if name.contains("invalid") {
                    return status(
                        422,
                        "Invalid",
                        &format!("{kind} \"{name}\" is invalid: rejected by the test server"),
                    );
                }
                let existing = self.lock().objects.iter().find(|o| matches(o, name)).cloned();
                let apply = req.content_type.starts_with("application/apply-patch");
                let mut obj = match (existing, apply) {
                    (Some(o), _) => o,
                    (None, true) => json!({}),
                    (None, false) => return status(404, "NotFound", &format!("{plural} \"{name}\" not found")),
                };
                if sub == Some("scale") {
                    obj["spec"]["replicas"] = patch["spec"]["replicas"].clone();
                } else if req.content_type.starts_with("application/json-patch") {
                    if hubops::backends::k8s::patch::json(&mut obj, &patch).is_err() {
                        return status(422, "Invalid", "the json patch does not apply");
                    }
                } else {
                    hubops::backends::k8s::patch::merge(&mut obj, &patch);
                }
                if let Some(ns) = ns {
                    obj["metadata"]["namespace"] = json!(ns);
                }
                if !dry {
                    self.lock().objects.retain(|o| !matches(o, name));
                    let released = !obj["metadata"]["deletionTimestamp"].is_null()
                        && obj["metadata"]["finalizers"].as_array().is_none_or(Vec::is_empty);
                    if !released {
                        obj = self.insert(obj);
                    }
                    self.bind_claims();
                }
                if sub == Some("scale") {
                    return (
                        200,
                        json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": name, "namespace": ns}, "spec": {"replicas": obj["spec"]["replicas"]}, "status": {"replicas": obj["spec"]["replicas"]}}),
                    );
                }
                (200, obj)
            }
            ("DELETE", Some(name)) => {
                let found = self.lock().objects.iter().find(|o| matches(o, name)).cloned();
                let Some(obj) = found else {
                    return status(404, "NotFound", &format!("{plural} \"{name}\" not found"));
                };
                let options: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
                if let Some(uid) = options["preconditions"]["uid"].as_str() {
                    if obj["metadata"]["uid"] != json!(uid) {
                        return status(
                            409,
                            "Conflict",
                            &format!(
                                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                                obj["metadata"]["uid"].as_str().unwrap_or("")
                            ),
                        );
                    }
                }
                let held = obj["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
                if dry {
                    return (200, obj);
                }
                if kind == "Namespace" {
                    self.lock().objects.retain(|o| o["metadata"]["namespace"] != json!(name));
                }
                if !held {
                    self.lock().objects.retain(|o| !matches(o, name));
                    return (200, obj);
                }
                // Held by finalizers: marked, kept until they are cleared.
                let mut marked = obj;
                if marked["metadata"]["deletionTimestamp"].is_null() {
                    marked["metadata"]["deletionTimestamp"] = json!("2026-11-21T06:00:00Z");
                    if kind == "Namespace" {
                        marked["status"]["phase"] = json!("Terminating");
                    }
                    self.lock().objects.retain(|o| !matches(o, name));
                    marked = self.insert(marked);
                }
                (200, marked)
            }
            ("DELETE", None) => {
                if kind == "Namespace" {
                    return status(
                        405,
                        "MethodNotAllowed",
                        "the server does not allow this method on the requested resource",
                    );
                }
                let items: Vec<Value> = self
                    .lock()
                    .objects
                    .iter()
                    .filter(|o| o["kind"] == json!(kind) && (ns.is_none() || o["metadata"]["namespace"] == json!(ns)))
                    .filter(|o| selected(o, &req.query))
                    .cloned()
                    .collect();
                if !dry {
                    let uids: Vec<Value> = items.iter().map(|o| o["metadata"]["uid"].clone()).collect();
                    self.lock().objects.retain(|o| !uids.contains(&o["metadata"]["uid"]));
                }
                (200, json!({"kind": format!("{kind}List"), "apiVersion": "v1", "metadata": {}, "items": items}))
            }
            _ => status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"),
        }
    }
}
