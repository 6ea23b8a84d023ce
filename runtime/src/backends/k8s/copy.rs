//! Verified copies built on exec: pod to pod (across clusters), pod to a
//! local file, a local file to a pod. Pod to pod, the bytes stream through
//! hubops a chunk at a time into a file beside the destination, which is
//! moved into place once checked; every copy is verified: the SHA-256 of
//! what was read must be what `sha256sum` reports at the destination.
//!
//! Under `Permit::Check` nothing runs in any container: the source pod must
//! exist (on a world, the file too), the destination pod must be one a
//! command could run in, and the answer is `None`. On a world, a file
//! copied out of a pod lands in the run's scratch space, never on disk.

use serde_json::Value;

use super::cluster::Cluster;
use super::exec::{sha256_hex, ExecTarget, Output};
use super::Error;
use crate::effects::Permit;

/// Where a file is: a cluster's pod and a path in it.
#[derive(Debug)]
pub struct PodPath<'a> {
    /// The cluster.
    pub cluster: &'a Cluster,
    /// The pod (and container).
    pub target: ExecTarget,
    /// The path in the container.
    pub path: String,
}

impl PodPath<'_> {
    /// `blue:daskhub/hub-0:/srv/jupyterhub/jupyterhub.sqlite`.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("{}:{}/{}:{}", self.cluster.context(), self.target.ns, self.target.pod, self.path)
    }
}

/// What a copy moved (recorded in the journal for a resume).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Copied {
    /// How many bytes.
    pub bytes: usize,
    /// Their SHA-256, hex.
    pub sha256: String,
}

impl Copied {
    /// `{bytes, sha256}`, as scripts get it.
    #[must_use]
    pub fn to_value(&self) -> Value {
        serde_json::json!({ "bytes": self.bytes, "sha256": self.sha256 })
    }
}

/// Runs a command that must run (the permit applies).
async fn run_in(permit: &Permit, at: &PodPath<'_>, cmd: &[String], stdin: &[u8]) -> Result<Output, Error> {
    at.cluster
        .exec(permit, &at.target, cmd, stdin)
        .await?
        .ok_or_else(|| Error::Client { message: format!("nothing ran in {}", at.describe()), source: None })
}

/// What a check can know about a source: the pod is there (on a world:
/// running, with the file).
async fn can_read(permit: &Permit, from: &PodPath<'_>) -> Result<(), Error> {
    match from.cluster {
        Cluster::World(world) => {
            if !world.has_file(&from.target, &from.path)? {
                return Err(Error::api(
                    404,
                    "NotFound",
                    format!("cannot read {}: No such file or directory", from.describe()),
                ));
            }
            Ok(())
        }
        Cluster::Live(_) => from.cluster.exec(permit, &from.target, &[], &[]).await.map(|_| ()),
    }
}

