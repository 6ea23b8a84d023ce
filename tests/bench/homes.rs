//! Benchmark (run by hand, not a test): the final home-directory copy of a
//! hub move. 200 user folders of small files, copied once, then 1% of the
//! files changed (spread over the users, as a day of work leaves them);
//! the final copy timed three ways from the same starting point:
//!
//! - hubops: `copies::final_pass` (stdlib/homes.rhai) with `parallel` 16,
//!   which finds the changed folders on the source and copies only those,
//!   one rsync per user;
//! - one serial `rsync -a --delete` of the whole tree (the seed's way);
//! - `xargs -P16` running one `rsync -a --delete` per user folder.
//!
//! ```text
//! cargo build -p hubops-tests --bins
//! target/debug/homes-bench            # 200 users x 50 files; or: homes-bench USERS FILES
//! ```
//!
//! All three copy between two local folders (rsync's local mode, no sshd):
//! the work measured is rsync's file-list walk and transfer, the same on
//! both ends of an ssh pull. hubops' time is its whole run (process start,
//! journal) and is also shown minus a baseline run of an empty script.
//! Each way runs 3 times; the best is kept. `HUBOPS_BIN` names the hubops
//! binary to time (default: `hubops-e2e` beside this one; a release build
//! of `hubops` is the fair one).

// A benchmark starts processes (hubops, rsync, xargs) and writes its trees;
// the effects gate's rule is about hubops itself.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ROUNDS: usize = 3;

/// A small deterministic generator, so every run changes the same files.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

fn timed(mut f: impl FnMut() -> Result<(), String>) -> Result<Duration, String> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

/// The users' folders: `users` folders of `files` files of 1-4 KB each.
fn make_tree(root: &Path, users: usize, files: usize, rng: &mut Rng) -> Result<(), String> {
    for u in 0..users {
        for f in 0..files {
            let dir = root.join(format!("user{u:03}/notebooks/d{}", f % 5));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let size = 1024 + usize::try_from(rng.next() % 3072).unwrap_or(0);
            let body: Vec<u8> = (0..size).map(|i| b'a' + u8::try_from((i + u + f) % 26).unwrap_or(0)).collect();
            std::fs::write(dir.join(format!("f{f}.ipynb")), body).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Changes `share` of the files (rewritten with new content).
fn change(root: &Path, users: usize, files: usize, share: f64, rng: &mut Rng) -> Result<usize, String> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let count = ((users * files) as f64 * share).ceil() as usize;
    for _ in 0..count {
        let u = usize::try_from(rng.next() % users as u64).unwrap_or(0);
        let f = usize::try_from(rng.next() % files as u64).unwrap_or(0);
        let path = root.join(format!("user{u:03}/notebooks/d{}/f{f}.ipynb", f % 5));
        std::fs::write(&path, format!("changed {}\n", rng.next())).map_err(|e| e.to_string())?;
    }
    Ok(count)
}

/// `dst` made again as it was before the change (from `pristine`).
fn reset(pristine: &Path, dst: &Path) -> Result<(), String> {
    run(Command::new("rsync").args(["-a", "--delete"]).arg(slash(pristine)).arg(slash(dst)))
}

fn slash(p: &Path) -> String {
    format!("{}/", p.display())
}

/// The benchmark's folder, removed at the end.
struct Work(PathBuf);

impl Work {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    if let Err(e) = bench() {
        eprintln!("homes-bench: {e}");
        std::process::exit(1);
    }
}

fn bench() -> Result<(), String> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let users = args.first().copied().unwrap_or(200);
    let files = args.get(1).copied().unwrap_or(50);
    let beside = || std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("hubops-e2e")));
    let hubops = std::env::var("HUBOPS_BIN").map_or_else(|_| beside().unwrap_or_default(), PathBuf::from);
    let work = Work(std::env::temp_dir().join(format!("homes-bench-{}", std::process::id())));
    std::fs::create_dir_all(work.path()).map_err(|e| e.to_string())?;
    let (src, pristine, dst) = (work.path().join("src"), work.path().join("pristine"), work.path().join("dst"));
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    make_tree(&src, users, files, &mut rng)?;
    run(Command::new("rsync").args(["-a"]).arg(slash(&src)).arg(slash(&pristine)))?;
    // The source's clock before the change, as a pass records it (two
    // seconds of slack, as `copies::summary` keeps).
    let since = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs() - 2;
    std::thread::sleep(Duration::from_secs(3));
    let changed = change(&src, users, files, 0.01, &mut rng)?;
    println!("{users} users x {files} files ({} files), {changed} changed (1%); best of {ROUNDS}", users * files);

    let script = work.path().join("final.rhai");
    std::fs::write(
        &script,
        format!(
            "import \"homes\" as copies;\nlet from = homes::tree(\"local\", \"{}\");\nlet to = homes::tree(\"local\", \"{}\");\n\
             let last = #{{ results: [], users: {users}, failed: [], held: [], since: {since} }};\n\
             let f = copies::final_pass(from, to, last, 16, #{{}});\nprint(copies::report(f));\n",
            src.display(),
            dst.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let empty = work.path().join("empty.rhai");
    std::fs::write(&empty, "let x = 1;\n").map_err(|e| e.to_string())?;
    let hubops_run = |file: &Path| {
        let mut cmd = Command::new(&hubops);
        cmd.arg("run").arg(file).arg("--yes").env("HOME", work.path()).env("XDG_STATE_HOME", work.path().join("state"));
        cmd.env("NO_COLOR", "1");
        cmd
    };

    let mut best = [Duration::MAX; 4];
    for _ in 0..ROUNDS {
        best[3] = best[3].min(timed(|| run(&mut hubops_run(&empty)))?);
        reset(&pristine, &dst)?;
        best[0] = best[0].min(timed(|| run(&mut hubops_run(&script)))?);
        reset(&pristine, &dst)?;
        best[1] = best[1]
            .min(timed(|| run(Command::new("rsync").args(["-a", "--delete"]).arg(slash(&src)).arg(slash(&dst))))?);
        reset(&pristine, &dst)?;
        let per_user = format!(
            "ls {src} | xargs -P16 -I{{}} rsync -a --delete {src}/{{}}/ {dst}/{{}}/",
            src = src.display(),
            dst = dst.display()
        );
        best[2] = best[2].min(timed(|| run(Command::new("sh").arg("-c").arg(&per_user)))?);
    }
    // Every way leaves dst equal to src: checked once, on the last.
    run(Command::new("diff").arg("-r").arg(&src).arg(&dst))?;
    reset(&pristine, &dst)?;
    let out = hubops_run(&script).output().map_err(|e| e.to_string())?;
    println!("hubops: {}", String::from_utf8_lossy(&out.stdout).trim());
    run(Command::new("diff").arg("-r").arg(&src).arg(&dst))
        .map_err(|e| format!("hubops' final pass left a difference: {e}"))?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let [hub, serial, xargs, base] = best.map(ms);
    println!("hubops final pass (parallel 16): {hub:8.0} ms  ({:.0} ms without its {base:.0} ms start)", hub - base);
    println!("serial rsync -a of the tree:     {serial:8.0} ms");
    println!("xargs -P16 rsync per user:       {xargs:8.0} ms");
    println!("hubops / xargs:  {:.2}x   hubops / serial: {:.2}x", hub / xargs, hub / serial);
    println!("(minus start)    {:.2}x                    {:.2}x", (hub - base) / xargs, (hub - base) / serial);
    Ok(())
}
