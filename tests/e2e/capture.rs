//! `hubops capture` round trips: a live site (the Kubernetes test API
//! server, moto, the loopback HTTP server) captured into a world file; a
//! bundled runbook rehearsed on that file does what the same runbook does
//! live, and the file holds no secret value, plain or base64.

use base64::Engine as _;
use hubops::journal::Event;
use hubops_tests::kube_api::FakeApi;
use serde_json::{json, Value};

use crate::moto::Moto;
use crate::support::{read, Done, Test};
use crate::web::Web;

const TOKEN: &str = "hub-t0ken-never-written";
const SECRET: &str = "crypt-keeper-s3cr3t";
/// A user's upstream token, in the auth state an admin token is shown.
const UPSTREAM: &str = "upstream-access-t0ken";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[track_caller]
fn assert_no_secret(text: &str, secret: &str) {
    assert!(!text.contains(secret), "`{secret}` in\n{text}");
    assert!(!text.contains(b64(secret).trim_end_matches('=')), "base64 of `{secret}` in\n{text}");
}

/// A hub on the loopback HTTP server with three users over two pages (the
/// hub lowers the page size to 2), of whom two have running servers.
fn hub() -> Web {
    Web::start(false, |req, _| {
        let json = |v: Value| (200, "application/json".to_string(), v.to_string());
        if req.path == "/hub/health" {
            return (200, "text/plain".into(), String::new());
        }
        if req.authorization != format!("Bearer {TOKEN}") {
            return (403, "application/json".into(), r#"{"status": 403}"#.into());
        }
        let user = |name: &str, running: bool| {
            let servers = if running {
                json!({"": {"name": "", "ready": true, "started": "2026-11-21T04:02:00Z"}})
            } else {
                json!({})
            };
            json!({"name": name, "admin": false, "last_activity": "2026-11-21T05:41:12Z", "servers": servers,
                   "auth_state": {"access_token": UPSTREAM}})
        };
        match req.path.as_str() {
            "/hub/api/users?offset=0&limit=200" => json(json!({
                "items": [user("alice", true), user("bob", true)],
                "_pagination": {"offset": 0, "limit": 2, "total": 3, "next": {"offset": 2, "limit": 2, "url": "x"}},
            })),
            "/hub/api/users?offset=2&limit=2" => json(json!({
                "items": [user("carol", false)],
                "_pagination": {"offset": 2, "limit": 2, "total": 3, "next": null},
            })),
            _ => (404, "text/plain".into(), "not found".into()),
        }
    })
}

/// stdout without the line that names the instant of the health check.
fn report(done: &Done) -> String {
    done.stdout.lines().filter(|l| !l.contains("is healthy (checked at")).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_captured_hub_rehearses_the_health_report_the_live_hub_gives() {
    let web = hub();
    let base = web.base.clone();
    let (done, dir) = Test::new()
        .args(&["capture", "hub-health", "--set", &format!("hub={base}"), "--set", &format!("token={TOKEN}")])
        .run();
    done.status(0);
    assert!(done.stdout.contains("wrote captured.yaml"), "{}", done.stdout);
    assert!(done.stderr.contains("not captured: argocd"), "{}", done.stderr);
    let world = read(dir.path(), "captured.yaml");
    assert_no_secret(&world, TOKEN);
    assert_no_secret(&world, UPSTREAM);
    assert!(world.contains("carol"), "the second page is captured:\n{world}");

    let live = Test::new()
        .args(&["run", "hub-health", "--set", &format!("hub={base}"), "--set", &format!("token={TOKEN}")])
        .run()
        .0;
    live.status(0);
    let rehearsed = Test::new()
        .file("captured.yaml", &world)
        .args(&["run", "hub-health", "--world", "captured.yaml", "--set", "token=any-token"])
        .run()
        .0;
    rehearsed.status(0);
    assert!(report(&live).contains("3 users, 2 with a running server"), "{}", live.stdout);
    assert_eq!(report(&rehearsed), report(&live));
}

#[test]
fn capture_refuses_to_overwrite_and_names_a_missing_parameter() {
    let (done, _dir) = Test::new()
        .file("captured.yaml", "x")
        .args(&["capture", "hub-health", "--set", "hub=http://127.0.0.1:9"])
        .run();
    done.status(2);
    assert!(done.stderr.contains("already exists"), "{}", done.stderr);
    let (done, _dir) = Test::new().args(&["capture", "hub-health"]).run();
    done.status(2);
    assert!(done.stderr.contains("`hub`"), "{}", done.stderr);
    let (done, _dir) = Test::new().file("plain.rhai", "print(1);\n").args(&["capture", "plain.rhai"]).run();
    done.status(2);
    assert!(done.stderr.contains("declares nothing to capture"), "{}", done.stderr);
    let (done, _dir) = Test::new()
        .file(
            "helmy.rhai",
            "//! Helm.\n//! capture: helm release\nlet p = params(#{ release: #{ default_value: \"hub\" } });\n",
        )
        .args(&["capture", "helmy.rhai"])
        .run();
    done.status(2);
    assert!(done.stderr.contains("not captured yet"), "{}", done.stderr);
}

/// Blue (a daskhub with two bound gp2 claims, one in-tree and one CSI, and
/// the hub's Secret) and green (the gp3 class) as test API servers; the
/// volumes on moto.
struct Site {
    moto: Moto,
    blue: FakeApi,
    green: FakeApi,
    kubeconfig: String,
}

fn site() -> Site {
    let moto = Moto::start();
    let ids: Vec<String> = moto
        .py("a = ec2.create_volume(AvailabilityZone='us-west-2a', Size=10, VolumeType='gp2')['VolumeId']\n\
             b = ec2.create_volume(AvailabilityZone='us-west-2b', Size=20, VolumeType='gp2')['VolumeId']\n\
             print(a, b)")
        .split(' ')
        .map(str::to_string)
        .collect();
    let mut blue = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "daskhub"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hub", "namespace": "daskhub",
               "annotations": {"kubectl.kubernetes.io/last-applied-configuration": format!("{{\"stringData\":{{\"key\":\"{SECRET}\"}}}}")}},
               "type": "Opaque", "data": {"hub.config.CryptKeeper.keys": b64(SECRET)}}),
    ];
    for (i, (user, az, size, volume)) in
        [("alice", "us-west-2a", 10, &ids[0]), ("bob", "us-west-2b", 20, &ids[1])].into_iter().enumerate()
    {
        let pv = format!("pvc-{i}{i}{i}{i}");
        let mut spec = json!({
            "capacity": {"storage": format!("{size}Gi")}, "accessModes": ["ReadWriteOnce"], "storageClassName": "gp2",
            "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "daskhub", "name": format!("claim-{user}")},
        });
        if i == 0 {
            spec["awsElasticBlockStore"] = json!({"volumeID": format!("aws://{az}/{volume}"), "fsType": "ext4"});
        } else {
            spec["csi"] = json!({"driver": "ebs.csi.aws.com", "volumeHandle": volume, "fsType": "ext4"});
            spec["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": [az]}]}]}});
        }
        blue.push(json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv}, "spec": spec, "status": {"phase": "Bound"}}));
        blue.push(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": format!("claim-{user}"), "namespace": "daskhub", "labels": {"hub.jupyter.org/username": user}},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp2", "volumeName": pv,
                     "resources": {"requests": {"storage": format!("{size}Gi")}}},
            "status": {"phase": "Bound"},
        }));
    }
    // A PV of another namespace: not the runbook's, not captured.
    blue.push(json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pvc-other"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "gp2",
                 "claimRef": {"namespace": "elsewhere", "name": "data"}, "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0ther"}},
        "status": {"phase": "Bound"}}));
    let green = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jupyterhub"}}),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "gp3"},
               "provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}, "volumeBindingMode": "WaitForFirstConsumer"}),
    ];
    let blue = FakeApi::start(blue);
    let green = FakeApi::start(green);
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: cae-blue\n\
         clusters:\n- name: blue\n  cluster:\n    server: {}\n- name: green\n  cluster:\n    server: {}\n\
         users:\n- name: tester\n  user:\n    token: not-a-secret\n\
         contexts:\n- name: cae-blue\n  context:\n    cluster: blue\n    user: tester\n\
         - name: cae-green\n  context:\n    cluster: green\n    user: tester\n",
        blue.url, green.url
    );
    Site { moto, blue, green, kubeconfig }
}

