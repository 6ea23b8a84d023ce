//! The DNS bindings against real DNS servers: two authoritative servers of
//! `example.test` (hickory-server, in this test process) on 127.0.0.2 and
//! 127.0.0.3, the first also acting as the resolver hubops is pointed at.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use hickory_server::Server;

use crate::support::Test;

/// Two authoritative servers of `example.test` with `hub` -> `blue.lb.test`
/// (also used by the capture tests).
pub(crate) struct Site {
    pub(crate) port: u16,
    zones: Vec<Arc<InMemoryZoneHandler>>,
    runtime: tokio::runtime::Runtime,
}

fn name(text: &str) -> Name {
    Name::from_str(text).expect("name")
}

impl Site {
    pub(crate) fn start() -> Self {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        // One port free on both loopback addresses.
        let (port, sockets) = runtime.block_on(async {
            loop {
                let first = tokio::net::UdpSocket::bind("127.0.0.2:0").await.expect("bind 127.0.0.2");
                let port = first.local_addr().expect("addr").port();
                if let Ok(second) = tokio::net::UdpSocket::bind(("127.0.0.3", port)).await {
                    return (port, [first, second]);
                }
            }
        });
        let mut zones = Vec::new();
        for socket in sockets {
            let zone = Arc::new(Self::zone());
            let mut catalog = Catalog::new();
            catalog.upsert(LowerName::from(name("example.test.")), vec![zone.clone() as Arc<dyn ZoneHandler>]);
            zones.push(zone);
            runtime.spawn(async move {
                let mut server = Server::new(catalog);
                server.register_socket(socket);
                let _ = server.block_until_done().await;
            });
        }
        Self { port, zones, runtime }
    }

    fn zone() -> InMemoryZoneHandler {
        let mut zone = InMemoryZoneHandler::empty(name("example.test."), ZoneType::Primary, AxfrPolicy::Deny);
        let origin = name("example.test.");
        let records = [
            Record::from_rdata(
                origin.clone(),
                300,
                RData::SOA(SOA::new(name("ns1.example.test."), name("admin.example.test."), 1, 3600, 600, 86400, 60)),
            ),
            Record::from_rdata(origin.clone(), 300, RData::NS(NS(name("ns1.example.test.")))),
            Record::from_rdata(origin, 300, RData::NS(NS(name("ns2.example.test.")))),
            Record::from_rdata(name("ns1.example.test."), 300, RData::A(A(Ipv4Addr::new(127, 0, 0, 2)))),
            Record::from_rdata(name("ns2.example.test."), 300, RData::A(A(Ipv4Addr::new(127, 0, 0, 3)))),
            Record::from_rdata(name("hub.example.test."), 60, RData::CNAME(CNAME(name("blue.lb.test.")))),
        ];
        for record in records {
            zone.upsert_mut(record, 1);
        }
        zone
    }

    /// Points `hub` at `target` on one server only.
    fn point_hub(&self, server: usize, target: &str) {
        let record = Record::from_rdata(name("hub.example.test."), 60, RData::CNAME(CNAME(name(target))));
        self.runtime.block_on(self.zones[server].upsert(record, 2));
    }

    pub(crate) fn test(&self) -> Test {
        Test::new()
            .env("HUBOPS_RESOLVER", &SocketAddr::from(([127, 0, 0, 2], self.port)).to_string())
            .env("HUBOPS_DNS_PORT", &self.port.to_string())
    }
}

#[test]
fn resolve_query_and_nameservers_read_real_servers() {
    let site = Site::start();
    let script = r#"
let r = dns::resolve("hub.example.test", "CNAME");
print(`${r.values} ttl=${r.ttl}`);
print(dns::zone_of("hub.example.test"));
print(dns::nameservers("example.test").map(|n| `${n.host}=${n.addrs[0]}`));
let q = dns::query("hub.example.test", "CNAME", "127.0.0.3:" + PORT);
print(`${q.authoritative} ${q.values}`);
"#;
    let (done, _dir) = site
        .test()
        .file("d.rhai", &script.replace("PORT", &format!("\"{}\"", site.port)))
        .args(&["run", "d.rhai", "-q"])
        .run();
    done.status(0);
    let p = site.port;
    assert_eq!(
        done.stdout,
        format!("[\"blue.lb.test\"] ttl=60\nexample.test\n[\"ns1.example.test=127.0.0.2:{p}\", \"ns2.example.test=127.0.0.3:{p}\"]\ntrue [\"blue.lb.test\"]\n")
    );
}

