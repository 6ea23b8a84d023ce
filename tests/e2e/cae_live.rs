//! The bundled gp2 -> gp3 home volume migration (`cae-home-volumes`) live:
//! the AWS side on `moto_server`, blue and green as two test API servers
//! (`hubops_tests::kube_api`), one kubeconfig with a context for each. The
//! same runbook runs on the `cae` world in the rehearsal tests; this proves
//! that its live path (real SDK, kube-rs, server-side dry run) does the same.

use hubops::journal::Event;
use hubops_tests::kube_api::FakeApi;
use serde_json::{json, Value};

use crate::moto::Moto;
use crate::support::Done;

/// A home volume on blue: user, availability zone, size (GiB), and whether
/// its PV is a CSI one (else in-tree `awsElasticBlockStore`).
const HOMES: [(&str, &str, u32, bool); 3] =
    [("alice", "us-west-2a", 10, false), ("bob", "us-west-2b", 20, false), ("carol", "us-west-2a", 10, true)];

struct Site {
    moto: Moto,
    blue: FakeApi,
    green: FakeApi,
    /// The gp2 volume ids, in `HOMES` order.
    sources: Vec<String>,
}

/// The gp2 volumes, tagged the way the in-tree provisioner and the EBS CSI
/// driver tag what they create; returns their ids.
fn volumes(moto: &Moto) -> Vec<String> {
    let mut code = String::from("ids = []\n");
    for (i, (user, az, size, csi)) in HOMES.iter().enumerate() {
        let pv = format!("pvc-{i}{i}{i}{i}");
        let tags = if *csi {
            format!("{{'CSIVolumeName': '{pv}', 'ebs.csi.aws.com/cluster': 'true', 'kubernetes.io/created-for/pv/name': '{pv}', 'kubernetes.io/created-for/pvc/name': 'claim-{user}', 'kubernetes.io/created-for/pvc/namespace': 'daskhub'}}")
        } else {
            format!("{{'KubernetesCluster': 'cae-blue', 'kubernetes.io/cluster/cae-blue': 'owned', 'kubernetes.io/created-for/pv/name': '{pv}', 'kubernetes.io/created-for/pvc/name': 'claim-{user}', 'kubernetes.io/created-for/pvc/namespace': 'daskhub'}}")
        };
        code.push_str(&format!(
            "ids.append(ec2.create_volume(AvailabilityZone='{az}', Size={size}, VolumeType='gp2', \
             TagSpecifications=[{{'ResourceType': 'volume', 'Tags': [{{'Key': k, 'Value': v}} for k, v in {tags}.items()]}}])['VolumeId'])\n"
        ));
    }
    code.push_str("print(' '.join(ids))");
    moto.py(&code).split(' ').map(str::to_string).collect()
}

/// Blue as a Helm-installed daskhub leaves it: a bound claim per user on a
/// gp2 PV (two in-tree, one CSI).
fn blue_objects(sources: &[String]) -> Vec<Value> {
    let mut objects = vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "daskhub"}})];
    for (i, ((user, az, size, csi), volume)) in HOMES.iter().zip(sources).enumerate() {
        let pv = format!("pvc-{i}{i}{i}{i}");
        let claim = format!("claim-{user}");
        let class = if *csi { "gp2-csi" } else { "gp2" };
        let mut spec = json!({
            "capacity": {"storage": format!("{size}Gi")},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": class,
            "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "daskhub", "name": claim},
        });
        if *csi {
            spec["csi"] = json!({"driver": "ebs.csi.aws.com", "volumeHandle": volume, "fsType": "ext4"});
            spec["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": [az]}]}]}});
        } else {
            spec["awsElasticBlockStore"] = json!({"volumeID": format!("aws://{az}/{volume}"), "fsType": "ext4"});
        }
        objects.push(json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv}, "spec": spec, "status": {"phase": "Bound"}}));
        objects.push(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": "daskhub", "labels": {"hub.jupyter.org/username": user}},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "volumeName": pv,
                     "resources": {"requests": {"storage": format!("{size}Gi")}}},
            "status": {"phase": "Bound"},
        }));
    }
    objects
}

