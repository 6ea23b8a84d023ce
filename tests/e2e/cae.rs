//! The bundled `cae-blue-green` runbook on its world (worlds/cae.yaml): every
//! stage, the refusals, rollback with green down, the confirmation policy,
//! dry runs that plan exactly what rehearsals do (across waits they cannot
//! satisfy), and resume after a rollback. The home volume runbook is in
//! `cae_volumes.rs`.

use std::collections::BTreeMap;

use hubops::journal::Event;
use serde_json::Value;

use crate::support::{read, Test};

pub(crate) fn world_of(dir: &std::path::Path, file: &str) -> Value {
    serde_norway::from_str(&read(dir, file)).expect("saved world")
}

/// The bundled world, as data to edit.
pub(crate) fn cae_world() -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    serde_norway::from_str(&std::fs::read_to_string(root.join("worlds/cae.yaml")).unwrap()).unwrap()
}

pub(crate) fn yaml(world: &Value) -> String {
    serde_norway::to_string(world).unwrap()
}

/// The objects of a cluster of `world`.
pub(crate) fn objects<'a>(world: &'a mut Value, context: &str) -> &'a mut Vec<Value> {
    world["clusters"][context]["objects"].as_array_mut().expect("objects")
}

/// The hub Deployment of green.
fn green_hub(world: &mut Value) -> &mut Value {
    objects(world, "cae-green").iter_mut().find(|o| o["kind"] == "Deployment").expect("green's hub")
}

/// `name type` -> values of the hosted zone's records.
pub(crate) fn records(world: &Value) -> BTreeMap<String, Vec<String>> {
    let zone = &world["aws"]["accounts"]["cae"]["zones"][0]["records"];
    zone.as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let values = r["values"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default();
            (format!("{} {}", r["name"].as_str().unwrap_or(""), r["type"].as_str().unwrap_or("")), values)
        })
        .collect()
}

const BLUE: &str = "a1b2c3-blue.elb.us-west-2.amazonaws.com";
const GREEN: &str = "d4e5f6-green.elb.us-west-2.amazonaws.com";
const HUB: &str = "hub.cal-adapt.org. CNAME";

/// The acknowledgements each stage asks for.
fn acks(stage: &str) -> &'static [&'static str] {
    match stage {
        "stage=cutover" => &["--ack", "cognito-blue", "--ack", "cognito-green"],
        "stage=rollback" => &["--ack", "cognito-revert"],
        _ => &[],
    }
}

fn stage(t: Test, stage: &str, world: &str, out: &str) -> Test {
    let mut args = vec!["run", "cae-blue-green", "--set", stage, "--yes", "--save-world", out, "--journal"];
    let journal = format!("{out}.jsonl");
    args.push(&journal);
    if world == "rehearse" {
        args.push("--rehearse");
    } else {
        args.extend(["--world", world]);
    }
    args.extend(acks(stage));
    t.args(&args)
}

/// Runs the stages in order in one folder, each on the world the last one left.
fn chain(stages: &[&str]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut world = "rehearse".to_string();
    let mut outs = Vec::new();
    for (i, name) in stages.iter().enumerate() {
        let out = dir.path().join(format!("w{i}-{name}.yaml")).display().to_string();
        let (done, _scratch) = stage(Test::new(), &format!("stage={name}"), &world, &out).run();
        done.status(0);
        world.clone_from(&out);
        outs.push(out);
    }
    (dir, outs)
}

fn load(path: &str) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn events(path: &str) -> Vec<Event> {
    hubops::journal::read(std::path::Path::new(path)).unwrap()
}

/// The steps that ended `ok`.
fn ok_steps(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StepEnd { step, status, .. } if status == "ok" => Some(step.clone()),
            _ => None,
        })
        .collect()
}

/// The systems a run opened (`k8s/cae-green`, ...).
fn opened(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Target { system, .. } => Some(system.clone()),
            _ => None,
        })
        .collect()
}

