//! rsync between a world's host trees, as `rsync -a` would copy them, run
//! on a host (`local` for `sh::rsync`, the target NFS server for a
//! `homes::` copy): paths without a host are that host's own. What real
//! rsync refuses is refused here with its words and status (two remote
//! ends; a missing source folder; a login the other host does not accept),
//! faults a host declares end a copy with their status, `--max-delete`
//! holds deletions back as rsync does (status 25), and a host's `speed`
//! says how long the copy took.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;

use super::{endpoint, normal, File, Host, HostsWorld, LOCAL};
use crate::backends::shell::process::Error;
use crate::backends::shell::rsync::{Report, Transfer};
use crate::backends::shell::SSH_FAILED;
use crate::effects::Permit;

/// rsync's "partial transfer due to error" (here: the source is missing).
const RSYNC_PARTIAL: i32 = 23;
/// rsync's "syntax or usage error".
const RSYNC_USAGE: i32 = 1;
/// rsync's "some files vanished before they could be transferred".
const RSYNC_VANISHED: i32 = 24;
/// rsync's "the --max-delete limit stopped deletions".
const RSYNC_MAX_DELETE: i32 = 25;

/// What a simulated rsync run left: its report, exit status and stderr,
/// and how long it took on the host's `speed`.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    /// What moved (or would).
    pub report: Report,
    /// rsync's exit status.
    pub status: i32,
    /// What rsync said on stderr.
    pub stderr: String,
    /// How long it took (zero on a host without `speed`).
    pub took: Duration,
}

/// `100MB/s` -> bytes per second.
pub(crate) fn rate(text: &str) -> Result<f64, String> {
    let bad = || format!("`{text}` is not a rate (examples: 100MB/s, 1GiB/s, 500KB/s)");
    let per = text.trim().strip_suffix("/s").ok_or_else(bad)?;
    let digits = per.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(per.len());
    let number: f64 = per[..digits].parse().map_err(|_| bad())?;
    let unit = match &per[digits..] {
        "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    if number > 0.0 && number.is_finite() {
        Ok(number * unit)
    } else {
        Err(bad())
    }
}

fn took(host: &Host, report: &Report) -> Duration {
    let Some(speed) = &host.speed else { return Duration::ZERO };
    let parse = |d: &Option<String>| d.as_deref().and_then(|d| crate::duration::parse(d).ok()).unwrap_or_default();
    let files = u32::try_from(report.total_files).unwrap_or(u32::MAX);
    let moving = rate(&speed.rate).map_or(0.0, |r| report.bytes as f64 / r);
    parse(&speed.connect) + parse(&speed.per_file) * files + Duration::try_from_secs_f64(moving).unwrap_or_default()
}

fn refused(status: i32, stderr: String) -> Ran {
    Ran { status, stderr, ..Ran::default() }
}

impl HostsWorld {
    /// `sh::rsync` on a world: run on this machine (`local`); a status
    /// other than 0 or 24 is [`Error::Failed`], as live.
    pub fn rsync(&mut self, permit: &Permit, transfer: &Transfer, now: Timestamp) -> Result<(Report, i32), Error> {
        let ran = self.rsync_on(permit, LOCAL, transfer, now)?;
        if ran.status != 0 && ran.status != RSYNC_VANISHED {
            return Err(Error::Failed {
                program: "rsync".into(),
                status: ran.status,
                stderr_tail: crate::backends::shell::process::tail(&ran.stderr),
            });
        }
        Ok((ran.report, ran.status))
    }

    /// rsync run on host `runner`: paths without a host are the runner's.
    /// Under `Permit::Check` (or for a transfer the runbook only previews)
    /// only reports what would move. Every exit status is an answer; only a
    /// host that cannot be reached is an error.
    pub fn rsync_on(
        &mut self,
        permit: &Permit,
        runner: &str,
        transfer: &Transfer,
        now: Timestamp,
    ) -> Result<Ran, Error> {
        let (src_host, src_path) = endpoint(&transfer.src);
        let (dst_host, dst_path) = endpoint(&transfer.dst);
        let on = |host: String| if host == LOCAL { runner.to_string() } else { host };
        if src_host != LOCAL && dst_host != LOCAL {
            return Ok(refused(
                RSYNC_USAGE,
                "The source and destination cannot both be remote.\nrsync error: syntax or usage error (code 1) at main.c(1471) [Receiver=3.2.7]\n".into(),
            ));
        }
        let (src_host, dst_host) = (on(src_host), on(dst_host));
        let runner_host = self.host(runner)?.clone();
        if let Some(other) = [&src_host, &dst_host].into_iter().find(|h| *h != runner) {
            if let Some(said) = self.refused_login(runner, other)? {
                return Ok(refused(
                    SSH_FAILED,
                    format!("{said}\nrsync: connection unexpectedly closed (0 bytes received so far) [Receiver]\nrsync error: unexplained error (code 255) at io.c(232) [Receiver=3.2.7]\n"),
                ));
            }
        }
        self.host(&src_host)?;
        self.host(&dst_host)?;
        let src_path = normal(&src_path);
        let contents = src_path.ends_with('/');
        let src_dir = src_path.trim_end_matches('/').to_string();
        let check = permit.is_check() || transfer.preview;
        if let Some(status) = self.fault(&src_host, &src_dir, !check) {
            if status != RSYNC_VANISHED {
                return Ok(refused(
                    status,
                    format!("rsync: [receiver] read error in \"{src_dir}\"\nrsync error: error (code {status})\n"),
                ));
            }
            let mut ran = self.copy(&src_host, &src_dir, contents, &dst_host, &dst_path, transfer, check, now)?;
            ran.status = RSYNC_VANISHED;
            ran.stderr.push_str(&format!("file has vanished: \"{src_dir}/.~lock\"\nrsync warning: some files vanished before they could be transferred (code 24)\n"));
            ran.took = took(&runner_host, &ran.report);
            return Ok(ran);
        }
        let mut ran = self.copy(&src_host, &src_dir, contents, &dst_host, &dst_path, transfer, check, now)?;
        ran.took = took(&runner_host, &ran.report);
        Ok(ran)
    }