/// Green as `tofu_era` leaves it: the namespace and the gp3 `StorageClass` the
/// plan asks for.
fn green_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jupyterhub"}}),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
               "metadata": {"name": "gp3", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
               "provisioner": "ebs.csi.aws.com",
               "parameters": {"type": "gp3", "iops": "3000", "throughput": "125", "encrypted": "true"},
               "volumeBindingMode": "WaitForFirstConsumer"}),
    ]
}

fn site() -> Site {
    site_with(Vec::new(), green_objects())
}

/// A site with `more` objects on blue and `green` as green's objects.
fn site_with(more: Vec<Value>, green: Vec<Value>) -> Site {
    let moto = Moto::start();
    let sources = volumes(&moto);
    let mut blue = blue_objects(&sources);
    blue.extend(more);
    let blue = FakeApi::start(blue);
    let green = FakeApi::start(green);
    Site { moto, blue, green, sources }
}

impl Site {
    /// `hubops run cae-home-volumes` against this site, in a fresh scratch
    /// folder (so a second run finds earlier work only through AWS tags and
    /// the clusters, not through a journal).
    fn run(&self, extra: &[&str]) -> (Done, tempfile::TempDir) {
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: cae-blue\n\
             clusters:\n- name: blue\n  cluster:\n    server: {}\n- name: green\n  cluster:\n    server: {}\n\
             users:\n- name: tester\n  user:\n    token: not-a-secret\n\
             contexts:\n- name: cae-blue\n  context:\n    cluster: blue\n    user: tester\n\
             - name: cae-green\n  context:\n    cluster: green\n    user: tester\n",
            self.blue.url, self.green.url
        );
        self.moto
            .test()
            .file("kubeconfig", &kubeconfig)
            .file(".aws/config", "[profile cae]\nregion = us-west-2\n")
            .env("KUBECONFIG", "kubeconfig")
            .args(&[
                "run",
                "cae-home-volumes",
                "--set",
                "blue=cae-blue",
                "--set",
                "green=cae-green",
                "--set",
                "account=cae",
                "--set",
                "region=us-west-2",
                "--journal",
                "j.jsonl",
            ])
            .args(extra)
            .run()
    }

    /// The gp3 volumes, one line each in `HOMES` order of their sources:
    /// `source az iops throughput encrypted size snapshot-of-source id`.
    fn gp3(&self) -> Vec<String> {
        let out = self.moto.py(
            "snaps = {s['SnapshotId']: s['VolumeId'] for s in ec2.describe_snapshots(OwnerIds=['self'])['Snapshots']}\n\
             for v in ec2.describe_volumes(Filters=[{'Name': 'volume-type', 'Values': ['gp3']}])['Volumes']:\n\
             \x20   tags = {t['Key']: t['Value'] for t in v.get('Tags', [])}\n\
             \x20   src = tags.get('hubops/source-volume')\n\
             \x20   print(src, v['AvailabilityZone'], v.get('Iops'), v.get('Throughput'), v['Encrypted'], v['Size'], snaps.get(v.get('SnapshotId')) == src, v['VolumeId'])",
        );
        let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
        lines.sort_by_key(|l| self.sources.iter().position(|s| l.starts_with(s.as_str())));
        lines
    }

    /// How many snapshots each source volume has, in `HOMES` order.
    fn snapshots(&self) -> Vec<usize> {
        let out = self.moto.py(&format!(
            "snaps = ec2.describe_snapshots(OwnerIds=['self'])['Snapshots']\n\
             print(' '.join(str(len([s for s in snaps if s['VolumeId'] == v])) for v in {:?}))",
            self.sources
        ));
        out.split(' ').map(|n| n.parse().expect("a count")).collect()
    }

    fn volume_count(&self) -> usize {
        self.moto.py("print(len(ec2.describe_volumes()['Volumes']))").parse().expect("a count")
    }
}