/// `(name, answer)` of the acknowledgements a run asked.
fn acknowledgements(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Prompt { name: Some(name), answer, .. } => Some((name.clone(), answer.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_stages_move_the_hub_to_green_and_clean_up() {
    let (_dir, outs) = chain(&["prepare", "cutover", "cleanup"]);
    let after_prepare = records(&load(&outs[0]));
    assert_eq!(after_prepare["new-hub.cal-adapt.org. CNAME"], [GREEN]);
    assert_eq!(after_prepare[HUB], [BLUE]);
    let after_cutover = records(&load(&outs[1]));
    assert_eq!(after_cutover[HUB], [GREEN]);
    assert_eq!(after_cutover["legacy.cal-adapt.org. CNAME"], [BLUE]);
    let after_cleanup = records(&load(&outs[2]));
    assert!(!after_cleanup.contains_key("new-hub.cal-adapt.org. CNAME"), "{after_cleanup:?}");
    assert_eq!(after_cleanup[HUB], [GREEN]);
    assert_eq!(after_cleanup["legacy.cal-adapt.org. CNAME"], [BLUE]);
    // Both of the plan's Cognito steps were acknowledged, by name, by --ack.
    let cutover = events(&format!("{}.jsonl", outs[1]));
    assert_eq!(
        acknowledgements(&cutover),
        [("cognito-blue".to_string(), "ack_by_flag".to_string()), ("cognito-green".into(), "ack_by_flag".into())]
    );
    // The public name was proved to reach green, not only to answer.
    let steps = ok_steps(&cutover);
    assert!(steps.contains(&"green answers for hub.cal-adapt.org at its own address".to_string()), "{steps:?}");
    assert!(steps.contains(&format!("https://hub.cal-adapt.org is served by {GREEN}")), "{steps:?}");
}

#[test]
fn each_stage_says_where_the_hub_points_and_which_address_answered() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.yaml").display().to_string();
    let (done, _d) = stage(Test::new(), "stage=prepare", "rehearse", &out).run();
    done.status(0);
    assert!(
        done.stdout.starts_with(&format!(
            "green is reachable at https://new-hub.cal-adapt.org (answered from {GREEN}); blue still serves https://hub.cal-adapt.org (CNAME -> {BLUE})\n"
        )),
        "{}",
        done.stdout
    );
    let cut = dir.path().join("c.yaml").display().to_string();
    let (done, _d) = stage(Test::new(), "stage=cutover", &out, &cut).run();
    done.status(0);
    assert!(
        done.stdout.ends_with(&format!(
            "https://hub.cal-adapt.org is served by green (answered from {GREEN}); blue stays at https://legacy.cal-adapt.org\n"
        )),
        "{}",
        done.stdout
    );
}

#[test]
fn rollback_points_the_hub_back_at_blue_and_verifies_it() {
    let (_dir, outs) = chain(&["prepare", "cutover", "rollback"]);
    assert_eq!(records(&load(&outs[2]))[HUB], [BLUE]);
    let rollback = events(&format!("{}.jsonl", outs[2]));
    let steps = ok_steps(&rollback);
    assert!(steps.contains(&format!("hub.cal-adapt.org resolves to {BLUE} everywhere")), "{steps:?}");
    assert!(steps.contains(&format!("https://hub.cal-adapt.org is served by {BLUE}")), "{steps:?}");
    assert_eq!(acknowledgements(&rollback), [("cognito-revert".to_string(), "ack_by_flag".to_string())]);
    assert!(!opened(&rollback).contains(&"k8s/cae-green".to_string()), "rollback never opens green");
}

/// The world a cutover left, with green's API down and its hub broken.
fn after_cutover_with_green_down() -> (tempfile::TempDir, String) {
    let (dir, outs) = chain(&["prepare", "cutover"]);
    let mut world = load(&outs[1]);
    world["clusters"]["cae-green"]["unreachable"] = true.into();
    green_hub(&mut world)["status"]["readyReplicas"] = 0.into();
    let path = dir.path().join("green-down.yaml").display().to_string();
    std::fs::write(&path, yaml(&world)).unwrap();
    (dir, path)
}

#[test]
fn rollback_with_green_down_swaps_the_hub_back_without_opening_green() {
    let (dir, world) = after_cutover_with_green_down();
    let out = dir.path().join("back.yaml").display().to_string();
    let (done, _d) = stage(Test::new(), "stage=rollback", &world, &out).run();
    done.status(0);
    assert_eq!(records(&load(&out))[HUB], [BLUE]);
    assert!(done.stdout.contains(&format!("is served by blue again (answered from {BLUE})")), "{}", done.stdout);
    assert!(!opened(&events(&format!("{out}.jsonl"))).contains(&"k8s/cae-green".to_string()));
}

#[test]
fn rollback_with_both_apis_down_finds_blue_in_the_legacy_record() {
    let (dir, world) = after_cutover_with_green_down();
    let mut w = load(&world);
    w["clusters"]["cae-blue"]["unreachable"] = true.into();
    std::fs::write(&world, yaml(&w)).unwrap();
    let out = dir.path().join("back.yaml").display().to_string();
    let (done, _d) = stage(Test::new(), "stage=rollback", &world, &out).run();
    done.status(0);
    assert!(
        done.stderr.contains(&format!(
            "warning: blue's API does not answer (the API server of context `cae-blue` at `https://B1E.gr7.us-west-2.eks.amazonaws.com` is unreachable): using blue's address from legacy.cal-adapt.org ({BLUE})"
        )),
        "{}",
        done.stderr
    );
    assert_eq!(records(&load(&out))[HUB], [BLUE]);

    // Without the legacy record either, it asks for blue's address.
    let mut w = load(&world);
    let zone = w["aws"]["accounts"]["cae"]["zones"][0]["records"].as_array_mut().unwrap();
    zone.retain(|r| r["name"] != "legacy.cal-adapt.org.");
    std::fs::write(&world, yaml(&w)).unwrap();
    let (done, _d) = stage(Test::new(), "stage=rollback", &world, &out).run();
    done.status(1);
    assert!(
        done.stderr.contains("legacy.cal-adapt.org has no record; pass --set blue_address=<blue's load balancer> (the cutover's journal has it, in step \"blue load balancer\")"),
        "{}",
        done.stderr
    );
    let (done, _d) =
        stage(Test::new(), "stage=rollback", &world, &out).args(&["--set", &format!("blue_address={BLUE}")]).run();
    done.status(0);
    assert_eq!(records(&load(&out))[HUB], [BLUE]);
}

#[test]
fn cleanup_needs_only_the_zone() {
    let (dir, outs) = chain(&["prepare", "cutover"]);
    let mut world = load(&outs[1]);
    for context in ["cae-blue", "cae-green"] {
        world["clusters"][context]["unreachable"] = true.into();
    }
    let path = dir.path().join("both-down.yaml").display().to_string();
    std::fs::write(&path, yaml(&world)).unwrap();
    let out = dir.path().join("clean.yaml").display().to_string();
    let (done, _d) = stage(Test::new(), "stage=cleanup", &path, &out).run();
    done.status(0);
    assert!(!records(&load(&out)).contains_key("new-hub.cal-adapt.org. CNAME"));
}

#[test]
fn cutover_waits_for_active_users_and_refuses_naming_them() {
    let (done, dir) = Test::new()
        .args(&[
            "run",
            "cae-blue-green",
            "--rehearse",
            "--set",
            "stage=cutover",
            "--set",
            "active_timeout=2m",
            "--yes",
            "--save-world",
            "after.yaml",
        ])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("error: 2 users (alice, bob) still have servers on cae-blue in daskhub after 2m (ask them to log off, or pass --set force=true)"),
        "{}",
        done.stderr
    );
    assert_eq!(records(&world_of(dir.path(), "after.yaml"))[HUB], [BLUE], "DNS untouched");
    // With the default 15 minutes, both log off in time (at 4m and 9m).
    let (done, _dir) = Test::new()
        .args(&["run", "cae-blue-green", "--rehearse", "--set", "stage=cutover", "--yes"])
        .args(acks("stage=cutover"))
        .run();
    done.status(0);
    assert!(
        done.stderr.contains("Waiting user servers on cae-blue in daskhub to stop: 1 user (alice)"),
        "{}",
        done.stderr
    );
    // force goes on at once, with a warning that names them.
    let (done, _dir) = Test::new()
        .args(&["run", "cae-blue-green", "--rehearse", "--set", "stage=cutover", "--set", "force=true", "--yes"])
        .args(acks("stage=cutover"))
        .run();
    done.status(0);
    assert!(
        done.stderr.contains("warning: going on with 2 users (alice, bob) active on cae-blue (force)"),
        "{}",
        done.stderr
    );
}

#[test]
fn cutover_refuses_a_hub_that_no_longer_points_at_blue_before_changing_anything() {
    let mut world = cae_world();
    world["aws"]["accounts"]["cae"]["zones"][0]["records"][0]["values"][0] =
        "someone-else.elb.us-west-2.amazonaws.com".into();
    let (done, dir) = Test::new()
        .file("changed.yaml", &yaml(&world))
        .args(&["run", "cae-blue-green", "--world", "changed.yaml", "--set", "stage=cutover", "--yes"])
        .args(acks("stage=cutover"))
        .args(&["--on-failure", "rollback", "--save-world", "after.yaml", "--journal", "j.jsonl"])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains(&format!("error: hub.cal-adapt.org points at someone-else.elb.us-west-2.amazonaws.com (CNAME), not at {BLUE}: check which cluster serves it before going on")),
        "{}",
        done.stderr
    );
    let after = records(&world_of(dir.path(), "after.yaml"));
    assert_eq!(after[HUB], ["someone-else.elb.us-west-2.amazonaws.com"]);
    assert!(!after.contains_key("legacy.cal-adapt.org. CNAME"), "nothing was written: {after:?}");
    let made = done.journal("j.jsonl").into_iter().filter(|e| matches!(e, Event::Change { .. })).count();
    assert_eq!(made, 0, "no change reached the gate");

    // Prepare refuses the same way, before pointing the temporary name.
    let (done, dir) = Test::new()
        .file("changed.yaml", &yaml(&world))
        .args(&[
            "run",
            "cae-blue-green",
            "--world",
            "changed.yaml",
            "--set",
            "stage=prepare",
            "--yes",
            "--save-world",
            "after.yaml",
        ])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("points at someone-else.elb.us-west-2.amazonaws.com (CNAME), not at"),
        "{}",
        done.stderr
    );
    assert!(!records(&world_of(dir.path(), "after.yaml")).contains_key("new-hub.cal-adapt.org. CNAME"));
}

