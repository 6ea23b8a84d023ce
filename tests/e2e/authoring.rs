//! Writing runbooks and worlds for a new site: `check` catches typos in
//! every call before anything runs, the reference speaks Rhai, the world
//! format has a schema an independent validator applies, `new` writes a
//! runbook that rehearses as written, `eject` writes worlds and modules.

use std::path::Path;

use crate::support::Test;

/// A runbook with a typo in a method name, a wrong argument count, a typo
/// in a rollback closure and an unknown function of an imported module.
const TYPOS: &str = r#"import "jupyterhub" as hub;
let p = params(#{ zone: #{ default_value: "example.org" } });
let zone = aws::account().route53().zone(p.zone);
step("point hub at green", || {
    let old = zone.record("hub", "CNAME");
    if old != () { zone.delte("hub", "CNAME"); }
    zone.swap("hub", "CNAME", "green");
}, || {
    zone.upsrt("hub", "CNAME", "blue", 60);
});
step("healthy", || hub::wait_helthy("https://hub.example.org", "5m", "15s"));
"#;

#[test]
fn check_catches_typos_in_methods_arities_rollbacks_and_modules() {
    let (done, _dir) = Test::new().file("cutover.rhai", TYPOS).args(&["check", "cutover.rhai"]).run();
    done.status(1).stderr(
        "error: unknown method `delte`\n --> cutover.rhai:6:25\n  |\n6 |     if old != () { zone.delte(\"hub\", \"CNAME\"); }\n  |                         ^\nhint: did you mean `delete`?\n\
error: method `swap` cannot be called with 3 arguments\n --> cutover.rhai:7:10\n  |\n7 |     zone.swap(\"hub\", \"CNAME\", \"green\");\n  |          ^\nhint: it takes: zone.swap(name: string, record_type: string, expected_old: any, new: any, ttl: int) -> map; zone.swap(name: string, record_type: string, expected_old: any, new: any, ttl: int, options: map) -> map\n\
error: unknown method `upsrt`\n --> cutover.rhai:9:10\n  |\n9 |     zone.upsrt(\"hub\", \"CNAME\", \"blue\", 60);\n  |          ^\nhint: did you mean `upsert`?\n\
error: unknown function `hub::wait_helthy`\n  --> cutover.rhai:11:25\n   |\n11 | step(\"healthy\", || hub::wait_helthy(\"https://hub.example.org\", \"5m\", \"15s\"));\n   |                         ^\nhint: did you mean `hub::wait_healthy`?\n\
error: 4 problems found\n",
    );
}

#[test]
fn check_knows_script_functions_closures_in_maps_and_imported_arities() {
    let script = r#"import "jupyterhub" as hub;
fn twice(x) { x * 2 }
fn scaled(y) { this * y }
let m = #{ act: |x| x + 1 };
print(m.act(1) + twice(2) + 3.scaled(2));
print(hub::pod_name("alice", "extra"));
print(twice());
"#;
    let (done, _dir) = Test::new().file("s.rhai", script).args(&["check", "s.rhai"]).run();
    done.status(1).stderr(
        "error: function `hub::pod_name` cannot be called with 2 arguments\n --> s.rhai:6:12\n  |\n6 | print(hub::pod_name(\"alice\", \"extra\"));\n  |            ^\nhint: it takes: hub::pod_name(user)\n\
error: function `twice` cannot be called with no arguments\n --> s.rhai:7:7\n  |\n7 | print(twice());\n  |       ^\nhint: it takes: twice(x)\n\
error: 2 problems found\n",
    );
}

#[test]
fn every_stdlib_module_checks_clean_on_its_own() {
    let stdlib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stdlib");
    let mut names: Vec<String> = std::fs::read_dir(stdlib)
        .expect("stdlib folder")
        .filter_map(Result::ok)
        .filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        let (done, dir) = Test::new().args(&["eject", "--module", &name]).run();
        done.status(0);
        let file = dir.path().join(format!("{name}.rhai"));
        let (done, _d) = Test::new().args(&["check", &file.display().to_string()]).run();
        done.status(0);
    }
}

