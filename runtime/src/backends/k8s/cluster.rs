//! The family value: an open kube context, live or on the world, chosen
//! once from the run's [`Target`] when it is opened. Every verb is one
//! method here; bindings call it and never ask which one they hold.

use std::path::Path;

use serde_json::Value;

use super::exec::{ExecTarget, Output, Piped};
use super::live::LiveCluster;
use super::world_cluster::WorldCluster;
use super::{kinds, DeleteOptions, Error, LogOptions, PatchType, ResourceKind, Selector};
use crate::backends::Target;
use crate::effects::Permit;

/// An open kube context.
#[derive(Debug)]
pub enum Cluster {
    /// A real API server.
    Live(LiveCluster),
    /// One of the world's `clusters:`.
    World(WorldCluster),
}

impl Cluster {
    /// Opens a context (`None`: the current one). Live, from the kubeconfig
    /// (`kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`), checking
    /// that the API server answers; on a world, one of its clusters.
    pub async fn open(target: &Target, context: Option<&str>) -> Result<Self, Error> {
        match target {
            Target::Live(live) => {
                let kubeconfig: Option<&Path> = live.kubeconfig.as_deref();
                LiveCluster::connect(kubeconfig, context).await.map(Self::Live)
            }
            Target::World(world) => WorldCluster::open(world, context).map(Self::World),
        }
    }

    /// The context name.
    #[must_use]
    pub fn context(&self) -> &str {
        match self {
            Self::Live(c) => &c.context,
            Self::World(c) => c.context(),
        }
    }

    /// The API server URL.
    #[must_use]
    pub fn server(&self) -> &str {
        match self {
            Self::Live(c) => &c.server,
            Self::World(c) => c.server(),
        }
    }

    /// The namespace a namespaced manifest without one goes to.
    #[must_use]
    pub fn default_namespace(&self) -> &str {
        match self {
            Self::Live(c) => &c.default_namespace,
            Self::World(_) => "default",
        }
    }

    /// Resolves a kind name as kubectl does.
    pub async fn resolve(&self, text: &str) -> Result<ResourceKind, Error> {
        match self {
            Self::Live(c) => c.resolve(text).await,
            Self::World(c) => c.resolve(text),
        }
    }

    /// The kind of a manifest: built in, else as the cluster serves it.
    pub async fn kind_of_manifest(&self, obj: &Value) -> Result<ResourceKind, Error> {
        if let Some(found) = kinds::builtin_of_object(obj) {
            return Ok(found);
        }
        match self {
            Self::Live(c) => {
                let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
                let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
                let group = kinds::group_of(api_version);
                let version = api_version.rsplit('/').next().unwrap_or(api_version);
                let text = if group.is_empty() {
                    kind.to_ascii_lowercase()
                } else {
                    format!("{}.{version}.{group}", kind.to_ascii_lowercase())
                };
                c.resolve(&text).await
            }
            Self::World(c) => c.kind_of_object(obj),
        }
    }

    /// One object, or `None` when it does not exist.
    pub async fn get_opt(&self, kind: &ResourceKind, ns: &str, name: &str) -> Result<Option<Value>, Error> {
        match self {
            Self::Live(c) => c.get_opt(kind, ns, name).await,
            Self::World(c) => c.get_opt(kind, ns, name),
        }
    }

    /// One object; `NotFound` when it does not exist.
    pub async fn get(&self, kind: &ResourceKind, ns: &str, name: &str) -> Result<Value, Error> {
        self.get_opt(kind, ns, name).await?.ok_or_else(|| Error::not_found(kind, name))
    }

    /// Selected objects of a kind in a namespace (`""`: all namespaces).
    pub async fn list(&self, kind: &ResourceKind, ns: &str, selector: &Selector) -> Result<Vec<Value>, Error> {
        match self {
            Self::Live(c) => c.list(kind, ns, selector).await,
            Self::World(c) => c.list(kind, ns, selector),
        }
    }

    /// A container's log.
    pub async fn logs(&self, ns: &str, pod: &str, options: &LogOptions) -> Result<String, Error> {
        match self {
            Self::Live(c) => c.logs(ns, pod, options).await,
            Self::World(c) => c.logs(ns, pod, options),
        }
    }

