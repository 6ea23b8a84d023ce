//! The AWS bindings: live through the real SDK against `moto_server` on a
//! loopback port, and on worlds. Exact error texts are asserted.

use hubops::journal::Event;

use crate::moto::Moto;
use crate::support::{read, Test};

const EC2_ALL: &str = r#"//! Every EC2 verb once.
let ec2 = aws::account(#{ region: "us-west-2" }).ec2();
let v = step("volume", || ec2.create_volume(#{ az: "us-west-2a", size: 10, type: "gp2", tags: #{ Name: "home-ana" } }));
print(`created ${v.type} ${v.size} ${v.state} ${v.tags.Name}`);
print(`read ${ec2.volume(v.id).id == v.id}`);
print(`by tag ${ec2.volumes(#{ tags: #{ Name: "home-ana" } }).len()}`);
print(`by filter ${ec2.volumes(#{ filters: #{ "volume-type": "gp2" } }).len()}`);
print(`by id ${ec2.volumes(#{ ids: [v.id] })[0].id == v.id}`);
let s = step("snapshot", || ec2.snapshot(v.id, #{ description: "before gp3", tags: #{ migration: "cae" } }));
let s = ec2.wait_snapshot(s.id, #{ timeout: "1m" });
print(`snapshot ${s.state} ${s.progress} ${s.description} ${s.volume == v.id}`);
print(`snapshots ${ec2.snapshots(#{ tags: #{ migration: "cae" } }).len()} ${ec2.snapshots(#{ ids: [s.id] }).len()}`);
let m = step("gp3", || ec2.modify_volume(v.id, #{ type: "gp3", iops: 3000, throughput: 125 }));
print(`modified ${m.state} ${m.target_type} ${ec2.volume(v.id).type}`);
let n = step("restore", || ec2.create_volume(#{ snapshot: s.id, az: "us-west-2a", type: "gp3", throughput: 250 }));
let n = ec2.wait_volume(n.id, "available");
print(`restored ${n.state} ${n.snapshot == s.id} ${n.size}`);
ec2.tag(n.id, #{ migrated: "yes" });
print(`tagged ${ec2.volume(n.id).tags.migrated}`);
ec2.delete_snapshot(s.id);
ec2.delete_volume(v.id);
print(`left ${ec2.volumes().len()} ${ec2.snapshots(#{ filters: #{ "volume-id": v.id } }).len()}`);
"#;

#[test]
fn every_ec2_binding_works_on_moto() {
    let moto = Moto::start();
    let (done, _dir) = moto.test().file("ec2.rhai", EC2_ALL).args(&["run", "ec2.rhai", "--yes"]).run();
    done.status(0).stdout(
        "created gp2 10 available home-ana\nread true\nby tag 1\nby filter 1\nby id true\n\
         snapshot completed 100 before gp3 true\nsnapshots 1 1\nmodified completed gp3 gp3\n\
         restored available true 10\ntagged yes\nleft 1 0\n",
    );
}

#[test]
fn a_dry_run_on_moto_checks_with_dry_run_and_creates_nothing() {
    let moto = Moto::start();
    let existing = moto.py("print(ec2.create_volume(AvailabilityZone='us-west-2a', Size=8)['VolumeId'])");
    let script = format!(
        r#"//! Plan a migration.
let ec2 = aws::account().ec2();
let s = step("snapshot", || ec2.snapshot("{existing}"));
ec2.wait_snapshot(s.id);
let v = step("restore", || ec2.create_volume(#{{ snapshot: s.id, az: "us-west-2a" }}));
ec2.wait_volume(v.id, "available");
ec2.modify_volume("{existing}", #{{ type: "gp3" }});
ec2.tag("{existing}", #{{ planned: "yes" }});
ec2.delete_volume("{existing}");
print(`${{s.id}} ${{s.state}} ${{v.id}}`);
"#
    );
    let (done, _dir) =
        moto.test().file("plan.rhai", &script).args(&["run", "plan.rhai", "--dry-run", "--journal", "j.jsonl"]).run();
    done.status(0).stdout("snap-planned-1 planned vol-planned-2\n");
    assert!(done.stderr.contains("5 changes (1 destructive); nothing was changed"), "{}", done.stderr);
    let phases: Vec<String> = done
        .journal("j.jsonl")
        .into_iter()
        .filter_map(|e| if let Event::Change { phase, .. } = e { Some(phase) } else { None })
        .collect();
    assert_eq!(phases, ["planned"; 5]);
    let volumes = "ec2.describe_volumes()['Volumes']";
    assert_eq!(
        moto.py(&format!("v = {volumes}; print(len(v), v[0]['VolumeType'], len(v[0].get('Tags', [])))")),
        "1 gp2 0"
    );
    let snapshots = format!("ec2.describe_snapshots(Filters=[{{'Name': 'volume-id', 'Values': ['{existing}']}}])");
    assert_eq!(moto.py(&format!("print(len({snapshots}['Snapshots']))")), "0");
}

#[test]
fn a_dry_run_of_a_snapshot_of_a_missing_volume_plans_would_fail() {
    let moto = Moto::start();
    let (done, _dir) = moto
        .test()
        .file(
            "bad.rhai",
            "let ec2 = aws::account().ec2();\nstep(\"snap\", || ec2.snapshot(\"vol-0000000000000000\"));\n",
        )
        .args(&["run", "bad.rhai", "--dry-run"])
        .run();
    done.status(1);
    assert!(
        done.stderr
            .contains("Would fail snapshot volume `vol-0000000000000000`: volume `vol-0000000000000000` not found\n"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("1 change (0 destructive, 1 would fail); nothing was changed"), "{}", done.stderr);
}

#[test]
fn a_retried_create_in_a_step_makes_one_volume_even_though_moto_ignores_client_tokens() {
    let moto = Moto::start();
    // moto itself makes two volumes for one ClientToken:
    let twice = moto.py(
        "print(len({ec2.create_volume(AvailabilityZone='us-west-2a', Size=1, ClientToken='same')['VolumeId'] for _ in range(2)}))",
    );
    assert_eq!(twice, "2", "moto honours ClientToken now; hubops' own token tag could go");

    let script = r#"//! Retry a create the way a runbook would.
let ec2 = aws::account().ec2();
let ids = step("home", || {
    let spec = #{ az: "us-west-2b", size: 20, type: "gp3" };
    let first = ec2.create_volume(spec);
    let again = ec2.create_volume(spec);   // a retry after a lost answer
    let snap = ec2.snapshot(first.id);
    let snap_again = ec2.snapshot(first.id);
    [first.id, again.id, snap.id, snap_again.id]
});
print(`${ids[0] == ids[1]} ${ids[2] == ids[3]}`);
print(ec2.volumes(#{ filters: #{ "availability-zone": "us-west-2b" } }).len());
print(ec2.snapshots(#{ filters: #{ "volume-id": ids[0] } }).len());
"#;
    let (done, _dir) = moto.test().file("retry.rhai", script).args(&["run", "retry.rhai"]).run();
    done.status(0).stdout("true true\n1\n1\n");
    assert!(done.stderr.contains("(made by an earlier attempt)"), "{}", done.stderr);
}

#[test]
fn aws_errors_reach_scripts_with_kind_and_code() {
    let moto = Moto::start();
    let script = r#"let ec2 = aws::account().ec2();
try { ec2.volumes(#{ ids: ["vol-0123456789abcdef0"] }); } catch (e) { print(`${e.kind} ${e.code}`); }
try { ec2.volume("vol-0123456789abcdef0"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { ec2.volumes(#{ idz: [] }); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { aws::account().route53().zone("nowhere.example"); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#;
    let (done, _dir) = moto.test().file("e.rhai", script).args(&["run", "e.rhai"]).run();
    done.status(0).stdout(
        "NotFound InvalidVolume.NotFound\n\
         NotFound: volume `vol-0123456789abcdef0` not found\n\
         Invalid: `volumes` has no option `idz` (options: ids, filters, tags); did you mean `ids`?\n\
         NotFound: hosted zone `nowhere.example.` in account `default` not found\n",
    );
}

#[test]
fn nothing_listening_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let t = crate::moto::fake_credentials(Test::new()).env("HUBOPS_AWS_ENDPOINT", &format!("http://127.0.0.1:{port}"));
    let (done, _dir) = t
        .file("u.rhai", "try { aws::account().ec2().volumes(); } catch (e) { print(`${e.kind}: ${e.message}`); }\n")
        .args(&["run", "u.rhai"])
        .run();
    done.status(0);
    assert!(
        done.stdout.starts_with("Unreachable: DescribeVolumes: AWS is unreachable: dispatch failure: io error: client error (Connect): tcp connect error: Connection refused"),
        "{}",
        done.stdout
    );
}

const ROUTE53_ALL: &str = r#"//! Every Route53 verb once.
let r53 = aws::account().route53();
try { r53.zone("example.org"); } catch (e) { print(`${e.kind}: ${e.candidates.len()} candidates`); }
let zone = r53.zone("example.org", #{ visibility: "public" });
print(`${zone.name} ${zone.visibility}`);
print(zone.upsert("hub.example.org", "CNAME", "blue.elb.example.com", 60).status);
print(zone.upsert("multi.example.org", "A", ["192.0.2.2", "192.0.2.1"], 300, #{ wait: false }).status);
let r = zone.record("hub.example.org", "CNAME");
print(`${r.name} ${r.type} ${r.ttl} ${r.values}`);
print(zone.records(#{ name: "multi.example.org" })[0].values.len());
print(zone.records().len());
zone.alias("lb.example.org", "A", #{ dns_name: "green-123.us-west-2.elb.amazonaws.com", zone_id: "Z1H1FL5HABSF5" });
let a = zone.record("lb.example.org", "A");
print(`${a.alias.dns_name} ${a.alias.zone_id}`);
print(zone.swap("hub.example.org", "CNAME", "blue.elb.example.com", "green.elb.example.com", 30).status);
print(zone.record("hub.example.org", "CNAME").values[0]);
zone.delete("multi.example.org", "A");
print(zone.records(#{ name: "multi.example.org" }).len());
try { zone.record("multi.example.org", "A"); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#;

#[test]
fn every_route53_binding_works_on_moto() {
    let moto = Moto::start();
    moto.zone("example.org", false);
    moto.zone("example.org", true);
    let (done, _dir) = moto.test().file("r.rhai", ROUTE53_ALL).args(&["run", "r.rhai", "--yes"]).run();
    done.status(0).stdout(
        "Invalid: 2 candidates\nexample.org. public\nINSYNC\nINSYNC\n\
         hub.example.org. CNAME 60 [\"blue.elb.example.com\"]\n2\n4\n\
         green-123.us-west-2.elb.amazonaws.com Z1H1FL5HABSF5\nINSYNC\ngreen.elb.example.com\n0\n\
         NotFound: record `multi.example.org.` A not found in zone `example.org.`\n",
    );
}

const SWAP: &str = r#"//! Cut over from blue to green.
let zone = aws::account().route53().zone("example.org");
step("point hub at green", || zone.swap("hub.example.org", "CNAME", "blue.elb.example.com", "green.elb.example.com", 60));
"#;

#[test]
fn swap_refuses_a_record_someone_changed_which_moto_would_have_accepted() {
    let moto = Moto::start();
    let zone = moto.zone("example.org", false);
    let (done, _dir) = moto
        .test()
        .file("setup.rhai", "aws::account().route53().zone(\"example.org\").upsert(\"hub.example.org\", \"CNAME\", \"blue.elb.example.com\", 60);\n")
        .args(&["run", "setup.rhai"])
        .run();
    done.status(0);
    // Someone else points the hub elsewhere meanwhile.
    let batch = |action: &str, value: &str| {
        format!(
            "{{'Action': '{action}', 'ResourceRecordSet': {{'Name': 'hub.example.org', 'Type': 'CNAME', 'TTL': 60, 'ResourceRecords': [{{'Value': '{value}'}}]}}}}"
        )
    };
    moto.change(&zone, &[batch("UPSERT", "intruder.example.com")]);

    for dry_run in [true, false] {
        let mut args = vec!["run", "swap.rhai"];
        if dry_run {
            args.push("--dry-run");
        }
        let (done, _dir) = moto.test().file("swap.rhai", SWAP).args(&args).run();
        done.status(1);
        assert!(
            done.stderr.contains("record `hub.example.org.` CNAME is intruder.example.com (ttl 60), not the expected blue.elb.example.com; someone changed it, nothing was sent"),
            "{}",
            done.stderr
        );
    }
    assert_eq!(moto.value(&zone, "CNAME"), "intruder.example.com");

    // The same batch sent straight to moto: it deletes the intruder's record
    // although the DELETE names blue, which real Route53 rejects.
    moto.change(&zone, &[batch("DELETE", "blue.elb.example.com"), batch("CREATE", "green.elb.example.com")]);
    assert_eq!(
        moto.value(&zone, "CNAME"),
        "green.elb.example.com",
        "moto now rejects stale DELETEs; the test of hubops' own check still stands"
    );
}

#[test]
fn a_route53_dry_run_checks_preconditions_and_plans_before_and_after() {
    let moto = Moto::start();
    let zone = moto.zone("example.org", false);
    let (done, _dir) = moto
        .test()
        .file("setup.rhai", "aws::account().route53().zone(\"example.org\").upsert(\"hub.example.org\", \"CNAME\", \"blue.elb.example.com\", 60);\n")
        .args(&["run", "setup.rhai"])
        .run();
    done.status(0);
    let (done, _dir) = moto.test().file("swap.rhai", SWAP).args(&["run", "swap.rhai", "--dry-run"]).run();
    done.status(0);
    assert!(done.stderr.contains("Would swap CNAME hub.example.org. in zone `example.org.`"), "{}", done.stderr);
    assert!(done.stderr.contains("Would wait for CNAME hub.example.org. change INSYNC"), "{}", done.stderr);
    assert!(
        done.stderr.contains(r#"{"name":"hub.example.org.","ttl":60,"type":"CNAME","values":["blue.elb.example.com"]} -> {"name":"hub.example.org.","ttl":60,"type":"CNAME","values":["green.elb.example.com"]}"#),
        "{}",
        done.stderr
    );
    assert_eq!(moto.value(&zone, "CNAME"), "blue.elb.example.com");
}

/// Everything of moto's state a mutation could change.
const MOTO_STATE: &str = "tags = lambda x: sorted((t['Key'], t['Value']) for t in x.get('Tags', []))
print(json.dumps({
    'volumes': sorted((v['VolumeId'], v['VolumeType'], v['Size'], v['State'], tags(v)) for v in ec2.describe_volumes()['Volumes']),
    'snapshots': sorted((s['SnapshotId'], s['State'], tags(s)) for s in ec2.describe_snapshots(OwnerIds=['self'])['Snapshots']),
    'modifications': len(ec2.describe_volumes_modifications()['VolumesModifications']),
    'records': [sorted(json.dumps(r, sort_keys=True) for r in r53.list_resource_record_sets(HostedZoneId=z['Id'])['ResourceRecordSets'])
                for z in r53.list_hosted_zones()['HostedZones']],
}))";

#[test]
fn a_dry_run_of_every_mutation_sends_moto_only_reads_and_dry_runs() {
    let moto = Moto::start();
    let volume = |size: u8| {
        moto.py(&format!("print(ec2.create_volume(AvailabilityZone='us-west-2a', Size={size})['VolumeId'])"))
    };
    let (home, old) = (volume(8), volume(1));
    let snap = moto.py(&format!("print(ec2.create_snapshot(VolumeId='{home}')['SnapshotId'])"));
    let zone = moto.zone("example.org", false);
    let cname = |name: &str, value: &str| {
        format!(
            "{{'Action': 'CREATE', 'ResourceRecordSet': {{'Name': '{name}', 'Type': 'CNAME', 'TTL': 60, 'ResourceRecords': [{{'Value': '{value}'}}]}}}}"
        )
    };
    moto.change(&zone, &[cname("hub.example.org", "blue.example.com"), cname("old.example.org", "gone.example.com")]);
    let before = moto.py(MOTO_STATE);
    let script = format!(
        r#"//! Every EC2 and Route53 mutation, planned.
let ec2 = aws::account().ec2();
let zone = aws::account().route53().zone("example.org");
let s = step("snapshot", || ec2.snapshot("{home}", #{{ description: "d", tags: #{{ k: "v" }} }}));
ec2.wait_snapshot(s.id);
let v = step("restore", || ec2.create_volume(#{{ snapshot: "{snap}", az: "us-west-2a" }}));
ec2.wait_volume(v.id, "available");
step("from the planned snapshot", || ec2.create_volume(#{{ snapshot: s.id, az: "us-west-2a" }}));
ec2.modify_volume("{home}", #{{ type: "gp3" }});
ec2.tag("{home}", #{{ planned: "yes" }});
ec2.delete_volume("{old}");
ec2.delete_snapshot("{snap}");
zone.upsert("new.example.org", "A", "192.0.2.1", 60);
zone.alias("lb.example.org", "A", #{{ dns_name: "lb.elb.amazonaws.com", zone_id: "Z1H1FL5HABSF5" }});
zone.swap("hub.example.org", "CNAME", "blue.example.com", "green.example.com", 60);
zone.delete("old.example.org", "CNAME");
"#
    );
    moto.record();
    let (done, _dir) =
        moto.test().file("plan.rhai", &script).args(&["run", "plan.rhai", "--dry-run", "--journal", "j.jsonl"]).run();
    let requests = moto.requests();
    done.status(0);
    assert!(done.stderr.contains("11 changes (3 destructive); nothing was changed"), "{}", done.stderr);
    assert!(done.stderr.contains("Would wait for CNAME hub.example.org. change INSYNC"), "{}", done.stderr);
    assert!(done.stderr.contains("Would wait for modification of volume"), "{}", done.stderr);
    let phases: Vec<String> = done
        .journal("j.jsonl")
        .into_iter()
        .filter_map(|e| if let Event::Change { phase, .. } = e { Some(phase) } else { None })
        .collect();
    assert_eq!(phases, ["planned"; 11]);

    // EC2: reads, and each mutation once with DryRun=true (the volume from a
    // planned snapshot asks nothing). Route53: reads only.
    let mut checked: Vec<&str> = Vec::new();
    for r in &requests {
        if r.path == "/" {
            assert!(r.action.starts_with("Describe") || r.dry_run, "{r:?} in {requests:#?}");
            if r.dry_run {
                checked.push(&r.action);
            }
        } else {
            assert_eq!(r.method, "GET", "{r:?} in {requests:#?}");
        }
    }
    checked.sort_unstable();
    assert_eq!(
        checked,
        ["CreateSnapshot", "CreateTags", "CreateVolume", "DeleteSnapshot", "DeleteVolume", "ModifyVolume"]
    );
    let record_reads = requests.iter().filter(|r| r.path.ends_with("/rrset")).count();
    assert!(record_reads >= 4, "each record change reads its precondition: {requests:#?}");
    assert_eq!(moto.py(MOTO_STATE), before, "moto changed");
}

#[test]
fn two_accounts_are_open_at_once() {
    let moto = Moto::start();
    let script = r#"let prod = aws::account(#{ region: "us-west-2" });
let dev = aws::account(#{ region: "eu-west-1" });
prod.ec2().create_volume(#{ az: "us-west-2a", size: 1 });
print(`${prod.region} ${prod.ec2().volumes().len()} ${dev.region} ${dev.ec2().volumes().len()}`);
"#;
    let (done, _dir) = moto.test().file("two.rhai", script).args(&["run", "two.rhai"]).run();
    done.status(0).stdout("us-west-2 1 eu-west-1 0\n");
}

const WORLD: &str = "name: cae
start: 2026-11-21T06:00:00Z
aws:
  accounts:
    prod:
      region: us-west-2
      timing: { snapshot: 10m, volume: 1m, modify: 4m, insync: 30s }
      volumes:
        - { id: vol-home-ana, az: us-west-2a, size: 100, type: gp2, state: in-use, tags: { pvc: claim-ana } }
        - { id: vol-scratch, az: us-west-2a, size: 5, type: gp2, state: available }
      zones:
        - id: ZPUB
          name: cal-adapt.org
          records:
            - { name: hub.cal-adapt.org, type: CNAME, ttl: 60, values: [blue.elb.amazonaws.com] }
        - id: ZPRIV
          name: cal-adapt.org
          private: true
";

const MIGRATE: &str = r#"//! The CAE home-volume migration and cutover.
let prod = aws::account(#{ profile: "prod" });
let ec2 = prod.ec2();
let s = step("snapshot", || ec2.snapshot("vol-home-ana", #{ description: "ana before gp3" }));
print(`${s.state} ${s.progress}`);
let s = ec2.wait_snapshot(s.id);
print(`${s.state} ${s.progress} ${now()}`);
let v = step("restore", || ec2.create_volume(#{ snapshot: s.id, az: "us-west-2a", type: "gp3" }));
let v = ec2.wait_volume(v.id, "available");
print(`${v.state} ${v.size} ${v.type}`);
let m = ec2.modify_volume("vol-scratch", #{ type: "gp3", throughput: 250 });
print(`${m.state} ${ec2.volume("vol-scratch").type}`);
ec2.tag(v.id, #{ migrated: "yes" });
ec2.delete_volume("vol-scratch");
let zone = prod.route53().zone("cal-adapt.org", #{ visibility: "public" });
step("cutover", || zone.swap("hub.cal-adapt.org", "CNAME", "blue.elb.amazonaws.com", "green.elb.amazonaws.com", 60));
print(`${zone.record("hub.cal-adapt.org", "CNAME").values[0]} ${now()}`);
try { zone.swap("hub.cal-adapt.org", "CNAME", "blue.elb.amazonaws.com", "green.elb.amazonaws.com", 60); } catch (e) { print(e.kind); }
"#;

#[test]
fn the_migration_runs_on_a_world_in_virtual_time_and_saves_it() {
    let (done, dir) = Test::new()
        .file("w.yaml", WORLD)
        .file("m.rhai", MIGRATE)
        .args(&["run", "m.rhai", "--world", "w.yaml", "--yes", "--save-world", "after.yaml"])
        .run();
    done.status(0).stdout(
        "pending 0\ncompleted 100 2026-11-21T06:10:00Z\navailable 100 gp3\ncompleted gp3\n\
         green.elb.amazonaws.com 2026-11-21T06:15:30Z\nConflict\n",
    );
    assert!(done.stderr.contains("Waiting snapshot `snap-00000000000000003` completed: 0%"), "{}", done.stderr);
    assert!(done.stderr.contains("Waiting snapshot `snap-00000000000000003` completed: 50%"), "{}", done.stderr);
    let saved = read(dir.path(), "after.yaml");
    let world: serde_json::Value = serde_norway::from_str(&saved).expect("saved world is YAML");
    let prod = &world["aws"]["accounts"]["prod"];
    assert_eq!(prod["volumes"].as_array().map(Vec::len), Some(2));
    assert_eq!(prod["zones"][0]["records"][0]["values"][0], "green.elb.amazonaws.com");
    let log = &prod["zones"][0]["changes"];
    assert_eq!(log[0]["before"]["values"][0], "blue.elb.amazonaws.com");
    assert_eq!(log[1]["after"]["values"][0], "green.elb.amazonaws.com");
    assert_eq!(log[1]["at"], "2026-11-21T06:15:00Z");

    // The saved world loads again and continues where the run left it.
    let (again, _dir) = Test::new()
        .file("w.yaml", &saved)
        .file("r.rhai", "let e = aws::account(#{ profile: \"prod\" }).ec2();\nprint(e.volumes(#{ tags: #{ migrated: \"yes\" } }).len());\n")
        .args(&["run", "r.rhai", "--world", "w.yaml"])
        .run();
    again.status(0).stdout("1\n");
}

#[test]
fn a_dry_run_on_a_world_plans_and_shows_what_would_fail() {
    let script = r#"let ec2 = aws::account(#{ profile: "prod" }).ec2();
step("snapshot", || ec2.snapshot("vol-home-ana"));
step("bad", || ec2.create_volume(#{ az: "us-east-1a", size: 1 }));
"#;
    let (done, _dir) = Test::new()
        .file("w.yaml", WORLD)
        .file("d.rhai", script)
        .args(&["run", "d.rhai", "--world", "w.yaml", "--dry-run"])
        .run();
    done.status(1);
    assert!(done.stderr.contains("Would snapshot volume `vol-home-ana`"), "{}", done.stderr);
    assert!(
        done.stderr.contains("Would fail create gp3 volume in us-east-1a: CreateVolume: InvalidParameterValue: Invalid availability zone: [us-east-1a]"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("2 changes (0 destructive, 1 would fail); nothing was changed"), "{}", done.stderr);
}

/// A world with something for every mutation to work on.
const DRY_WORLD: &str = "name: dry
start: 2026-11-21T06:00:00Z
aws:
  accounts:
    prod:
      region: us-west-2
      timing: { snapshot: 10m, volume: 1m, modify: 4m, insync: 30s }
      volumes:
        - { id: vol-home-ana, az: us-west-2a, size: 100, type: gp2, state: in-use }
        - { id: vol-scratch, az: us-west-2a, size: 5, type: gp2, state: available }
      snapshots:
        - { id: snap-old, volume: vol-home-ana, state: completed, progress: 100, size: 100 }
        - { id: snap-running, volume: vol-home-ana, state: pending, progress: 0, size: 100, started: 2026-11-21T05:55:00Z }
      zones:
        - id: ZPUB
          name: cal-adapt.org
          records:
            - { name: hub.cal-adapt.org, type: CNAME, ttl: 60, values: [blue.elb.amazonaws.com] }
            - { name: old.cal-adapt.org, type: CNAME, ttl: 60, values: [gone.elb.amazonaws.com] }
";

const EVERY_MUTATION: &str = r#"//! Every EC2 and Route53 mutation.
let prod = aws::account(#{ profile: "prod" });
let ec2 = prod.ec2();
let zone = prod.route53().zone("cal-adapt.org");
let s = step("snapshot", || ec2.snapshot("vol-home-ana"));
ec2.wait_snapshot(s.id);
let v = step("restore", || ec2.create_volume(#{ snapshot: s.id, az: "us-west-2a" }));
ec2.wait_volume(v.id, "available");
step("fresh", || ec2.create_volume(#{ snapshot: "snap-old", az: "us-west-2a" }));
ec2.modify_volume("vol-scratch", #{ type: "gp3" });
ec2.tag("vol-scratch", #{ k: "v" });
ec2.delete_volume("vol-scratch");
ec2.delete_snapshot("snap-old");
zone.upsert("new.cal-adapt.org", "A", "192.0.2.1", 60);
zone.alias("lb.cal-adapt.org", "A", #{ dns_name: "lb.elb.amazonaws.com", zone_id: "Z1H1FL5HABSF5" });
zone.swap("hub.cal-adapt.org", "CNAME", "blue.elb.amazonaws.com", "green.elb.amazonaws.com", 60);
zone.delete("old.cal-adapt.org", "CNAME");
"#;

#[test]
fn a_dry_run_of_every_mutation_leaves_the_saved_world_identical() {
    let saved = |script: &str, extra: &[&str]| {
        let mut args = vec!["run", "s.rhai", "--world", "w.yaml", "--save-world", "after.yaml"];
        args.extend_from_slice(extra);
        let (done, dir) = Test::new().file("w.yaml", DRY_WORLD).file("s.rhai", script).args(&args).run();
        done.status(0);
        (read(dir.path(), "after.yaml"), done.stderr)
    };
    // The world as a run that only reads saves it (loading normalises names).
    let (untouched, _) = saved("let e = aws::account(#{ profile: \"prod\" }).ec2();\nprint(e.volumes().len());\n", &[]);
    let (planned, stderr) = saved(EVERY_MUTATION, &["--dry-run"]);
    assert!(stderr.contains("11 changes (3 destructive); nothing was changed"), "{stderr}");
    assert!(stderr.contains("Would wait for snapshot `snap-planned-"), "{stderr}");
    assert_eq!(planned, untouched, "a dry run changed the world");
    let (applied, _) = saved(EVERY_MUTATION, &["--yes"]);
    assert_ne!(applied, untouched, "the same script applied changes the world");
}

#[test]
fn waits_time_out_on_the_run_clock_and_refuse_absurd_timeouts() {
    let script = r#"let ec2 = aws::account(#{ profile: "prod" }).ec2();
let s = step("snapshot", || ec2.snapshot("vol-scratch"));
try { ec2.wait_snapshot(s.id, #{ timeout: "1m" }); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { ec2.wait_snapshot(s.id, #{ timeout: 1e300 }); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { ec2.wait_snapshot(s.id, #{ timeuot: "1m" }); } catch (e) { print(`${e.kind}: ${e.message}`); }
print(now());
"#;
    let (done, _dir) = Test::new()
        .file("w.yaml", WORLD)
        .file("t.rhai", script)
        .args(&["run", "t.rhai", "--world", "w.yaml", "--journal", "j.jsonl"])
        .run();
    done.status(0).stdout(
        "Timeout: snapshot `snap-00000000000000003` completed: still 10% after 1m\n\
         Invalid: `timeout` `1e300` is longer than 366 days, the longest duration hubops accepts\n\
         Invalid: `wait_snapshot` has no option `timeuot` (options: timeout); did you mean `timeout`?\n\
         2026-11-21T06:01:00Z\n",
    );
    let waits: Vec<(String, String)> = done
        .journal("j.jsonl")
        .into_iter()
        .filter_map(|e| if let Event::Wait { what, outcome, .. } = e { Some((what, outcome)) } else { None })
        .collect();
    assert_eq!(waits, [("snapshot `snap-00000000000000003` completed".to_string(), "timeout".to_string())]);
}

#[test]
fn world_accounts_and_zones_are_checked() {
    let (done, _dir) = Test::new()
        .file("w.yaml", WORLD)
        .file(
            "a.rhai",
            "try { aws::account(#{ profile: \"dev\" }); } catch (e) { print(e.message); }\n\
             try { aws::account(#{ profile: \"prod\" }).route53().zone(\"cal-adapt.org\"); } catch (e) { print(e.message); }\n",
        )
        .args(&["run", "a.rhai", "--world", "w.yaml"])
        .run();
    done.status(0).stdout(
        "AWS account `dev`: the world has no such account (accounts: prod)\n\
         hosted zone `cal-adapt.org.` is ambiguous: ZPUB (public), ZPRIV (private)\n",
    );
    let (done, _dir) = Test::new()
        .file("w.yaml", "name: x\naws:\n  accounts:\n    prod:\n      volumes: [{ id: v }]\n")
        .file("a.rhai", "print(1);\n")
        .args(&["run", "a.rhai", "--world", "w.yaml"])
        .run();
    done.status(2);
    assert!(done.stderr.contains("world `w.yaml`, section `aws` (line 2): missing field `state`"), "{}", done.stderr);
}

/// The account moto stands for, as a world: the same scripts must print the
/// same on both.
const MOTO_LIKE_WORLD: &str = "name: moto-like
aws:
  accounts:
    default:
      region: us-west-2
      timing: { snapshot: 30s, volume: 10s, modify: 1m, insync: 20s }
      zones:
        - id: ZPUB
          name: example.org
          records:
            - { name: example.org, type: NS, ttl: 172800, values: [ns-1.example.net] }
            - { name: example.org, type: SOA, ttl: 900, values: [ns-1.example.net. hostmaster.example.org. 1 7200 900 1209600 86400] }
        - id: ZPRIV
          name: example.org
          private: true
";

#[test]
fn every_ec2_binding_works_on_a_world_as_on_moto() {
    let (done, _dir) = Test::new()
        .file("w.yaml", MOTO_LIKE_WORLD)
        .file("ec2.rhai", EC2_ALL)
        .args(&["run", "ec2.rhai", "--world", "w.yaml", "--yes"])
        .run();
    done.status(0).stdout(
        "created gp2 10 creating home-ana\nread true\nby tag 1\nby filter 1\nby id true\n\
         snapshot completed 100 before gp3 true\nsnapshots 1 1\nmodified completed gp3 gp3\n\
         restored available true 10\ntagged yes\nleft 1 0\n",
    );
}

#[test]
fn every_route53_binding_works_on_a_world_as_on_moto() {
    let (done, _dir) = Test::new()
        .file("w.yaml", MOTO_LIKE_WORLD)
        .file("r.rhai", ROUTE53_ALL)
        .args(&["run", "r.rhai", "--world", "w.yaml", "--yes"])
        .run();
    done.status(0).stdout(
        "Invalid: 2 candidates\nexample.org. public\nINSYNC\nPENDING\n\
         hub.example.org. CNAME 60 [\"blue.elb.example.com\"]\n2\n4\n\
         green-123.us-west-2.elb.amazonaws.com Z1H1FL5HABSF5\nINSYNC\ngreen.elb.example.com\n0\n\
         NotFound: record `multi.example.org.` A not found in zone `example.org.`\n",
    );
    assert!(done.stderr.contains("Waiting CNAME hub.example.org. change INSYNC: PENDING"), "{}", done.stderr);
}

/// A loopback EC2 endpoint: `answer` gets the request's number and form
/// body and gives the status and XML. Returns the endpoint and the request
/// counter; the server thread ends with the test process.
fn fake_ec2(
    answer: impl Fn(usize, &str) -> (u16, String) + Send + 'static,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let (status, xml) = answer(counter.fetch_add(1, Ordering::SeqCst), &String::from_utf8_lossy(&body));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{xml}",
                xml.len()
            );
        }
    });
    (endpoint, seen)
}

fn ec2_error(code: &str, message: &str) -> String {
    format!("<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>r</RequestID></Response>")
}

const NO_VOLUMES: &str = "<DescribeVolumesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId><volumeSet/></DescribeVolumesResponse>";

/// Answers `RequestLimitExceeded` to the first `throttled` requests.
fn throttling_ec2(throttled: usize) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    fake_ec2(move |n, _| {
        if n < throttled {
            (503, ec2_error("RequestLimitExceeded", "Request limit exceeded."))
        } else {
            (200, NO_VOLUMES.to_string())
        }
    })
}

#[test]
fn a_dry_run_ec2_refuses_shows_would_fail_with_forbidden() {
    let (endpoint, _seen) = fake_ec2(|_, body| {
        let ns = "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"";
        if body.contains("Action=DescribeSnapshots") {
            (200, format!("<DescribeSnapshotsResponse {ns}><requestId>r</requestId><snapshotSet/></DescribeSnapshotsResponse>"))
        } else if body.contains("Action=DescribeVolumes") {
            (200, format!("<DescribeVolumesResponse {ns}><requestId>r</requestId><volumeSet><item><volumeId>vol-1</volumeId><size>8</size><availabilityZone>us-west-2a</availabilityZone><status>in-use</status><volumeType>gp2</volumeType></item></volumeSet></DescribeVolumesResponse>"))
        } else if body.contains("Action=CreateSnapshot") && body.contains("DryRun=true") {
            (403, ec2_error("UnauthorizedOperation", "You are not authorized to perform this operation."))
        } else {
            (500, ec2_error("InternalError", "the test server did not expect this call"))
        }
    });
    let t = crate::moto::fake_credentials(Test::new()).env("HUBOPS_AWS_ENDPOINT", &endpoint);
    let script = "let ec2 = aws::account().ec2();\ntry { ec2.snapshot(\"vol-1\"); } catch (e) { print(`${e.kind} ${e.code} ${e.gate}`); }\n";
    let (done, _dir) = t.file("d.rhai", script).args(&["run", "d.rhai", "--dry-run"]).run();
    done.status(0).stdout("Forbidden UnauthorizedOperation WouldFail\n");
    assert!(
        done.stderr.contains(
            "would fail: CreateSnapshot: UnauthorizedOperation: You are not authorized to perform this operation."
        ),
        "{}",
        done.stderr
    );
}

#[test]
fn throttled_calls_are_retried_with_backoff_then_reported() {
    use std::sync::atomic::Ordering;
    let script = "try { print(aws::account().ec2().volumes().len()); } catch (e) { print(`${e.kind} ${e.code}`); }\n";
    let (endpoint, seen) = throttling_ec2(2);
    let t = crate::moto::fake_credentials(Test::new()).env("HUBOPS_AWS_ENDPOINT", &endpoint);
    let (done, _dir) = t.file("t.rhai", script).args(&["run", "t.rhai"]).run();
    done.status(0).stdout("0\n");
    assert_eq!(seen.load(Ordering::SeqCst), 3, "two throttled answers, then the real one");

    let (endpoint, seen) = throttling_ec2(usize::MAX);
    let t = crate::moto::fake_credentials(Test::new()).env("HUBOPS_AWS_ENDPOINT", &endpoint);
    let (done, _dir) = t.file("t.rhai", script).args(&["run", "t.rhai"]).run();
    done.status(0).stdout("Throttled RequestLimitExceeded\n");
    assert!(seen.load(Ordering::SeqCst) > 1, "the SDK retried before giving up");
}

#[test]
fn tokens_given_by_the_script_hold_across_runs() {
    let moto = Moto::start();
    let script = r#"let ec2 = aws::account().ec2();
let v = ec2.create_volume(#{ az: "us-west-2a", size: 1 });
let ids = step("snap", || {
    let a = ec2.snapshot(v.id, #{ token: "fixed-token" });
    let b = ec2.snapshot(v.id, #{ token: "fixed-token" });
    [a.id, b.id]
});
print(ids[0] == ids[1]);
"#;
    let (done, _dir) = moto.test().file("l.rhai", script).args(&["run", "l.rhai"]).run();
    done.status(0).stdout("true\n");
    let (done, _dir) = moto
        .test()
        .file(
            "again.rhai",
            "let ec2 = aws::account().ec2();\nlet v = ec2.volumes()[0];\nprint(step(\"snap\", || ec2.snapshot(v.id, #{ token: \"fixed-token\" })).tags[\"hubops:token\"]);\n",
        )
        .args(&["run", "again.rhai"])
        .run();
    done.status(0).stdout("fixed-token\n");
    assert!(done.stderr.contains("(made by an earlier attempt)"), "{}", done.stderr);
}

#[test]
fn a_create_whose_answer_was_lost_is_found_when_retried() {
    // EC2 made the snapshot but the answer never arrived (500s until the
    // SDK gives up); the runbook retries and hubops looks the token up.
    let made = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let seen = made.clone();
    let (endpoint, _n) = fake_ec2(move |_, body| {
        let ns = "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"";
        let snapshots = |items: &str| {
            format!("<DescribeSnapshotsResponse {ns}><requestId>r</requestId><snapshotSet>{items}</snapshotSet></DescribeSnapshotsResponse>")
        };
        if body.contains("Action=CreateSnapshot") {
            let token = body.split('&').find_map(|kv| kv.strip_prefix("TagSpecification.1.Tag.2.Value=")).unwrap_or("");
            *seen.lock().expect("lock") = Some(token.to_string());
            (500, ec2_error("InternalError", "lost"))
        } else if body.contains("Action=DescribeSnapshots") && body.contains("Filter.1.Name=volume-id") {
            let token = seen.lock().expect("lock").clone().unwrap_or_default();
            (200, snapshots(&format!("<item><snapshotId>snap-1</snapshotId><volumeId>vol-1</volumeId><status>pending</status><progress>10%</progress><volumeSize>8</volumeSize><tagSet><item><key>hubops:token</key><value>{token}</value></item></tagSet></item>")))
        } else if body.contains("Action=DescribeSnapshots") {
            (200, snapshots(""))
        } else {
            (500, ec2_error("InternalError", "the test server did not expect this call"))
        }
    });
    let t = crate::moto::fake_credentials(Test::new()).env("HUBOPS_AWS_ENDPOINT", &endpoint);
    let script = r#"let ec2 = aws::account().ec2();
let s = step("snap", || {
    let made = ();
    try { made = ec2.snapshot("vol-1"); } catch (e) { print(`${e.kind} ${e.code}`); made = ec2.snapshot("vol-1"); }
    made
});
print(`${s.id} ${s.progress}`);
"#;
    let (done, _dir) = t.file("r.rhai", script).args(&["run", "r.rhai"]).run();
    done.status(0).stdout("Unreachable InternalError\nsnap-1 10\n");
    assert!(made.lock().expect("lock").as_deref().is_some_and(|t| t.starts_with("hubops-")));
    assert!(done.stderr.contains("Found snapshot `snap-1` of `vol-1` (made by an earlier attempt)"), "{}", done.stderr);
}

#[test]
fn parallel_workers_share_a_handle() {
    // Every worker calls a method on the same captured `ec2`.
    let script = r#"let ec2 = aws::account(#{ profile: "prod" }).ec2();
let vols = ["vol-home-ana", "vol-scratch", "vol-home-ana", "vol-scratch"];
let snaps = step("snapshots", || parallel(vols, 4, |v| ec2.snapshot(v, #{ description: `of ${v}` })));
print(snaps.map(|s| s.volume));
print(ec2.snapshots().len());
"#;
    let (done, _dir) =
        Test::new().file("w.yaml", WORLD).file("p.rhai", script).args(&["run", "p.rhai", "--world", "w.yaml"]).run();
    done.status(0).stdout("[\"vol-home-ana\", \"vol-scratch\", \"vol-home-ana\", \"vol-scratch\"]\n2\n");
}