const SETS: [&str; 8] =
    ["--set", "blue=cae-blue", "--set", "green=cae-green", "--set", "account=cae", "--set", "region=us-west-2"];

impl Site {
    fn test(&self) -> Test {
        self.moto
            .test()
            .file("kubeconfig", &self.kubeconfig)
            .file(".aws/config", "[profile cae]\nregion = us-west-2\n")
            .env("KUBECONFIG", "kubeconfig")
    }
}

/// The changes a run's journal records in `phase`, as `system verb target`
/// with the ids a dry run makes up (`snap-planned-3`) made one.
fn changes(done: &Done, phase: &str) -> Vec<String> {
    let mut out: Vec<String> = done
        .journal("j.jsonl")
        .into_iter()
        .filter_map(|e| match e {
            Event::Change { phase: p, change, .. } if p == phase => Some(format!(
                "{} {} {}",
                change["system"].as_str().unwrap_or_default(),
                change["verb"].as_str().unwrap_or_default(),
                change["target"].as_str().unwrap_or_default()
            )),
            _ => None,
        })
        .map(|c| {
            let mut words: Vec<String> = c.split(' ').map(String::from).collect();
            for w in &mut words {
                if let Some(at) = w.find("-planned-") {
                    w.truncate(at + "-planned-".len());
                }
            }
            words.join(" ")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_captured_cae_site_rehearses_the_home_volume_migration_its_live_dry_run_plans() {
    let site = site();
    let mut args = vec!["capture", "cae-home-volumes"];
    args.extend(SETS);
    site.moto.record();
    let (done, dir) = site.test().args(&args).run();
    done.status(0);
    // Read verbs only, on every system.
    for api in [&site.blue, &site.green] {
        assert!(api.requests().iter().all(|r| !r.is_write()), "a write: {:?}", api.requests());
    }
    let actions: Vec<String> = site.moto.requests().into_iter().map(|r| r.action).collect();
    assert!(!actions.is_empty() && actions.iter().all(|a| a.starts_with("Describe")), "{actions:?}");
    let world = read(dir.path(), "captured.yaml");
    assert_no_secret(&world, SECRET);
    assert_no_secret(&world, "not-a-secret");
    for noise in ["managedFields", "resourceVersion", "uid:", "last-applied-configuration"] {
        assert!(!world.contains(noise), "`{noise}` in\n{world}");
    }
    let parsed: Value = serde_norway::from_str(&world).expect("yaml");
    let objects = parsed["clusters"]["cae-blue"]["objects"].as_array().expect("blue's objects");
    let secret = objects.iter().find(|o| o["kind"] == "Secret").expect("the hub's Secret by name");
    assert_eq!(secret["data"], json!({"hub.config.CryptKeeper.keys": ""}));
    let pvs: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "PersistentVolume")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    assert_eq!(pvs, ["pvc-0000", "pvc-1111"]);
    let volumes = parsed["aws"]["accounts"]["cae"]["volumes"].as_array().expect("volumes");
    assert_eq!(volumes.len(), 2, "the volumes the PVs name, no other: {volumes:?}");
    assert!(parsed["clusters"]["cae-green"]["objects"]
        .as_array()
        .expect("green")
        .iter()
        .any(|o| o["kind"] == "StorageClass"));

    let mut live = vec!["run", "cae-home-volumes", "--dry-run", "--journal", "j.jsonl"];
    live.extend(SETS);
    let (live, _live_dir) = site.test().args(&live).run();
    live.status(0);
    let on_world = |extra: &[&str]| {
        let mut args = vec!["run", "cae-home-volumes", "--world", "captured.yaml", "--journal", "j.jsonl"];
        args.extend(extra);
        Test::new().file("captured.yaml", &world).args(&args).run()
    };
    let (world_plan, _plan_dir) = on_world(&["--dry-run"]);
    world_plan.status(0);
    let planned = changes(&live, "planned");
    // Two snapshots, two gp3 volumes, two PVs and two claims on green.
    assert_eq!(planned.len(), 8, "{planned:?}\n{}", live.stderr);
    assert_eq!(changes(&world_plan, "planned"), planned);
    // The rehearsal makes what the live dry run plans, verb for verb.
    let (rehearsal, _rehearsal_dir) = on_world(&[]);
    rehearsal.status(0);
    let verbs = |list: Vec<String>| {
        let mut v: Vec<String> = list.iter().map(|c| c.split(' ').take(2).collect::<Vec<_>>().join(" ")).collect();
        v.sort();
        v
    };
    assert_eq!(verbs(changes(&rehearsal, "applied")), verbs(planned));
}

/// A hub's namespace on a test API server: the `hub` Deployment with a
/// ready replica and `proxy-public` behind the load balancer `lb`.
fn hub_cluster(ns: &str, lb: &str) -> FakeApi {
    FakeApi::start(vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "hub", "namespace": ns, "labels": {"component": "hub"}},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"component": "hub"}}},
               "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "proxy-public", "namespace": ns},
               "spec": {"type": "LoadBalancer", "ports": [{"port": 443, "targetPort": 8443}]},
               "status": {"loadBalancer": {"ingress": [{"hostname": lb}]}}}),
    ])
}