/// The applied changes of a run, as `system verb` (`ec2/cae snapshot`).
fn applied(done: &Done) -> Vec<String> {
    let mut out: Vec<String> = done
        .journal("j.jsonl")
        .into_iter()
        .filter_map(|e| match e {
            Event::Change { phase, change, .. } if phase == "applied" => {
                Some(format!("{} {}", change["system"].as_str()?, change["verb"].as_str()?))
            }
            _ => None,
        })
        .collect();
    out.sort();
    out
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// Every write a server received, with whether it was a dry run.
fn writes(api: &FakeApi) -> Vec<(String, bool)> {
    api.requests().iter().filter(|r| r.is_write()).map(|r| (format!("{} {}", r.method, r.path), r.dry_run())).collect()
}

#[test]
fn home_volumes_migrate_to_gp3_on_moto_and_the_test_api_server_once() {
    let site = site();
    let blue_before = site.blue.objects();
    let (done, _dir) = site.run(&["--yes"]);
    done.status(0);
    assert!(
        done.stdout.ends_with("3 home volumes are on gp3 and bound in jupyterhub on cae-green\n"),
        "{}",
        done.stdout
    );

    let mut first = ["ec2/cae create"; 3].to_vec();
    first.extend(["ec2/cae snapshot"; 3]);
    first.extend(["k8s/cae-green apply"; 6]);
    assert_eq!(applied(&done), first);
    let gp3 = site.gp3();
    let expected: Vec<String> = HOMES
        .iter()
        .zip(&site.sources)
        .map(|((_, az, size, _), source)| format!("{source} {az} 3000 125 True {size} True"))
        .collect();
    let without_ids: Vec<String> =
        gp3.iter().map(|l| l.rsplit_once(' ').map_or(l.as_str(), |(head, _)| head).to_string()).collect();
    assert_eq!(without_ids, expected, "{gp3:#?}");
    assert_eq!(site.snapshots(), [1, 1, 1]);
    assert_eq!(site.volume_count(), 6);

    let green = site.green.objects();
    let volumes = of_kind(&green, "PersistentVolume");
    let claims = of_kind(&green, "PersistentVolumeClaim");
    assert_eq!(volumes.len(), 3, "{volumes:#?}");
    assert_eq!(claims.len(), 3, "{claims:#?}");
    for ((user, az, size, _), line) in HOMES.iter().zip(&gp3) {
        let volume = line.rsplit(' ').next().unwrap_or_default();
        let (claim, pv_name) = (format!("claim-{user}"), format!("claim-{user}-gp3"));
        let pv = volumes.iter().find(|v| v["metadata"]["name"] == pv_name.as_str()).expect("a volume per user");
        assert_eq!(pv["spec"]["csi"]["volumeHandle"], volume, "{pv:#}");
        assert_eq!(pv["spec"]["csi"]["driver"], "ebs.csi.aws.com");
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["storageClassName"], "gp3");
        assert_eq!(pv["spec"]["capacity"]["storage"], format!("{size}Gi"));
        let term = &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0];
        assert_eq!(term, &json!({"key": "topology.kubernetes.io/zone", "operator": "In", "values": [az]}));
        assert_eq!(pv["spec"]["claimRef"]["namespace"], "jupyterhub");
        assert_eq!(pv["spec"]["claimRef"]["name"], claim.as_str());
        assert_eq!(pv["status"]["phase"], "Bound");
        let pvc = claims.iter().find(|c| c["metadata"]["name"] == claim.as_str()).expect("a claim per user");
        assert_eq!(pvc["metadata"]["namespace"], "jupyterhub");
        assert_eq!(pvc["spec"]["volumeName"], pv_name.as_str());
        assert_eq!(pvc["spec"]["storageClassName"], "gp3");
        assert_eq!(pvc["status"]["phase"], "Bound");
    }
    assert_eq!(site.blue.objects(), blue_before, "blue is only read");
    assert!(writes(&site.blue).is_empty(), "{:?}", writes(&site.blue));

    // Again, from a fresh folder: the copies are found by their tags and the
    // Kubernetes objects are applied again unchanged.
    let (again, _again_dir) = site.run(&["--yes"]);
    again.status(0);
    assert_eq!(applied(&again), ["k8s/cae-green apply"; 6]);
    assert_eq!(site.gp3(), gp3);
    assert_eq!(site.snapshots(), [1, 1, 1]);
    assert_eq!(site.volume_count(), 6);
    let green_again = site.green.objects();
    assert_eq!(of_kind(&green_again, "PersistentVolume").len(), 3);
    assert_eq!(of_kind(&green_again, "PersistentVolumeClaim").len(), 3);
    assert!(
        of_kind(&green_again, "PersistentVolumeClaim").iter().all(|c| c["status"]["phase"] == "Bound"),
        "{green_again:#?}"
    );
}

