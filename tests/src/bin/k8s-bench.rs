//! Benchmark, not a test: the time per get, list and delete done by a
//! runbook (one `hubops run` doing N of each, less the time of a run that
//! only opens the cluster) against the same operation as one `kubectl`
//! command each, both against the test API server of
//! `hubops_tests::kube_api` on a loopback port. Prints a table; asserts
//! nothing.
//!
//! Run by hand:
//!   cargo build -p hubops-tests --bins && target/debug/k8s-bench [N]
//! (`HUBOPS_BIN` overrides the hubops binary, default: `hubops-e2e` next to
//! this one; `KUBECTL` the kubectl binary.)

// A benchmark drives processes; the gate's rule is about hubops itself.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hubops_tests::kube_api::FakeApi;
use serde_json::json;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let hubops = std::env::var_os("HUBOPS_BIN")
        .map_or_else(|| std::env::current_exe().expect("current exe").with_file_name("hubops-e2e"), PathBuf::from);
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let dir = std::env::temp_dir().join(format!("hubops-k8s-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");

    let pods = |prefix: String, ns: &'static str| {
        (0..n).map(move |i| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("{prefix}-{i}"), "namespace": ns, "labels": {"component": "singleuser-server", "bench": if i < 20 { "list" } else { "other" }}}, "status": {"phase": "Running"}})
        })
    };
    // Gets and lists read `bench`; deletes empty `del`, so lists do not
    // wade through the pods that deletes need.
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "del"}}),
    ];
    objects.extend(pods("hub".into(), "bench"));
    for run in 0..RUNS {
        objects.extend(pods(format!("gone-{run}"), "del"));
    }
    objects.extend(pods("kube".into(), "del"));
    let api = FakeApi::start(objects);
    let config = dir.join("kubeconfig");
    std::fs::write(&config, api.kubeconfig(&["bench"])).expect("kubeconfig");
    if std::env::var_os("K8S_BENCH_SERVE").is_some() {
        println!("serving; KUBECONFIG={}", config.display());
        std::thread::sleep(Duration::from_mins(10));
    }

    let script = |body: &'static str| {
        move |run: usize| format!("let c = k8s::cluster(\"bench\");\nlet run = {run};\nfor i in 0..{n} {{ {body} }}\n")
    };
    let time = |make: &dyn Fn(usize) -> String| time_hubops(&hubops, &dir, &config, make);
    let open = time(&script(""));
    let get = time(&script("c.get(\"pod\", \"bench\", `hub-${i}`);"));
    let list = time(&script("c.list(\"pods\", \"bench\", #{ labels: \"component=singleuser-server,bench=list\" });"));
    let delete = time(&script("c.delete(\"pod\", \"del\", `gone-${run}-${i}`);"));
    let per = |t: Duration| t.saturating_sub(open).as_secs_f64() * 1000.0 / n as f64;

    let runs = n.min(20);
    let cache = dir.join("kube-cache");
    let kube = |args: &[String]| {
        let mut cmd = Command::new(&kubectl);
        cmd.arg("--kubeconfig").arg(&config).arg("--cache-dir").arg(&cache).args(args);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let started = Instant::now();
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {kubectl}: {e}"));
        if !out.status.success() {
            eprintln!("kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        started.elapsed()
    };
    let strings = |a: &[&str]| a.iter().map(ToString::to_string).collect::<Vec<_>>();
    // One untimed call fills kubectl's discovery cache, as on a workstation.
    let _warm = kube(&strings(&["get", "pods", "-n", "bench", "-o", "json"]));
    let avg = |f: &dyn Fn(usize) -> Duration| (0..runs).map(f).sum::<Duration>().as_secs_f64() * 1000.0 / runs as f64;
    let k_get = avg(&|i| kube(&strings(&["get", "pod", &format!("hub-{i}"), "-n", "bench", "-o", "json"])));
    let k_list = avg(&|_| {
        kube(&strings(&["get", "pods", "-n", "bench", "-l", "component=singleuser-server,bench=list", "-o", "json"]))
    });
    let k_delete = avg(&|i| kube(&strings(&["delete", "pod", &format!("kube-{i}"), "-n", "del", "--wait=false"])));

    println!("lists select 20 of the {n} pods in namespace `bench`");
    println!("k8s bench: {n} operations per runbook, {runs} kubectl commands each, test API server {}", api.url);
    println!("{:<8} {:>14} {:>14} {:>9}", "op", "hubops ms/op", "kubectl ms/op", "speedup");
    for (op, h, k) in [("get", per(get), k_get), ("list", per(list), k_list), ("delete", per(delete), k_delete)] {
        println!("{op:<8} {h:>14.3} {k:>14.3} {:>8.1}x", k / h.max(0.001));
    }
    println!(
        "(hubops: fastest of {RUNS} runs of {n} calls, less the fastest run that only opens the cluster: {:.1} ms)",
        open.as_secs_f64() * 1000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// How many times each hubops run is repeated.
const RUNS: usize = 5;

/// The fastest of [`RUNS`] runs: process start and scheduling noise only add.
fn time_hubops(hubops: &Path, dir: &Path, config: &Path, make: &dyn Fn(usize) -> String) -> Duration {
    (0..RUNS).map(|run| time_hubops_once(hubops, dir, config, &make(run))).min().unwrap_or_default()
}

fn time_hubops_once(hubops: &Path, dir: &Path, config: &Path, script: &str) -> Duration {
    let path = dir.join("bench.rhai");
    std::fs::write(&path, script).expect("script");
    let started = Instant::now();
    let out = Command::new(hubops)
        .args(["run", "--yes", "-q", "--journal"])
        .arg(dir.join("journal.jsonl"))
        .arg("--kubeconfig")
        .arg(config)
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", hubops.display()));
    let took = started.elapsed();
    assert!(out.status.success(), "hubops failed: {}", String::from_utf8_lossy(&out.stderr));
    took
}
