//! The command line: every command, and the exact error texts of bad input.

use crate::support::Test;

#[test]
fn syntax_error_shows_file_line_col_and_a_caret() {
    let (done, _dir) = Test::new()
        .file("syntax.rhai", "let p = params(#{ n: #{ type: \"int\" } });\nlet x = ;\n")
        .args(&["run", "syntax.rhai"])
        .run();
    done.status(2)
        .stderr("error: syntax error: unexpected ';'\n --> syntax.rhai:2:9\n  |\n2 | let x = ;\n  |         ^\n");
}

#[test]
fn unknown_function_names_it_with_position_and_cause() {
    let (done, _dir) =
        Test::new().file("unk.rhai", "step(\"one\", || frobnicate(1));\n").args(&["run", "unk.rhai"]).run();
    done.status(1);
    assert_eq!(
        done.errors(),
        "error: unknown function `frobnicate`\n --> unk.rhai:1:16\n  |\n1 | step(\"one\", || frobnicate(1));\n  |                ^\ncaused by: in a closure, called at unk.rhai:1:1\nhint: `hubops docs` lists every function\n"
    );
}

#[test]
fn wrong_arguments_list_the_signatures() {
    let (done, _dir) = Test::new().file("w.rhai", "sleep(1, 2);\n").args(&["run", "w.rhai"]).run();
    done.status(1);
    assert!(done.stderr.contains("error: function `sleep` cannot be called with (int, int)"), "{}", done.stderr);
    assert!(
        done.stderr.contains("hint: it takes: sleep(duration: string); sleep(seconds: float); sleep(seconds: int)"),
        "{}",
        done.stderr
    );
}

#[test]
fn missing_parameter_is_reported_before_anything_runs() {
    let (done, dir) = Test::new().args(&["run", "hub-health", "--journal", "j.jsonl"]).run();
    done.status(2).stderr(
        "error: 1 problem with the parameters of `hub-health`\n  - missing required parameter `hub`: Base URL of the hub (set it with --set hub=https://hub.example.org)\nhint: `hubops show hub-health` lists the parameters of this runbook\n",
    );
    assert!(!dir.path().join("j.jsonl").exists(), "no journal for a run that never started");
}

#[test]
fn every_parameter_problem_is_reported_together() {
    let (done, _dir) = Test::new()
        .file("typed.rhai", "let p = params(#{ n: #{ type: \"int\" }, ttl: #{ type: \"int\", default_value: 60 }, stage: #{ choices: [\"a\", \"b\"] } });\n")
        .file("p.yaml", "ttl: sixty\n")
        .args(&["run", "typed.rhai", "--set", "n=abc", "--set", "stage=c", "--set", "tll=1", "--params", "p.yaml"])
        .run();
    done.status(2).stderr(
        "error: 4 problems with the parameters of `typed`\n  - unknown parameter `tll` given with --set (did you mean `ttl`?)\n  - parameter `n` expects an int, got `abc`\n  - parameter `ttl` expects an int, got `sixty`\n  - parameter `stage` must be one of a, b, got `c`\nhint: `hubops show typed` lists the parameters of this runbook\n",
    );
}

#[test]
fn unknown_runbook_suggests_the_closest() {
    let (done, _dir) = Test::new().args(&["run", "hub-helth"]).run();
    done.status(2).stderr("error: unknown runbook `hub-helth`\nhint: did you mean `hub-health`?\n");
    let (done, _dir) = Test::new().args(&["show", "nothing-like-it"]).run();
    done.status(2).stderr(
        "error: unknown runbook `nothing-like-it`\nhint: `hubops list` shows the bundled runbooks and those on the search path\n",
    );
}

#[test]
fn confirm_without_a_terminal_or_yes_is_an_error_never_a_silent_yes() {
    let (done, _dir) = Test::new()
        .file("c.rhai", "confirm(\"proceed with cutover?\");\nprint(\"went on\");\n")
        .args(&["run", "c.rhai"])
        .run();
    done.status(2).stdout("");
    assert_eq!(
        done.errors(),
        "error: `confirm` needs an answer but there is no terminal to ask on: proceed with cutover?\n --> c.rhai:1:1\n  |\n1 | confirm(\"proceed with cutover?\");\n  | ^\nhint: pass --yes to answer yes to every question, or run hubops from a terminal\n"
    );
    let (done, _dir) = Test::new()
        .file("c.rhai", "confirm(\"proceed with cutover?\");\nprint(\"went on\");\n")
        .args(&["run", "c.rhai", "--yes"])
        .run();
    done.status(0).stdout("went on\n");
}