async fn read(permit: &Permit, from: &PodPath<'_>) -> Result<Vec<u8>, Error> {
    let out = run_in(permit, from, &["cat".into(), from.path.clone()], &[]).await?;
    if out.status != 0 {
        return Err(Error::api(
            404,
            "NotFound",
            format!("cannot read {}: {}", from.describe(), String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    Ok(out.stdout)
}

async fn sha256_at(permit: &Permit, at: &PodPath<'_>) -> Result<String, Error> {
    let out = run_in(permit, at, &["sha256sum".into(), at.path.clone()], &[]).await?;
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string())
}

async fn write_verified(permit: &Permit, to: &PodPath<'_>, bytes: &[u8]) -> Result<String, Error> {
    let script = vec!["sh".to_string(), "-c".to_string(), format!("cat > {}", quote(&to.path))];
    let out = run_in(permit, to, &script, bytes).await?;
    if out.status != 0 {
        return Err(Error::api(
            500,
            "InternalError",
            format!("cannot write {}: {}", to.describe(), String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    let want = sha256_hex(bytes);
    let got = sha256_at(permit, to).await?;
    if got != want {
        return Err(Error::api(
            500,
            "InternalError",
            format!("checksum mismatch after copy to {}: sent {want}, found {got}", to.describe()),
        ));
    }
    Ok(want)
}

/// Pod to pod, on the same or another cluster, streamed a chunk at a time
/// (never whole in memory) into a file beside the destination, checked,
/// then moved into place: a reader of the destination never sees half a
/// copy. Nothing is written locally.
pub async fn copy(permit: &Permit, from: &PodPath<'_>, to: &PodPath<'_>) -> Result<Option<Copied>, Error> {
    if permit.is_check() {
        can_read(permit, from).await?;
        to.cluster.exec(permit, &to.target, &[], &[]).await?;
        return Ok(None);
    }
    let incoming = format!("{}.hubops-incoming", to.path);
    let write = vec!["sh".to_string(), "-c".to_string(), format!("cat > {}", quote(&incoming))];
    let piped = from
        .cluster
        .pipe(permit, (&from.target, &["cat".to_string(), from.path.clone()]), (to.cluster, &to.target, &write))
        .await?
        .ok_or_else(|| Error::Client { message: "nothing was streamed".into(), source: None })?;
    if piped.from.status != 0 {
        let said = String::from_utf8_lossy(&piped.from.stderr).trim().to_string();
        return Err(Error::api(404, "NotFound", format!("cannot read {}: {said}", from.describe())));
    }
    if piped.broken.is_some() || piped.to.status != 0 {
        let said = piped.broken.clone().unwrap_or_else(|| String::from_utf8_lossy(&piped.to.stderr).trim().to_string());
        return Err(Error::api(500, "InternalError", format!("cannot write {}: {said}", to.describe())));
    }
    let staged = PodPath { cluster: to.cluster, target: to.target.clone(), path: incoming.clone() };
    let got = sha256_at(permit, &staged).await?;
    if got != piped.sha256 {
        let _ = run_in(permit, to, &["rm".into(), "-f".into(), incoming], &[]).await;
        return Err(Error::api(
            500,
            "InternalError",
            format!("checksum mismatch after copy to {}: sent {}, found {got}", to.describe(), piped.sha256),
        ));
    }
    let out = run_in(permit, to, &["mv".into(), "-f".into(), incoming, to.path.clone()], &[]).await?;
    if out.status != 0 {
        return Err(Error::api(
            500,
            "InternalError",
            format!(
                "cannot put the copy in place at {}: {}",
                to.describe(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(Some(Copied { bytes: usize::try_from(piped.bytes).unwrap_or(usize::MAX), sha256: piped.sha256 }))
}

fn quote(path: &str) -> String {
    format!("'{}'", path.replace('\'', r"'\''"))
}

/// Pod to a local file (on a world: to the run's scratch space).
#[allow(clippy::disallowed_methods)] // writes the operator's local copy; takes the Permit
pub async fn copy_from(permit: &Permit, from: &PodPath<'_>, local: &str) -> Result<Option<Copied>, Error> {
    if permit.is_check() {
        can_read(permit, from).await?;
        return Ok(None);
    }
    let bytes = read(permit, from).await?;
    let want = sha256_at(permit, from).await?;
    let got = sha256_hex(&bytes);
    if got != want {
        return Err(Error::api(
            500,
            "InternalError",
            format!("checksum mismatch copying {}: source {want}, received {got}", from.describe()),
        ));
    }
    match from.cluster {
        Cluster::World(world) => world.keep(permit, local, &bytes)?,
        Cluster::Live(_) => std::fs::write(local, &bytes)
            .map_err(|e| Error::Client { message: format!("cannot write `{local}`: {e}"), source: None })?,
    }
    Ok(Some(Copied { bytes: bytes.len(), sha256: got }))
}

/// The bytes of a local file for [`copy_to`]: on a world, a file an
/// earlier `copy_from` kept in the run's scratch space, else the file on
/// disk (a read of the site's checkout).
pub fn read_local(cluster: &Cluster, local: &str) -> Result<Vec<u8>, Error> {
    if let Cluster::World(world) = cluster {
        if let Some(bytes) = world.scratch(local)? {
            return Ok(bytes);
        }
    }
    std::fs::read(local).map_err(|e| Error::Usage(format!("cannot read `{local}`: {e}")))
}

/// Local bytes (see [`read_local`]) to a pod.
pub async fn copy_to(permit: &Permit, bytes: &[u8], to: &PodPath<'_>) -> Result<Option<Copied>, Error> {
    if permit.is_check() {
        to.cluster.exec(permit, &to.target, &[], &[]).await?;
        return Ok(None);
    }
    let sha256 = write_verified(permit, to, bytes).await?;
    Ok(Some(Copied { bytes: bytes.len(), sha256 }))
}

/// A container's log saved to a local file (on a world: to the run's
/// scratch space): what `cleanup` keeps of a hub before its cluster goes.
/// The log is read under either permit (a check finds an unreadable one);
/// it is written only under `Permit::Apply`. Returns its size.
#[allow(clippy::disallowed_methods)] // writes the operator's local copy; takes the Permit
pub async fn save_logs(
    permit: &Permit,
    cluster: &Cluster,
    (ns, pod): (&str, &str),
    options: &super::LogOptions,
    local: &str,
) -> Result<Option<usize>, Error> {
    let text = cluster.logs(ns, pod, options).await?;
    if permit.is_check() {
        return Ok(None);
    }
    match cluster {
        Cluster::World(world) => world.keep(permit, local, text.as_bytes())?,
        Cluster::Live(_) => {
            let path = std::path::Path::new(local);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::Client {
                    message: format!("cannot make `{}`: {e}", dir.display()),
                    source: None,
                })?;
            }
            std::fs::write(path, text.as_bytes())
                .map_err(|e| Error::Client { message: format!("cannot write `{local}`: {e}"), source: None })?;
        }
    }
    Ok(Some(text.len()))
}