#[test]
fn a_captured_zone_and_its_servers_plan_the_blue_green_prepare_its_live_dry_run_plans() {
    let dns = crate::dns::Site::start();
    let moto = Moto::start();
    let zone = moto.zone("example.test", false);
    moto.change(&zone, &["{'Action': 'CREATE', 'ResourceRecordSet': {'Name': 'hub.example.test', 'Type': 'CNAME', 'TTL': 60, 'ResourceRecords': [{'Value': 'blue.lb.test'}]}}".to_string()]);
    let blue = hub_cluster("daskhub", "blue.lb.test");
    let green = hub_cluster("jupyterhub", "green.lb.test");
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: cae-blue\n\
         clusters:\n- name: blue\n  cluster:\n    server: {}\n- name: green\n  cluster:\n    server: {}\n\
         users:\n- name: tester\n  user:\n    token: not-a-secret\n\
         contexts:\n- name: cae-blue\n  context:\n    cluster: blue\n    user: tester\n\
         - name: cae-green\n  context:\n    cluster: green\n    user: tester\n",
        blue.url, green.url
    );
    let live = || {
        crate::moto::fake_credentials(dns.test())
            .env("HUBOPS_AWS_ENDPOINT", &moto.endpoint)
            .file("kubeconfig", &kubeconfig)
            .file(".aws/config", "[profile cae]\nregion = us-west-2\n")
            .env("KUBECONFIG", "kubeconfig")
    };
    let sets = ["--set", "stage=prepare", "--set", "zone=example.test"];
    let mut args = vec!["capture", "cae-blue-green"];
    args.extend(SETS);
    args.extend(sets);
    let (done, dir) = live().args(&args).run();
    done.status(0);
    let world = read(dir.path(), "captured.yaml");
    assert_no_secret(&world, "not-a-secret");
    let parsed: Value = serde_norway::from_str(&world).expect("yaml");
    let servers: Vec<&str> = parsed["dns"]["zones"]["example.test"]["nameservers"]
        .as_array()
        .expect("the zone's servers")
        .iter()
        .filter_map(|s| s["host"].as_str())
        .collect();
    assert_eq!(servers, ["ns1.example.test", "ns2.example.test"]);
    let records = parsed["aws"]["accounts"]["cae"]["zones"][0]["records"].as_array().expect("records");
    assert!(records.iter().any(|r| r["type"] == "CNAME" && r["values"] == json!(["blue.lb.test"])), "{records:?}");

    let mut args = vec!["run", "cae-blue-green", "--dry-run", "--journal", "j.jsonl"];
    args.extend(SETS);
    args.extend(sets);
    let (live_plan, _live_dir) = live().args(&args).run();
    live_plan.status(0);
    let (world_plan, _world_dir) = Test::new()
        .file("captured.yaml", &world)
        .args(&[
            "run",
            "cae-blue-green",
            "--world",
            "captured.yaml",
            "--dry-run",
            "--journal",
            "j.jsonl",
            "--set",
            "stage=prepare",
        ])
        .run();
    world_plan.status(0);
    let planned = changes(&live_plan, "planned");
    assert_eq!(planned.len(), 1, "new-hub -> green: {planned:?}");
    assert_eq!(changes(&world_plan, "planned"), planned);
    let (rehearsal, _rehearsal_dir) = Test::new()
        .file("captured.yaml", &world)
        .args(&["run", "cae-blue-green", "--world", "captured.yaml", "--journal", "j.jsonl"])
        .run();
    rehearsal.status(0);
    assert!(rehearsal.stdout.contains("green is reachable at https://new-hub.example.test"), "{}", rehearsal.stdout);
    assert_eq!(changes(&rehearsal, "applied"), planned);
}