    /// The status a fault on `host` gives a copy of `dir`; counts it down
    /// when the copy is made.
    fn fault(&mut self, host: &str, dir: &str, apply: bool) -> Option<i32> {
        let faults = &mut self.hosts.get_mut(host)?.faults;
        let i = faults.iter().position(|f| f.path.trim_end_matches('/') == dir && f.times != Some(0))?;
        let status = faults[i].status;
        if apply {
            if let Some(left) = &mut faults[i].times {
                *left -= 1;
            }
        }
        Some(status)
    }

    #[allow(clippy::too_many_arguments)] // the two ends of a copy, and how
    fn copy(
        &mut self,
        src_host: &str,
        src_dir: &str,
        contents: bool,
        dst_host: &str,
        dst_path: &str,
        transfer: &Transfer,
        check: bool,
        now: Timestamp,
    ) -> Result<Ran, Error> {
        let source = self.host(src_host)?;
        let base = src_dir.rsplit('/').next().unwrap_or_default().to_string();
        let dst_dir = normal(dst_path).trim_end_matches('/').to_string();
        // Files to copy: relative name -> file.
        let mut entries: BTreeMap<String, File> = BTreeMap::new();
        if let (false, Some(file)) = (contents, source.files.get(src_dir)) {
            entries.insert(base.clone(), file.clone());
        } else {
            let prefix = format!("{src_dir}/");
            for (path, file) in &source.files {
                if let Some(rel) = path.strip_prefix(&prefix) {
                    let rel = if contents { rel.to_string() } else { format!("{base}/{rel}") };
                    entries.insert(rel, file.clone());
                }
            }
        }
        if entries.is_empty() {
            return Ok(refused(
                RSYNC_PARTIAL,
                format!("rsync: [sender] change_dir \"{src_dir}\" failed: No such file or directory (2)\n"),
            ));
        }
        let target = |rel: &str| if dst_dir.is_empty() { rel.to_string() } else { format!("{dst_dir}/{rel}") };
        let dest = self.hosts.get(dst_host).map(|h| h.files.clone()).unwrap_or_default();
        let mut report = Report { total_files: entries.len() as u64, ..Report::default() };
        let mut writes = Vec::new();
        for (rel, file) in &entries {
            report.total_bytes += file.size();
            let at = target(rel);
            match dest.get(&at) {
                Some(existing) if existing == file => {}
                existing => {
                    report.files += 1;
                    report.bytes += file.size();
                    report.created += u64::from(existing.is_none());
                    report.changed.push(rel.clone());
                    writes.push((at, file.clone()));
                }
            }
        }
        let mut deletes = Vec::new();
        if transfer.delete {
            let wanted: BTreeSet<String> = entries.keys().map(|rel| target(rel)).collect();
            // Deletion covers what the copy covers: the folder's contents,
            // or the copied folder itself.
            let scope = if contents { format!("{dst_dir}/") } else { format!("{}/", target(&base)) };
            deletes = dest.keys().filter(|p| p.starts_with(&scope) && !wanted.contains(*p)).cloned().collect();
        }
        let mut ran = Ran::default();
        let allowed = transfer.max_delete.map_or(deletes.len(), |n| usize::try_from(n).unwrap_or(usize::MAX));
        if deletes.len() > allowed {
            let skipped = deletes.len() - allowed;
            deletes.truncate(allowed);
            ran.status = RSYNC_MAX_DELETE;
            ran.stderr = format!("Deletions stopped due to --max-delete limit ({skipped} skipped)\nrsync error: the --max-delete limit stopped deletions (code 25)\n");
        }
        let prefix = format!("{dst_dir}/");
        for path in &deletes {
            report.deleted += 1;
            report.changed.push(path.strip_prefix(&prefix).unwrap_or(path).to_string());
        }
        report.sent = report.bytes;
        if !check {
            let host = self.hosts.entry(dst_host.to_string()).or_default();
            for (path, file) in writes {
                host.changed.insert(path.clone(), now);
                host.files.insert(path, file);
            }
            for path in deletes {
                host.changed.insert(path.clone(), now);
                host.files.remove(&path);
            }
        }
        ran.report = report;
        Ok(ran)
    }
}
