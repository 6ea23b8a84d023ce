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
    assert!(done.stdout.ends_with("2 users, 1 with a running server: ana\n"), "{}", done.stdout);
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

mod more {
    use crate::support::Test;
    use crate::web::Web;

    fn json(status: u16, body: &str) -> (u16, String, String) {
        (status, "application/json".into(), body.into())
    }

    #[test]
    fn tls_to_a_self_signed_server_needs_insecure() {
        let web = Web::start(true, |_, _| json(200, "{\"ok\":true}"));
        let script = format!(
            "try {{ http::get(\"{0}/x\"); }} catch (e) {{ print(e.kind); }}\nprint(http::get(\"{0}/x\", #{{ insecure: true }}).json.ok);\n",
            web.base
        );
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "-q"]).run();
        done.status(0).stdout("Unreachable\ntrue\n");
    }

    #[test]
    fn expect_retries_until_the_status_matches_and_times_out_otherwise() {
        let web = Web::start(false, |_, n| if n < 2 { json(502, "{}") } else { json(200, "{}") });
        let script = format!("let r = http::expect(\"{}/hub/health\", 200, #{{ every: \"200ms\", timeout: \"20s\" }});\nprint(r.status);\n", web.base);
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai"]).run();
        done.status(0).stdout("200\n");
        assert_eq!(web.seen().len(), 3);

        let down = Web::start(false, |_, _| json(503, "{}"));
        let script =
            format!("http::expect(\"{}/hub/health\", 200, #{{ every: \"200ms\", timeout: \"1s\" }});\n", down.base);
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai"]).run();
        done.status(1);
        assert!(
            done.stderr.contains(&format!(
                "error: `{}/hub/health` did not answer 200 within 1s (last: status 503)",
                down.base
            )),
            "{}",
            done.stderr
        );
    }

    #[test]
    fn a_slow_server_times_out_with_a_kind() {
        let web = Web::start(false, |_, _| {
            std::thread::sleep(std::time::Duration::from_secs(3));
            json(200, "{}")
        });
        let script = format!("try {{ http::get(\"{}/slow\", #{{ timeout: \"500ms\" }}); }} catch (e) {{ print(`${{e.kind}}: ${{e.message}}`); }}\n", web.base);
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "-q"]).run();
        done.status(0).stdout(&format!("Timeout: `{}/slow` did not answer within 500ms\n", web.base));
    }

    #[test]
    fn bad_urls_and_non_json_bodies_are_clear_errors() {
        let web = Web::start(false, |_, _| (200, "text/html".into(), "<html>hub</html>".into()));
        let script = format!(
            "for f in [|| http::get(\"hub.example.org/health\"), || http::get(\"ftp://x/y\"), || http::get_json(\"{}/api\", #{{}}), || http::get(\"http://x\", #{{ retries: 3 }})] {{\n  try {{ f.call(); }} catch (e) {{ print(`${{e.kind}}: ${{e.message}}`); }}\n}}\n",
            web.base
        );
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "-q"]).run();
        done.status(0).stdout(&format!(
            "Invalid: `hub.example.org/health` is not a URL: relative URL without a base\nInvalid: `ftp://x/y` is not an http or https URL\nInvalid: `{}/api` did not answer JSON (expected value at line 1 column 1); the body starts: \"<html>hub</html>\"\nInvalid: `http::get` has no option `retries` (options: headers, bearer, timeout, insecure, connect_to)\n",
            web.base
        ));
    }

    #[test]
    fn mutations_pass_the_gate_and_bearer_tokens_never_reach_the_journal() {
        let web = Web::start(false, |_, _| json(204, ""));
        let script = format!(
            "let token = \"tok-\" + \"123456\";\nhttp::delete(\"{0}/mobu/flocks/notebook\", #{{ bearer: token }});\nhttp::post(\"{0}/hub/api/users\", #{{ bearer: token, body: #{{ usernames: [\"ana\"] }} }});\n",
            web.base
        );
        // Dry run: only HEAD checks reach the server; the plan lists both.
        let (done, _dir) =
            Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "--dry-run", "--journal", "j.jsonl"]).run();
        done.status(0);
        let methods: Vec<String> = web.seen().iter().map(|s| s.method.clone()).collect();
        assert_eq!(methods, ["HEAD", "HEAD"]);
        assert!(done.stderr.contains("Plan:\n  http\n   ! delete"), "{}", done.stderr);
        assert!(done.stderr.contains("2 changes (1 destructive); nothing was changed"), "{}", done.stderr);
        // Applied: the requests are sent, with the token, which the journal never shows.
        let (done, _dir) =
            Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "--yes", "--journal", "j.jsonl"]).run();
        done.status(0);
        let seen = web.seen();
        assert_eq!((seen[2].method.as_str(), seen[2].path.as_str()), ("DELETE", "/mobu/flocks/notebook"));
        assert_eq!(seen[2].authorization, "Bearer tok-123456");
        assert_eq!(seen[3].body, "{\"usernames\":[\"ana\"]}");
        let journal = std::fs::read_to_string(done.dir.join("j.jsonl")).unwrap();
        assert!(journal.contains("\"phase\":\"applied\""));
        assert!(!journal.contains("tok-123456"), "{journal}");
    }

    const WRITES: &str = "for f in [|u| http::post(u, #{ body: #{ a: 1 } }), |u| http::put(u, #{ body: \"x\" }), |u| http::patch(u, #{ body: #{ b: 2 } }), |u| http::delete(u, #{})] {\n  let r = f.call(`BASE/things/1`);\n  print(`${r.status} ${r.planned}`);\n}\n";

    #[test]
    fn a_dry_run_of_every_mutating_method_sends_only_heads() {
        let web = Web::start(false, |_, _| json(200, "{}"));
        let script = WRITES.replace("BASE", &web.base);
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "--dry-run"]).run();
        done.status(0).stdout("0 true\n0 true\n0 true\n0 true\n");
        let seen: Vec<(String, String)> = web.seen().iter().map(|s| (s.method.clone(), s.path.clone())).collect();
        assert_eq!(seen, vec![("HEAD".to_string(), "/things/1".to_string()); 4]);
        assert!(web.seen().iter().all(|s| s.body.is_empty()), "a check sends no body");
        assert!(done.stderr.contains("4 changes (1 destructive); nothing was changed"), "{}", done.stderr);
        // Applied, the same script sends the methods themselves.
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "--yes"]).run();
        done.status(0).stdout("200 \n200 \n200 \n200 \n");
        let sent: Vec<(String, String)> = web.seen()[4..].iter().map(|s| (s.method.clone(), s.body.clone())).collect();
        assert_eq!(
            sent,
            [("POST", "{\"a\":1}"), ("PUT", "x"), ("PATCH", "{\"b\":2}"), ("DELETE", "")]
                .map(|(m, b)| (m.to_string(), b.to_string()))
        );
    }

    #[test]
    fn a_malformed_url_fails_at_once_and_reaches_neither_the_gate_nor_the_network() {
        let script = "try { http::post(\"hub.example.org/x\", #{}); } catch (e) { print(`${e.kind} ${e.contains(\"gate\")}: ${e.message}`); }\n";
        let (done, _dir) = Test::new().file("t.rhai", script).args(&["run", "t.rhai", "--dry-run"]).run();
        done.status(0).stdout("Invalid false: `hub.example.org/x` is not a URL: relative URL without a base\n");
        assert!(done.stderr.contains("Plan: no changes"), "{}", done.stderr);
    }

    #[test]
    fn refusals_carry_the_backend_kind_and_the_gate_verdict() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let slow = Web::start(false, |_, _| {
            std::thread::sleep(std::time::Duration::from_secs(3));
            json(200, "{}")
        });
        let script = format!(
            "for u in [\"http://127.0.0.1:{port}/x\", \"{}/slow\"] {{\n  try {{ http::post(u, #{{ timeout: \"500ms\" }}); }} catch (e) {{ print(`${{e.kind}} ${{e.gate}}`); }}\n}}\n",
            slow.base
        );
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "--dry-run"]).run();
        done.status(0).stdout("Unreachable WouldFail\nTimeout WouldFail\n");
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai"]).run();
        done.status(0).stdout("Unreachable Refused\nTimeout Refused\n");
        let methods: Vec<String> = slow.seen().iter().map(|s| s.method.clone()).collect();
        assert_eq!(methods, ["HEAD", "POST"]);
    }

    #[test]
    fn huge_timeouts_are_a_clear_error_not_a_panic() {
        let web = Web::start(false, |_, _| json(200, "{}"));
        let script = format!(
            "for f in [|u| http::get(u, #{{ timeout: 1e20 }}), |u| http::post(u, #{{ timeout: 1e300 }}), |u| http::expect(u, 200, #{{ every: 2e19 }})] {{\n  try {{ f.call(\"{0}/x\"); }} catch (e) {{ print(`${{e.kind}}: ${{e.message}}`); }}\n}}\nhttp::get(\"{0}/x\", #{{ timeout: 1e20 }});\n",
            web.base
        );
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "--journal", "j.jsonl"]).run();
        done.status(1).stdout(
            "Invalid: `timeout` `1e20` is longer than 366 days, the longest duration hubops accepts\nInvalid: `timeout` `1e300` is longer than 366 days, the longest duration hubops accepts\nInvalid: `every` `2e19` is longer than 366 days, the longest duration hubops accepts\n",
        );
        assert!(
            done.stderr
                .contains("error: `timeout` `1e20` is longer than 366 days, the longest duration hubops accepts"),
            "{}",
            done.stderr
        );
        assert!(web.seen().is_empty(), "nothing was sent");
        let events = done.journal("j.jsonl");
        assert!(events.iter().any(|e| matches!(e, hubops::journal::Event::Error { kind, .. } if kind == "Invalid")));
        assert!(matches!(events.last(), Some(hubops::journal::Event::RunEnd { status, .. }) if status == "failed"));
    }

    #[test]
    fn expect_shows_progress_only_when_the_status_changes() {
        let web = Web::start(false, |_, n| match n {
            0..2 => json(502, "{}"),
            2..5 => json(503, "{}"),
            _ => json(200, "{}"),
        });
        let script = format!(
            "let r = http::expect(\"{}/hub/health\", 200, #{{ every: \"100ms\", timeout: \"20s\" }});\nprint(r.status);\n",
            web.base
        );
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai", "--journal", "j.jsonl"]).run();
        done.status(0).stdout("200\n");
        assert_eq!(web.seen().len(), 6);
        let waiting: Vec<&str> = done.stderr.lines().map(str::trim).filter(|l| l.starts_with("Waiting")).collect();
        let url = format!("{}/hub/health", web.base);
        assert_eq!(waiting, [format!("Waiting {url} -> 200: status 502"), format!("Waiting {url} -> 200: status 503")]);
        let waits = done
            .journal("j.jsonl")
            .into_iter()
            .filter(|e| matches!(e, hubops::journal::Event::Wait { what, outcome, .. } if *what == format!("http {url} -> 200") && outcome == "done"))
            .count();
        assert_eq!(waits, 1);
        // Unknown options name `http::expect` itself.
        let script = format!("http::expect(\"{}/hub/health\", 200, #{{ evry: \"1s\" }});\n", web.base);
        let (done, _dir) = Test::new().file("t.rhai", &script).args(&["run", "t.rhai"]).run();
        done.status(1);
        assert!(
            done.stderr.contains("error: `http::expect` has no option `evry` (options: headers, bearer, timeout, insecure, every, connect_to, from); did you mean `every`?"),
            "{}",
            done.stderr
        );
    }

    /// A mobu endpoint that answers GET and DELETE, and a hub that becomes
    /// healthy after two minutes.
    const WORLD: &str = "name: mobu