#[test]
fn a_capture_carries_the_timings_live_runs_measured_and_no_dry_runs() {
    let site = site();
    let capture = |journals: &std::path::Path| {
        let mut args = vec!["capture", "cae-home-volumes", "--journals", journals.to_str().expect("path")];
        args.extend(SETS);
        let (done, dir) = site.test().args(&args).run();
        done.status(0);
        let world: Value = serde_norway::from_str(&read(dir.path(), "captured.yaml")).expect("yaml");
        (done, world["aws"]["accounts"]["cae"]["timing"].clone())
    };
    let mut dry = vec!["run", "cae-home-volumes", "--dry-run", "--journal", "j.jsonl"];
    dry.extend(SETS);
    let (done, dry_dir) = site.test().args(&dry).run();
    done.status(0);
    assert_eq!(capture(dry_dir.path()).1, Value::Null, "a dry run measures nothing");

    let mut live = vec!["run", "cae-home-volumes", "--yes", "--journal", "j.jsonl"];
    live.extend(SETS);
    let (done, live_dir) = site.test().args(&live).run();
    done.status(0);
    let run_id = done
        .journal("j.jsonl")
        .into_iter()
        .find_map(|e| match e {
            Event::RunStart { run_id, .. } => Some(run_id),
            _ => None,
        })
        .expect("a run");
    let (captured, timing) = capture(live_dir.path());
    let keys: Vec<&String> = timing.as_object().expect("timing from the live run").keys().collect();
    assert_eq!(keys, ["snapshot", "volume"]);
    assert!(captured.stderr.contains("timing.snapshot: "), "{}", captured.stderr);
    assert!(captured.stderr.contains(&format!("as measured by live run {run_id}")), "{}", captured.stderr);
}

