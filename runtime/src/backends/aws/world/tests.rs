//! Unit tests of the world account: change log, strict batches, progress,
//! and checks (`Permit::Check`) that validate like the change and change
//! nothing.

use super::*;
use crate::backends::aws::{Action, NewVolume, VolumeChange};
use crate::effects::Permit;

const WORLD: &str = r#"{"accounts": {"prod": {"region": "us-west-2",
    "timing": {"snapshot": "10m", "insync": "30s"},
    "volumes": [{"id": "vol-1", "az": "us-west-2a", "size": 8, "type": "gp2", "state": "available"}],
    "zones": [{"id": "Z1", "name": "example.org", "records": [
        {"name": "hub.example.org", "type": "CNAME", "ttl": 60, "values": ["blue"]}]}]}}}"#;

fn world() -> AwsWorld {
    let part = load_world(&serde_json::from_str(WORLD).unwrap()).unwrap();
    part.as_any().downcast_ref::<AwsWorld>().unwrap().clone()
}

fn at(t: &str) -> Timestamp {
    t.parse().unwrap()
}

fn cname(value: &str, ttl: i64) -> Record {
    Record {
        name: "hub.example.org.".into(),
        record_type: "CNAME".into(),
        ttl: Some(ttl),
        values: vec![value.into()],
        alias: None,
    }
}

#[test]
fn records_are_known_at_any_virtual_time() {
    let mut w = world();
    let p = Permit::for_tests();
    let prod = w.account("prod").unwrap();
    prod.change(&p, "Z1", &[Action::Upsert(cname("green", 60))], at("2026-01-01T06:10:00Z"), None).unwrap();
    let swap = [Action::Delete(cname("green", 60)), Action::Create(cname("red", 30))];
    prod.change(&p, "Z1", &swap, at("2026-01-01T06:20:00Z"), None).unwrap();
    let value = |t: &str| w.record_at("Hub.Example.org", "cname", at(t)).map(|r| r.values[0].clone());
    assert_eq!(value("2026-01-01T06:00:00Z").as_deref(), Some("blue"));
    assert_eq!(value("2026-01-01T06:10:00Z").as_deref(), Some("green"));
    assert_eq!(value("2026-01-01T06:19:59Z").as_deref(), Some("green"));
    assert_eq!(value("2026-01-01T06:20:00Z").as_deref(), Some("red"));
    assert_eq!(w.record_at("other.example.org", "A", at("2026-01-01T06:20:00Z")), None);
    assert_eq!(w.record_at("hub.elsewhere.org", "CNAME", at("2026-01-01T06:20:00Z")), None);
    let history = w.record_history("hub.example.org", "CNAME");
    assert_eq!(history.len(), 3);
    assert_eq!(history[2].after.as_ref().and_then(|r| r.ttl), Some(30));
    assert_eq!(w.record_changed_at("hub.example.org", "CNAME"), Some(at("2026-01-01T06:20:00Z")));
    assert_eq!(w.record_changed_at("other.example.org", "CNAME"), None);
}

#[test]
fn change_batches_are_strict_and_all_or_nothing() {
    let mut w = world();
    let p = Permit::for_tests();
    let prod = w.account("prod").unwrap();
    let t = at("2026-01-01T06:00:00Z");
    // A DELETE must name the exact current set (moto would accept this).
    let stale = [Action::Delete(cname("blue", 300)), Action::Create(cname("green", 60))];
    let err = prod.change(&p, "Z1", &stale, t, None).unwrap_err();
    assert_eq!(err.code(), Some("InvalidChangeBatch"));
    assert_eq!(prod.records("Z1", None, None).unwrap(), vec![cname("blue", 60)], "nothing applied");
    let err = prod.change(&p, "Z1", &[Action::Create(cname("x", 1))], t, None).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let info = prod.change(&p, "Z1", &[Action::Upsert(cname("green", 60))], t, None).unwrap();
    assert_eq!(prod.change_status(&info.id, at("2026-01-01T06:00:29Z")).unwrap().status, "PENDING");
    assert_eq!(prod.change_status(&info.id, at("2026-01-01T06:00:30Z")).unwrap().status, "INSYNC");
}

