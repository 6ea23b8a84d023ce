//! `yaml::` - edits of a values file with comments: everything but the
//! edited key stays byte-identical; a dry run shows the diff and writes
//! nothing.

use crate::support::{read, Test};

const VALUES: &str = "# nublado2 on idfdev: reviewed in git, keep the comments.
jupyterhub:
  hub:
    # Where the hub is served.
    baseUrl: \"/nb\"   # /n2 after the migration
    image:
      tag: '2.6.1'
  singleuser:
    extraEnv:
      - name: A

# Applications.
mobu: true   # turn off during the window
";

#[test]
fn set_changes_only_the_edited_key() {
    let script = r#"let r = yaml::set("values.yaml", "jupyterhub.hub.baseUrl", "/n2");
print(`${r.changed} ${r.planned}`);
print(yaml::get("values.yaml", "jupyterhub.hub.baseUrl"));
print(yaml::set("values.yaml", "jupyterhub.hub.baseUrl", "/n2").changed);
"#;
    let (done, dir) = Test::new()
        .file("values.yaml", VALUES)
        .file("s.rhai", script)
        .args(&["run", "s.rhai", "--journal", "j.jsonl"])
        .run();
    done.status(0).stdout("true false\n/n2\nfalse\n");
    assert_eq!(read(dir.path(), "values.yaml"), VALUES.replace("baseUrl: \"/nb\"", "baseUrl: \"/n2\""));
    assert!(done.stderr.contains("Applying set jupyterhub.hub.baseUrl in values.yaml\n"), "{}", done.stderr);
    let journal = read(dir.path(), "j.jsonl");
    assert!(journal.contains(r#""after":"/n2","before":"/nb""#), "{journal}");
}

#[test]
fn dry_run_shows_the_diff_and_writes_nothing() {
    let script = "yaml::set(\"values.yaml\", \"jupyterhub.hub.baseUrl\", \"/n2\");\n";
    let (done, dir) =
        Test::new().file("values.yaml", VALUES).file("s.rhai", script).args(&["run", "s.rhai", "--dry-run"]).run();
    done.status(0);
    assert_eq!(read(dir.path(), "values.yaml"), VALUES);
    assert!(
        done.stderr.contains(
            "--- a/values.yaml\n+++ b/values.yaml\n@@ -2,7 +2,7 @@\n jupyterhub:\n   hub:\n     # Where the hub is served.\n-    baseUrl: \"/nb\"   # /n2 after the migration\n+    baseUrl: \"/n2\"   # /n2 after the migration\n     image:\n       tag: '2.6.1'\n   singleuser:\n"
        ),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("     set        jupyterhub.hub.baseUrl in values.yaml\n                ~ /nb -> /n2\n"),
        "{}",
        done.stderr
    );
}

#[test]
fn remove_and_add_keys() {
    let script = r#"yaml::remove("values.yaml", "jupyterhub.hub.baseUrl");
yaml::set("values.yaml", ["jupyterhub", "hub", "config"], #{ JupyterHub: #{ admin_access: false } });
yaml::remove("values.yaml", "mobu");
print(yaml::remove("values.yaml", "not.there").changed);
"#;
    let (done, dir) = Test::new().file("values.yaml", VALUES).file("s.rhai", script).args(&["run", "s.rhai"]).run();
    done.status(0).stdout("false\n");
    let expected = VALUES
        .replace("    baseUrl: \"/nb\"   # /n2 after the migration\n", "")
        .replace(
            "      tag: '2.6.1'\n",
            "      tag: '2.6.1'\n    config:\n      JupyterHub:\n        admin_access: false\n",
        )
        .replace("mobu: true   # turn off during the window\n", "");
    assert_eq!(read(dir.path(), "values.yaml"), expected);
}

#[test]
fn edits_that_cannot_be_made_in_place_are_refused() {
    let (done, dir) = Test::new()
        .file("values.yaml", VALUES)
        .file("s.rhai", "yaml::set(\"values.yaml\", \"jupyterhub.singleuser.extraEnv.name\", \"B\");\n")
        .args(&["run", "s.rhai"])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("error: `values.yaml`: `extraEnv` is not a mapping, not a block mapping, so `jupyterhub.singleuser.extraEnv.name` cannot be edited in place\n"),
        "{}",
        done.stderr
    );
    assert_eq!(read(dir.path(), "values.yaml"), VALUES);
    let (done, _dir) =
        Test::new().file("s.rhai", "yaml::set(\"nope.yaml\", \"a\", 1);\n").args(&["run", "s.rhai"]).run();
    done.status(1);
    assert!(
        done.stderr.contains("error: cannot read `nope.yaml`: No such file or directory (os error 2)\n"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_symlinked_values_file_stays_a_symlink() {
    let t =
        Test::new().file("real/values.yaml", VALUES).file("s.rhai", "yaml::set(\"values.yaml\", \"mobu\", false);\n");
    std::os::unix::fs::symlink("real/values.yaml", t.path("values.yaml")).unwrap();
    let (done, dir) = t.args(&["run", "s.rhai"]).run();
    done.status(0);
    assert!(std::fs::symlink_metadata(dir.path().join("values.yaml")).unwrap().file_type().is_symlink());
    assert_eq!(read(dir.path(), "real/values.yaml"), VALUES.replace("mobu: true ", "mobu: false "));
}

#[test]
fn a_dry_run_of_set_and_remove_leaves_the_file_byte_for_byte() {
    let script = r#"let a = yaml::set("values.yaml", "jupyterhub.hub.baseUrl", "/n2");
let b = yaml::remove("values.yaml", "mobu");
print(`${a.planned} ${b.planned}`);
"#;
    let (done, dir) =
        Test::new().file("values.yaml", VALUES).file("s.rhai", script).args(&["run", "s.rhai", "--dry-run"]).run();
    done.status(0).stdout("true true\n");
    assert_eq!(std::fs::read(dir.path().join("values.yaml")).unwrap(), VALUES.as_bytes());
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "state")
        .collect();
    names.sort();
    assert_eq!(names, ["s.rhai", "values.yaml"], "no temporary file either");
}

#[test]
fn a_read_only_values_file_would_fail_in_a_dry_run() {
    let t = Test::new().file("values.yaml", VALUES).file(
        "s.rhai",
        "try { yaml::set(\"values.yaml\", \"mobu\", false); } catch (e) { print(`${e.kind} ${e.gate}`); }\n",
    );
    let mut perms = std::fs::metadata(t.path("values.yaml")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
    std::fs::set_permissions(t.path("values.yaml"), perms).unwrap();
    let (done, dir) = t.args(&["run", "s.rhai", "--dry-run"]).run();
    done.status(0).stdout("Forbidden WouldFail\n");
    assert!(done.stderr.contains("Would fail set mobu in values.yaml: `values.yaml` is read-only"), "{}", done.stderr);
    assert_eq!(read(dir.path(), "values.yaml"), VALUES);
}
