//! The editor's tests: what it changes, what it keeps, what it refuses.

use serde_json::json;

use super::*;

const VALUES: &str = "# Phalanx values for nublado2 on idfdev.
# Reviewed in git: keep the comments.

jupyterhub:
  hub:
    # Where the hub is served.
    baseUrl: \"/nb\"   # moves to /n2 in the migration
    image:
      name: lsstsqre/nublado2
      tag: '2.6.1'
  proxy:
    service:
      type: ClusterIP

singleuser:
  cpu: 2          # cores
  extraEnv:
    - name: A
      value: b
tolerations:
- key: x
  operator: Exists
flow: {a: 1}
notes: |
  hub:
    baseUrl: not a key
# trailing comment
";

fn set(text: &str, path: &str, value: Value) -> Result<String, Error> {
    edit(text, &parse_path(path).unwrap(), &Op::Set(value))
}

fn remove(text: &str, path: &str) -> Result<String, Error> {
    edit(text, &parse_path(path).unwrap(), &Op::Remove)
}

#[test]
fn setting_a_key_changes_only_its_value() {
    let out = set(VALUES, "jupyterhub.hub.baseUrl", json!("/n2")).unwrap();
    assert_eq!(out, VALUES.replace("baseUrl: \"/nb\"   # moves", "baseUrl: \"/n2\"   # moves"));
    let out = set(VALUES, "singleuser.cpu", json!(4)).unwrap();
    assert_eq!(out, VALUES.replace("  cpu: 2          # cores", "  cpu: 4          # cores"));
    let out = set(VALUES, "jupyterhub.hub.image.tag", json!("3.0.0")).unwrap();
    assert_eq!(out, VALUES.replace("tag: '2.6.1'", "tag: '3.0.0'"), "single quotes stay single");
    let out = set(VALUES, "jupyterhub.proxy.service.type", json!("true")).unwrap();
    assert_eq!(out, VALUES.replace("type: ClusterIP", "type: 'true'"), "strings that read as other types are quoted");
}

#[test]
fn setting_the_same_value_changes_nothing() {
    assert_eq!(set(VALUES, "jupyterhub.hub.baseUrl", json!("/nb")).unwrap(), VALUES);
}

#[test]
fn setting_a_missing_key_adds_lines_under_its_parent() {
    let out = set(VALUES, "jupyterhub.hub.cookieSecure", json!(true)).unwrap();
    assert_eq!(out, VALUES.replace("      tag: '2.6.1'\n", "      tag: '2.6.1'\n    cookieSecure: true\n"));
    let out = set(VALUES, "jupyterhub.hub.config.Authenticator.admin_users", json!(["alice", "bob"])).unwrap();
    assert_eq!(
        out,
        VALUES.replace(
            "      tag: '2.6.1'\n",
            "      tag: '2.6.1'\n    config:\n      Authenticator:\n        admin_users:\n          - alice\n          - bob\n"
        )
    );
    let out = set(VALUES, "cachemachine", json!(false)).unwrap();
    assert_eq!(out, VALUES.replace("# trailing comment\n", "cachemachine: false\n# trailing comment\n"));
}

#[test]
fn setting_a_block_to_a_scalar_and_back() {
    let out = set(VALUES, "jupyterhub.proxy", json!("off")).unwrap();
    assert_eq!(out, VALUES.replace("  proxy:\n    service:\n      type: ClusterIP\n", "  proxy: 'off'\n"));
    let out = set(VALUES, "singleuser.cpu", json!({ "limit": 4, "guarantee": 1 })).unwrap();
    assert_eq!(
        out,
        VALUES.replace("  cpu: 2          # cores\n", "  cpu:          # cores\n    guarantee: 1\n    limit: 4\n")
    );
}

#[test]
fn removing_a_key_drops_its_lines_only() {
    let out = remove(VALUES, "jupyterhub.hub.baseUrl").unwrap();
    assert_eq!(out, VALUES.replace("    baseUrl: \"/nb\"   # moves to /n2 in the migration\n", ""));
    let out = remove(VALUES, "jupyterhub.hub.image").unwrap();
    assert_eq!(out, VALUES.replace("    image:\n      name: lsstsqre/nublado2\n      tag: '2.6.1'\n", ""));
    let out = remove(VALUES, "tolerations").unwrap();
    assert_eq!(out, VALUES.replace("tolerations:\n- key: x\n  operator: Exists\n", ""));
    assert_eq!(remove(VALUES, "jupyterhub.hub.missing").unwrap(), VALUES);
    assert_eq!(remove(VALUES, "nothere.at.all").unwrap(), VALUES);
}