#[test]
fn list_shows_bundled_and_search_path_runbooks_with_site_copies_first() {
    let (done, _dir) = Test::new()
        .file("site/hub-health.rhai", "//! Our own health check.\nlet p = params(#{});\n")
        .file("site/cutover.rhai", "//! Site cutover.\nstep(\"a\", || 1);\n")
        .file("site/helpers.rhai", "//! Not a runbook.\nfn helper() { 1 }\n")
        .args(&["list", "--path", "site"])
        .run();
    done.status(0).stdout(
        "cutover            Site cutover.  [site/cutover.rhai]\nhub-health         Our own health check.  [site/hub-health.rhai]\ncae-blue-green     Blue/green cutover of a JupyterHub behind Route53 (the CAE plan).  [bundled]\ncae-home-volumes   Migrate JupyterHub home volumes from gp2 to gp3 (the CAE plan's \"full PVC migration\").  [bundled]\nhub-move           Move a JupyterHub to another cluster, its homes and database with it.  [bundled]\nnublado-migration  Nublado major version migration (v2 -> v3) on a Phalanx site, in three maintenance windows.  [bundled]\n",
    );
    let (done, _dir) = Test::new().args(&["list"]).run();
    done.status(0);
    let names: Vec<&str> = done.stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["cae-blue-green", "cae-home-volumes", "hub-health", "hub-move", "nublado-migration"]);
    assert!(done.stdout.contains("hub-health         Check that a JupyterHub is healthy"), "{}", done.stdout);
}

#[test]
fn show_lists_parameters_without_running() {
    let (done, _dir) = Test::new().args(&["show", "hub-health"]).run();
    done.status(0);
    for needle in [
        "hub-health (bundled)",
        "Rehearse on its world `hub-health`: hubops run hub-health --rehearse",
        "  hub      string, required\n           Base URL of the hub\n           example: --set hub=https://hub.example.org\n",
        "  token    string, optional, secret\n",
        "  timeout  duration, optional, default 5m\n",
    ] {
        assert!(done.stdout.contains(needle), "missing {needle:?} in\n{}", done.stdout);
    }
}

#[test]
fn run_help_names_the_runbook_parameters() {
    let (done, _dir) = Test::new().args(&["run", "hub-health", "--help"]).run();
    done.status(0);
    assert!(done.stdout.contains("--dry-run"), "{}", done.stdout);
    assert!(done.stdout.contains("Parameters:\n  hub "), "{}", done.stdout);
    let (done, _dir) = Test::new().args(&["--help"]).run();
    done.status(0);
    assert!(done.stdout.contains("Start with `hubops list`"), "{}", done.stdout);
}

#[test]
fn check_reports_every_problem_with_positions() {
    let (done, _dir) = Test::new()
        .file(
            "bad.rhai",
            "let p = params(#{ a: #{ defualt_value: 1 } });\nstep(\"x\", || lens(1));\nimport \"nope\" as n;\n",
        )
        .args(&["check", "bad.rhai"])
        .run();
    done.status(1).stderr(
        "error: `a` has an unknown field `defualt_value` (did you mean `default_value`?)\n --> bad.rhai:1:25\n  |\n1 | let p = params(#{ a: #{ defualt_value: 1 } });\n  |                         ^\nerror: module `nope` not found\n --> bad.rhai:3:1\n  |\n3 | import \"nope\" as n;\n  | ^\nerror: unknown function `lens`\n --> bad.rhai:2:14\n  |\n2 | step(\"x\", || lens(1));\n  |              ^\nhint: did you mean `len`?\nerror: 3 problems found\n",
    );
}

#[test]
fn every_bundled_runbook_and_module_checks_clean() {
    let (done, _dir) = Test::new().args(&["list"]).run();
    let names: Vec<String> =
        done.stdout.lines().filter_map(|l| l.split_whitespace().next()).map(String::from).collect();
    assert!(!names.is_empty());
    let mut args = vec!["check"];
    args.extend(names.iter().map(String::as_str));
    let (done, _dir) = Test::new().args(&args).run();
    done.status(0);
    // Modules are checked through the runbooks that import them, and alone:
    let (done, dir) = Test::new().args(&["eject", "hub-health", "--with-modules"]).run();
    done.status(0);
    let (done, _dir2) = Test::new().args(&["check", &dir.path().join("jupyterhub.rhai").display().to_string()]).run();
    done.status(0);
}

