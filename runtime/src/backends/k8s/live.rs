//! The live backend: one kube-rs client per open context. Reads go straight
//! to the API server; every mutating call takes the gate's [`Permit`] and,
//! under `Permit::Check`, sends the same request with `dryRun=All` (the API
//! server validates it and admission runs, but nothing is stored).
//!
//! `kube::Client::request` and the `kube::Api` writes are banned by
//! `clippy.toml` outside functions that take a `Permit`. Raw reads go
//! through [`LiveCluster::read`], which refuses anything but `GET` and
//! sends with `Client::request_text`: that method stays unbanned because
//! reads need a raw path (they are parsed straight into JSON, see below),
//! and this one function is the only caller.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use futures::stream::BoxStream;
use futures::StreamExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::Value;

use super::config::{self, chain};
use super::kinds::{self, ResourceKind};
use super::{DeleteOptions, Error, LogOptions, PatchType, Selector};
use crate::effects::Permit;

/// The field manager of every write hubops makes.
pub const FIELD_MANAGER: &str = "hubops";

/// An open cluster.
pub struct LiveCluster {
    /// The context name.
    pub context: String,
    /// The API server URL.
    pub server: String,
    /// The context's default namespace.
    pub default_namespace: String,
    pub(super) client: kube::Client,
    discovered: Mutex<HashMap<String, ResourceKind>>,
}