    /// Server-side apply of one object; returns it as stored (under
    /// `Permit::Check`: as it would be).
    pub async fn apply(&self, permit: &Permit, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<Value, Error> {
        match self {
            Self::Live(c) => c.apply(permit, kind, ns, obj).await,
            Self::World(c) => c.apply(permit, kind, ns, obj),
        }
    }

    /// Creates one object; `AlreadyExists` if it is there.
    pub async fn create(&self, permit: &Permit, kind: &ResourceKind, ns: &str, obj: &Value) -> Result<Value, Error> {
        match self {
            Self::Live(c) => c.create(permit, kind, ns, obj).await,
            Self::World(c) => c.create(permit, kind, ns, obj),
        }
    }

    /// Patches one object at `(namespace, name)`.
    pub async fn patch(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        at: (&str, &str),
        doc: &Value,
        how: PatchType,
    ) -> Result<Value, Error> {
        match self {
            Self::Live(c) => c.patch(permit, kind, at, doc, how).await,
            Self::World(c) => c.patch(permit, kind, at, doc, how),
        }
    }

    /// Sets the replicas of a scalable object; returns its `scale`.
    pub async fn scale(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        at: (&str, &str),
        replicas: i64,
    ) -> Result<Value, Error> {
        match self {
            Self::Live(c) => c.scale(permit, kind, at, replicas).await,
            Self::World(c) => c.scale(permit, kind, at, replicas),
        }
    }

    /// Deletes one object.
    pub async fn delete(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        at: (&str, &str),
        options: &DeleteOptions,
    ) -> Result<(), Error> {
        match self {
            Self::Live(c) => c.delete(permit, kind, at, options).await.map(|_| ()),
            Self::World(c) => c.delete(permit, kind, at, options).map(|_| ()),
        }
    }

    /// Deletes every selected object of a kind; returns their names.
    pub async fn delete_all(
        &self,
        permit: &Permit,
        kind: &ResourceKind,
        ns: &str,
        selector: &Selector,
    ) -> Result<Vec<String>, Error> {
        match self {
            Self::Live(c) => c.delete_all(permit, kind, ns, selector).await,
            Self::World(c) => c.delete_all(permit, kind, ns, selector),
        }
    }

    /// Runs a command in a container. Under `Permit::Check` nothing runs:
    /// the pod is checked and the answer is `None`.
    pub async fn exec(
        &self,
        permit: &Permit,
        target: &ExecTarget,
        cmd: &[String],
        stdin: &[u8],
    ) -> Result<Option<Output>, Error> {
        match self {
            Self::Live(c) => c.exec(permit, target, cmd, stdin).await,
            Self::World(c) => c.exec(permit, target, cmd, stdin),
        }
    }

    /// Streams what `from_cmd` writes in a pod here into `to_cmd`'s stdin
    /// in a pod of `to` (this cluster or another), a chunk at a time,
    /// hashing as it goes. Under `Permit::Check` nothing runs: both pods are
    /// checked and the answer is `None`.
    pub async fn pipe(
        &self,
        permit: &Permit,
        from: (&ExecTarget, &[String]),
        to: (&Cluster, &ExecTarget, &[String]),
    ) -> Result<Option<Piped>, Error> {
        let (to_cluster, to_target, to_cmd) = to;
        if permit.is_check() {
            self.exec(permit, from.0, &[], &[]).await?;
            to_cluster.exec(permit, to_target, &[], &[]).await?;
            return Ok(None);
        }
        match (self, to_cluster) {
            (Self::Live(a), Self::Live(b)) => a.pipe(permit, from, (b, to_target, to_cmd)).await.map(Some),
            (Self::World(_), Self::World(_)) => {
                // A world's pods are in memory already: there is no stream.
                let sent = self.exec(permit, from.0, from.1, &[]).await?.unwrap_or_default();
                let sha256 = super::exec::sha256_hex(&sent.stdout);
                let received = to_cluster.exec(permit, to_target, to_cmd, &sent.stdout).await?.unwrap_or_default();
                Ok(Some(Piped {
                    bytes: sent.stdout.len() as u64,
                    sha256,
                    from: Output { stdout: Vec::new(), ..sent },
                    to: received,
                    broken: None,
                }))
            }
            _ => Err(Error::Usage("cannot copy between a live cluster and a world's".into())),
        }
    }
}
