//! The hub's database moved from one hub pod to another, safely: what
//! database the hub has (its own chart configuration, the `hub` Secret's
//! `values.yaml`, says `hub.db.type`), and the copy of a sqlite one:
//! sqlite's own backup in the old pod (a consistent copy of a file the
//! running hub has open, never a raw read of it), streamed pod to pod a
//! chunk at a time, checked (SHA-256 on arrival, `PRAGMA integrity_check`),
//! and only then moved over the new hub's database, whose current file is
//! first backed up the same way beside it. sqlite's own `-journal`, `-wal`
//! and `-shm` files of the replaced database are removed with it: left
//! behind, sqlite would apply them to the new file.
//!
//! Under `Permit::Check` nothing runs in a container: both pods are
//! checked. Nothing here decides whether to copy; the binding refuses a hub
//! that is not on sqlite, with what to do instead.

use serde_json::Value;

use super::cluster::Cluster;
use super::copy::PodPath;
use super::exec::{ExecTarget, Output};
use super::{kinds, Error};
use crate::effects::Permit;

/// Where the z2jh hub keeps its sqlite database (`sqlite:///jupyterhub.sqlite`
/// in its working folder).
pub const DEFAULT_PATH: &str = "/srv/jupyterhub/jupyterhub.sqlite";
const HUB_HOME: &str = "/srv/jupyterhub";
/// Runs sqlite's online backup in a hub image without the `sqlite3` tool:
/// JupyterHub is Python, and Python has sqlite.
const PY_BACKUP: &str = "import sqlite3, sys\nsrc = sqlite3.connect(sys.argv[1])\ndst = sqlite3.connect(sys.argv[2])\nsrc.backup(dst)\ndst.close()\nsrc.close()\n";
const PY_CHECK: &str =
    "import sqlite3, sys\nprint(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])\n";

/// What the hub's configuration says its database is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HubDatabase {
    /// `hub.db.type`: `sqlite-pvc` (the chart's default), `sqlite-memory`,
    /// `mysql`, `postgres`, `other`.
    pub kind: String,
    /// The sqlite file, for a hub on sqlite.
    pub file: Option<String>,
    /// The scheme of `hub.db.url` (`postgresql`), never the rest of it: it
    /// holds the password.
    pub scheme: Option<String>,
    /// Where it was read: `secret hub` or `the chart's default`.
    pub source: String,
}

/// What a database copy did (recorded in the journal for a resume).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Moved {
    /// Bytes of the database copied.
    pub bytes: u64,
    /// Their SHA-256, hex: what the new hub's file now is.
    pub sha256: String,
    /// Where the new hub's database before the copy was kept (in its pod,
    /// beside it), if it had one.
    pub backup: Option<String>,
    /// What made the backups: `sqlite3` or `python3`.
    pub tool: String,
}

/// Reads the hub's database kind in `ns` from the chart's `hub` Secret.
pub async fn hub_database(cluster: &Cluster, ns: &str) -> Result<HubDatabase, Error> {
    use base64::Engine as _;
    let secret = kinds::builtin(&kinds::parse("secret")).ok_or_else(|| Error::UnknownKind { kind: "secret".into() })?;
    let Some(obj) = cluster.get_opt(&secret, ns, "hub").await? else {
        return Ok(from_values(&Value::Null, "the chart's default (no `hub` Secret)"));
    };
    let encoded = obj.pointer("/data/values.yaml").and_then(Value::as_str).unwrap_or_default();
    let text = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default();
    let values: Value = serde_norway::from_str(&text).unwrap_or(Value::Null);
    Ok(from_values(&values, "secret hub"))
}

fn from_values(values: &Value, source: &str) -> HubDatabase {
    let db = values.pointer("/hub/db");
    let kind = db.and_then(|d| d.get("type")).and_then(Value::as_str).unwrap_or("sqlite-pvc").to_string();
    let url = db.and_then(|d| d.get("url")).and_then(Value::as_str);
    let scheme = url.and_then(|u| u.split_once(':')).map(|(s, _)| s.to_ascii_lowercase());
    let file = match (kind.as_str(), url) {
        ("sqlite-pvc", None) => Some(DEFAULT_PATH.to_string()),
        (_, Some(url)) if scheme.as_deref().is_some_and(|s| s.starts_with("sqlite")) => sqlite_file(url),
        _ => None,
    };
    HubDatabase { kind, file, scheme, source: source.to_string() }
}