#[test]
fn wait_for_needs_every_authoritative_server_to_agree() {
    let site = Site::start();
    // The change reaches ns1 at once and ns2 a little later.
    site.point_hub(0, "green.lb.test.");
    let t = site
        .test()
        .file("w.rhai", "let r = dns::wait_for(\"hub.example.test\", \"green.lb.test\", #{ every: \"1s\", timeout: \"60s\" });\nprint(r.servers.map(|s| s.agree));\n")
        .args(&["run", "w.rhai", "-v", "--journal", "j.jsonl"]);
    let journal = t.path("j.jsonl");
    let child =
        t.command().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    // Let hubops see one server agree and the other not, then finish the change.
    for _ in 0..100 {
        if std::fs::read_to_string(&journal).unwrap_or_default().contains("run_start") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    site.point_hub(1, "green.lb.test.");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[true, true]\n");
    assert!(stderr.contains("Waiting hub.example.test CNAME -> green.lb.test: 1/2 servers agree"), "{stderr}");
    assert!(stderr.contains("ns2.example.test answers blue.lb.test, cached for up to 60s"), "{stderr}");
    // The end of the wait is the run's one `Waited` line (it was a last
    // "Waiting ...: 2/2 servers agree" before the wait path was shared).
    let waited = stderr.lines().find(|l| l.trim_start().starts_with("Waited ")).unwrap_or_default();
    assert!(waited.ends_with(" for hub.example.test CNAME -> green.lb.test"), "{stderr}");
    assert_eq!(stderr.matches("1/2 servers agree").count(), 1, "progress shows once per change: {stderr}");
    drop(t);
}

#[test]
fn wait_for_times_out_naming_the_servers_that_disagree() {
    let site = Site::start();
    site.point_hub(0, "green.lb.test.");
    let (done, _dir) = site
        .test()
        .file(
            "w.rhai",
            "dns::wait_for(\"hub.example.test\", \"green.lb.test\", #{ every: \"1s\", timeout: \"2s\" });\n",
        )
        .args(&["run", "w.rhai"])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("error: hub.example.test CNAME -> green.lb.test not answered by every server after 2s: ns2.example.test answers blue.lb.test, cached for up to 60s"),
        "{}",
        done.stderr
    );
}

#[test]
fn dry_run_checks_once_and_reports_would_wait() {
    let site = Site::start();
    let (done, _dir) = site
        .test()
        .file("w.rhai", "let r = dns::wait_for(\"hub.example.test\", \"green.lb.test\");\nprint(r.would_wait);\n")
        .args(&["run", "w.rhai", "--dry-run"])
        .run();
    done.status(0).stdout("true\n");
    assert!(
        done.stderr.contains("Would wait for hub.example.test CNAME -> green.lb.test (0/2 servers agree now)"),
        "{}",
        done.stderr
    );
    // Already there: a dry run's look is real, so it does not wait either.
    let (done, _dir) = site
        .test()
        .file("w.rhai", "let r = dns::wait_for(\"hub.example.test\", \"blue.lb.test\");\nprint(`${r.would_wait} ${r.servers.map(|s| s.agree)}`);\n")
        .args(&["run", "w.rhai", "--dry-run"])
        .run();
    done.status(0).stdout("false [true, true]\n");
    assert!(!done.stderr.contains("Would wait"), "{}", done.stderr);
}

/// `hub.example.org` moved from blue to green at the world's start; the
/// change reaches ns1 after 20s and ns2 after 2m.
const MOVED: &str = "name: moved
start: 2026-11-21T06:00:00Z
aws:
  accounts:
    site:
      zones:
        - id: Z1
          name: example.org
          records:
            - { name: hub.example.org, type: CNAME, ttl: 60, values: [green.lb.example.net] }
          changes:
            - change: C1
              at: 2026-11-21T06:00:00Z
              name: hub.example.org.
              type: CNAME
              before: { name: hub.example.org., type: CNAME, ttl: 60, values: [blue.lb.example.net] }
              after: { name: hub.example.org., type: CNAME, ttl: 60, values: [green.lb.example.net] }
dns:
  zones:
    example.org:
      nameservers:
        - { host: ns1.example.net, delay: 20s }
        - { host: ns2.example.net, delay: 2m }
";