#[test]
fn the_reference_speaks_rhai() {
    let (done, _dir) = Test::new().args(&["docs"]).run();
    done.status(0);
    for heading in [
        "### `k8s::cluster(context: string) -> Cluster`\n",
        "### `zone.upsert(name: string, record_type: string, values: any, ttl: int) -> map`\n",
        "### `http::get(url: string) -> map`\n",
        "### `account.name -> string`\n",
    ] {
        assert!(done.stdout.contains(heading), "missing {heading:?}");
    }
    assert!(!done.stdout.contains("EvalAltResult"), "Rust types in the reference");
    assert!(!done.stdout.contains("&str"), "Rust types in the reference");
    assert!(done.stdout.contains("Methods and properties of `Cluster`:"));
    assert!(done.stdout.contains("Reserved words: "), "reserved words are listed with `params`");
}

#[test]
fn definitions_are_written_into_a_folder() {
    let (done, dir) = Test::new().args(&["docs", "--format", "definitions", "--out", "defs"]).run();
    done.status(0);
    let k8s = std::fs::read_to_string(dir.path().join("defs/k8s.d.rhai")).expect("k8s.d.rhai");
    assert!(k8s.contains("module k8s;"), "{k8s}");
    assert!(dir.path().join("defs/__static__.d.rhai").is_file());
    assert!(done.stderr.contains("Wrote defs/k8s.d.rhai"), "{}", done.stderr);
}

/// Validates each (name, JSON) against the schema with Python's
/// `jsonschema` (not hubops' code); returns one line per document.
fn validate(schema: &str, docs: &[(String, serde_json::Value)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.json"), schema).unwrap();
    let docs: serde_json::Value = docs.iter().map(|(n, v)| serde_json::json!([n, v])).collect();
    std::fs::write(dir.path().join("docs.json"), docs.to_string()).unwrap();
    let code = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        jsonschema.Draft7Validator.check_schema(schema)\n\
        v = jsonschema.Draft7Validator(schema)\n\
        for name, doc in json.load(open(sys.argv[2])):\n    \
            errs = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))\n    \
            print(name, 'ok' if not errs else '; '.join('/'.join(map(str, e.absolute_path)) + ': ' + e.message for e in errs))";
    let out = std::process::Command::new("python3")
        .args(["-c", code])
        .arg(dir.path().join("schema.json"))
        .arg(dir.path().join("docs.json"))
        .output()
        .expect("python3 with jsonschema (pip install jsonschema)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

#[test]
fn the_world_schema_validates_every_bundled_world_and_rejects_a_malformed_one() {
    let (done, _dir) = Test::new().args(&["docs", "--format", "world-schema"]).run();
    done.status(0);
    let worlds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../worlds");
    let mut docs: Vec<(String, serde_json::Value)> = std::fs::read_dir(worlds)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap();
            (e.file_name().to_string_lossy().into_owned(), serde_norway::from_str(&text).unwrap())
        })
        .collect();
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    let bundled = docs.len();
    assert!(bundled >= 2);
    let bad = "name: typo\nclusters:\n  blue:\n    objcts: []\nhttp:\n  endpoints:\n    - url: 3\n      answers: []\n";
    docs.push(("bad.yaml".into(), serde_norway::from_str(bad).unwrap()));
    let lines = validate(&done.stdout, &docs);
    assert_eq!(lines.len(), bundled + 1, "{lines:?}");
    for line in &lines[..bundled] {
        assert!(line.ends_with(" ok"), "{line}");
    }
    assert_eq!(
        lines[bundled],
        "bad.yaml clusters/blue: Additional properties are not allowed ('objcts' was unexpected); http/endpoints/0/url: 3 is not of type 'string'"
    );
    // hubops itself refuses the same file, naming the section.
    let (done, _dir) = Test::new()
        .file("bad.yaml", bad)
        .file("r.rhai", "step(\"a\", || 1);\n")
        .args(&["run", "r.rhai", "--world", "bad.yaml"])
        .run();
    done.status(2);
    assert!(done.stderr.contains("unknown field `objcts`"), "{}", done.stderr);
}

#[test]
fn the_world_reference_names_every_section() {
    let (done, _dir) = Test::new().args(&["docs", "--format", "world"]).run();
    done.status(0);
    for needle in [
        "- `hosts` ([HostsWorld](#hostsworld))",
        "- `clusters` (map of [ClusterWorld](#clusterworld))",
        "## `Endpoint`",
    ] {
        assert!(done.stdout.contains(needle), "missing {needle:?} in\n{}", done.stdout);
    }
}