/// `sqlite:///x.sqlite` -> `/srv/jupyterhub/x.sqlite`; `sqlite:////abs` -> `/abs`.
fn sqlite_file(url: &str) -> Option<String> {
    let rest = url.split_once(":///")?.1;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(if path.starts_with('/') { path.to_string() } else { format!("{HUB_HOME}/{path}") })
}

/// Whether a path can be named in a sqlite dot-command and a shell word.
#[must_use]
pub fn valid_path(path: &str) -> bool {
    path.starts_with('/') && !path.contains(['\'', '"', '\\', '\n', '\0']) && !path.ends_with('/')
}

async fn run(permit: &Permit, at: &PodPath<'_>, cmd: &[&str], stdin: &[u8]) -> Result<Output, Error> {
    let cmd: Vec<String> = cmd.iter().map(ToString::to_string).collect();
    at.cluster
        .exec(permit, &at.target, &cmd, stdin)
        .await?
        .ok_or_else(|| Error::Client { message: format!("nothing ran in {}", at.describe()), source: None })
}

fn failed(what: &str, at: &PodPath<'_>, out: &Output) -> Error {
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Error::api(500, "InternalError", format!("{what} in {} failed (status {}): {said}", at.describe(), out.status))
}

fn missing_tool(out: &Output) -> bool {
    let said = String::from_utf8_lossy(&out.stderr);
    out.status == 126 || out.status == 127 || said.contains("not found") || said.contains("executable file")
}

