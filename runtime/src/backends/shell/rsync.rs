//! `rsync`: the argv hubops runs, and what rsync's `--stats` and
//! `--itemize-changes` output says was (or, with `--dry-run`, would be)
//! moved. Pure functions; running it is [`Shell::rsync`](super::Shell::rsync)'s
//! job, which adds `--dry-run` itself under `Permit::Check`.

use std::fmt::Write as _;
use std::time::Duration;

use super::process::Invocation;

/// At most this many changed paths are kept in a report.
const MAX_CHANGED: usize = 1000;

/// What a caller asks of rsync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Source: a local path or `[user@]host:path`.
    pub src: String,
    /// Destination, the same forms.
    pub dst: String,
    /// Delete files at the destination that the source does not have.
    pub delete: bool,
    /// The remote shell to use, already built (`ssh -o BatchMode=yes ...`).
    pub ssh: Option<Vec<String>>,
    /// `--bwlimit` as rsync reads it: KiB/s, or with a unit (`10M`).
    pub bwlimit: Option<String>,
    /// The runbook asked only to see what would move (`dry_run: true`),
    /// even when the run applies: rsync gets `--dry-run` whatever the
    /// permit. The run's own mode is never here: it travels in the permit.
    pub preview: bool,
    /// With `delete`: delete at most this many files (`--max-delete`);
    /// `Some(0)`: none, only count them. rsync then exits 25 and says how
    /// many it skipped ([`skipped_deletions`]).
    pub max_delete: Option<u64>,
    /// More options, passed as they are before the paths (`--numeric-ids`,
    /// `--partial`, `--timeout=600`): they change how rsync works, not what
    /// ends up at the destination.
    pub extra: Vec<String>,
}

impl Transfer {
    /// The same transfer, only reported: what a check runs.
    #[must_use]
    pub fn previewed(&self) -> Self {
        Self { preview: true, ..self.clone() }
    }

    /// The `rsync` process for this transfer.
    #[must_use]
    pub fn invocation(&self, timeout: Duration) -> Invocation {
        Invocation::new("rsync", args(self), timeout)
    }
}

/// What rsync reported (recorded in the journal, so a resume hands it back).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Regular files transferred (or that would be).
    pub files: u64,
    /// Bytes of the files transferred (`Total transferred file size`).
    pub bytes: u64,
    /// Files created at the destination.
    pub created: u64,
    /// Files deleted at the destination.
    pub deleted: u64,
    /// Files (of every type) rsync looked at.
    pub total_files: u64,
    /// Bytes of all the source's files.
    pub total_bytes: u64,
    /// Bytes rsync sent over the wire (with protocol overhead).
    pub sent: u64,
    /// Bytes rsync received over the wire.
    pub received: u64,
    /// The paths rsync itemized (changed, created or deleted) but the
    /// destination folder itself, at most 1000.
    pub changed: Vec<String>,
}

/// The arguments of an `rsync` run (the program is `rsync`).
#[must_use]
pub fn args(sync: &Transfer) -> Vec<String> {
    // -a: what operators use for home directories; -s: remote paths are not
    // split or expanded by the remote shell; plain numbers for parsing.
    let mut args: Vec<String> =
        ["--archive", "--protect-args", "--stats", "--itemize-changes", "--no-human-readable"].map(String::from).into();
    if sync.delete {
        args.push("--delete".into());
        match sync.max_delete {
            // rsync 3.1+ reads 0 as "none", older ones as "unlimited"; -1
            // is "none" to both.
            Some(0) => args.push("--max-delete=-1".into()),
            Some(n) => args.push(format!("--max-delete={n}")),
            None => {}
        }
    }
    args.extend(sync.extra.iter().cloned());
    if let Some(limit) = &sync.bwlimit {
        args.push(format!("--bwlimit={limit}"));
    }
    if let Some(ssh) = &sync.ssh {
        args.push("--rsh".into());
        args.push(rsh(ssh));
    }
    if sync.preview {
        args.push("--dry-run".into());
    }
    args.push("--".into());
    args.push(sync.src.clone());
    args.push(sync.dst.clone());
    args
}