impl std::fmt::Debug for LiveCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCluster")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// What [`LiveCluster::read`] may ask for.
enum Read<'a> {
    /// One object by name.
    One(&'a str),
    /// A list.
    List(&'a ListParams),
}

/// A watch on one object, for waits: each item is the object as it now is
/// (`None` once it is gone), after the initial list.
pub type ObjectWatch = BoxStream<'static, Result<Option<Value>, Error>>;

impl LiveCluster {
    /// Opens a context and checks that its API server answers.
    pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Self, Error> {
        let resolved = config::resolve(kubeconfig, context).await?;
        let default_namespace = resolved.config.default_namespace.clone();
        let (context, server) = (resolved.context, resolved.server);
        let client = kube::Client::try_from(resolved.config).map_err(|e| Error::Unreachable {
            context: context.clone(),
            server: server.clone(),
            source: Some(Box::new(e)),
        })?;
        let cluster = Self { context, server, default_namespace, client, discovered: Mutex::default() };
        cluster.client.apiserver_version().await.map_err(|e| cluster.error(e))?;
        Ok(cluster)
    }

    /// Turns a client error into ours, naming this context and server when
    /// nothing answered.
    pub(super) fn error(&self, err: kube::Error) -> Error {
        client_error(&self.context, &self.server, err)
    }

    /// Resolves a kind name: the built-in table, then API discovery.
    pub async fn resolve(&self, text: &str) -> Result<ResourceKind, Error> {
        let query = kinds::parse(text);
        if let Some(kind) = kinds::builtin(&query) {
            return Ok(kind);
        }
        let key = text.to_ascii_lowercase();
        if let Some(kind) = self.discovered.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            return Ok(kind.clone());
        }
        let kind = self.discover(&query).await?.ok_or_else(|| Error::UnknownKind { kind: text.into() })?;
        self.discovered.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, kind.clone());
        Ok(kind)
    }

    fn api(&self, kind: &ResourceKind, ns: &str) -> Api<DynamicObject> {
        let resource = kind.api_resource();
        if kind.namespaced && !ns.is_empty() {
            Api::namespaced_with(self.client.clone(), ns, &resource)
        } else {
            Api::all_with(self.client.clone(), &resource)
        }
    }

    /// One object.
    pub async fn get(&self, kind: &ResourceKind, ns: &str, name: &str) -> Result<Value, Error> {
        self.get_opt(kind, ns, name).await?.ok_or_else(|| Error::not_found(kind, name))
    }

    // Reads are parsed once, straight into JSON: going through
    // `DynamicObject` and back costs more than the request on a local API
    // server.
    /// One object, or `None` when it does not exist.
    pub async fn get_opt(&self, kind: &ResourceKind, ns: &str, name: &str) -> Result<Option<Value>, Error> {
        match self.read(kind, ns, Read::One(name)).await {
            Ok(obj) => Ok(Some(obj)),
            Err(Error::Api { code: 404, reason, .. }) if reason == "NotFound" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends a read and parses the answer straight into JSON. The only
    /// requests it can build are a `get` and a `list`, so this path through
    /// the unbanned `Client::request_text` cannot change anything.
    async fn read(&self, kind: &ResourceKind, ns: &str, what: Read<'_>) -> Result<Value, Error> {
        let url = kube::core::Request::new(self.api(kind, ns).resource_url());
        let request = match what {
            Read::One(name) => url.get(name, &kube::api::GetParams::default()),
            Read::List(params) => url.list(params),
        }
        .map_err(|e| Error::Usage(e.to_string()))?;
        let text = self.client.request_text(request).await.map_err(|e| self.error(e))?;
        serde_json::from_str(&text).map_err(|e| Error::Client {
            message: format!("the API server's answer is not JSON: {e}"),
            source: Some(Box::new(e)),
        })
    }

    /// Objects of a kind in a namespace (`""`: all namespaces), selected.
    pub async fn list(&self, kind: &ResourceKind, ns: &str, selector: &Selector) -> Result<Vec<Value>, Error> {
        let mut params = ListParams::default();
        params.label_selector.clone_from(&selector.labels);
        params.field_selector.clone_from(&selector.fields);
        let list = self.read(kind, ns, Read::List(&params)).await?;
        let Value::Object(mut list) = list else {
            return Err(Error::Client { message: "a list answer is not an object".into(), source: None });
        };
        let Some(Value::Array(items)) = list.remove("items") else { return Ok(Vec::new()) };
        // List items come without apiVersion/kind; scripts expect them.
        Ok(items
            .into_iter()
            .map(|mut item| {
                if let Value::Object(map) = &mut item {
                    map.entry("apiVersion").or_insert_with(|| kind.api_version().into());
                    map.entry("kind").or_insert_with(|| kind.kind.clone().into());
                }
                item
            })
            .collect())
    }

    /// A container's log.
    pub async fn logs(&self, ns: &str, pod: &str, options: &LogOptions) -> Result<String, Error> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), ns);
        let params =
            LogParams { container: options.container.clone(), tail_lines: options.tail, ..LogParams::default() };
        api.logs(pod, &params).await.map_err(|e| self.error(e))
    }

    /// Server-side apply of one object.
    #[allow(clippy::disallowed_methods)] // mutating: takes the gate's Permit
    pub async fn apply(&self, permit: &Permit, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<Value, Error> {
        let name = super::name_of(obj).ok_or_else(|| Error::Usage("the manifest has no `metadata.name`".into()))?;
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.dry_run = permit.is_check();
        let out = self.api(kind, ns).patch(name, &params, &Patch::Apply(obj)).await.map_err(|e| self.error(e))?;
        to_value(&out)
    }

    /// Creates one object.
    #[allow(clippy::disallowed_methods)] // mutating: takes the gate's Permit
    pub async fn create(&self, permit: &Permit, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<Value, Error> {
        let data: DynamicObject = serde_json::from_value(obj.clone())
            .map_err(|e| Error::Usage(format!("the manifest is not a Kubernetes object: {e}")))?;
        let params = PostParams { dry_run: permit.is_check(), field_manager: Some(FIELD_MANAGER.into()) };
        let out = self.api(kind, ns).create(&params, &data).await.map_err(|e| self.error(e))?;
        to_value(&out)
    }

    /// Patches one object.
    #[allow(clippy::disallowed_methods)] // mutating: takes the gate's Permit
    pub async fn patch(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        (ns, name): (&str, &str),
        patch: &Value,
        how: PatchType,
    ) -> Result<Value, Error> {
        let params = write_params(permit);
        let patch = match how {
            PatchType::Merge => Patch::Merge(patch.clone()),
            PatchType::Strategic => Patch::Strategic(patch.clone()),
            PatchType::Json => Patch::Json::<Value>(
                serde_json::from_value(patch.clone()).map_err(|e| Error::Usage(format!("not a JSON patch: {e}")))?,
            ),
        };
        let out = self.api(kind, ns).patch(name, &params, &patch).await.map_err(|e| self.error(e))?;
        to_value(&out)
    }

    /// Sets the replicas of a scalable object (its `scale` subresource).
    #[allow(clippy::disallowed_methods)] // mutating: takes the gate's Permit
    pub async fn scale(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        (ns, name): (&str, &str),
        replicas: i64,
    ) -> Result<Value, Error> {
        let params = write_params(permit);
        let patch = Patch::Merge(serde_json::json!({ "spec": { "replicas": replicas } }));
        let out = self.api(kind, ns).patch_scale(name, &params, &patch).await.map_err(|e| self.error(e))?;
        serde_json::to_value(out).map_err(|e| Error::Client { message: e.to_string(), source: None })
    }

    /// Deletes one object. Returns it as the server last had it, when the
    /// server says (deletion in progress), else `None`.
    #[allow(clippy::disallowed_methods)] // mutating: takes the gate's Permit
    pub async fn delete(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        (ns, name): (&str, &str),
        options: &DeleteOptions,
    ) -> Result<Option<Value>, Error> {
        let params = delete_params(permit, options);
        let out = self.api(kind, ns).delete(name, &params).await.map_err(|e| self.error(e))?;
        out.left().as_ref().map(to_value).transpose()
    }

    /// Deletes every selected object of a kind in a namespace; returns their
    /// names. Cluster-scoped kinds take `ns` "".
    #[allow(clippy::disallowed_methods)] // mutating: takes the gate's Permit
    pub async fn delete_all(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        ns: &str,
        selector: &Selector,
    ) -> Result<Vec<String>, Error> {
        let mut list = ListParams::default();
        list.label_selector.clone_from(&selector.labels);
        list.field_selector.clone_from(&selector.fields);
        let params = delete_params(permit, &DeleteOptions::default());
        let api = self.api(kind, ns);
        match api.delete_collection(&params, &list).await {
            Ok(out) => Ok(out
                .left()
                .map(|l| l.items.iter().filter_map(|o| o.metadata.name.clone()).collect())
                .unwrap_or_default()),
            // Some kinds (namespaces among them) have no `deletecollection`:
            // delete them one by one, as kubectl does.
            Err(kube::Error::Api(status)) if status.code == 405 => {
                let items = api.list(&list).await.map_err(|e| self.error(e))?;
                let mut names = Vec::new();
                for name in items.items.iter().filter_map(|o| o.metadata.name.clone()) {
                    match api.delete(&name, &params).await {
                        Ok(_) => names.push(name),
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => return Err(self.error(e)),
                    }
                }
                Ok(names)
            }
            Err(e) => Err(self.error(e)),
        }
    }

    /// Runs a command in a container; `stdin` is sent, then closed. Under
    /// `Permit::Check` nothing runs (an exec has no server-side dry run):
    /// the pod must exist, and `None` is the answer.
    pub async fn exec(
        &self,
        permit: &Permit,
        target: &super::exec::ExecTarget,
        cmd: &[String],
        stdin: &[u8],
    ) -> Result<Option<super::exec::Output>, Error> {
        if permit.is_check() {
            let pod = kinds::builtin(&kinds::parse("pod")).ok_or_else(|| Error::UnknownKind { kind: "pod".into() })?;
            return self.get(&pod, &target.ns, &target.pod).await.map(|_| None);
        }
        let out = super::exec::live(permit, self.client.clone(), target, cmd, stdin)
            .await
            .map_err(|e| self.exec_error(target, e))?;
        Ok(Some(out))
    }

    /// An exec refused or failed, as our error.
    fn exec_error(&self, target: &super::exec::ExecTarget, e: kube::Error) -> Error {
        match e {
            // The upgrade's refusal carries no Status we can read; name the
            // pod as the API server would.
            kube::Error::UpgradeConnection(kube::client::UpgradeConnectionError::ProtocolSwitch(code)) => {
                let reason = code.canonical_reason().unwrap_or("Failure").replace(' ', "");
                let message = if code.as_u16() == 404 {
                    format!("pods \"{}\" not found", target.pod)
                } else {
                    format!("exec in pod `{}/{}` was refused: {code}", target.ns, target.pod)
                };
                Error::Api { code: code.as_u16(), reason, message }
            }
            other => self.error(other),
        }
    }

    /// Streams `from_cmd`'s output in a pod of this cluster into `to_cmd`'s
    /// input in a pod of `to` (see [`super::exec::pipe`]). Apply only: a
    /// check has nothing to stream.
    pub async fn pipe(
        &self,
        permit: &Permit,
        from: (&super::exec::ExecTarget, &[String]),
        to: (&LiveCluster, &super::exec::ExecTarget, &[String]),
    ) -> Result<super::exec::Piped, Error> {
        let (from_target, from_cmd) = from;
        let (to_cluster, to_target, to_cmd) = to;
        super::exec::pipe(
            permit,
            (self.client.clone(), from_target, from_cmd),
            (to_cluster.client.clone(), to_target, to_cmd),
        )
        .await
        .map_err(|e| self.exec_error(from_target, e))
    }

    /// Watches one object: the stream yields it each time it changes.
    pub fn watch(&self, kind: &ResourceKind, ns: &str, name: &str) -> ObjectWatch {
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let (context, server) = (self.context.clone(), self.server.clone());
        let mut current: Option<Value> = None;
        let mut ready = false;
        watcher(self.api(kind, ns), config)
            .filter_map(move |event| {
                let out = match event {
                    Ok(watcher::Event::Init) => {
                        current = None;
                        ready = false;
                        None
                    }
                    Ok(watcher::Event::InitApply(obj)) => {
                        current = to_value(&obj).ok();
                        None
                    }
                    Ok(watcher::Event::InitDone) => {
                        ready = true;
                        Some(Ok(current.clone()))
                    }
                    Ok(watcher::Event::Apply(obj)) => {
                        current = to_value(&obj).ok();
                        ready.then(|| Ok(current.clone()))
                    }
                    Ok(watcher::Event::Delete(_)) => {
                        current = None;
                        ready.then(|| Ok(None))
                    }
                    Err(
                        watcher::Error::InitialListFailed(e)
                        | watcher::Error::WatchStartFailed(e)
                        | watcher::Error::WatchFailed(e),
                    ) => Some(Err(client_error(&context, &server, e))),
                    Err(watcher::Error::WatchError(s)) => {
                        Some(Err(Error::Api { code: s.code, reason: s.reason, message: s.message }))
                    }
                    Err(e) => Some(Err(Error::Client { message: chain(&e), source: Some(Box::new(e)) })),
                };
                std::future::ready(out)
            })
            .boxed()
    }
}

/// A client error as ours: the API's Status, or nothing answering at the
/// context's server, or anything else.
fn client_error(context: &str, server: &str, err: kube::Error) -> Error {
    match err {
        kube::Error::Api(status) => Error::Api { code: status.code, reason: status.reason, message: status.message },
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            Error::Unreachable { context: context.into(), server: server.into(), source: Some(Box::new(err)) }
        }
        other => Error::Client { message: chain(&other), source: Some(Box::new(other)) },
    }
}

/// Patch parameters of a write: hubops' field manager, and `dryRun=All`
/// under `Permit::Check`.
fn write_params(permit: &Permit) -> PatchParams {
    PatchParams { field_manager: Some(FIELD_MANAGER.into()), dry_run: permit.is_check(), ..PatchParams::default() }
}

fn delete_params(permit: &Permit, options: &DeleteOptions) -> DeleteParams {
    let preconditions = (options.uid.is_some() || options.resource_version.is_some()).then(|| {
        kube::api::Preconditions { uid: options.uid.clone(), resource_version: options.resource_version.clone() }
    });
    DeleteParams {
        dry_run: permit.is_check(),
        grace_period_seconds: options.grace,
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        preconditions,
    }
}

fn to_value(obj: &DynamicObject) -> Result<Value, Error> {
    serde_json::to_value(obj).map_err(|e| Error::Client { message: e.to_string(), source: None })
}