#[test]
fn removing_the_last_key_leaves_an_empty_mapping() {
    let out = remove(VALUES, "jupyterhub.proxy.service.type").unwrap();
    assert_eq!(out, VALUES.replace("    service:\n      type: ClusterIP\n", "    service: {}\n"));
}

#[test]
fn refuses_what_it_cannot_edit_in_place() {
    let err = set(VALUES, "singleuser.extraEnv.name", json!("x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`extraEnv` is not a mapping, not a block mapping, so `singleuser.extraEnv.name` cannot be edited in place"
    );
    let err = set(VALUES, "flow.b", json!(2)).unwrap_err();
    assert_eq!(err.to_string(), "`flow` is a flow mapping, not a block mapping, so `flow.b` cannot be edited in place");
    let err = set(VALUES, "notes.hub", json!(2)).unwrap_err();
    assert!(err.to_string().starts_with("`notes` is not a mapping"), "{err}");
    assert!(set("a: [\n", "a", json!(1)).unwrap_err().to_string().starts_with("not valid YAML"));
    assert_eq!(
        parse_path("a..b").unwrap_err().to_string(),
        "`a..b` is not a key path (keys separated by dots, `[N]` for an entry of a sequence, or an array of keys and indices)"
    );
}

#[test]
fn keeps_crlf_and_a_missing_final_newline() {
    let text = "a: 1\r\nb:\r\n  c: 2\r\n";
    assert_eq!(set(text, "b.d", json!(3)).unwrap(), "a: 1\r\nb:\r\n  c: 2\r\n  d: 3\r\n");
    assert_eq!(set("a: 1", "a", json!(2)).unwrap(), "a: 2");
    assert_eq!(set("a: 1", "b", json!(2)).unwrap(), "a: 1\nb: 2");
    assert_eq!(set("", "a.b", json!("x")).unwrap(), "a:\n  b: x\n");
    assert_eq!(set("# only a comment\n", "a", json!(1)).unwrap(), "a: 1\n# only a comment\n");
}

#[test]
fn follows_the_files_indentation() {
    let text = "hub:\n    image:\n        tag: 1\n";
    assert_eq!(set(text, "hub.image.name", json!("x")).unwrap(), "hub:\n    image:\n        tag: 1\n        name: x\n");
    assert_eq!(set(text, "hub.baseUrl", json!("/n2")).unwrap(), "hub:\n    image:\n        tag: 1\n    baseUrl: /n2\n");
    assert_eq!(
        set(text, "proxy.https.enabled", json!(true)).unwrap(),
        "hub:\n    image:\n        tag: 1\nproxy:\n    https:\n        enabled: true\n"
    );
}

#[test]
fn tricky_lines() {
    assert_eq!(set("url: http://a:8080/x # c\n", "url", json!("http://b")).unwrap(), "url: http://b # c\n");
    assert_eq!(set("---\nhub:\n  a: 1\n", "hub.a", json!(2)).unwrap(), "---\nhub:\n  a: 2\n");
    assert_eq!(set("hub:\n# at column 0\n  a: 1\n", "hub.a", json!(2)).unwrap(), "hub:\n# at column 0\n  a: 2\n");
    assert_eq!(
        edit("\"hub.x\": 1\n", &[Seg::Key("hub.x".to_string())], &Op::Set(json!(2))),
        Ok("\"hub.x\": 2\n".to_string())
    );
    assert_eq!(set("a: one\n  two\nb: 1\n", "a", json!("x")).unwrap(), "a: x\nb: 1\n");
    assert_eq!(set("hub:\nproxy: 1\n", "hub.baseUrl", json!("/n2")).unwrap(), "hub:\n  baseUrl: /n2\nproxy: 1\n");
    assert_eq!(set("hub:   # the hub\n  a: 1\n", "hub", json!(4)).unwrap(), "hub: 4   # the hub\n");
    assert_eq!(set("k:    # empty\n", "k", json!(4)).unwrap(), "k: 4    # empty\n");
    let err = set("base: &b /nb\nother: *b\n", "base", json!("/n2")).unwrap_err();
    assert_eq!(err.to_string(), "editing `base` in place would change more than that key; edit the file by hand");
}

const MOBU: &str = "# mobu on idfdev
config:
  autostart:
    # The notebook flock.
    - name: recreate
      count: 1
      business:
        type: NotebookRunner
        use_cachemachine: true   # nublado 2 only
        options:
          repo_url: https://github.com/lsst-sqre/system-test.git
    - name: weekly
      business:
        use_cachemachine: true
        type: NotebookRunner
    - name: empty
      business: {type: EmptyLoop}
";

#[test]
fn paths_name_sequence_entries() {
    assert_eq!(
        parse_path("config.autostart[1].business").unwrap(),
        [Seg::Key("config".into()), Seg::Key("autostart".into()), Seg::Index(1), Seg::Key("business".into())]
    );
    assert_eq!(dotted(&parse_path("a[0][2].b").unwrap()), "a[0][2].b");
    for bad in ["[0]", "a[x]", "a[0]b", "a]", "a.", "a[0"] {
        assert!(matches!(parse_path(bad), Err(Error::BadPath(_))), "{bad}");
    }
}

#[test]
fn keys_inside_sequence_entries_change_in_place() {
    let out = set(MOBU, "config.autostart[0].business.use_cachemachine", json!(false)).unwrap();
    assert_eq!(
        out,
        MOBU.replacen("use_cachemachine: true   # nublado 2 only", "use_cachemachine: false   # nublado 2 only", 1)
    );
    let out = set(MOBU, "config.autostart[1].business.use_cachemachine", json!(false)).unwrap();
    assert_eq!(
        out,
        MOBU.replace("        use_cachemachine: true\n        type", "        use_cachemachine: false\n        type")
    );
    let out = set(MOBU, "config.autostart[0].name", json!("recreate-2")).unwrap();
    assert_eq!(out, MOBU.replace("- name: recreate\n", "- name: recreate-2\n"));
    let out = set(MOBU, "config.autostart[1].count", json!(3)).unwrap();
    assert_eq!(
        out,
        MOBU.replace(
            "        type: NotebookRunner\n    - name: empty",
            "        type: NotebookRunner\n      count: 3\n    - name: empty"
        )
    );
    let out = set(MOBU, "config.autostart[2].count", json!(2)).unwrap();
    assert_eq!(
        out,
        MOBU.replace("      business: {type: EmptyLoop}\n", "      business: {type: EmptyLoop}\n      count: 2\n")
    );
    // Items at their key's own indentation.
    let out = set(VALUES, "tolerations[0].operator", json!("Equal")).unwrap();
    assert_eq!(out, VALUES.replace("  operator: Exists", "  operator: Equal"));
    let out = set(VALUES, "singleuser.extraEnv[0].value", json!("c")).unwrap();
    assert_eq!(out, VALUES.replace("      value: b", "      value: c"));
    let out = set(MOBU, "config.autostart[1].business.restart", json!(true)).unwrap();
    assert_eq!(
        out,
        MOBU.replace(
            "        type: NotebookRunner\n    - name: empty",
            "        type: NotebookRunner\n        restart: true\n    - name: empty"
        )
    );
}

#[test]
fn entries_and_their_keys_are_removed_in_place() {
    let out = remove(MOBU, "config.autostart[0].business.use_cachemachine").unwrap();
    assert_eq!(out, MOBU.replace("        use_cachemachine: true   # nublado 2 only\n", ""));
    let out = remove(MOBU, "config.autostart[1]").unwrap();
    assert_eq!(
        out,
        MOBU.replace(
            "    - name: weekly\n      business:\n        use_cachemachine: true\n        type: NotebookRunner\n",
            ""
        )
    );
    // The key on the dash line: the next key takes the dash.
    let out = remove(MOBU, "config.autostart[1].name").unwrap();
    assert_eq!(out, MOBU.replace("    - name: weekly\n      business:\n", "    - business:\n"));
    let out = remove(MOBU, "config.autostart[0].count").unwrap();
    assert_eq!(out, MOBU.replace("      count: 1\n", ""));
    assert_eq!(remove("a:\n  - x: 1\n", "a[0].x").unwrap(), "a:\n  - {}\n");
    assert_eq!(remove("a:\n  -\n    x: 1\n", "a[0].x").unwrap(), "a:\n  - {}\n");
    assert_eq!(remove("a:  # the list\n  - 1\nb: 2\n", "a[0]").unwrap(), "a: []  # the list\nb: 2\n");
    assert_eq!(remove(MOBU, "config.autostart[0].missing").unwrap(), MOBU);
}

#[test]
fn scalar_entries_are_replaced_in_place() {
    let text = "scopes:\n  - exec:notebook   # for the lab\n  - 'read:image'\n";
    assert_eq!(
        set(text, "scopes[0]", json!("exec:admin")).unwrap(),
        "scopes:\n  - exec:admin   # for the lab\n  - 'read:image'\n"
    );
    assert_eq!(
        set(text, "scopes[1]", json!("read:tap")).unwrap(),
        "scopes:\n  - exec:notebook   # for the lab\n  - 'read:tap'\n"
    );
    assert_eq!(
        set(text, "scopes[1]", json!({ "name": "x", "count": 2 })).unwrap(),
        "scopes:\n  - exec:notebook   # for the lab\n  - count: 2\n    name: x\n"
    );
}

#[test]
fn refuses_sequence_edits_it_cannot_make() {
    let err = set(MOBU, "config.autostart[3].name", json!("x")).unwrap_err();
    assert_eq!(err.to_string(), "`config.autostart` has 3 entries, so `config.autostart[3].name` does not exist");
    let err = set(MOBU, "config.autostart[2].business.type", json!("x")).unwrap_err();
    assert_eq!(err.to_string(), "`business` is a flow mapping, not a block mapping, so `config.autostart[2].business.type` cannot be edited in place");
    let err = set(MOBU, "config[0]", json!("x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`config` is not a sequence, not a block sequence, so `config[0]` cannot be edited in place"
    );
    let err = set("a: [1, 2]\n", "a[0]", json!(3)).unwrap_err();
    assert_eq!(err.to_string(), "`a` is a flow sequence, not a block sequence, so `a[0]` cannot be edited in place");
    let err = set("a:\n  - 1\n", "a[0].b", json!(3)).unwrap_err();
    assert_eq!(err.to_string(), "`a[0]` is not a mapping, not a block mapping, so `a[0].b` cannot be edited in place");
    let err = set("a:\n  - - 1\n", "a[0][0]", json!(3)).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    let err = set("b: 1\n", "a[0].x", json!(3)).unwrap_err();
    assert_eq!(err.to_string(), "`a` has 0 entries, so `a[0].x` does not exist");
    assert!(matches!(remove(MOBU, "config.autostart[9]"), Err(Error::NoIndex { len: 3, .. })));
}

proptest::proptest! {
    #[test]
    fn edits_never_panic_and_never_change_other_keys(
        text in "([a-c]{1,2}:( [0-9x]| *\\{\\}| \\|)?\n( {2,4}[a-c]{1,2}: [0-9]\n| *# c\n| *- [0-9]\n)*){0,6}",
        path in "[a-c]{1,2}(\\.[a-c]{1,2}){0,2}",
        value in 0i64..10,
        op in 0u8..2,
    ) {
        let keys = parse_path(&path).unwrap();
        let op = if op == 0 { Op::Set(json!(value)) } else { Op::Remove };
        if let Ok(out) = edit(&text, &keys, &op) {
            // The editor checks itself; a success is the expected document.
            let before = parse(&text).unwrap();
            proptest::prop_assert_eq!(parse(&out).unwrap(), expected(&before, &keys, &op).unwrap());
        }
    }
}

proptest::proptest! {
    #[test]
    fn sequence_edits_never_panic_and_never_change_other_keys(
        text in "([a-c]:\n( {0,2}- ([a-c]: [0-9]|[0-9]|\\{\\})\n( {2,6}[a-c]: [0-9]\n| *# c\n)*)*){0,4}",
        path in "[a-c](\\[[0-2]\\](\\.[a-c])?)?",
        value in 0i64..10,
        op in 0u8..2,
    ) {
        let keys = parse_path(&path).unwrap();
        let op = if op == 0 { Op::Set(json!(value)) } else { Op::Remove };
        if let Ok(out) = edit(&text, &keys, &op) {
            let before = parse(&text).unwrap();
            proptest::prop_assert_eq!(parse(&out).unwrap(), expected(&before, &keys, &op).unwrap());
        }
    }
}