#[test]
fn a_dry_run_plans_the_migration_and_changes_nothing_on_moto_or_the_clusters() {
    let site = site();
    let (blue_before, green_before) = (site.blue.objects(), site.green.objects());
    let (done, _dir) = site.run(&["--dry-run"]);
    done.status(0);
    assert_eq!(applied(&done), Vec::<String>::new());
    let planned = done
        .journal("j.jsonl")
        .iter()
        .filter(|e| matches!(e, Event::Change { phase, .. } if phase == "planned"))
        .count();
    assert_eq!(planned, 12);

    assert_eq!(site.volume_count(), 3);
    assert_eq!(site.gp3(), Vec::<String>::new());
    assert_eq!(site.snapshots(), [0, 0, 0]);
    assert_eq!(site.blue.objects(), blue_before);
    assert_eq!(site.green.objects(), green_before);
    assert!(writes(&site.blue).is_empty(), "{:?}", writes(&site.blue));
    let green_writes = writes(&site.green);
    assert_eq!(green_writes.len(), 6, "{green_writes:#?}");
    assert!(green_writes.iter().all(|(_, dry)| *dry), "{green_writes:#?}");

    // The plan, in the order the parallel steps reached the gate.
    let plan: Vec<&str> = done.stderr.lines().map(str::trim).filter(|l| l.starts_with("Would ")).collect();
    let mut wanted: Vec<String> = Vec::new();
    for ((user, az, _, _), source) in HOMES.iter().zip(&site.sources) {
        wanted.push(format!("Would snapshot volume `{source}`"));
        wanted.push(format!("Would create gp3 volume from `snap-planned-N` in {az}"));
        wanted.push(format!("Would apply persistentvolume claim-{user}-gp3"));
        wanted.push(format!("Would apply persistentvolumeclaim jupyterhub/claim-{user}"));
    }
    let mut made: Vec<String> = plan
        .iter()
        .filter(|l| !l.starts_with("Would wait"))
        .map(|l| {
            let digits = l.find("snap-planned-").map(|at| at + "snap-planned-".len());
            match digits {
                Some(at) => format!("{}N{}", &l[..at], l[at..].trim_start_matches(|c: char| c.is_ascii_digit())),
                None => (*l).to_string(),
            }
        })
        .collect();
    wanted.sort();
    made.sort();
    assert_eq!(made, wanted, "{}", done.stderr);
    for (user, _, _, _) in HOMES {
        let wait = format!("Would wait for persistentvolumeclaim jupyterhub/claim-{user} to be Bound (timeout 5m)");
        assert!(plan.contains(&wait.as_str()), "no `{wait}` in\n{}", done.stderr);
    }
    assert!(done.stderr.contains("\n12 changes (0 destructive); nothing was changed\n"), "{}", done.stderr);
    assert!(!done.stdout.contains("are on gp3 and bound"), "{}", done.stdout);
}

/// The gp3 copies' ids, in `HOMES` order of their sources.
fn copy_ids(site: &Site) -> Vec<String> {
    site.gp3().iter().map(|l| l.rsplit(' ').next().unwrap_or_default().to_string()).collect()
}

