//! Benchmark (run by hand, not a test): the final home-directory copy of a
//! hub move. 200 user folders of small files, copied once, then 1% of the
//! files changed; the final copy timed three ways from the same starting
//! point:
//!
//! - hubops: `copies::final_pass` (stdlib/homes.rhai) with `parallel` 16,
//!   which finds the changed folders on the source and copies only those,
//!   one rsync per user;
//! - one serial `rsync -a --delete` of the whole tree (the seed's way);
//! - `xargs -P16` running one `rsync -a --delete` per user folder.
//!
//! ```text
//! cargo build --release -p hubops-tests --bins
//! target/release/homes-bench          # 200 users x 50 files; or: homes-bench USERS FILES
//! ```
//!
//! Twice over: with the changed files spread over every user (77 of 200
//! folders touched, the worst case for a pass that skips unchanged users)
//! and made by the 5% of users who worked since the last pass (10
//! folders). Each of those twice again: between two local folders (rsync's
//! local mode: the file-list walk and the transfer only), and in the seed's
//! topology over two real sshd (Debian's openssh-server, started here on
//! 127.0.0.3 and 127.0.0.2 with generated keys): the new server pulls from
//! the old one with its own key, the operator (and hubops) log in to the
//! new one. hubops' time is its whole run (process start, journal) and is
//! also shown minus a baseline run of an empty script. Each way runs 3
//! times; the best is kept. `HUBOPS_BIN` names the hubops binary to time
//! (default: `hubops-e2e` beside this one, the same command line);
//! `HUBOPS_BASELINE_BIN` names another, timed in the same rounds and shown
//! beside it (an earlier build, to see what a change did on a machine
//! whose speed drifts from one run to the next).
//!
//! Beside each time it prints the CPU time the whole machine spent in that
//! run (from /proc/stat; over ssh the rsyncs run under sshd, so only a
//! machine-wide count sees them; run it on an idle machine), and that CPU
//! time divided by the cores: no spreading of the copies over the cores can
//! make a run faster than that.

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

/// What a run took: its wall-clock time, and the CPU time the whole
/// machine spent meanwhile (every process: over ssh the rsyncs are sshd's
/// children, not this one's).
#[derive(Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: Duration,
}

impl Took {
    const NONE: Self = Self { wall: Duration::MAX, cpu: Duration::MAX };

    /// The best of two rounds, wall and CPU each.
    fn min(self, other: Self) -> Self {
        Self { wall: self.wall.min(other.wall), cpu: self.cpu.min(other.cpu) }
    }
}

/// The machine's busy CPU time so far, from /proc/stat (every CPU's user,
/// nice, system, irq, softirq and steal ticks), at `tick` a tick.
fn machine_cpu(tick: Duration) -> Result<Duration, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let line = stat.lines().next().filter(|l| l.starts_with("cpu ")).ok_or("/proc/stat has no `cpu` line")?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).map(|t| t.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|i| ticks.get(*i)).sum();
    // In nanoseconds: a many-core machine passes u32::MAX ticks in days.
    let tick = u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX);
    Ok(Duration::from_nanos(busy.saturating_mul(tick)))
}

/// The length of a /proc/stat tick (`getconf CLK_TCK`, 100 a second on Linux).
fn clock_tick() -> Duration {
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|hz| *hz > 0)
        .unwrap_or(100);
    Duration::from_secs(1) / hz
}

fn timed(tick: Duration, mut f: impl FnMut() -> Result<(), String>) -> Result<Took, String> {
    let cpu = machine_cpu(tick)?;
    let start = Instant::now();
    f()?;
    let wall = start.elapsed();
    Ok(Took { wall, cpu: machine_cpu(tick)?.saturating_sub(cpu) })
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

/// Changes `share` of all the files (rewritten with new content), in the
/// folders of the first `active` users; returns how many files changed and
/// in how many folders.
fn change(
    root: &Path,
    users: usize,
    files: usize,
    active: usize,
    share: f64,
    rng: &mut Rng,
) -> Result<(usize, usize), String> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let count = ((users * files) as f64 * share).ceil() as usize;
    let mut touched = std::collections::BTreeSet::new();
    for _ in 0..count {
        let u = usize::try_from(rng.next() % active.max(1) as u64).unwrap_or(0);
        let f = usize::try_from(rng.next() % files as u64).unwrap_or(0);
        let path = root.join(format!("user{u:03}/notebooks/d{}/f{f}.ipynb", f % 5));
        std::fs::write(&path, format!("changed {}\n", rng.next())).map_err(|e| e.to_string())?;
        touched.insert(u);
    }
    Ok((count, touched.len()))
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
    let baseline = std::env::var("HUBOPS_BASELINE_BIN").ok().map(PathBuf::from);
    let work = Work(std::env::temp_dir().join(format!("homes-bench-{}", std::process::id())));
    std::fs::create_dir_all(work.path()).map_err(|e| e.to_string())?;
    // sshd's stock `MaxStartups 10:30:100` drops some of the 16 logins
    // `xargs -P16` makes at once (it stops at the first ssh exit 255): the
    // per-user baseline needs it raised. hubops shares connections and
    // lives with the stock limits (`homes::a_pass_at_parallel_16_...`).
    let servers = hubops_tests::sshd::Servers::start_with(work.path(), "MaxStartups 100\n");
    println!(
        "{users} users x {files} files of 1-4 KB ({} files); 1% of the files changed; best of {ROUNDS}",
        users * files
    );
    for (name, active) in
        [("spread over every user", users), ("made by the 5% of users who worked since", users.div_ceil(20))]
    {
        let dir = work.path().join(format!("{active}"));
        println!("\n### the changes {name}");
        one(&dir, &hubops, baseline.as_deref(), &servers, users, files, active)?;
    }
    Ok(())
}