/// sqlite's backup of `db` to `to`, in the pod of `at`: with `sqlite3`, or
/// Python's sqlite where the image has no `sqlite3`. Returns the tool used.
async fn backup(permit: &Permit, at: &PodPath<'_>, db: &str, to: &str) -> Result<&'static str, Error> {
    let dot = format!(".backup '{to}'");
    let out = run(permit, at, &["sqlite3", db, &dot], &[]).await?;
    if out.status == 0 {
        return Ok("sqlite3");
    }
    if !missing_tool(&out) {
        return Err(failed(&format!("sqlite3 backup of `{db}`"), at, &out));
    }
    let out = run(permit, at, &["python3", "-c", PY_BACKUP, db, to], &[]).await?;
    if out.status != 0 {
        return Err(failed(&format!("sqlite backup of `{db}` (python3)"), at, &out));
    }
    Ok("python3")
}

async fn integrity(permit: &Permit, at: &PodPath<'_>, db: &str, tool: &str) -> Result<(), Error> {
    let out = if tool == "sqlite3" {
        run(permit, at, &["sqlite3", db, "PRAGMA integrity_check"], &[]).await?
    } else {
        run(permit, at, &["python3", "-c", PY_CHECK, db], &[]).await?
    };
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status != 0 || said != "ok" {
        return Err(Error::api(
            500,
            "InternalError",
            format!(
                "the copy in {} is not a sound sqlite database: {said}{}",
                at.describe(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(())
}

async fn sha256(permit: &Permit, at: &PodPath<'_>, path: &str) -> Result<String, Error> {
    let out = run(permit, at, &["sha256sum", path], &[]).await?;
    if out.status != 0 {
        return Err(failed(&format!("sha256sum of `{path}`"), at, &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string())
}

/// Copies the sqlite database at `from` over the one at `to` (see the
/// module doc); `stamp` names the backup (`PATH.before-hubops-STAMP`).
pub async fn copy_sqlite(
    permit: &Permit,
    from: &PodPath<'_>,
    to: &PodPath<'_>,
    stamp: &str,
) -> Result<Option<Moved>, Error> {
    if permit.is_check() {
        from.cluster.exec(permit, &from.target, &[], &[]).await?;
        to.cluster.exec(permit, &to.target, &[], &[]).await?;
        return Ok(None);
    }
    let (src, dst) = (from.path.as_str(), to.path.as_str());
    let snapshot = format!("{src}.hubops-copy");
    let incoming = format!("{dst}.hubops-incoming");
    // 1. The new hub's database as it is, kept beside it.
    let exists = run(permit, to, &["test", "-f", dst], &[]).await?.status == 0;
    let kept = format!("{dst}.before-hubops-{stamp}");
    let mut backup_of_new = None;
    if exists {
        backup(permit, to, dst, &kept).await?;
        backup_of_new = Some(kept);
    }
    // 2. A consistent copy of the old hub's database, in its own pod.
    let tool = backup(permit, from, src, &snapshot).await?;
    // 3. Streamed into the new pod, next to where it goes.
    let write = format!("cat > '{incoming}'");
    let piped = from
        .cluster
        .pipe(
            permit,
            (&from.target, &["cat".to_string(), snapshot.clone()]),
            (to.cluster, &to.target, &["sh".to_string(), "-c".to_string(), write]),
        )
        .await?
        .ok_or_else(|| Error::Client { message: "nothing was streamed".into(), source: None })?;
    let _ = run(permit, from, &["rm", "-f", &snapshot], &[]).await;
    if let Some(why) = &piped.broken {
        return Err(Error::api(500, "InternalError", format!("the copy to {} broke off: {why}", to.describe())));
    }
    if piped.from.status != 0 {
        return Err(failed("reading the copy", from, &piped.from));
    }
    if piped.to.status != 0 {
        return Err(failed("writing the copy", to, &piped.to));
    }
    // 4. Checked where it landed, then put in place.
    let arrived = sha256(permit, to, &incoming).await?;
    if arrived != piped.sha256 {
        let _ = run(permit, to, &["rm", "-f", &incoming], &[]).await;
        return Err(Error::api(
            500,
            "InternalError",
            format!("checksum mismatch after the copy to {}: sent {}, found {arrived}", to.describe(), piped.sha256),
        ));
    }
    integrity(permit, to, &incoming, tool).await?;
    let out = run(permit, to, &["mv", "-f", &incoming, dst], &[]).await?;
    if out.status != 0 {
        return Err(failed("putting the copy in place", to, &out));
    }
    let (journal, wal, shm) = (format!("{dst}-journal"), format!("{dst}-wal"), format!("{dst}-shm"));
    let _ = run(permit, to, &["rm", "-f", &journal, &wal, &shm], &[]).await;
    let now = sha256(permit, to, dst).await?;
    if now != piped.sha256 {
        return Err(Error::api(
            500,
            "InternalError",
            format!("checksum mismatch in place at {}: copied {}, found {now}", to.describe(), piped.sha256),
        ));
    }
    Ok(Some(Moved { bytes: piped.bytes, sha256: piped.sha256, backup: backup_of_new, tool: tool.to_string() }))
}

/// The hub pod of `ns`: the running pod labelled `component=hub`.
pub async fn hub_pod(cluster: &Cluster, ns: &str) -> Result<ExecTarget, Error> {
    let pod = kinds::builtin(&kinds::parse("pod")).ok_or_else(|| Error::UnknownKind { kind: "pod".into() })?;
    let selector = super::Selector { labels: Some("component=hub".into()), fields: None };
    let pods = cluster.list(&pod, ns, &selector).await?;
    let running = pods.iter().find(|p| p.pointer("/status/phase").and_then(Value::as_str) == Some("Running"));
    let name = running.and_then(|p| super::name_of(p)).ok_or_else(|| {
        Error::api(404, "NotFound", format!("no running hub pod (component=hub) in `{ns}` on `{}`", cluster.context()))
    })?;
    Ok(ExecTarget { ns: ns.into(), pod: name.into(), container: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_database_kind_from_the_charts_values() {
        let values: Value =
            serde_norway::from_str("hub: { db: { type: postgres, url: 'postgresql://hub:s3cret@db:5432/hub' } }")
                .unwrap();
        let db = from_values(&values, "secret hub");
        assert_eq!(
            (db.kind.as_str(), db.file.as_deref(), db.scheme.as_deref()),
            ("postgres", None, Some("postgresql"))
        );
        assert!(!format!("{db:?}").contains("s3cret"), "the url's password is never kept");
        let db = from_values(&Value::Null, "default");
        assert_eq!((db.kind.as_str(), db.file.as_deref()), ("sqlite-pvc", Some(DEFAULT_PATH)));
        let values: Value = serde_norway::from_str("hub: { db: { type: other, url: 'sqlite:///hub.db' } }").unwrap();
        assert_eq!(from_values(&values, "x").file.as_deref(), Some("/srv/jupyterhub/hub.db"));
        let values: Value = serde_norway::from_str("hub: { db: { type: sqlite-memory } }").unwrap();
        assert_eq!(from_values(&values, "x").file, None);
    }

    #[test]
    fn paths_that_cannot_be_named_safely_are_refused() {
        assert!(valid_path(DEFAULT_PATH));
        for bad in ["relative.sqlite", "/a'b", "/srv/", "/a\nb"] {
            assert!(!valid_path(bad), "{bad}");
        }
    }
}
