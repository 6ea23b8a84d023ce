//! The live HTTP path, against a real HTTP server on a loopback port started
//! by the test.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::Test;

/// Serves `/hub/health` (503 for the first `unhealthy` requests, then 200)
/// and a paged users API that wants `Bearer secret-token`. Returns the base
/// URL; the server thread ends with the test process.
fn hub(unhealthy: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let mut auth = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    auth = line.trim().to_string();
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, body) = if path == "/hub/health" {
                if seen.fetch_add(1, Ordering::SeqCst) < unhealthy {
                    (503, String::new())
                } else {
                    (200, String::new())
                }
            } else if path.starts_with("/hub/api/users") {
                if auth != "authorization: Bearer secret-token" && auth != "Authorization: Bearer secret-token" {
                    (403, "{}".into())
                } else if path.contains("offset=0") {
                    (200, r#"{"items":[{"name":"ana","servers":{"":{"ready":true}}}],"_pagination":{"next":{"offset":1,"limit":1}}}"#.into())
                } else {
                    (200, r#"{"items":[{"name":"ben","servers":{}}],"_pagination":{"next":null}}"#.into())
                }
            } else {
                (404, String::new())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

#[test]
fn hub_health_runs_live_against_a_real_http_server() {
    let base = hub(2);
    let (done, _dir) = Test::new()
        .args(&[
            "run",
            "hub-health",
            "--set",
            &format!("hub={base}"),
            "--set",
            "token=secret-token",
            "--set",
            "every=1s",
            "--journal",
            "j.jsonl",
        ])
        .run();
    done.status(0);
    assert!(done.stdout.ends_with("2 users, 1 with running servers: ana\n"), "{}", done.stdout);
    let journal = std::fs::read_to_string(done.dir.join("j.jsonl")).unwrap();
    assert!(!journal.contains("secret-token"));
    assert_eq!(journal.matches("\"outcome\":\"done\"").count(), 2, "two real retries");
}

#[test]
fn a_refused_token_is_a_clear_failure() {
    let base = hub(0);
    let (done, _dir) =
        Test::new().args(&["run", "hub-health", "--set", &format!("hub={base}"), "--set", "token=wrong"]).run();
    done.status(1);
    assert!(
        done.stderr.contains("error: the hub refused the token (403): it needs the list:users scope"),
        "{}",
        done.stderr
    );
}

#[test]
fn an_unreachable_hub_is_reported_with_its_address() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (done, _dir) = Test::new()
        .args(&[
            "run",
            "hub-health",
            "--set",
            &format!("hub=http://127.0.0.1:{port}"),
            "--set",
            "timeout=2s",
            "--set",
            "every=1s",
        ])
        .run();
    done.status(1);
    assert!(
        done.stderr
            .contains(&format!("is not healthy after 2s (last: `http://127.0.0.1:{port}/hub/health` is unreachable")),
        "{}",
        done.stderr
    );
}

#[test]
fn dry_run_reads_are_real_and_waits_are_virtual() {
    let base = hub(3);
    let started = std::time::Instant::now();
    let (done, _dir) = Test::new()
        .args(&["run", "hub-health", "--dry-run", "--set", &format!("hub={base}"), "--set", "every=30s"])
        .run();
    done.status(0);
    assert!(started.elapsed() < std::time::Duration::from_mins(1), "three 30s waits took no wall time");
    assert!(done.stderr.contains("Would wait 30s"), "{}", done.stderr);
    assert!(done.stderr.contains("Plan: no changes"), "{}", done.stderr);
}