/// The three ways timed on a tree of `users` folders, after 1% of the
/// files changed in the first `active` users' folders.
fn one(
    dir: &Path,
    hubops: &Path,
    baseline: Option<&Path>,
    servers: &hubops_tests::sshd::Servers,
    users: usize,
    files: usize,
    active: usize,
) -> Result<(), String> {
    let (src, pristine, dst) = (dir.join("src"), dir.join("pristine"), dir.join("dst"));
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    make_tree(&src, users, files, &mut rng)?;
    run(Command::new("rsync").args(["-a"]).arg(slash(&src)).arg(slash(&pristine)))?;
    // The tree must be older than the pass's `since` (which keeps two
    // seconds of slack): else files written in the last two seconds of
    // `make_tree` count as changed and the final pass copies a varying
    // number of users.
    std::thread::sleep(Duration::from_secs(3));
    // The source's clock before the change, as a pass records it (two
    // seconds of slack, as `copies::summary` keeps).
    let since = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs() - 2;
    std::thread::sleep(Duration::from_secs(3));
    let (changed, touched) = change(&src, users, files, active, 0.01, &mut rng)?;
    println!("{changed} files changed in {touched} of {users} users' folders");

    let local = Ways {
        hubops_trees: (
            format!("homes::tree(\"local\", \"{}\")", src.display()),
            format!("homes::tree(\"local\", \"{}\")", dst.display()),
        ),
        serial: format!("rsync -a --delete {}/ {}/", src.display(), dst.display()),
        per_user: format!(
            "ls {src} | xargs -P16 -I{{}} rsync -a --delete {src}/{{}}/ {dst}/{{}}/",
            src = src.display(),
            dst = dst.display()
        ),
    };
    let setup = Setup { work: dir, hubops, baseline, src: &src, pristine: &pristine, dst: &dst, users, since };
    println!("\n== local folders (rsync's local mode) ==");
    measure(&setup, &local)?;

    // The seed's topology: the new NFS server pulls from the old one over
    // ssh with its own key; hubops (and the operator's shell) log in to the
    // new one. Two real sshd, on 127.0.0.3 (old, the source tree) and
    // 127.0.0.2 (new).
    let login = |key: &Path, port: u16| {
        format!(
            "ssh -o BatchMode=yes -o UserKnownHostsFile={} -i {} -p {port}",
            servers.known_hosts.display(),
            key.display()
        )
    };
    let on_new = format!("{} {}", login(&servers.identity, servers.new.port), servers.new.addr);
    let pull = login(&servers.transfer, servers.old.port);
    let ssh = Ways {
        hubops_trees: (servers.old_tree(&src), servers.new_tree(&dst)),
        serial: format!(
            "{on_new} \"rsync -a --delete -e '{pull}' {old}:{src}/ {dst}/\"",
            old = servers.old.addr,
            src = src.display(),
            dst = dst.display()
        ),
        per_user: format!(
            "ls {src} | xargs -P16 -I{{}} {on_new} \"rsync -a --delete -e '{pull}' {old}:{src}/{{}}/ {dst}/{{}}/\"",
            old = servers.old.addr,
            src = src.display(),
            dst = dst.display()
        ),
    };
    println!("\n== over ssh: the new server pulls from the old one (sshd on 127.0.0.2 and 127.0.0.3) ==");
    measure(&setup, &ssh)?;
    Ok(())
}

/// The three ways of making the final copy, as commands.
struct Ways {
    /// `homes::tree(..)` of the source and the destination.
    hubops_trees: (String, String),
    /// One rsync of the whole tree (a shell line).
    serial: String,
    /// `xargs -P16` running one rsync per user folder (a shell line).
    per_user: String,
}

