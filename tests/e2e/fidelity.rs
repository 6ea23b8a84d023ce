//! Worlds hold runbooks to the rules the real systems enforce, and answer
//! with the real systems' own words: immutable fields, the conditions the
//! deployment controller derives, the persistent-volume binder's checks,
//! and HTTP that goes where DNS leads (a CNAME, an A record, an ingress).
//! (Namespaces that stay Terminating until their finalizers clear, and
//! rsync's refusal of two remote ends, are tested with their own issues.)

use crate::support::Test;

/// Runs `script` on the world `world` (a bundled name or a file of the
/// test), expecting `status`.
fn rehearse(world: &str, files: &[(&str, &str)], script: &str, status: i32) -> crate::support::Done {
    let mut t = Test::new().file("s.rhai", script);
    for (name, text) in files {
        t = t.file(name, text);
    }
    let (done, _dir) = t.args(&["run", "s.rhai", "--world", world]).run();
    done.status(status);
    done
}

#[test]
fn a_bound_claims_volume_name_cannot_be_changed() {
    let done = rehearse(
        "cae",
        &[],
        r#"k8s::cluster("cae-blue").apply(#{ apiVersion: "v1", kind: "PersistentVolumeClaim",
            metadata: #{ name: "claim-alice", namespace: "daskhub" },
            spec: #{ accessModes: ["ReadWriteOnce"], storageClassName: "gp2", volumeName: "claim-alice-gp3",
                     resources: #{ requests: #{ storage: "10Gi" } } } });"#,
        1,
    );
    assert!(
        done.stderr.contains("caused by: PersistentVolumeClaim \"claim-alice\" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"),
        "{}",
        done.stderr
    );
    // A resize is what the API allows.
    rehearse(
        "cae",
        &[],
        r#"k8s::cluster("cae-blue").patch("pvc", "daskhub", "claim-alice", #{ spec: #{ resources: #{ requests: #{ storage: "20Gi" } } } });"#,
        0,
    );
}

#[test]
fn a_volumes_source_cannot_be_changed() {
    let done = rehearse(
        "cae",
        &[],
        r#"k8s::cluster("cae-blue").patch("pv", "", "pvc-3333", #{ spec: #{ csi: #{ volumeHandle: "vol-0other" } } });"#,
        1,
    );
    assert!(
        done.stderr.contains("caused by: PersistentVolume \"pvc-3333\" is invalid: spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation\n"),
        "{}",
        done.stderr
    );
    rehearse(
        "cae",
        &[],
        r#"k8s::cluster("cae-blue").patch("pv", "", "pvc-3333", #{ spec: #{ persistentVolumeReclaimPolicy: "Retain" } });"#,
        0,
    );
}

#[test]
fn a_deployments_selector_cannot_be_changed() {
    let done = rehearse(
        "cae",
        &[],
        r#"k8s::cluster("cae-blue").apply(#{ apiVersion: "apps/v1", kind: "Deployment",
            metadata: #{ name: "hub", namespace: "daskhub" },
            spec: #{ selector: #{ matchLabels: #{ app: "jupyterhub", component: "hub" } } } });"#,
        1,
    );
    assert!(
        done.stderr.contains("caused by: Deployment.apps \"hub\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"jupyterhub\", \"component\":\"hub\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable\n"),
        "{}",
        done.stderr
    );
}

