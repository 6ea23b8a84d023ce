//! Commands in containers. Live: the API's `exec` subresource over a
//! websocket (kube-rs `ws`), stdin sent then closed, stdout and stderr
//! collected, the exit code read from the final `Status`. On a world: a small
//! interpreter over the pod's file tree (`files:` in the world) that knows
//! what runbooks use to move files: `cat`, `sha256sum`, `ls`, `test -e|-f`,
//! `rm [-f]`, `mkdir -p`, `tee`, `echo`, `true`, `false`, and
//! `sh -c "cat > PATH"`, `mv`, and the `sqlite3` a database copy runs
//! (`.backup` and `PRAGMA integrity_check`); anything else exits 127 as a
//! shell would. [`pipe`] streams one pod's output into another's input,
//! a chunk at a time, hashing as it goes.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::Error;

/// What a command produced (recorded in the journal for a resume).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Output {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Exit status.
    pub status: i64,
}

/// Hex SHA-256 of bytes.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Where a command runs, for messages.
#[derive(Debug, Clone)]
pub struct ExecTarget {
    /// Namespace.
    pub ns: String,
    /// Pod.
    pub pod: String,
    /// Container, if chosen.
    pub container: Option<String>,
}

/// `mv FROM TO` on a simulated pod's files.
fn mv(files: &mut BTreeMap<String, String>, args: &[String]) -> Output {
    let mut out = Output::default();
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let [from, to] = paths.as_slice() else {
        out.stderr = b"mv: missing file operand\n".to_vec();
        out.status = 1;
        return out;
    };
    if let Some(content) = files.remove(from.as_str()) {
        files.insert((*to).clone(), content);
    } else {
        out.stderr = format!("mv: cannot stat '{from}': No such file or directory\n").into_bytes();
        out.status = 1;
    }
    out
}

/// Runs a command against a simulated pod's files.
pub fn simulate(files: &mut BTreeMap<String, String>, cmd: &[String], stdin: &[u8]) -> Output {
    let mut out = Output::default();
    let text = |s: &str| s.as_bytes().to_vec();
    let Some((program, args)) = cmd.split_first() else {
        return Output { stderr: text("exec: no command given\n"), status: 127, ..Output::default() };
    };
    let missing = |program: &str, path: &str| format!("{program}: {path}: No such file or directory\n");
    match program.as_str() {
        "true" | "mkdir" => {}
        "false" => out.status = 1,
        "echo" => out.stdout = text(&format!("{}\n", args.join(" "))),
        "cat" if args.is_empty() => out.stdout = stdin.to_vec(),
        "cat" => {
            for path in args {
                if let Some(content) = files.get(path) {
                    out.stdout.extend_from_slice(content.as_bytes());
                } else {
                    out.stderr.extend(text(&missing("cat", path)));
                    out.status = 1;
                }
            }
        }
        "sha256sum" => {
            for path in args {
                if let Some(content) = files.get(path) {
                    out.stdout.extend(text(&format!("{}  {path}\n", sha256_hex(content.as_bytes()))));
                } else {
                    out.stderr.extend(text(&missing("sha256sum", path)));
                    out.status = 1;
                }
            }
        }
        "ls" => {
            let dir = args.iter().find(|a| !a.starts_with('-')).map_or("/", String::as_str);
            if files.contains_key(dir) {
                out.stdout = text(&format!("{dir}\n"));
            } else {
                let prefix = format!("{}/", dir.trim_end_matches('/'));
                let mut names: Vec<&str> = files
                    .keys()
                    .filter_map(|p| p.strip_prefix(&prefix))
                    .map(|rest| rest.split('/').next().unwrap_or(rest))
                    .collect();
                names.dedup();
                if names.is_empty() {
                    out.stderr = text(&format!("ls: cannot access '{dir}': No such file or directory\n"));
                    out.status = 2;
                } else {
                    out.stdout = text(&format!("{}\n", names.join("\n")));
                }
            }
        }
        "test" => {
            let path = args.last().map_or("", String::as_str);
            let dir = format!("{}/", path.trim_end_matches('/'));
            let exists = match args.first().map(String::as_str) {
                Some("-f" | "-r" | "-s") => files.contains_key(path),
                Some("-d") => files.keys().any(|p| p.starts_with(&dir)),
                _ => files.contains_key(path) || files.keys().any(|p| p.starts_with(&dir)),
            };
            out.status = i64::from(!exists);
        }
        "rm" => {
            let force = args.iter().any(|a| a.starts_with('-') && a.contains('f'));
            for path in args.iter().filter(|a| !a.starts_with('-')) {
                if files.remove(path).is_none() && !force {
                    out.stderr.extend(text(&format!("rm: cannot remove '{path}': No such file or directory\n")));
                    out.status = 1;
                }
            }
        }
        "mv" => return mv(files, args),
        "sqlite3" => return sqlite(files, args),
        "tee" => {
            let content = String::from_utf8_lossy(stdin).into_owned();
            for path in args.iter().filter(|a| !a.starts_with('-')) {
                files.insert(path.clone(), content.clone());
            }
            out.stdout = stdin.to_vec();
        }
        "sh" | "bash" if args.first().map(String::as_str) == Some("-c") => {
            let script = args.get(1).map_or("", String::as_str).trim();
            if let Some(path) = script.strip_prefix("cat >").or_else(|| script.strip_prefix("cat>")) {
                files.insert(
                    path.trim().trim_matches(['\'', '"']).to_string(),
                    String::from_utf8_lossy(stdin).into_owned(),
                );
            } else {
                let words: Vec<String> = script.split_whitespace().map(String::from).collect();
                return simulate(files, &words, stdin);
            }
        }
        other => {
            out.stderr = text(&format!("sh: 1: {other}: not found\n"));
            out.status = 127;
        }
    }
    out
}