#[test]
fn eject_writes_the_runbook_and_its_modules_and_never_overwrites() {
    let (done, dir) = Test::new().args(&["eject", "hub-health", "--with-modules"]).run();
    done.status(0);
    let ejected = std::fs::read_to_string(dir.path().join("hub-health.rhai")).unwrap();
    assert!(ejected.starts_with("//! Check that a JupyterHub is healthy"));
    assert!(dir.path().join("jupyterhub.rhai").is_file());
    let again = Test::new().args(&["eject", "hub-health"]);
    std::fs::write(again.path("hub-health.rhai"), "mine").unwrap();
    let (done, dir) = again.run();
    done.status(2).stderr("error: `hub-health.rhai` already exists\nhint: pass --force to overwrite it\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("hub-health.rhai")).unwrap(), "mine");
}

#[test]
fn an_ejected_copy_runs_and_overrides_a_module_locally() {
    let t = Test::new().args(&["eject", "hub-health", "--with-modules"]);
    let (done, dir) = t.run();
    done.status(0);
    let module = dir.path().join("jupyterhub.rhai");
    let text = std::fs::read_to_string(&module).unwrap();
    std::fs::write(
        &module,
        text.replace("fn active_users(users) {", "fn active_users(users) {\n    print(\"site override\");"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hubops-e2e"))
        .args(["run", "hub-health.rhai", "--world", "hub-health", "-q"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("site override"), "{stdout}");
}

#[test]
fn docs_cover_every_binding_with_an_example() {
    let (done, _dir) = Test::new().args(&["docs"]).run();
    done.status(0);
    for needle in ["### `step(", "### `parallel(", "## `http::`", "### `http::get(", "## `log::`", "```rhai"] {
        assert!(done.stdout.contains(needle), "missing {needle} in docs");
    }
    let (done, _dir) = Test::new().args(&["docs", "--format", "definitions"]).run();
    done.status(0);
    assert!(done.stdout.contains("fn step("), "{}", &done.stdout[..done.stdout.len().min(400)]);
}

#[test]
fn world_file_problems_name_the_file_and_section() {
    let (done, _dir) = Test::new()
        .file("w.yaml", "name: w\nhtp:\n  endpoints: []\n")
        .file("r.rhai", "step(\"a\", || 1);\n")
        .args(&["run", "r.rhai", "--world", "w.yaml"])
        .run();
    done.status(2).stderr("error: world `w.yaml` has an unknown section `htp`\nhint: did you mean `http`?\n");
    let (done, _dir) = Test::new().file("r.rhai", "step(\"a\", || 1);\n").args(&["run", "r.rhai", "--rehearse"]).run();
    done.status(2).stderr(
        "error: runbook `r` names no default world to rehearse on\nhint: pass --world FILE, or add `//! world: NAME` to the runbook's header\n",
    );
}

#[test]
fn a_world_path_is_relative_to_where_hubops_runs() {
    let (done, _dir) = Test::new()
        .file("site/worlds-here/w.yaml", "name: w\n")
        .file("site/r.rhai", "step(\"a\", || 1);\n")
        .args(&["run", "site/r.rhai", "--world", "site/worlds-here/w.yaml", "-q"])
        .run();
    done.status(0);
}

#[test]
fn every_function_in_the_reference_has_an_example() {
    let (done, _dir) = Test::new().args(&["docs"]).run();
    done.status(0);
    let sections: Vec<&str> = done.stdout.split("\n### ").skip(1).collect();
    assert!(sections.len() > 100, "{} functions", sections.len());
    let missing: Vec<&str> =
        sections.iter().filter(|s| !s.contains("```rhai")).filter_map(|s| s.lines().next()).collect();
    assert!(missing.is_empty(), "no example: {missing:?}");
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let t = Test::new().args(&["docs"]);
    let mut child =
        t.command().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Close the reading end at once, as `hubops docs | head -1` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn eject_into_a_new_folder_named_with_a_slash() {
    let (done, dir) = Test::new().args(&["eject", "hub-health", "--with-modules", "site/"]).run();
    done.status(0);
    assert!(dir.path().join("site/hub-health.rhai").is_file());
    assert!(dir.path().join("site/jupyterhub.rhai").is_file());
}