#[test]
fn a_hub_record_with_a_trailing_dot_and_other_case_still_swaps() {
    let mut world = cae_world();
    let stored = "A1B2C3-Blue.elb.us-west-2.amazonaws.com.";
    world["aws"]["accounts"]["cae"]["zones"][0]["records"][0]["values"][0] = stored.into();
    let (done, dir) = Test::new()
        .file("dotted.yaml", &yaml(&world))
        .args(&["run", "cae-blue-green", "--world", "dotted.yaml", "--set", "stage=cutover", "--yes"])
        .args(acks("stage=cutover"))
        .args(&["--save-world", "after.yaml"])
        .run();
    done.status(0);
    let after = records(&world_of(dir.path(), "after.yaml"));
    assert_eq!(after[HUB], [GREEN]);
    assert_eq!(after["legacy.cal-adapt.org. CNAME"], [BLUE]);
}

#[test]
fn the_public_name_check_tells_blue_from_green() {
    // DNS points the hub at blue; both clusters answer 200.
    let script = format!(
        r#"let url = "https://hub.cal-adapt.org/hub/health";
print(`plain: ${{http::get(url).address}}`);
print(`pinned: ${{http::get(url, #{{ connect_to: "{GREEN}" }}).address}}`);
let r = http::expect(url, 200, #{{ from: "{BLUE}", timeout: "1m" }});
print(`from blue: ${{r.status}}`);
http::expect(url, 200, #{{ from: "{GREEN}", timeout: "1m", every: "20s" }});
"#
    );
    let (done, _dir) = Test::new().file("pin.rhai", &script).args(&["run", "pin.rhai", "--world", "cae"]).run();
    done.status(1);
    assert_eq!(done.stdout, format!("plain: {BLUE}\npinned: {GREEN}\nfrom blue: 200\n"));
    assert!(
        done.stderr.contains(&format!(
            "error: `https://hub.cal-adapt.org/hub/health` did not answer 200 from {GREEN} within 1m (last: status 200 from {BLUE}, which is not {GREEN})"
        )),
        "{}",
        done.stderr
    );
}

/// The cae world with the users staying logged in.
fn users_stay() -> Value {
    let mut world = cae_world();
    world["clusters"]["cae-blue"].as_object_mut().unwrap().remove("events");
    world
}

#[test]
fn a_cutover_dry_run_with_users_who_stay_plans_past_the_wait() {
    let (done, _dir) = Test::new()
        .file("stay.yaml", &yaml(&users_stay()))
        .args(&["run", "cae-blue-green", "--world", "stay.yaml", "--set", "stage=cutover", "--dry-run"])
        .run();
    done.status(0);
    for line in [
        "Would wait up to 15m for user servers on cae-blue in daskhub to stop (2 users (alice, bob) now)",
        "Would upsert CNAME legacy.cal-adapt.org. in zone `cal-adapt.org.`",
        "Would swap CNAME hub.cal-adapt.org. in zone `cal-adapt.org.`",
        "asks first: moves the production name hub.cal-adapt.org",
        "Would ask Blue's Cognito app client: are its callback and logout URLs changed from https://hub.cal-adapt.org to https://legacy.cal-adapt.org (the plan's cutover step 3)? (answer with --ack cognito-blue)",
        "\n2 changes (0 destructive, 1 to confirm); nothing was changed\n",
    ] {
        assert!(done.stderr.contains(line), "no `{line}` in\n{}", done.stderr);
    }
}

#[test]
fn a_failed_dry_run_prints_its_plan_after_the_error() {
    let script = "let zone = aws::account(#{ profile: \"cae\" }).route53().zone(\"cal-adapt.org\");\n\
                  zone.upsert(\"x.cal-adapt.org\", \"CNAME\", \"y.example.org\", 60);\n\
                  fail(\"stopped here\");\n";
    let (done, _dir) = Test::new().file("s.rhai", script).args(&["run", "s.rhai", "--world", "cae", "--dry-run"]).run();
    done.status(1);
    let error = done.stderr.find("error: stopped here").expect("the error");
    let plan = done.stderr.find("Plan up to the error above:").expect("the plan");
    assert!(error < plan, "{}", done.stderr);
    assert!(done.stderr[plan..].contains("upsert     CNAME x.cal-adapt.org."), "{}", done.stderr);
    assert!(
        done.stderr.contains("1 change (0 destructive); nothing was changed; the run stopped at the error, so what came after it is not planned"),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("Plan: no changes"), "{}", done.stderr);
}

fn cutover(t: Test, world: &str) -> Test {
    t.args(&[
        "run",
        "cae-blue-green",
        "--world",
        world,
        "--set",
        "stage=cutover",
        "--journal",
        "j.jsonl",
        "--save-world",
        world,
    ])
}

#[test]
fn moving_the_production_name_is_asked_like_a_delete() {
    // No --yes and no terminal: the legacy record is made (a new name),
    // the swap of the production name waits for an answer.
    let (done, dir) =
        cutover(Test::new().file("w.yaml", &yaml(&cae_world())), "w.yaml").args(acks("stage=cutover")).run();
    done.status(2);
    assert!(
        done.stderr.contains("error: swap CNAME hub.cal-adapt.org. in zone `cal-adapt.org.` moves the production name hub.cal-adapt.org and needs confirmation, but there is no terminal to ask on"),
        "{}",
        done.stderr
    );
    let journal = dir.path().join("j.jsonl").display().to_string();
    assert!(
        done.stderr.contains(&format!(
            "this run made 1 change before this question and they stay made: run it again with `--resume {journal}`"
        )),
        "{}",
        done.stderr
    );
    let after = records(&world_of(dir.path(), "w.yaml"));
    assert_eq!(
        (after[HUB].clone(), after["legacy.cal-adapt.org. CNAME"].clone()),
        (vec![BLUE.to_string()], vec![BLUE.to_string()])
    );
}

#[test]
fn yes_never_acknowledges_a_manual_step_and_a_resume_with_ack_goes_on() {
    let (done, dir) = cutover(Test::new().file("w.yaml", &yaml(&cae_world())), "w.yaml").args(&["--yes"]).run();
    done.status(2);
    assert!(
        done.stderr.contains("error: `cognito-blue` must be acknowledged by a person, and there is no terminal to ask on: Blue's Cognito app client: are its callback and logout URLs changed from https://hub.cal-adapt.org to https://legacy.cal-adapt.org (the plan's cutover step 3)?"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("hint: do it, then pass --ack cognito-blue (--yes answers questions about changes, never acknowledgements), or run hubops from a terminal; this run made 2 changes"), "{}", done.stderr);
    assert_eq!(records(&world_of(dir.path(), "w.yaml"))[HUB], [GREEN], "DNS moved before the question");

    let journal = dir.path().join("j.jsonl").display().to_string();
    let again = Test::testkit_in(&dir)
        .args(&["run", "cae-blue-green", "--world", "w.yaml", "--save-world", "w.yaml", "--journal", "j2.jsonl"])
        .args(&["--resume", &journal, "--yes", "--ack", "cognito-blue", "--ack", "cognito-green"])
        .output();
    again.status(0);
    assert!(again.stdout.contains("is served by green"), "{}", again.stdout);
    let resumed = again.journal("j2.jsonl");
    assert_eq!(
        acknowledgements(&resumed),
        [("cognito-blue".to_string(), "ack_by_flag".to_string()), ("cognito-green".into(), "ack_by_flag".into())]
    );
    let sent = resumed.iter().filter(|e| matches!(e, Event::Change { phase, .. } if phase == "applied")).count();
    assert_eq!(sent, 0, "the DNS changes were made by the first run and are not sent again");
}

#[test]
fn declining_after_dns_moved_says_how_to_go_on_or_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.yaml"), yaml(&cae_world())).unwrap();
    // A terminal (script(1)'s pty), --yes for the changes, "n" to the
    // acknowledgement: --yes does not answer it for the operator.
    let bin = env!("CARGO_BIN_EXE_hubops-e2e");
    let command = format!(
        "{bin} run cae-blue-green --world w.yaml --save-world w.yaml --set stage=cutover --yes --journal j.jsonl"
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"n\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.contains("Confirm Blue's Cognito app client: are its callback and logout URLs changed"), "{text}");
    assert!(
        text.contains("warning: hub.cal-adapt.org now points at green while blue's Cognito client still names it: logins at https://legacy.cal-adapt.org fail until it is changed. Change it, then resume this run; or move the hub back (--set stage=rollback)"),
        "{text}"
    );
    assert!(text.contains("error: the operator did not acknowledge `cognito-blue`"), "{text}");
    assert!(
        text.contains("this run made 2 changes before this question and they stay made: run it again with `--resume"),
        "{text}"
    );
    let events = hubops::journal::read(&dir.path().join("j.jsonl")).unwrap();
    assert_eq!(acknowledgements(&events), [("cognito-blue".to_string(), "no".to_string())]);
}

/// The cae world where green's hub breaks at `breaks` (after the checks
/// before the swap) and, if `heals`, is ready again then.
fn green_breaks(breaks: &str, heals: Option<&str>) -> Value {
    let mut world = cae_world();
    let hub = green_hub(&mut world).clone();
    let at = |after: &str, ready: i64| {
        let mut h = hub.clone();
        h["status"]["readyReplicas"] = ready.into();
        serde_json::json!({ "after": after, "apply": h })
    };
    let mut events = vec![at(breaks, 0)];
    if let Some(heals) = heals {
        events.push(at(heals, 1));
    }
    world["clusters"]["cae-green"]["events"] = events.into();
    world
}

#[test]
fn a_rollback_on_failure_asks_for_the_cognito_revert_it_implies() {
    for revert in [false, true] {
        let mut t = cutover(Test::new().file("w.yaml", &yaml(&green_breaks("10m30s", None))), "w.yaml").args(&[
            "--yes",
            "--ack",
            "cognito-blue",
            "--on-failure",
            "rollback",
        ]);
        if revert {
            t = t.args(&["--ack", "cognito-revert"]);
        }
        let (done, dir) = t.run();
        done.status(1);
        assert!(done.stderr.contains("did not answer 200 within 10m"), "{}", done.stderr);
        assert_eq!(records(&world_of(dir.path(), "w.yaml"))[HUB], [BLUE], "DNS is back on blue");
        let reminder = "warning: rollback of `blue's Cognito callbacks name legacy` failed: `cognito-revert` must be acknowledged by a person, and there is no terminal to ask on: Blue's Cognito app client: are its callback and logout URLs changed back from https://legacy.cal-adapt.org to https://hub.cal-adapt.org (the plan's rollback step 2)?";
        assert_eq!(done.stderr.contains(reminder), !revert, "{}", done.stderr);
        let asked = acknowledgements(&done.journal("j.jsonl"));
        let answer = if revert { "ack_by_flag" } else { "no_terminal" };
        assert_eq!(
            asked,
            [("cognito-blue".to_string(), "ack_by_flag".into()), ("cognito-revert".into(), answer.into())]
        );
    }
}

#[test]
fn a_resume_after_rollback_moves_the_hub_only_when_it_runs_the_swap_again() {
    // Green's hub breaks after the swap and is ready again 30 minutes in.
    let (done, dir) = cutover(Test::new().file("w.yaml", &yaml(&green_breaks("10m30s", Some("30m")))), "w.yaml")
        .args(&["--yes", "--ack", "cognito-blue", "--ack", "cognito-revert", "--on-failure", "rollback"])
        .run();
    done.status(1);
    assert_eq!(records(&world_of(dir.path(), "w.yaml"))[HUB], [BLUE], "rolled back");

    let journal = dir.path().join("j.jsonl").display().to_string();
    let again = Test::testkit_in(&dir)
        .args(&["run", "cae-blue-green", "--world", "w.yaml", "--save-world", "w.yaml", "--journal", "j2.jsonl"])
        .args(&["--resume", &journal, "--yes", "--ack", "cognito-blue", "--ack", "cognito-green"])
        .output();
    again.status(0);
    assert!(
        again.stderr.contains("rolled back, so run again: blue's Cognito callbacks name legacy, hub.cal-adapt.org -> green, legacy.cal-adapt.org -> blue"),
        "{}",
        again.stderr
    );
    assert!(
        again.stdout.contains(&format!("https://hub.cal-adapt.org is served by green (answered from {GREEN})")),
        "{}",
        again.stdout
    );
    assert_eq!(records(&world_of(dir.path(), "w.yaml"))[HUB], [GREEN]);
    let swaps: Vec<String> = again
        .journal("j2.jsonl")
        .into_iter()
        .filter_map(|e| match e {
            Event::Change { phase, change, .. } if change["verb"] == "swap" => Some(phase),
            _ => None,
        })
        .collect();
    assert_eq!(swaps, ["applied"], "the resumed run itself moved the hub, it was not handed back");
}

#[test]
fn a_resume_while_green_is_still_broken_leaves_the_hub_on_blue() {
    let (done, dir) = cutover(Test::new().file("w.yaml", &yaml(&green_breaks("10m30s", None))), "w.yaml")
        .args(&["--yes", "--ack", "cognito-blue", "--ack", "cognito-revert", "--on-failure", "rollback"])
        .run();
    done.status(1);
    let journal = dir.path().join("j.jsonl").display().to_string();
    let again = Test::testkit_in(&dir)
        .args(&["run", "cae-blue-green", "--world", "w.yaml", "--save-world", "w.yaml", "--journal", "j2.jsonl"])
        .args(&[
            "--resume",
            &journal,
            "--yes",
            "--ack",
            "cognito-blue",
            "--ack",
            "cognito-revert",
            "--on-failure",
            "rollback",
        ])
        .output();
    again.status(1);
    assert!(again.stderr.contains("did not answer 200 within 10m"), "{}", again.stderr);
    assert!(!again.stdout.contains("is served by green"), "{}", again.stdout);
    assert_eq!(records(&world_of(dir.path(), "w.yaml"))[HUB], [BLUE]);
}

/// The changes of a journal, with ids that only exist once made
/// (`snap-...`, `vol-...`) and run-specific tags replaced.
pub(crate) fn changes(path: &std::path::Path, phase: &str) -> Vec<String> {
    let ids = |text: &str| {
        text.split(|c: char| c == '`' || c.is_whitespace())
            .map(|w| {
                if w.starts_with("snap-") {
                    "snap-*"
                } else if w.starts_with("vol-") && w.len() > 12 {
                    "vol-*"
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    hubops::journal::read(path)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Event::Change { phase: p, change, .. } if p == phase => Some(format!(
                "{} {} {}",
                change["system"].as_str().unwrap_or(""),
                change["verb"].as_str().unwrap_or(""),
                ids(change["target"].as_str().unwrap_or(""))
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn each_dry_run_plans_exactly_what_the_rehearsal_changes_and_changes_nothing() {
    let (dir, outs) = chain(&["prepare", "cutover"]);
    let cases = [
        ("prepare", "rehearse".to_string()),
        ("cutover", outs[0].clone()),
        ("rollback", outs[1].clone()),
        ("cleanup", outs[1].clone()),
    ];
    for (name, world) in cases {
        let dry = dir.path().join(format!("dry-{name}.yaml")).display().to_string();
        let real = dir.path().join(format!("real-{name}.yaml")).display().to_string();
        let untouched = dir.path().join(format!("untouched-{name}.yaml")).display().to_string();
        let (done, _d) = stage(Test::new(), &format!("stage={name}"), &world, &dry).args(&["--dry-run"]).run();
        done.status(0);
        if name != "cleanup" {
            assert!(
                done.stdout.contains("(dry run)") && !done.stdout.contains("is served by"),
                "{name}: {}",
                done.stdout
            );
        }
        let (done, _d) = stage(Test::new(), &format!("stage={name}"), &world, &real).run();
        done.status(0);
        let planned = changes(std::path::Path::new(&format!("{dry}.jsonl")), "planned");
        let applied = changes(std::path::Path::new(&format!("{real}.jsonl")), "applied");
        assert!(!planned.is_empty(), "{name}: the plan is empty");
        assert_eq!(planned, applied, "{name}: the plan differs from what the rehearsal did");
        // The dry run left the world as a run that changes nothing, and
        // waits as long in virtual time, does (users log off meanwhile).
        let events = events(&format!("{dry}.jsonl"));
        let clock = |e: &Event| match e {
            Event::RunStart { clock, .. } | Event::RunEnd { clock, .. } => clock.parse::<jiff::Timestamp>().ok(),
            _ => None,
        };
        let (start, end) = (events.first().and_then(clock).unwrap(), events.last().and_then(clock).unwrap());
        let waited = end.duration_since(start).as_secs();
        let noop = Test::new().file("noop.rhai", &format!("sleep({waited});\n"));
        let base = if world == "rehearse" { "cae" } else { world.as_str() };
        let (done, _d) = noop.args(&["run", "noop.rhai", "--world", base, "--save-world", &untouched]).run();
        done.status(0);
        let strip = |file: &str| {
            let mut v: Value = load(file);
            v.as_object_mut().unwrap().remove("start");
            v
        };
        assert_eq!(strip(&dry), strip(&untouched), "{name}: the dry run changed the world");
    }
}

#[test]
fn show_hints_a_rehearsal_that_runs() {
    let (done, _dir) = Test::new().args(&["show", "cae-blue-green"]).run();
    done.status(0);
    let hint = done
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Rehearse on its world `cae`: "))
        .expect("a rehearsal hint")
        .to_string();
    assert_eq!(hint, "hubops run cae-blue-green --rehearse --set stage=prepare");
    let args: Vec<&str> = hint.split_whitespace().skip(1).collect();
    let (done, _dir) = Test::new().args(&args).run();
    done.status(0);
}

#[test]
fn wait_healthy_fails_at_once_on_a_malformed_url() {
    let script = "import \"jupyterhub\" as hub;\nhub::wait_healthy(\"not a url\", \"5m\", \"10s\");\n";
    let started = std::time::Instant::now();
    let (done, _dir) = Test::new().file("s.rhai", script).args(&["run", "s.rhai"]).run();
    done.status(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "it did not retry");
    assert!(done.stderr.contains("error: `not a url/hub/health` is not a URL"), "{}", done.stderr);
    assert!(!done.stderr.contains("retrying"), "{}", done.stderr);
}