/// The `--rsh` value: rsync splits it on spaces itself, honouring single
/// quotes, so words with spaces are single-quoted. Words holding a single
/// quote are refused by [`valid_word`] before they get here.
fn rsh(words: &[String]) -> String {
    words
        .iter()
        .map(|w| if w.contains(char::is_whitespace) { format!("'{w}'") } else { w.clone() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a word can travel in `--rsh` (rsync's own splitting has no
/// escape for a single quote).
#[must_use]
pub fn valid_word(word: &str) -> bool {
    !word.contains(['\'', '"', '\\', '\n', '\0'])
}

/// A `--bwlimit` value: a number of KiB/s, optionally with a unit.
#[must_use]
pub fn valid_bwlimit(limit: &str) -> bool {
    let digits = limit.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', 'b', 'B', 'i']);
    !digits.is_empty() && digits.len() + 3 >= limit.len() && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Reads rsync's `--stats` and `--itemize-changes` output.
#[must_use]
pub fn parse(stdout: &str) -> Report {
    let mut report = Report::default();
    for line in stdout.lines() {
        if let Some((label, value)) = line.split_once(": ") {
            let number = leading_number(value);
            match label {
                "Number of files" => report.total_files = number,
                "Number of created files" => report.created = number,
                "Number of deleted files" => report.deleted = number,
                // rsync before 3.1 said "Number of files transferred".
                "Number of regular files transferred" | "Number of files transferred" => report.files = number,
                "Total file size" => report.total_bytes = number,
                "Total transferred file size" => report.bytes = number,
                "Total bytes sent" => report.sent = number,
                "Total bytes received" => report.received = number,
                _ => {}
            }
            continue;
        }
        // `./` is the destination folder itself (its times changed):
        // true but not news, and it comes and goes with timing.
        if let Some(path) = itemized_path(line).filter(|p| *p != "./") {
            if report.changed.len() < MAX_CHANGED {
                report.changed.push(path.to_string());
            }
        }
    }
    report
}

/// How many deletions `--max-delete` held back, from rsync's stderr
/// (`Deletions stopped due to --max-delete limit (3 skipped)`).
#[must_use]
pub fn skipped_deletions(stderr: &str) -> Option<u64> {
    let line = stderr.lines().find(|l| l.contains("--max-delete limit"))?;
    let (_, rest) = line.rsplit_once('(')?;
    rest.split_whitespace().next()?.parse().ok()
}

/// `>f+++++++++ path` or `*deleting   path` -> `path`.
fn itemized_path(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix("*deleting") {
        return Some(rest.trim_start());
    }
    let (flags, path) = line.split_at_checked(11)?;
    let path = path.strip_prefix(' ')?;
    let mut chars = flags.chars();
    let update = chars.next()?;
    let kind = chars.next()?;
    let known = "<>ch.".contains(update) && "fdLDS".contains(kind);
    (known && !path.is_empty()).then_some(path)
}

/// `5,006 bytes` -> 5006 (separators dropped, whatever the locale).
fn leading_number(text: &str) -> u64 {
    let token = text.split_whitespace().next().unwrap_or_default();
    let digits: String = token.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

impl Report {
    /// `2 files, 5006 bytes (1 deleted)` for status lines.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} file{}, {} byte{}",
            self.files,
            if self.files == 1 { "" } else { "s" },
            self.bytes,
            if self.bytes == 1 { "" } else { "s" }
        );
        if self.deleted > 0 {
            let _ = write!(text, ", {} deleted", self.deleted);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = ">f+++++++++ x.txt
cd+++++++++ sub/
>f+++++++++ sub/y.bin

Number of files: 4 (reg: 2, dir: 2)
Number of created files: 3 (reg: 2, dir: 1)
Number of deleted files: 0
Number of regular files transferred: 2
Total file size: 5,006 bytes
Total transferred file size: 5,006 bytes
Literal data: 5,006 bytes
Matched data: 0 bytes
File list size: 0
Total bytes sent: 5,227
Total bytes received: 62

sent 5,227 bytes  received 62 bytes  10,578.00 bytes/sec
total size is 5,006  speedup is 0.95
";

    #[test]
    fn reads_stats_and_itemized_paths() {
        let r = parse(FIRST);
        assert_eq!(
            r,
            Report {
                files: 2,
                bytes: 5006,
                created: 3,
                deleted: 0,
                total_files: 4,
                total_bytes: 5006,
                sent: 5227,
                received: 62,
                changed: vec!["x.txt".into(), "sub/".into(), "sub/y.bin".into()],
            }
        );
        assert_eq!(r.summary(), "2 files, 5006 bytes");
    }

    #[test]
    fn reads_deletions_and_old_labels() {
        let r = parse("*deleting   old file.txt\n.d..t...... ./\nNumber of files transferred: 1\nNumber of deleted files: 1 (reg: 1)\n");
        assert_eq!(r.changed, ["old file.txt"]);
        assert_eq!((r.files, r.deleted), (1, 1));
        assert_eq!(r.summary(), "1 file, 0 bytes, 1 deleted");
    }

    #[test]
    fn builds_argv_without_a_shell() {
        let sync = Transfer {
            src: "ubuntu@old:/export/home-01/homes/hub/".into(),
            dst: "/export/home-01/homes/hub/".into(),
            delete: true,
            ssh: Some(vec!["ssh".into(), "-o".into(), "BatchMode=yes".into(), "-i".into(), "/keys/my key".into()]),
            bwlimit: Some("10M".into()),
            preview: true,
            max_delete: Some(0),
            extra: vec!["--numeric-ids".into()],
        };
        assert_eq!(
            args(&sync),
            [
                "--archive",
                "--protect-args",
                "--stats",
                "--itemize-changes",
                "--no-human-readable",
                "--delete",
                "--max-delete=-1",
                "--numeric-ids",
                "--bwlimit=10M",
                "--rsh",
                "ssh -o BatchMode=yes -i '/keys/my key'",
                "--dry-run",
                "--",
                "ubuntu@old:/export/home-01/homes/hub/",
                "/export/home-01/homes/hub/",
            ]
        );
    }

    #[test]
    fn checks_bwlimits_and_rsh_words() {
        for ok in ["1000", "10M", "1.5m", "512k"] {
            assert!(valid_bwlimit(ok), "{ok}");
        }
        for bad in ["", "fast", "10 M", "-1", "M"] {
            assert!(!valid_bwlimit(bad), "{bad}");
        }
        assert!(valid_word("/keys/my key"));
        assert!(!valid_word("it's"));
    }

    #[test]
    fn reads_how_many_deletions_were_held_back() {
        let stderr = "Deletions stopped due to --max-delete limit (2 skipped)\nrsync error: the --max-delete limit stopped deletions (code 25) at main.c(1394) [sender=3.5.0]\n";
        assert_eq!(skipped_deletions(stderr), Some(2));
        assert_eq!(skipped_deletions("rsync error: some files vanished"), None);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,300}") {
            let _ = parse(&text);
        }
    }
}
