//! Which API server a context names, and how to talk to it: kubeconfig from
//! `--kubeconfig` / `HUBOPS_KUBECONFIG`, else `KUBECONFIG` (a list of files,
//! merged like kubectl does), else `~/.kube/config`; with no kubeconfig at
//! all and no context asked for, the in-cluster service account.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::Error;

/// A context's connection settings, ready for a client.
#[derive(Debug)]
pub struct Resolved {
    /// The context name (`in-cluster` for the service account).
    pub context: String,
    /// The API server URL.
    pub server: String,
    /// kube-rs's configuration.
    pub config: kube::Config,
}

fn kubeconfig(path: Option<&Path>) -> Result<Option<Kubeconfig>, Error> {
    let unusable = |e: kube::config::KubeconfigError| Error::Kubeconfig { message: chain(&e) };
    if let Some(path) = path {
        return Kubeconfig::read_from(path)
            .map(Some)
            .map_err(|e| Error::Kubeconfig { message: format!("cannot read `{}`: {}", path.display(), chain(&e)) });
    }
    match Kubeconfig::read() {
        Ok(config) => Ok(Some(config)),
        // No file at all is not an error yet: in a pod, the service account
        // is the configuration.
        Err(kube::config::KubeconfigError::FindPath) => Ok(None),
        Err(kube::config::KubeconfigError::ReadConfig(e, _)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unusable(e)),
    }
}

/// Every context the kubeconfig names, for messages.
pub fn contexts(path: Option<&Path>) -> Result<Vec<String>, Error> {
    Ok(kubeconfig(path)?.map(|k| k.contexts.into_iter().map(|c| c.name).collect()).unwrap_or_default())
}

/// Resolves a context (`None`: the current one) to a client configuration.
pub async fn resolve(path: Option<&Path>, context: Option<&str>) -> Result<Resolved, Error> {
    let Some(file) = kubeconfig(path)? else {
        if context.is_none() {
            if let Ok(config) = kube::Config::incluster() {
                let server = config.cluster_url.to_string();
                return Ok(Resolved { context: "in-cluster".into(), server, config });
            }
        }
        let context = context.unwrap_or("(current)").to_string();
        return Err(Error::Kubeconfig {
            message: format!("no kubeconfig found for context `{context}` (set KUBECONFIG or pass --kubeconfig)"),
        });
    };
    let known: Vec<String> = file.contexts.iter().map(|c| c.name.clone()).collect();
    let name = match context {
        Some(c) => c.to_string(),
        None => file.current_context.clone().ok_or_else(|| Error::Kubeconfig {
            message: format!("no current context is set (contexts: {})", known.join(", ")),
        })?,
    };
    let Some(entry) = file.contexts.iter().find(|c| c.name == name) else {
        return Err(Error::UnknownContext { context: name, known });
    };
    let cluster_name = entry.context.as_ref().map(|c| c.cluster.clone()).unwrap_or_default();
    let server = file
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .unwrap_or_default();
    let options = KubeConfigOptions { context: Some(name.clone()), ..KubeConfigOptions::default() };
    let config = kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| Error::Kubeconfig { message: format!("context `{name}`: {}", chain(&e)) })?;
    Ok(Resolved { context: name, server, config })
}

/// An error and its causes on one line.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
