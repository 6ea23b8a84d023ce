//! Pinned HTTP checks live: `connect_to` sends a request to a given address
//! while TLS (SNI) and `Host` still carry the URL's name, and `from` tells
//! which of two servers behind one name answered. Two loopback servers
//! stand for blue (127.0.0.1) and green (127.0.0.2) on the same port; the
//! public name is `localhost`, which the system resolver answers from
//! /etc/hosts (127.0.0.1): nothing leaves the machine.

use std::net::TcpListener;

use crate::support::Test;
use crate::web::Web;

fn ok(_: &crate::web::Seen, _: usize) -> (u16, String, String) {
    (200, "text/plain".into(), String::new())
}

/// Green on 127.0.0.2 and blue on 127.0.0.1, on one port.
fn blue_and_green(tls: bool) -> (Web, Web, u16) {
    for _ in 0..20 {
        let green = Web::start_at("127.0.0.2:0", tls, ok);
        let port: u16 = green.base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            let blue = Web::start_at(&format!("127.0.0.1:{port}"), tls, ok);
            return (blue, green, port);
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

#[test]
fn a_pinned_request_goes_to_the_address_and_still_names_the_hub() {
    let (_blue, green, port) = blue_and_green(true);
    // hub.example.test is never resolved: both requests are pinned.
    let script = format!(
        "let a = http::get(\"https://hub.example.test:{port}/hub/health\", #{{ connect_to: \"127.0.0.2\", insecure: true }});\n\
         print(`${{a.status}} ${{a.address}}`);\n\
         let b = http::get(\"https://hub.example.test/hub/health\", #{{ connect_to: \"127.0.0.2:{port}\", insecure: true }});\n\
         print(`${{b.status}} ${{b.address}}`);\n"
    );
    let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "-q"]).run();
    done.status(0).stdout(&format!("200 127.0.0.2:{port}\n200 127.0.0.2:{port}\n"));
    let seen = green.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].host, format!("hub.example.test:{port}"));
    assert_eq!(seen[1].host, "hub.example.test");
    for s in &seen {
        assert_eq!(s.sni.as_deref(), Some("hub.example.test"), "TLS names the hub, not the address");
    }
}

#[test]
fn from_fails_while_the_public_name_still_reaches_the_other_server() {
    let (blue, green, port) = blue_and_green(false);
    let url = format!("http://localhost:{port}/hub/health");
    let script = format!(
        "print(http::expect(\"{url}\", 200, #{{ from: \"127.0.0.1\", timeout: \"5s\" }}).address);\n\
         print(http::expect(\"{url}\", 200, #{{ from: \"127.0.0.2\", connect_to: \"127.0.0.2\", timeout: \"5s\" }}).address);\n\
         http::expect(\"{url}\", 200, #{{ from: \"127.0.0.2\", timeout: \"2s\", every: \"1s\" }});\n"
    );
    let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai"]).run();
    done.status(1);
    assert_eq!(done.stdout, format!("127.0.0.1:{port}\n127.0.0.2:{port}\n"));
    assert!(
        done.stderr.contains(&format!(
            "error: `{url}` did not answer 200 from 127.0.0.2 within 2s (last: status 200 from 127.0.0.1:{port}, which is not 127.0.0.2)"
        )),
        "{}",
        done.stderr
    );
    assert!(!blue.seen().is_empty());
    assert_eq!(green.seen().len(), 1, "only the pinned request reached green");
    assert_eq!(green.seen()[0].host, format!("localhost:{port}"));
}

#[test]
fn an_address_that_is_not_one_fails_at_once() {
    let script = "http::get(\"https://hub.example.test/hub/health\", #{ connect_to: \"not an/address\" });\n";
    let (done, _dir) = Test::new().file("t.rhai", script).args(&["run", "t.rhai"]).run();
    done.status(1);
    assert!(
        done.stderr.contains("error: `not an/address` is not an address (host, host:port, IP or [IPv6]:port)"),
        "{}",
        done.stderr
    );
}