start: 2026-11-21T06:00:00Z
http:
  endpoints:
    - url: https://mobu.example.org/flocks/notebook
      answers: [{ status: 200, json: { name: notebook } }]
    - url: https://mobu.example.org/flocks/notebook
      method: DELETE
      answers: [{ status: 204 }]
    - url: https://hub.example.org/hub/health
      answers: [{ after: 0s, status: 503 }, { after: 2m, status: 200 }]
";

    const SILENCE: &str = "let r = http::delete(\"https://mobu.example.org/flocks/notebook\", #{});\nprint(`${r.status} ${r.planned}`);\nlet h = http::expect(\"https://hub.example.org/hub/health\", 200, #{ every: \"15s\" });\nprint(`${h.status} ${h.would_wait}`);\n";

    fn received(dir: &std::path::Path) -> serde_json::Value {
        let world: serde_json::Value = serde_norway::from_str(&crate::support::read(dir, "after.yaml")).expect("world");
        world["http"]["received"].clone()
    }

    #[test]
    fn a_dry_run_on_a_world_records_nothing_and_waits_for_nothing() {
        let (done, dir) = Test::new()
            .file("w.yaml", WORLD)
            .file("t.rhai", SILENCE)
            .args(&["run", "t.rhai", "--world", "w.yaml", "--dry-run", "--save-world", "after.yaml"])
            .run();
        done.status(0).stdout("0 true\n0 true\n");
        assert_eq!(received(dir.path()), serde_json::Value::Null, "nothing received");
        assert!(
            done.stderr.contains("Would wait for https://hub.example.org/hub/health to answer 200 (status 503 now)"),
            "{}",
            done.stderr
        );
        assert!(done.stderr.contains("1 change (1 destructive); nothing was changed"), "{}", done.stderr);
        // Saved as a run that does nothing saves it (same `start`: no
        // virtual time passed either).
        let (noop, untouched) = Test::new()
            .file("w.yaml", WORLD)
            .file("n.rhai", "print(1);\n")
            .args(&["run", "n.rhai", "--world", "w.yaml", "--save-world", "after.yaml"])
            .run();
        noop.status(0);
        let read = |d: &std::path::Path| crate::support::read(d, "after.yaml");
        assert_eq!(read(dir.path()), read(untouched.path()), "the dry run changed the world");

        // Rehearsed, the DELETE reaches the world and the wait is virtual.
        let (done, dir) = Test::new()
            .file("w.yaml", WORLD)
            .file("t.rhai", SILENCE)
            .args(&["run", "t.rhai", "--world", "w.yaml", "--yes", "--save-world", "after.yaml"])
            .run();
        done.status(0).stdout("204 \n200 \n");
        assert_eq!(
            received(dir.path()),
            serde_json::json!([{ "method": "DELETE", "url": "https://mobu.example.org/flocks/notebook", "at": "2026-11-21T06:00:00Z" }])
        );
        assert!(
            done.stderr.contains("Waited 2m for https://hub.example.org/hub/health to answer 200 (virtual time)"),
            "{}",
            done.stderr
        );
    }
}