const WAIT: &str = "let r = dns::wait_for(\"hub.example.org\", \"green.lb.example.net\", #{ every: \"10s\" });\nprint(`${r.would_wait} ${r.waited} ${r.servers.map(|s| s.agree)}`);\n";

#[test]
fn a_rehearsal_waits_for_each_name_server_in_virtual_time() {
    let started = std::time::Instant::now();
    let (done, _dir) = Test::new()
        .file("moved.yaml", MOVED)
        .file("w.rhai", WAIT)
        .args(&["run", "w.rhai", "--world", "moved.yaml", "--journal", "j.jsonl"])
        .run();
    done.status(0).stdout("false 2m [true, true]\n");
    assert!(started.elapsed() < Duration::from_secs(30), "two virtual minutes took no wall time");
    let waiting: Vec<&str> = done.stderr.lines().map(str::trim).filter(|l| l.starts_with("Waiting")).collect();
    assert_eq!(
        waiting,
        [
            "Waiting hub.example.org CNAME -> green.lb.example.net: 0/2 servers agree",
            "Waiting hub.example.org CNAME -> green.lb.example.net: 1/2 servers agree",
        ],
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("Waited 2m for hub.example.org CNAME -> green.lb.example.net (virtual time)"),
        "{}",
        done.stderr
    );
    let waits: Vec<(String, u64, String)> = done
        .journal("j.jsonl")
        .into_iter()
        .filter_map(|e| match e {
            hubops::journal::Event::Wait { what, duration_ms, outcome, .. } => Some((what, duration_ms, outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(waits, [("dns hub.example.org CNAME -> green.lb.example.net".to_string(), 120_000, "done".to_string())]);
}

#[test]
fn a_dry_run_on_a_world_looks_once_and_leaves_the_world_and_its_clock_alone() {
    let (done, dir) = Test::new()
        .file("moved.yaml", MOVED)
        .file("w.rhai", WAIT)
        .args(&[
            "run",
            "w.rhai",
            "--world",
            "moved.yaml",
            "--dry-run",
            "--journal",
            "j.jsonl",
            "--save-world",
            "after.yaml",
        ])
        .run();
    done.status(0).stdout("true 0ms [false, false]\n");
    assert!(
        done.stderr.contains("Would wait for hub.example.org CNAME -> green.lb.example.net (0/2 servers agree now)"),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("Waiting"), "{}", done.stderr);
    let events = done.journal("j.jsonl");
    assert!(events
        .iter()
        .any(|e| matches!(e, hubops::journal::Event::Wait { outcome, duration_ms: 0, .. } if outcome == "would_wait")));
    let Some(hubops::journal::Event::RunEnd { clock, .. }) = events.last() else { panic!("no run_end") };
    assert_eq!(clock, "2026-11-21T06:00:00Z", "no virtual time passed");
    // Saved as a run that does nothing saves it.
    let (done, untouched) = Test::new()
        .file("moved.yaml", MOVED)
        .file("n.rhai", "print(1);\n")
        .args(&["run", "n.rhai", "--world", "moved.yaml", "--save-world", "after.yaml"])
        .run();
    done.status(0);
    let read = |d: &tempfile::TempDir| crate::support::read(d.path(), "after.yaml");
    assert_eq!(read(&dir), read(&untouched), "the dry run changed the world");
}

#[test]
fn bad_dns_input_is_a_clear_error_with_a_kind() {
    let site = Site::start();
    let script = r#"
for f in [|| dns::resolve("nope.example.test", "A"), || dns::resolve("hub.example.test", "BOGUS"), || dns::query("x.example.test", "A", "not-an-ip"), || dns::nameservers("hub.example.test"), || dns::query("x.test", "A", "127.0.0.9:9")] {
    try { f.call(); } catch (e) { print(`${e.kind}: ${e.message}`); }
}
"#;
    let (done, _dir) = site.test().file("b.rhai", script).args(&["run", "b.rhai", "-q"]).run();
    let resolver = SocketAddr::from(([127, 0, 0, 2], site.port));
    done.status(0).stdout(&(format!("NotFound: `nope.example.test` does not exist (NXDOMAIN from {resolver})\n")
        + "Invalid: `BOGUS` is not a DNS record type (A, AAAA, CNAME, NS, TXT, MX, SOA, ...)\nInvalid: `not-an-ip` is not a server address (ip or ip:port)\nNotFound: `hub.example.test` has no NS records: is it a zone?\nUnreachable: DNS server 127.0.0.9:9 is unreachable: Connection refused (os error 111)\n"));
}