/// The `sqlite3` command line a database copy runs: `DB ".backup 'TO'"`
/// copies a database as sqlite's own backup does, `DB "PRAGMA
/// integrity_check"` says `ok` for a file that is a database (on a world:
/// text that starts with sqlite's header).
fn sqlite(files: &mut BTreeMap<String, String>, args: &[String]) -> Output {
    let fail =
        |message: &str| Output { stderr: format!("Error: {message}\n").into_bytes(), status: 1, ..Output::default() };
    let (Some(db), Some(sql)) = (args.first(), args.get(1)) else { return fail("expected a database and a command") };
    let Some(content) = files.get(db).cloned() else { return fail("unable to open database file") };
    if !content.starts_with("SQLite format 3") {
        return Output { stderr: b"Error: file is not a database\n".to_vec(), status: 26, ..Output::default() };
    }
    if let Some(to) = sql.strip_prefix(".backup ") {
        files.insert(to.trim().trim_matches(['\'', '"']).to_string(), content);
        return Output::default();
    }
    if sql.trim().eq_ignore_ascii_case("PRAGMA integrity_check") {
        return Output { stdout: b"ok\n".to_vec(), ..Output::default() };
    }
    fail(&format!("near \"{sql}\": syntax error"))
}

/// What [`pipe`] moved: how many bytes, their SHA-256 (computed as they
/// passed), how each command ended, and the broken pipe if the receiving
/// side stopped reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Piped {
    /// Bytes moved.
    pub bytes: u64,
    /// Their SHA-256, hex.
    pub sha256: String,
    /// The sending command's stderr and status (its stdout went across).
    pub from: Output,
    /// The receiving command's output and status.
    pub to: Output,
    /// Why the stream broke, if it did.
    pub broken: Option<String>,
}

/// The chunk a pipe moves at a time: memory stays this small whatever the
/// file's size.
const CHUNK: usize = 64 << 10;
/// How much of a command's own output (stderr) a pipe keeps.
const KEEP: usize = 64 << 10;

