//! Unit tests of the world account: change log, strict batches, progress.

use super::*;
use crate::backends::aws::{Action, NewVolume};
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
    prod.change(&p, "Z1", &[Action::Upsert(cname("green", 60))], at("2026-01-01T06:10:00Z")).unwrap();
    let swap = [Action::Delete(cname("green", 60)), Action::Create(cname("red", 30))];
    prod.change(&p, "Z1", &swap, at("2026-01-01T06:20:00Z")).unwrap();
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
    let err = prod.change(&p, "Z1", &stale, t).unwrap_err();
    assert_eq!(err.code(), Some("InvalidChangeBatch"));
    assert_eq!(prod.records("Z1", None, None).unwrap(), vec![cname("blue", 60)], "nothing applied");
    let err = prod.change(&p, "Z1", &[Action::Create(cname("x", 1))], t).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let info = prod.change(&p, "Z1", &[Action::Upsert(cname("green", 60))], t).unwrap();
    assert_eq!(prod.change_status(&info.id, at("2026-01-01T06:00:29Z")).unwrap().status, "PENDING");
    assert_eq!(prod.change_status(&info.id, at("2026-01-01T06:00:30Z")).unwrap().status, "INSYNC");
}

#[test]
fn snapshots_progress_over_virtual_time() {
    let mut w = world();
    let p = Permit::for_tests();
    let prod = w.account("prod").unwrap();
    let s = prod.create_snapshot(&p, "vol-1", "d", &Tags::new(), at("2026-01-01T06:00:00Z"), false).unwrap();
    prod.advance(at("2026-01-01T06:05:00Z"));
    assert_eq!((prod.snapshot(&s.id).unwrap().state.as_str(), prod.snapshot(&s.id).unwrap().progress), ("pending", 50));
    let new = NewVolume {
        az: "us-west-2a".into(),
        snapshot: Some(s.id.clone()),
        volume_type: "gp3".into(),
        ..NewVolume::default()
    };
    let err = prod.create_volume(&p, &new, at("2026-01-01T06:05:00Z"), true).unwrap_err();
    assert_eq!(err.code(), Some("IncorrectState"));
    prod.advance(at("2026-01-01T06:10:00Z"));
    assert_eq!(prod.snapshot(&s.id).unwrap().state, "completed");
    let v = prod.create_volume(&p, &new, at("2026-01-01T06:10:00Z"), false).unwrap();
    assert_eq!((v.size, v.state.as_str()), (8, "creating"));
    assert!(v.tags.is_empty(), "the world's bookkeeping tag is hidden");
    let before = prod.volumes(&Query::default()).len();
    prod.create_volume(&p, &new, at("2026-01-01T06:10:00Z"), true).unwrap();
    assert_eq!(prod.volumes(&Query::default()).len(), before, "a dry run changes nothing");
}
