//! Benchmark (run by hand, not a test): EBS snapshots on moto, N at a time,
//! made by hubops serially, by hubops with `parallel`, by a bash loop of
//! `aws ec2 create-snapshot`, and by a Python boto3 loop. Prints ms per call
//! and the ratios.
//!
//! ```text
//! cargo build -p hubops-tests --bins
//! target/debug/aws-bench            # N = 20 and 200; or: aws-bench 50
//! ```
//!
//! hubops' times are whole runs minus a baseline run that only opens the
//! account and reads once (process start, SDK setup); boto3's are timed
//! inside Python around the loop; the bash loop includes one `aws` process
//! per call, as a shell script would. hubops tags what it creates (its
//! idempotency token and run id), so a boto3 loop sending the same tags is
//! shown too.

// A benchmark starts processes (moto, hubops, aws, python); the effects
// gate's rule is about hubops itself.
#![allow(clippy::disallowed_methods)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Moto(Child, String);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto() -> Result<Moto, String> {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start moto_server (pip install 'moto[server]'): {e}"))?;
    let moto = Moto(child, format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_mins(1);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("moto_server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(moto)
}

fn env<'a>(cmd: &'a mut Command, endpoint: &str) -> &'a mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-west-2")
        .env("AWS_DEFAULT_REGION", "us-west-2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HUBOPS_AWS_ENDPOINT", endpoint)
        .env("NO_COLOR", "1")
}

fn python(endpoint: &str, code: &str, input: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = env(&mut Command::new("python3"), endpoint)
        .args(["-c", code, endpoint])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    child.stdin.take().ok_or("no stdin")?.write_all(input.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err("python failed".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const MAKE_VOLUMES: &str = "
import sys, boto3
ec2 = boto3.client('ec2', endpoint_url=sys.argv[1])
n = int(sys.stdin.read())
print(' '.join(ec2.create_volume(AvailabilityZone='us-west-2a', Size=1)['VolumeId'] for _ in range(n)))
";

const BOTO3_LOOP: &str = "
import sys, time, boto3
ec2 = boto3.client('ec2', endpoint_url=sys.argv[1])
ids = sys.stdin.read().split()
ec2.describe_volumes(VolumeIds=ids[:1])
t = time.perf_counter()
for v in ids:
    ec2.create_snapshot(VolumeId=v, Description='bench')
print((time.perf_counter() - t) * 1000)
";

/// The boto3 loop doing what hubops does per call: the two tags of its
/// idempotency bookkeeping (moto spends measurable time on tags).
const BOTO3_TAGGED: &str = "
import sys, time, boto3
ec2 = boto3.client('ec2', endpoint_url=sys.argv[1])
ids = sys.stdin.read().split()
ec2.describe_volumes(VolumeIds=ids[:1])
t = time.perf_counter()
for i, v in enumerate(ids):
    tags = [{'Key': 'hubops:token', 'Value': 'hubops-%032x' % i}, {'Key': 'hubops:run', 'Value': '20261121T090000Z-bench-0000'}]
    ec2.create_snapshot(VolumeId=v, Description='bench tagged', TagSpecifications=[{'ResourceType': 'snapshot', 'Tags': tags}])
print((time.perf_counter() - t) * 1000)
";

const BOTO3_THREADS: &str = "
import sys, time, boto3
from concurrent.futures import ThreadPoolExecutor
ec2 = boto3.client('ec2', endpoint_url=sys.argv[1])
ids = sys.stdin.read().split()
ec2.describe_volumes(VolumeIds=ids[:1])
t = time.perf_counter()
with ThreadPoolExecutor(16) as pool:
    list(pool.map(lambda v: ec2.create_snapshot(VolumeId=v, Description='bench threads'), ids))
print((time.perf_counter() - t) * 1000)
";

fn timed(mut cmd: Command) -> Result<f64, String> {
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

fn hubops(endpoint: &str, dir: &std::path::Path, name: &str, script: &str) -> Result<f64, String> {
    let bin = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("hubops-e2e");
    let path = dir.join(name);
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    env(&mut cmd, endpoint)
        .args(["run", &path.display().to_string(), "-q", "--journal"])
        .arg(dir.join(format!("{name}.jsonl")));
    timed(cmd)
}

fn round(n: usize) -> Result<(), String> {
    let moto = moto()?;
    let endpoint = &moto.1;
    let dir = std::env::temp_dir().join(format!("hubops-bench-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let ids: Vec<String> =
        python(endpoint, MAKE_VOLUMES, &n.to_string())?.split_whitespace().map(ToString::to_string).collect();
    let array = ids.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ");

    let baseline = hubops(
        endpoint,
        &dir,
        "baseline.rhai",
        &format!("let ec2 = aws::account().ec2();\nlet ids = [{array}];\nec2.volume(ids[0]);\n"),
    )?;
    let serial = hubops(
        endpoint,
        &dir,
        "serial.rhai",
        &format!("let ec2 = aws::account().ec2();\nlet ids = [{array}];\nstep(\"snapshots\", || {{ for id in ids {{ ec2.snapshot(id, #{{ description: \"bench\" }}); }} }});\n"),
    )? - baseline;
    let parallel = hubops(
        endpoint,
        &dir,
        "parallel.rhai",
        &format!("let ec2 = aws::account().ec2();\nlet ids = [{array}];\nstep(\"snapshots\", || parallel(ids, 16, |id| ec2.snapshot(id, #{{ description: \"bench 2\" }})));\n"),
    )? - baseline;
    let boto3: f64 = python(endpoint, BOTO3_LOOP, &ids.join(" "))?.trim().parse().map_err(|e| format!("{e}"))?;
    let boto3_tagged: f64 =
        python(endpoint, BOTO3_TAGGED, &ids.join(" "))?.trim().parse().map_err(|e| format!("{e}"))?;
    let boto3_threads: f64 =
        python(endpoint, BOTO3_THREADS, &ids.join(" "))?.trim().parse().map_err(|e| format!("{e}"))?;
    let mut bash = Command::new("bash");
    env(&mut bash, endpoint).args([
        "-c",
        &format!(
            "for v in {}; do aws --endpoint-url {endpoint} ec2 create-snapshot --volume-id $v --description bench >/dev/null || exit 1; done",
            ids.join(" ")
        ),
    ]);
    let bash = timed(bash)?;

    let per = |total: f64| total / n as f64;
    println!("N = {n} snapshots on moto ({endpoint})");
    println!("  {:<28} {:>9} {:>11} {:>12}", "", "total ms", "ms per call", "vs boto3");
    for (what, total) in [
        ("hubops serial", serial),
        ("hubops parallel (16)", parallel),
        ("python boto3 loop", boto3),
        ("python boto3 loop, same tags", boto3_tagged),
        ("python boto3, 16 threads", boto3_threads),
        ("bash loop of aws cli", bash),
    ] {
        println!("  {what:<28} {total:>9.0} {:>11.2} {:>11.2}x", per(total), total / boto3);
    }
    println!("  hubops startup (baseline run, subtracted above): {baseline:.0} ms");
    println!(
        "  parallel speed-up over serial: hubops {:.2}x, boto3 {:.2}x (moto's ceiling)",
        serial / parallel,
        boto3 / boto3_threads
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() -> std::process::ExitCode {
    let sizes: Vec<usize> = match std::env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(n)) => vec![n],
        Some(Err(e)) => {
            eprintln!("usage: aws-bench [N]: {e}");
            return std::process::ExitCode::from(2);
        }
        None => vec![20, 200],
    };
    for n in sizes {
        if let Err(e) = round(n) {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}