#[test]
fn a_live_copy_older_than_max_copy_age_is_refused_then_replaced_with_refresh() {
    let site = site();
    let (done, _dir) = site.run(&["--yes", "--set", "users=bob"]);
    done.status(0);
    let old = copy_ids(&site);
    assert_eq!(old.len(), 1);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (done, _dir) = site.run(&["--yes", "--set", "users=bob", "--set", "max_copy_age=1s"]);
    done.status(1);
    assert!(
        done.stderr.contains(&format!(
            "error: 1 earlier copies may be stale: [\"claim-bob ({}): its snapshot is from",
            old[0]
        )),
        "{}",
        done.stderr
    );
    assert_eq!(copy_ids(&site), old, "refused: nothing replaced");

    let green_before = writes(&site.green).len();
    let (done, _dir) = site.run(&["--yes", "--set", "users=bob", "--set", "max_copy_age=1s", "--set", "refresh=true"]);
    done.status(0);
    let new = copy_ids(&site);
    assert_eq!(new.len(), 1, "the stale copy was deleted: {:?}", site.gp3());
    assert_ne!(new, old);
    assert_eq!(site.snapshots(), [0, 2, 0]);
    let deletes: Vec<String> = writes(&site.green)[green_before..]
        .iter()
        .filter(|(w, _)| w.starts_with("DELETE") && w.contains("/persistentvolume"))
        .map(|(w, _)| w.clone())
        .collect();
    assert_eq!(
        deletes,
        [
            "DELETE /api/v1/namespaces/jupyterhub/persistentvolumeclaims/claim-bob".to_string(),
            "DELETE /api/v1/persistentvolumes/claim-bob-gp3".to_string()
        ]
    );
    let pv = site.green.objects().into_iter().find(|o| o["metadata"]["name"] == "claim-bob-gp3").expect("bob's PV");
    assert_eq!(pv["spec"]["csi"]["volumeHandle"], new[0].as_str());
}

#[test]
fn live_refusals_come_before_any_change() {
    // A user who is not there.
    let site = site_with(
        vec![json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "jupyter-alice", "namespace": "daskhub", "creationTimestamp": "2026-11-21T04:10:00Z",
                                 "labels": {"component": "singleuser-server", "hub.jupyter.org/username": "alice"}},
                    "status": {"phase": "Running"}})],
        green_objects(),
    );
    let (done, _dir) = site.run(&["--yes", "--set", "users=carol,dave"]);
    done.status(1);
    assert!(
        done.stderr.contains("error: no home volume claim in daskhub on cae-blue for [\"dave\"]"),
        "{}",
        done.stderr
    );
    // A user still logged in.
    let (done, _dir) = site.run(&["--yes", "--set", "users=alice", "--set", "active_timeout=1s"]);
    done.status(1);
    assert!(
        done.stderr.contains("error: 1 user (alice) still have servers on cae-blue in daskhub after 1s"),
        "{}",
        done.stderr
    );
    assert_eq!(applied(&done), Vec::<String>::new());
    assert_eq!(site.snapshots(), [0, 0, 0]);
    assert!(!writes(&site.green).iter().any(|(w, _)| w.contains("/persistentvolume")), "{:?}", writes(&site.green));

    // Green without the StorageClass.
    let bare = site_with(Vec::new(), vec![green_objects().remove(0)]);
    let (done, _dir) = bare.run(&["--yes"]);
    done.status(1);
    assert!(
        done.stderr.contains("error: cae-green has no StorageClass gp3, which the new PVs name"),
        "{}",
        done.stderr
    );
    assert_eq!(bare.volume_count(), 3);
}

#[test]
fn live_in_place_sets_blue_to_retain_then_modifies_the_volumes() {
    let site = site();
    let (done, _dir) = site.run(&["--yes", "--set", "strategy=in-place"]);
    done.status(0);
    let blue_writes = writes(&site.blue);
    let patched: Vec<&str> =
        blue_writes.iter().map(|(w, _)| w.as_str()).filter(|w| w.contains("/persistentvolumes/")).collect();
    assert_eq!(
        patched,
        [
            "PATCH /api/v1/persistentvolumes/pvc-0000",
            "PATCH /api/v1/persistentvolumes/pvc-1111",
            "PATCH /api/v1/persistentvolumes/pvc-2222"
        ]
    );
    for pv in site.blue.objects().iter().filter(|o| o["kind"] == "PersistentVolume") {
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain", "{pv:#}");
    }
    let types = site.moto.py("print(' '.join(sorted(v['VolumeType'] for v in ec2.describe_volumes()['Volumes'])))");
    assert_eq!(types, "gp3 gp3 gp3", "modified in place, no copies");
    let green = site.green.objects();
    let handles: Vec<&str> = of_kind(&green, "PersistentVolume")
        .iter()
        .filter_map(|pv| pv["spec"]["csi"]["volumeHandle"].as_str())
        .collect();
    let mut sources: Vec<&str> = site.sources.iter().map(String::as_str).collect();
    sources.sort_unstable();
    let mut handles = handles;
    handles.sort_unstable();
    assert_eq!(handles, sources);
}