/// Reads `pipe` to its end, keeping at most [`KEEP`] bytes.
async fn drain(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else { return kept };
    let mut chunk = vec![0u8; 8 << 10];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let room = KEEP.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
    kept
}

/// Streams what `from_cmd` writes in one pod into `to_cmd`'s stdin in
/// another (or the same), a chunk at a time: nothing is held whole in
/// memory and nothing lands on this machine.
#[allow(clippy::disallowed_methods)] // runs commands in pods: takes the gate's Permit
pub async fn pipe(
    _permit: &crate::effects::Permit,
    from: (kube::Client, &ExecTarget, &[String]),
    to: (kube::Client, &ExecTarget, &[String]),
) -> Result<Piped, kube::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let params = |container: &Option<String>, stdin: bool| kube::api::AttachParams {
        container: container.clone(),
        stdin,
        stdout: true,
        stderr: true,
        tty: false,
        ..kube::api::AttachParams::default()
    };
    let (from_client, from_target, from_cmd) = from;
    let (to_client, to_target, to_cmd) = to;
    let source_api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(from_client, &from_target.ns);
    let sink_api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(to_client, &to_target.ns);
    let mut source =
        source_api.exec(&from_target.pod, from_cmd.to_vec(), &params(&from_target.container, false)).await?;
    let mut sink = sink_api.exec(&to_target.pod, to_cmd.to_vec(), &params(&to_target.container, true)).await?;
    let (source_status, sink_status) = (source.take_status(), sink.take_status());
    let (mut out, source_err) = (source.stdout(), source.stderr());
    let (mut input, sink_out, sink_err) = (sink.stdin(), sink.stdout(), sink.stderr());
    let copy = async {
        let mut hasher = Sha256::new();
        let mut chunk = vec![0u8; CHUNK];
        let mut bytes = 0u64;
        let mut broken = None;
        if let (Some(out), Some(input)) = (out.as_mut(), input.as_mut()) {
            loop {
                let n = match out.read(&mut chunk).await {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        broken = Some(format!("reading: {e}"));
                        break;
                    }
                };
                hasher.update(&chunk[..n]);
                bytes += n as u64;
                if let Err(e) = input.write_all(&chunk[..n]).await {
                    broken = Some(format!("writing: {e}"));
                    break;
                }
            }
            let _ = input.shutdown().await;
        }
        drop(input);
        (bytes, hex(&hasher.finalize()), broken)
    };
    let ((bytes, sha256, broken), from_stderr, to_stdout, to_stderr) =
        tokio::join!(copy, drain(source_err), drain(sink_out), drain(sink_err));
    let from_status = match source_status {
        Some(s) => s.await,
        None => None,
    };
    let to_status = match sink_status {
        Some(s) => s.await,
        None => None,
    };
    let _ = source.join().await;
    let _ = sink.join().await;
    Ok(Piped {
        bytes,
        sha256,
        from: Output { stdout: Vec::new(), stderr: from_stderr, status: exit_code(from_status.as_ref()) },
        to: Output { stdout: to_stdout, stderr: to_stderr, status: exit_code(to_status.as_ref()) },
        broken,
    })
}

fn hex(digest: &[u8]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(64), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

/// Runs a command in a live container.
#[allow(clippy::disallowed_methods)] // runs a command in a pod: takes the gate's Permit
pub async fn live(
    _permit: &crate::effects::Permit,
    client: kube::Client,
    target: &ExecTarget,
    cmd: &[String],
    stdin: &[u8],
) -> Result<Output, kube::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, &target.ns);
    let params = kube::api::AttachParams {
        container: target.container.clone(),
        stdin: true,
        stdout: true,
        stderr: true,
        tty: false,
        ..kube::api::AttachParams::default()
    };
    let mut process = api.exec(&target.pod, cmd.to_vec(), &params).await?;
    let status = process.take_status();
    let (mut out_pipe, mut err_pipe) = (process.stdout(), process.stderr());
    if let Some(mut writer) = process.stdin() {
        // A command that does not read its input may already be gone.
        let _ = writer.write_all(stdin).await;
        let _ = writer.shutdown().await;
    }
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let read_out = async {
        if let Some(pipe) = out_pipe.as_mut() {
            let _ = pipe.read_to_end(&mut stdout).await;
        }
    };
    let read_err = async {
        if let Some(pipe) = err_pipe.as_mut() {
            let _ = pipe.read_to_end(&mut stderr).await;
        }
    };
    tokio::join!(read_out, read_err);
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    let _ = process.join().await;
    Ok(Output { stdout, stderr, status: exit_code(status.as_ref()) })
}