#[test]
fn snapshots_progress_over_virtual_time() {
    let mut w = world();
    let p = Permit::for_tests();
    let prod = w.account("prod").unwrap();
    let s = prod.create_snapshot(&p, "vol-1", "d", &Tags::new(), at("2026-01-01T06:00:00Z")).unwrap();
    prod.advance(at("2026-01-01T06:05:00Z"));
    assert_eq!((prod.snapshot(&s.id).unwrap().state.as_str(), prod.snapshot(&s.id).unwrap().progress), ("pending", 50));
    let new = NewVolume {
        az: "us-west-2a".into(),
        snapshot: Some(s.id.clone()),
        volume_type: "gp3".into(),
        ..NewVolume::default()
    };
    let err = prod.create_volume(&Permit::for_tests_check(), &new, at("2026-01-01T06:05:00Z")).unwrap_err();
    assert_eq!(err.code(), Some("IncorrectState"));
    prod.advance(at("2026-01-01T06:10:00Z"));
    assert_eq!(prod.snapshot(&s.id).unwrap().state, "completed");
    let v = prod.create_volume(&p, &new, at("2026-01-01T06:10:00Z")).unwrap();
    assert_eq!((v.size, v.state.as_str()), (8, "creating"));
    assert!(v.tags.is_empty(), "the world's bookkeeping tag is hidden");
    let before = prod.volumes(&Query::default()).len();
    prod.create_volume(&Permit::for_tests_check(), &new, at("2026-01-01T06:10:00Z")).unwrap();
    assert_eq!(prod.volumes(&Query::default()).len(), before, "a dry run changes nothing");
}

/// Every mutator under `Permit::Check`: the same answer or the same refusal
/// as under `Permit::Apply`, and the account exactly as it was.
#[test]
fn checks_validate_like_changes_and_change_nothing() {
    let mut w = world();
    let check = Permit::for_tests_check();
    let t = at("2026-01-01T06:00:00Z");
    let prod = w.account("prod").unwrap();
    let before = serde_json::to_value(&*prod).unwrap();

    let s = prod.create_snapshot(&check, "vol-1", "d", &Tags::new(), t).unwrap();
    assert_eq!((s.volume.as_str(), s.size, s.state.as_str()), ("vol-1", 8, "pending"));
    let new = NewVolume { az: "us-west-2a".into(), size: Some(1), volume_type: "gp3".into(), ..NewVolume::default() };
    prod.create_volume(&check, &new, t).unwrap();
    let gp3 = VolumeChange { volume_type: Some("gp3".into()), ..VolumeChange::default() };
    prod.modify_volume(&check, "vol-1", &gp3, t).unwrap();
    prod.tag(&check, "vol-1", &[("k".to_string(), "v".to_string())].into()).unwrap();
    let batch = [Action::Upsert(cname("green", 60))];
    assert_eq!(prod.change(&check, "Z1", &batch, t, None).unwrap().status, "PENDING");
    prod.delete_volume(&check, "vol-1").unwrap();

    // Refusals are the same as when applying.
    let err = |e: Error| e.code().map_or_else(|| e.to_string(), ToString::to_string);
    assert_eq!(
        err(prod.create_snapshot(&check, "vol-x", "d", &Tags::new(), t).unwrap_err()),
        "volume `vol-x` not found"
    );
    let bad_az = NewVolume { az: "eu-west-1a".into(), ..new.clone() };
    assert_eq!(err(prod.create_volume(&check, &bad_az, t).unwrap_err()), "InvalidParameterValue");
    let bad_type = VolumeChange { volume_type: Some("gp9".into()), ..VolumeChange::default() };
    assert_eq!(err(prod.modify_volume(&check, "vol-1", &bad_type, t).unwrap_err()), "InvalidParameterValue");
    assert_eq!(err(prod.tag(&check, "snap-x", &Tags::new()).unwrap_err()), "snapshot `snap-x` not found");
    assert_eq!(err(prod.delete_snapshot(&check, "snap-x").unwrap_err()), "snapshot `snap-x` not found");
    let create_existing = [Action::Create(cname("x", 1))];
    assert_eq!(err(prod.change(&check, "Z1", &create_existing, t, None).unwrap_err()), "InvalidChangeBatch");

    assert_eq!(serde_json::to_value(&*prod).unwrap(), before, "a check changed the world");
    // And the same calls applied do change it.
    prod.delete_volume(&Permit::for_tests(), "vol-1").unwrap();
    assert_ne!(serde_json::to_value(&*prod).unwrap(), before);
}

