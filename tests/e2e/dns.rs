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

/// Two authoritative servers of `example.test` with `hub` -> `blue.lb.test`.
struct Site {
    port: u16,
    zones: Vec<Arc<InMemoryZoneHandler>>,
    runtime: tokio::runtime::Runtime,
}

fn name(text: &str) -> Name {
    Name::from_str(text).expect("name")
}

impl Site {
    fn start() -> Self {
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

    fn test(&self) -> Test {
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
    assert!(stderr.contains("Waiting hub.example.test CNAME -> green.lb.test: 2/2 servers agree"), "{stderr}");
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