#[test]
fn new_writes_a_runbook_that_rehearses_as_written() {
    let (done, dir) = Test::new().args(&["new", "x"]).run();
    done.status(0).stderr("       Wrote x.rhai\n       Wrote x.yaml\nnext: hubops run x.rhai --rehearse\n");
    let again = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hubops-e2e"))
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env_remove("HUBOPS_WORLD")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, stderr) = again(&["check", "x.rhai"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = again(&["run", "x.rhai", "--rehearse"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "the proxy runs 2 replicas (it ran 1)\n");
    assert!(stderr.contains("Finished x in 1m of virtual time, "), "{stderr}");
    let (code, _, stderr) = again(&["run", "x.rhai", "--rehearse", "--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("\n     scale      deployment jupyterhub/proxy\n                ~ 1 -> 2\n"), "{stderr}");
    let (code, _, stderr) = again(&["new", "x"]);
    assert_eq!(
        (code, stderr.as_str()),
        (Some(2), "error: `x.rhai` already exists\nhint: pass --force to overwrite it\n")
    );
    let (code, _, stderr) = again(&["new", "a b"]);
    assert_eq!(
        (code, stderr.as_str()),
        (Some(2), "error: `a b` cannot name a runbook: ` ` is not a letter, digit, `-` or `_`\n")
    );
}

#[test]
fn eject_writes_worlds_and_single_modules() {
    let (done, dir) = Test::new().args(&["eject", "--world", "cae"]).run();
    done.status(0).stderr("       Wrote cae.yaml\n");
    assert!(std::fs::read_to_string(dir.path().join("cae.yaml")).unwrap().contains("clusters:"));
    let (done, dir) = Test::new().args(&["eject", "--module", "jupyterhub", "site/"]).run();
    done.status(0).stderr("       Wrote site/jupyterhub.rhai\n");
    assert!(dir.path().join("site/jupyterhub.rhai").is_file());
    let (done, dir) = Test::new().args(&["eject", "hub-health", "--with-world"]).run();
    done.status(0).stderr("       Wrote hub-health.rhai\n       Wrote hub-health.yaml\n");
    assert!(dir.path().join("hub-health.yaml").is_file());
    let (done, _dir) = Test::new().args(&["eject", "--world", "hub-helth"]).run();
    done.status(2).stderr("error: no bundled world `hub-helth`\nhint: did you mean `hub-health`?\n");
}

#[test]
fn a_reserved_word_as_a_parameter_gets_a_hint() {
    let (done, _dir) = Test::new()
        .file("r.rhai", "let p = params(#{ new: #{ default_value: 1 } });\n")
        .args(&["check", "r.rhai"])
        .run();
    done.status(1).stderr(
        "error: syntax error: 'new' is a reserved keyword\n --> r.rhai:1:19\n  |\n1 | let p = params(#{ new: #{ default_value: 1 } });\n  |                   ^\nhint: `new` is reserved in Rhai and cannot name a parameter, map key or variable: call it something else, such as `new_value` (`hubops docs` lists the reserved words)\nerror: 1 problem found\n",
    );
}

#[test]
fn completions_and_a_man_page_come_from_the_command_line() {
    let (done, _dir) = Test::new().args(&["completions", "bash"]).run();
    done.status(0);
    assert!(done.stdout.contains("_hubops()"), "{}", &done.stdout[..done.stdout.len().min(300)]);
    assert!(done.stdout.contains("--dry-run"));
    let (done, _dir) = Test::new().args(&["man"]).run();
    done.status(0);
    assert!(done.stdout.starts_with(".ie \\n(.g .ds Aq \\(aq"), "{}", &done.stdout[..done.stdout.len().min(200)]);
    assert!(done.stdout.contains(".TH hubops 1"), "{}", &done.stdout[..done.stdout.len().min(400)]);
}

const DEPLOYMENT_WORLD: &str = r"name: site
clusters:
  prod:
    current: true
    objects:
      - apiVersion: apps/v1
        kind: Deployment
        metadata: { name: hub, namespace: jupyterhub, labels: { app: hub } }
        spec:
          replicas: 1
          strategy: { type: Recreate }
          selector: { matchLabels: { app: hub } }
          template:
            metadata: { labels: { app: hub } }
            spec:
              containers:
                - name: hub
                  image: quay.io/jupyterhub/k8s-hub:3.3.7
                  args: [jupyterhub, --config, /usr/local/etc/jupyterhub/jupyterhub_config.py]
";

#[test]
fn a_plan_shows_a_changed_deployment_field_by_field_and_writes_json() {
    let script = format!(
        r#"let c = k8s::cluster("prod");
let d = c.get("deployment", "jupyterhub", "hub");
d.spec.replicas = 2;
d.spec.template.spec.containers[0].image = "quay.io/jupyterhub/k8s-hub:4.0.0";
d.metadata.labels.tier = "web";
d.metadata.annotations = #{{ note: "x{}" }};
d.spec.remove("strategy");
step("upgrade the hub", || c.apply(d));
"#,
        "y".repeat(149)
    );
    let (done, dir) = Test::new()
        .file("w.yaml", DEPLOYMENT_WORLD)
        .file("u.rhai", &script)
        .args(&["run", "u.rhai", "--world", "w.yaml", "--dry-run", "--plan-out", "plan.json"])
        .run();
    done.status(0);
    let plan = done.stderr.split("\nPlan:\n").nth(1).unwrap_or_default();
    let plan: String =
        plan.lines().take_while(|l| !l.ends_with("nothing was changed")).flat_map(|l| [l, "\n"]).collect();
    // The annotation's line is 156 characters: folded to its first 80.
    let folded = format!("note: x{}... (156 characters)", "y".repeat(73));
    pretty_assertions::assert_eq!(
        plan,
        format!(
            "  k8s/prod
     apply      deployment jupyterhub/hub
                + metadata.labels.tier: web
                + metadata.annotations:
                    {folded}
                ~ spec.replicas: 1 -> 2
                ~ spec.template.spec.containers[0].image: quay.io/jupyterhub/k8s-hub:3.3.7 -> quay.io/jupyterhub/k8s-hub:4.0.0
"
        )
    );
    let json: serde_json::Value = serde_json::from_str(&crate::support::read(dir.path(), "plan.json")).unwrap();
    assert_eq!(json["count"], 1);
    let change = &json["changes"][0];
    assert_eq!(change["verb"], "apply");
    assert_eq!(change["destructive"], false);
    let paths: Vec<(&str, &str)> = change["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["op"].as_str().unwrap()))
        .collect();
    assert_eq!(
        paths,
        [
            ("metadata.labels.tier", "added"),
            ("metadata.annotations", "added"),
            ("spec.replicas", "changed"),
            ("spec.template.spec.containers[0].image", "changed"),
        ]
    );
    assert_eq!(change["fields"][2]["before"], 1);
    assert_eq!(change["fields"][2]["after"], 2);
}

#[test]
fn without_a_terminal_a_long_wait_prints_a_line_per_state_not_per_look() {
    let world = "name: slow\nstart: 2026-11-21T06:00:00Z\naws:\n  accounts:\n    default:\n      region: us-west-2\n      timing: { snapshot: 47m }\n      volumes:\n        - { id: vol-1, size: 100, type: gp2, state: available, az: us-west-2a }\n";
    let script = "let ec2 = aws::account().ec2();\nlet s = step(\"snapshot\", || ec2.snapshot(\"vol-1\"));\nstep(\"wait\", || ec2.wait_snapshot(s.id, #{ timeout: \"1h\" }));\n";
    let (done, _dir) =
        Test::new().file("w.yaml", world).file("s.rhai", script).args(&["run", "s.rhai", "--world", "w.yaml"]).run();
    done.status(0);
    let waits: Vec<&str> = done.stderr.lines().map(str::trim).filter(|l| l.starts_with("Wait")).collect();
    // 47 minutes, looked at every 15 s of virtual time: one line while
    // pending, one when done.
    assert_eq!(
        waits,
        [
            "Waiting snapshot `snap-00000000000000002` completed: 0%",
            "Waited 47m for snapshot `snap-00000000000000002` completed (virtual time)",
        ],
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("Finished s in 47m of virtual time, "), "{}", done.stderr);
}