/// The account value on a world: every mutating verb under
/// `Permit::Check` answers (a placeholder for what a create would make) and
/// leaves the saved world exactly as it was; under `Permit::Apply` the same
/// verbs change it.
#[test]
fn the_account_value_checks_on_the_world_without_changing_it() {
    use crate::backends::aws::{Account as AwsAccount, AccountSpec, Edit, EditAction, Expect, Expected, VolumeChange};
    use crate::backends::Target;
    use crate::world::{Shared, World};

    let yaml = format!("name: t\nstart: 2026-01-01T06:00:00Z\naws: {WORLD}\n");
    let world = World::load(&yaml, "t.yaml", &[("aws", load_world)]).unwrap();
    let shared = Shared::new(world, std::sync::Arc::new(crate::clock::Clock::starting_at(at("2026-01-01T06:00:00Z"))));
    let saved = || shared.lock().to_yaml(shared.now());
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let spec = AccountSpec { profile: Some("prod".into()), ..AccountSpec::default() };
    let account = runtime.block_on(AwsAccount::open(&Target::World(shared.clone()), &spec)).unwrap();
    let zone = runtime.block_on(account.zone("example.org", None)).unwrap();
    let swap = Edit {
        name: "hub.example.org".into(),
        record_type: "CNAME".into(),
        expect: Expect::Values(Expected { values: vec!["blue".into()], ..Expected::default() }),
        action: EditAction::Swap(cname("green", 60)),
    };
    let delete = Edit {
        name: "hub.example.org".into(),
        record_type: "CNAME".into(),
        expect: Expect::Unchanged(Some(cname("blue", 60))),
        action: EditAction::Delete,
    };
    let new = NewVolume { az: "us-west-2a".into(), size: Some(1), volume_type: "gp3".into(), ..NewVolume::default() };
    let gp3 = VolumeChange { volume_type: Some("gp3".into()), ..VolumeChange::default() };
    let tags: Tags = [("k".to_string(), "v".to_string())].into();
    let every_verb = |p: &Permit| {
        runtime.block_on(async {
            let s = account.create_snapshot(p, "vol-1", "d", &tags).await.unwrap();
            let v = account.create_volume(p, &new, "token").await.unwrap();
            account.modify_volume(p, "vol-1", &gp3).await.unwrap();
            account.tag(p, "vol-1", &tags).await.unwrap();
            let c = account.change(p, &zone, &swap).await.unwrap();
            (s, v, c)
        })
    };

    let before = saved();
    let (s, v, c) = every_verb(&Permit::for_tests_check());
    assert!(crate::backends::aws::is_planned(&s.id) && s.state == "planned" && s.size == 8, "{s:?}");
    assert!(crate::backends::aws::is_planned(&v.id) && v.state == "planned", "{v:?}");
    assert_eq!((c.id.as_str(), c.status.as_str()), ("planned", "PLANNED"));
    runtime.block_on(account.change(&Permit::for_tests_check(), &zone, &delete)).unwrap();
    runtime.block_on(account.delete_volume(&Permit::for_tests_check(), "vol-1")).unwrap();
    // A precondition that does not hold fails the check as it would the change.
    let stale = Edit { expect: Expect::Unchanged(Some(cname("red", 60))), ..delete.clone() };
    let err = runtime.block_on(account.change(&Permit::for_tests_check(), &zone, &stale)).unwrap_err();
    assert!(err.to_string().contains("changed while hubops was working on it"), "{err}");
    assert_eq!(saved(), before, "a check changed the world");

    let (s, v, c) = every_verb(&Permit::for_tests());
    assert!(!crate::backends::aws::is_planned(&s.id) && !crate::backends::aws::is_planned(&v.id));
    assert_eq!(c.status, "PENDING");
    assert_ne!(saved(), before);
}