/// The CAE world's Deployments list replica counts and no conditions, as
/// hand-written manifests do; a real cluster's controller adds them, and
/// so does the world, with the controller's words, and keeps them in step
/// with the counts.
#[test]
fn deployment_conditions_follow_the_replica_counts() {
    let done = rehearse(
        "cae",
        &[],
        r#"let blue = k8s::cluster("cae-blue");
        let d = blue.wait("deploy", "daskhub", "hub", "Available", #{ timeout: "1m" });
        for c in d.status.conditions { print(`${c.type} ${c.status} ${c.reason}: ${c.message}`); }
        blue.scale("deploy", "daskhub", "hub", 0);
        blue.patch("deploy", "daskhub", "hub", #{ spec: #{ replicas: 2 } });
        let c = blue.get("deploy", "daskhub", "hub").status.conditions[0];
        print(`${c.type} ${c.status} ${c.reason}: ${c.message} (since ${c.lastTransitionTime})`);"#,
        0,
    );
    done.stdout(
        "Available True MinimumReplicasAvailable: Deployment has minimum availability.
Progressing True NewReplicaSetAvailable: ReplicaSet \"hub-njg4qh94mc\" has successfully progressed.
Available False MinimumReplicasUnavailable: Deployment does not have minimum availability. (since 2026-11-21T06:00:00Z)
",
    );
}

#[test]
fn a_claim_the_binder_refuses_stays_pending_with_the_controllers_event() {
    let done = rehearse(
        "cae",
        &[],
        r#"let green = k8s::cluster("cae-green");
        green.apply(#{ apiVersion: "v1", kind: "PersistentVolume", metadata: #{ name: "claim-bob-gp3" },
          spec: #{ capacity: #{ storage: "10Gi" }, accessModes: ["ReadWriteOnce"], storageClassName: "gp3",
                   csi: #{ driver: "ebs.csi.aws.com", volumeHandle: "vol-0b0b" } } });
        green.apply(#{ apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: #{ name: "claim-bob", namespace: "jupyterhub" },
          spec: #{ accessModes: ["ReadWriteOnce"], storageClassName: "gp3", volumeName: "claim-bob-gp3",
                   resources: #{ requests: #{ storage: "20Gi" } } } });
        for e in green.list("events", "jupyterhub") { print(`${e.type} ${e.reason} ${e.involvedObject.name}: ${e.message}`); }
        green.wait("pvc", "jupyterhub", "claim-bob", "Bound", #{ timeout: "2m" });"#,
        1,
    );
    assert_eq!(
        done.stdout,
        "Warning VolumeMismatch claim-bob: Cannot bind to requested volume \"claim-bob-gp3\": requested PV is too small\n"
    );
    assert!(done.stderr.contains("not Bound after 2m"), "{}", done.stderr);
    // A volume claimed by someone else is not taken either.
    let done = rehearse(
        "cae",
        &[],
        r#"let blue = k8s::cluster("cae-blue");
        blue.apply(#{ apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: #{ name: "claim-mallory", namespace: "daskhub" },
          spec: #{ accessModes: ["ReadWriteOnce"], storageClassName: "gp2", volumeName: "pvc-1111",
                   resources: #{ requests: #{ storage: "10Gi" } } } });
        for e in blue.list("events", "daskhub") { print(`${e.reason}: ${e.message}`); }
        print(blue.get("pvc", "daskhub", "claim-mallory").status?.phase ?? "Pending");"#,
        0,
    );
    done.stdout("FailedBinding: volume \"pvc-1111\" already bound to a different claim.\nPending\n");
}

const ROUTES: &str = r"
name: routes
start: 2026-11-21T06:00:00Z
clusters:
  green:
    objects:
      - { apiVersion: v1, kind: Namespace, metadata: { name: jupyterhub } }
      - { apiVersion: v1, kind: Namespace, metadata: { name: staging } }
      - apiVersion: apps/v1
        kind: Deployment
        metadata: { name: hub, namespace: jupyterhub }
        spec: { replicas: 1, selector: { matchLabels: { component: hub } } }
        status: { replicas: 1, readyReplicas: 1, availableReplicas: 1 }
      - apiVersion: v1
        kind: Service
        metadata: { name: proxy-public, namespace: jupyterhub }
        spec: { type: LoadBalancer }
        status: { loadBalancer: { ingress: [{ ip: 203.0.113.10 }] } }
      - apiVersion: apps/v1
        kind: Deployment
        metadata: { name: hub, namespace: staging }
        spec: { replicas: 1, selector: { matchLabels: { component: hub } } }
        status: { replicas: 1, readyReplicas: 1, availableReplicas: 1 }
      - apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: { name: hub, namespace: staging }
        spec: { rules: [{ host: staging.example.org }] }
        status: { loadBalancer: { ingress: [{ hostname: k8s-ingress-1234.elb.us-west-2.amazonaws.com }] } }
aws:
  accounts:
    prod:
      region: us-west-2
      zones:
        - id: Z1
          name: example.org
          records:
            - { name: hub.example.org, type: A, ttl: 60, values: [203.0.113.10] }
            - { name: staging.example.org, type: CNAME, ttl: 60, values: [k8s-ingress-1234.elb.us-west-2.amazonaws.com] }
            - { name: other.example.org, type: CNAME, ttl: 60, values: [k8s-ingress-1234.elb.us-west-2.amazonaws.com] }
            - { name: old.example.org, type: A, ttl: 60, values: [198.51.100.99] }
            - { name: moved.example.org, type: A, ttl: 60, values: [198.51.100.98] }
http:
  endpoints:
    - url: https://moved.example.org/hub/health
      address: 192.0.2.50
      answers: [{ status: 200 }]
";

/// A hub is reached through an A record to its load balancer's address, or
/// through the address of an Ingress with a rule for its host; an ingress
/// without that rule answers 404, and an A record to an address nothing
/// has, or not to where an endpoint is served, connects nowhere.
#[test]
fn http_goes_where_dns_leads() {
    let done = rehearse(
        "routes.yaml",
        &[("routes.yaml", ROUTES)],
        r#"for host in ["hub", "staging", "other", "old", "moved"] {
            try {
                print(`${host}: ${http::get(`https://${host}.example.org/hub/health`).status}`);
            } catch (e) { print(`${host}: ${e.kind}: ${e.message}: ${e.causes[0]}`); }
        }"#,
        0,
    );
    done.stdout(
        "hub: 200
staging: 200
other: 404
old: Unreachable: `https://old.example.org/hub/health` is unreachable: tcp connect error: Connection timed out (os error 110): `old.example.org` leads to 198.51.100.99, where the world has no load balancer or ingress
moved: Unreachable: `https://moved.example.org/hub/health` is unreachable: tcp connect error: Connection timed out (os error 110): `moved.example.org` leads to 198.51.100.98, and the endpoint is at 192.0.2.50
",
    );
}