/// The exit code in the API's final `Status` of an exec.
fn exit_code(status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> i64 {
    let Some(status) = status else { return -1 };
    if status.status.as_deref() == Some("Success") {
        return 0;
    }
    status
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|causes| causes.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.parse().ok())
        .unwrap_or(1)
}

/// A failed exec as our error.
pub(crate) fn not_running(target: &ExecTarget, phase: &str) -> Error {
    Error::api(
        400,
        "BadRequest",
        format!(
            "cannot exec into a container in a completed pod; current phase is {phase} (pod `{}/{}`)",
            target.ns, target.pod
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(files: &mut BTreeMap<String, String>, cmd: &[&str], stdin: &str) -> (String, String, i64) {
        let cmd: Vec<String> = cmd.iter().map(ToString::to_string).collect();
        let out = simulate(files, &cmd, stdin.as_bytes());
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status,
        )
    }

    #[test]
    fn a_pod_shell_good_enough_to_move_files() {
        let mut files = BTreeMap::from([("/srv/jupyterhub/jupyterhub.sqlite".to_string(), "db".to_string())]);
        assert_eq!(run(&mut files, &["cat", "/srv/jupyterhub/jupyterhub.sqlite"], ""), ("db".into(), String::new(), 0));
        assert_eq!(run(&mut files, &["ls", "/srv/jupyterhub"], "").0, "jupyterhub.sqlite\n");
        assert_eq!(run(&mut files, &["sh", "-c", "cat > /tmp/x"], "hello").2, 0);
        assert_eq!(run(&mut files, &["sha256sum", "/tmp/x"], "").0, format!("{}  /tmp/x\n", sha256_hex(b"hello")));
        assert_eq!(run(&mut files, &["test", "-f", "/tmp/x"], "").2, 0);
        assert_eq!(run(&mut files, &["rm", "/tmp/x"], "").2, 0);
        assert_eq!(run(&mut files, &["test", "-f", "/tmp/x"], "").2, 1);
        assert_eq!(
            run(&mut files, &["cat", "/nope"], ""),
            (String::new(), "cat: /nope: No such file or directory\n".into(), 1)
        );
        assert_eq!(run(&mut files, &["vim"], "").2, 127);
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn sqlite_backups_and_checks_and_moves() {
        let mut files = BTreeMap::from([("/srv/db".to_string(), "SQLite format 3 users".to_string())]);
        assert_eq!(run(&mut files, &["sqlite3", "/srv/db", ".backup '/srv/db.copy'"], "").2, 0);
        assert_eq!(files["/srv/db.copy"], "SQLite format 3 users");
        assert_eq!(
            run(&mut files, &["sqlite3", "/srv/db.copy", "PRAGMA integrity_check"], ""),
            ("ok\n".into(), String::new(), 0)
        );
        assert_eq!(run(&mut files, &["mv", "-f", "/srv/db.copy", "/srv/new"], "").2, 0);
        assert!(!files.contains_key("/srv/db.copy"));
        files.insert("/srv/text".into(), "not a database".into());
        assert_eq!(run(&mut files, &["sqlite3", "/srv/text", "PRAGMA integrity_check"], "").2, 26);
        assert_eq!(
            run(&mut files, &["sqlite3", "/nope", ".backup '/x'"], "").1,
            "Error: unable to open database file\n"
        );
    }
}