/// What every measurement shares.
struct Setup<'a> {
    work: &'a Path,
    hubops: &'a Path,
    baseline: Option<&'a Path>,
    src: &'a Path,
    pristine: &'a Path,
    dst: &'a Path,
    users: usize,
    since: u64,
}

fn measure(setup: &Setup<'_>, ways: &Ways) -> Result<(), String> {
    let (from, to) = &ways.hubops_trees;
    let script = setup.work.join("final.rhai");
    std::fs::write(
        &script,
        format!(
            "import \"homes\" as copies;\nlet from = {from};\nlet to = {to};\n\
             let last = #{{ results: [], users: {users}, failed: [], held: [], since: {since} }};\n\
             let f = copies::final_pass(from, to, last, 16, #{{}});\nprint(copies::report(f));\n",
            users = setup.users,
            since = setup.since,
        ),
    )
    .map_err(|e| e.to_string())?;
    let empty = setup.work.join("empty.rhai");
    std::fs::write(&empty, "let x = 1;\n").map_err(|e| e.to_string())?;
    let run_with = |bin: &Path, file: &Path| {
        let mut cmd = Command::new(bin);
        cmd.arg("run").arg(file).arg("--yes").env("HOME", setup.work).env("XDG_STATE_HOME", setup.work.join("state"));
        cmd.env("NO_COLOR", "1");
        cmd
    };
    let hubops_run = |file: &Path| run_with(setup.hubops, file);
    let shell = |line: &str| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(line);
        cmd
    };
    let (src, pristine, dst) = (setup.src, setup.pristine, setup.dst);

    let tick = clock_tick();
    let mut best = [Took::NONE; 4];
    let mut baseline_best = Took::NONE;
    for _ in 0..ROUNDS {
        if let Some(bin) = setup.baseline {
            reset(pristine, dst)?;
            baseline_best = baseline_best.min(timed(tick, || run(&mut run_with(bin, &script)))?);
        }
        best[3] = best[3].min(timed(tick, || run(&mut hubops_run(&empty)))?);
        reset(pristine, dst)?;
        best[0] = best[0].min(timed(tick, || run(&mut hubops_run(&script)))?);
        reset(pristine, dst)?;
        best[1] = best[1].min(timed(tick, || run(&mut shell(&ways.serial)))?);
        reset(pristine, dst)?;
        best[2] = best[2].min(timed(tick, || run(&mut shell(&ways.per_user)))?);
    }
    // Every way leaves dst equal to src: checked once, on the last.
    run(Command::new("diff").arg("-r").arg(src).arg(dst))?;
    reset(pristine, dst)?;
    let out = hubops_run(&script).output().map_err(|e| e.to_string())?;
    println!("hubops: {}", String::from_utf8_lossy(&out.stdout).trim());
    run(Command::new("diff").arg("-r").arg(src).arg(dst))
        .map_err(|e| format!("hubops' final pass left a difference: {e}"))?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let [hub, serial, xargs, base] = best.map(|t| ms(t.wall));
    let [hub_cpu, serial_cpu, xargs_cpu, _] = best.map(|t| ms(t.cpu));
    println!(
        "hubops final pass (parallel 16): {hub:8.0} ms, CPU {hub_cpu:6.0} ms  ({:.0} ms without its {base:.0} ms start)",
        hub - base
    );
    println!("serial rsync -a of the tree:     {serial:8.0} ms, CPU {serial_cpu:6.0} ms");
    println!("xargs -P16 rsync per user:       {xargs:8.0} ms, CPU {xargs_cpu:6.0} ms");
    println!("hubops / xargs:  {:.2}x   hubops / serial: {:.2}x", hub / xargs, hub / serial);
    println!("(minus start)    {:.2}x                    {:.2}x", (hub - base) / xargs, (hub - base) / serial);
    // However the copies are spread over the cores, a run cannot end before
    // the cores have done its CPU work.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    #[allow(clippy::cast_precision_loss)]
    let floor = |cpu: f64| cpu / cores as f64;
    println!(
        "CPU / {cores} cores (no run here can be faster): hubops {:.0} ms, xargs {:.0} ms; hubops' CPU is {:.2}x serial's",
        floor(hub_cpu),
        floor(xargs_cpu),
        hub_cpu / serial_cpu
    );
    if let Some(bin) = setup.baseline {
        let (b, b_cpu) = (ms(baseline_best.wall), ms(baseline_best.cpu));
        println!(
            "baseline {}: {b:8.0} ms, CPU {b_cpu:6.0} ms  (/xargs {:.2}x, /serial {:.2}x)",
            bin.display(),
            b / xargs,
            b / serial
        );
    }
    Ok(())
}
