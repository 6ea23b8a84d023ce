//! Timings a captured world carries from what this site measured: the
//! waits that live runs journaled (how long a snapshot took to complete, a
//! volume to become available, a modification to settle, a Route53 change
//! to be INSYNC). The latest live run that waited for each wins, and the
//! longest of its waits is taken, as the one the window waits for. Dry runs
//! and rehearsals are not measurements.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::journal::Event;

/// A measured timing: the duration and the run it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Measured {
    /// How long it took.
    pub(super) took: Duration,
    /// The run that measured it.
    pub(super) run: String,
}

/// What a journaled wait measures, as a world account's `timing` key.
fn kind_of(what: &str) -> Option<&'static str> {
    if what.starts_with("snapshot `") && what.ends_with(" completed") {
        Some("snapshot")
    } else if what.starts_with("volume `") && what.ends_with(" available") {
        Some("volume")
    } else if what.starts_with("modification of volume `") {
        Some("modify")
    } else if what.ends_with(" change INSYNC") {
        Some("insync")
    } else {
        None
    }
}

/// The timings the live runs journaled in `dir` measured, by `timing` key.
/// Journals that cannot be read are skipped: they are not this command's.
pub(super) fn measured(dir: &Path) -> BTreeMap<&'static str, Measured> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeMap::new() };
    let mut journals: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    journals.sort();
    // (started, measured) per key: the latest run wins.
    let mut best: BTreeMap<&'static str, (String, Measured)> = BTreeMap::new();
    for path in journals {
        let Ok(events) = crate::journal::read(&path) else { continue };
        let mut run: Option<(String, String)> = None;
        let mut longest: BTreeMap<&'static str, Duration> = BTreeMap::new();
        let mut flush = |run: &Option<(String, String)>, longest: &mut BTreeMap<&'static str, Duration>| {
            if let Some((id, started)) = run {
                for (key, took) in std::mem::take(longest) {
                    let newer = best.get(key).is_none_or(|(at, _)| at < started);
                    if newer {
                        best.insert(key, (started.clone(), Measured { took, run: id.clone() }));
                    }
                }
            }
            longest.clear();
        };
        for event in events {
            match event {
                Event::RunStart { run_id, target, dry_run, started, .. } => {
                    flush(&run, &mut longest);
                    run = (target == "live" && !dry_run).then_some((run_id, started));
                }
                Event::Wait { what, duration_ms, outcome, virtual_time: false } if outcome == "done" => {
                    if let Some(key) = kind_of(&what) {
                        let took = Duration::from_millis(duration_ms);
                        let slot = longest.entry(key).or_default();
                        *slot = (*slot).max(took);
                    }
                }
                _ => {}
            }
        }
        flush(&run, &mut longest);
    }
    best.into_iter().map(|(k, (_, m))| (k, m)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_name_what_they_measure() {
        assert_eq!(kind_of("snapshot `snap-1` completed"), Some("snapshot"));
        assert_eq!(kind_of("volume `vol-1` available"), Some("volume"));
        assert_eq!(kind_of("modification of volume `vol-1`"), Some("modify"));
        assert_eq!(kind_of("CNAME hub.example.org. change INSYNC"), Some("insync"));
        assert_eq!(kind_of("sleep 30s"), None);
    }
}