/// A site runbook whose header names a list of namespaces: Argo CD's
/// Applications and the Leases in them are captured as they are live.
#[test]
fn argo_cd_applications_and_leases_are_captured_as_the_cluster_serves_them() {
    let api = FakeApi::start(vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "nublado", "namespace": "argocd"},
               "spec": {"project": "default", "source": {"repoURL": "https://github.com/lsst-sqre/phalanx", "path": "applications/nublado"},
                        "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
               "status": {"sync": {"status": "Synced", "revision": "aaa111"}, "health": {"status": "Healthy"}}}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "argocd-leader", "namespace": "argocd"},
               "spec": {"holderIdentity": "controller-0", "leaseDurationSeconds": 15}}),
    ]);
    let runbook = "//! Report an Argo CD application.\n//! capture: kube context namespaces\n\
        let p = params(#{ context: #{ default_value: \"green\" }, namespaces: #{ type: \"list\", default_value: [\"argocd\"] } });\n\
        let c = k8s::cluster(p.context);\n\
        let a = argocd::app(c, \"argocd\", \"nublado\");\n\
        print(`${a.sync_status} ${a.health} ${a.revision} ${a.self_heal}`);\n\
        print(c.get(\"lease\", \"argocd\", \"argocd-leader\").spec.holderIdentity);\n";
    let live = || {
        Test::new()
            .file("kubeconfig", &api.kubeconfig(&["green"]))
            .env("KUBECONFIG", "kubeconfig")
            .file("apps.rhai", runbook)
    };
    let (done, dir) = live().args(&["capture", "apps.rhai"]).run();
    done.status(0);
    let world = read(dir.path(), "captured.yaml");
    let (live_run, _live_dir) = live().args(&["run", "apps.rhai", "-q"]).run();
    live_run.status(0);
    assert_eq!(live_run.stdout, "Synced Healthy aaa111 true\ncontroller-0\n");
    let (rehearsed, _rehearsed_dir) = Test::new()
        .file("apps.rhai", runbook)
        .file("captured.yaml", &world)
        .args(&["run", "apps.rhai", "--world", "captured.yaml", "-q"])
        .run();
    rehearsed.status(0);
    assert_eq!(rehearsed.stdout, live_run.stdout);
}
