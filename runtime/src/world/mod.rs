//! Simulated sites for `--rehearse`, `--world FILE` and tests. A world file is
//! YAML: a header (`name`, `description`, `start` for the virtual clock) and
//! one section per binding family (`http:`, later `clusters:`, `aws:`, ...).
//! Each family owns its section: it parses it into a [`WorldPart`] and its
//! simulated backend reads and changes that part. Mutations on a world change
//! only the world; time on a world is virtual.
//!
//! This module loads, validates and saves worlds, and hands the families'
//! simulated backends one [`Shared`] handle (the world and the run's clock);
//! it knows no family's schema, and nothing here touches a real system.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::clock::Clock;
use crate::suggestion::closest;

pub mod faults;

/// Downcasting for world parts, implemented once for every type so that
/// families only write what is theirs (`snapshot`).
pub trait AsAny: Any {
    /// For downcasting to the family's own type.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting to the family's own type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// One family's part of a world.
pub trait WorldPart: fmt::Debug + Send + AsAny {
    /// The section as it would be written back to a world file.
    fn snapshot(&self) -> Value;
    /// The section as written back when the saved world starts `elapsed`
    /// after this one did (`--save-world` moves `start` to the run's end):
    /// parts with changes scheduled in virtual time shift them.
    fn snapshot_after(&self, elapsed: std::time::Duration) -> Value {
        let _ = elapsed;
        self.snapshot()
    }
    /// Brings what changes by itself over virtual time up to `now`
    /// (`elapsed` since the world's start), before the world is saved: a
    /// saved world is the site as it is at that instant, whichever parts
    /// the run happened to look at last.
    fn settle(&mut self, elapsed: std::time::Duration, now: Timestamp) {
        let _ = (elapsed, now);
    }
}

/// Parses a family's section of a world file.
pub type SectionLoader = fn(&Value) -> Result<Box<dyn WorldPart>, String>;

/// A loaded world.
#[derive(Debug)]
pub struct World {
    /// The world's name.
    pub name: String,
    /// What it simulates.
    pub description: String,
    /// Where it was loaded from.
    pub origin: String,
    /// Parameter values for rehearsals on this world (`--params` and
    /// `--set` win over them).
    pub params: BTreeMap<String, Value>,
    start: Timestamp,
    parts: BTreeMap<String, Box<dyn WorldPart>>,
}

/// A world file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not YAML, or not a mapping.
    #[error("world `{origin}` is not valid: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// A top-level key no family owns.
    #[error("world `{origin}` has an unknown section `{section}`")]
    UnknownSection {
        /// The file.
        origin: String,
        /// The key.
        section: String,
        /// The known sections.
        known: Vec<String>,
    },
    /// A family rejected its section.
    #[error("world `{origin}`, section `{section}` (line {line}): {message}")]
    Section {
        /// The file.
        origin: String,
        /// The section.
        section: String,
        /// Line of the section key.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// No world file by that name.
    #[error("world `{name}` not found")]
    NotFound {
        /// The name or path.
        name: String,
    },
    /// `--faults` on a live run.
    #[error("`--faults` injects faults into a rehearsal, and this run is live")]
    FaultsWithoutWorld,
    /// `--rehearse` with a runbook that names no default world.
    #[error("runbook `{runbook}` names no default world to rehearse on")]
    NoDefault {
        /// The runbook.
        runbook: String,
    },
}

impl Error {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Self::UnknownSection { section, known, .. } => Some(
                closest(section, known.iter().map(String::as_str)).map_or_else(
                    || format!("known sections: {}", known.join(", ")),
                    |s| format!("did you mean `{s}`?"),
                ),
            ),
            Self::NotFound { .. } => Some(
                "a world is a YAML file path, or a name looked up next to the runbook, on the search path, then bundled".into(),
            ),
            Self::FaultsWithoutWorld => Some("add --world FILE or --rehearse; live systems bring their own faults".into()),
            Self::NoDefault { .. } => {
                Some("pass --world FILE, or add `//! world: NAME` to the runbook's header".into())
            }
            _ => None,
        }
    }
}

const HEADER: [&str; 5] = ["world", "name", "description", "start", "params"];

/// The default start of virtual time, when a world gives none: a fixed
/// instant, so rehearsals and their journals are reproducible.
const DEFAULT_START: &str = "2026-01-01T06:00:00Z";

impl World {
    /// Loads a world from YAML text. `sections` are the families that can
    /// have a part in it.
    pub fn load(text: &str, origin: &str, sections: &[(&str, SectionLoader)]) -> Result<Self, Error> {
        let syntax = |message: String| Error::Syntax { origin: origin.to_string(), message };
        crate::yaml_limits::check(text).map_err(|why| syntax(format!("the file {why}")))?;
        let yaml: serde_norway::Value = serde_norway::from_str(text).map_err(|e| syntax(e.to_string()))?;
        let value: Value = serde_json::to_value(yaml).map_err(|e| syntax(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(syntax("expected a mapping with `name`, `description` and sections".into()));
        };
        let text_of = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        let start = match map.get("start") {
            None => DEFAULT_START.parse().map_err(|e: jiff::Error| syntax(e.to_string()))?,
            Some(Value::String(s)) => s
                .parse::<Timestamp>()
                .map_err(|e| syntax(format!("`start` must be an RFC 3339 time such as {DEFAULT_START}: {e}")))?,
            Some(other) => return Err(syntax(format!("`start` must be an RFC 3339 time, not {other}"))),
        };
        if let Some(version) = map.get("world") {
            if version != &Value::from(1) {
                return Err(syntax(format!("`world: {version}` is not a format this hubops reads (1)")));
            }
        }
        let params = match map.get("params") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(p)) => p.clone().into_iter().collect(),
            Some(_) => return Err(syntax("`params` must be a mapping of parameter names to values".into())),
        };
        let mut parts = BTreeMap::new();
        for (key, section) in &map {
            if HEADER.contains(&key.as_str()) {
                continue;
            }
            let Some((_, loader)) = sections.iter().find(|(name, _)| name == key) else {
                let mut known: Vec<String> = HEADER.iter().map(ToString::to_string).collect();
                known.extend(sections.iter().map(|(n, _)| (*n).to_string()));
                return Err(Error::UnknownSection { origin: origin.into(), section: key.clone(), known });
            };
            let part = loader(section).map_err(|message| Error::Section {
                origin: origin.into(),
                section: key.clone(),
                line: line_of(text, key),
                message,
            })?;
            parts.insert(key.clone(), part);
        }
        Ok(Self {
            name: text_of("name"),
            description: text_of("description"),
            origin: origin.into(),
            params,
            start,
            parts,
        })
    }

    /// When virtual time starts.
    #[must_use]
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// A family's part, if the world has one.
    #[must_use]
    pub fn part<T: WorldPart>(&self, section: &str) -> Option<&T> {
        self.parts.get(section).and_then(|p| p.as_ref().as_any().downcast_ref())
    }

    /// A family's part, mutably.
    pub fn part_mut<T: WorldPart>(&mut self, section: &str) -> Option<&mut T> {
        self.parts.get_mut(section).and_then(|p| p.as_mut().as_any_mut().downcast_mut())
    }

    /// Brings every part up to `now` (see [`WorldPart::settle`]).
    pub fn settle(&mut self, now: Timestamp) {
        let elapsed = std::time::Duration::try_from(now.duration_since(self.start)).unwrap_or_default();
        for part in self.parts.values_mut() {
            part.settle(elapsed, now);
        }
    }

    /// Puts `part` in as section `section`, in place of what the world file
    /// had there (`--faults FILE`).
    pub fn set_part(&mut self, section: &str, part: Box<dyn WorldPart>) {
        self.parts.insert(section.to_string(), part);
    }

    /// The world as a world file, with `start` moved to `now` so that a saved
    /// world continues where the run left it.
    #[must_use]
    pub fn to_yaml(&self, now: Timestamp) -> String {
        let mut map = serde_json::Map::new();
        map.insert("world".into(), Value::from(1));
        map.insert("name".into(), Value::from(self.name.clone()));
        map.insert("description".into(), Value::from(self.description.clone()));
        map.insert("start".into(), Value::from(now.to_string()));
        if !self.params.is_empty() {
            map.insert("params".into(), Value::Object(self.params.clone().into_iter().collect()));
        }
        let elapsed = std::time::Duration::try_from(now.duration_since(self.start)).unwrap_or_default();
        for (key, part) in &self.parts {
            map.insert(key.clone(), part.snapshot_after(elapsed));
        }
        serde_norway::to_string(&Value::Object(map)).unwrap_or_default()
    }
}

/// The world a run works on and the run's clock, as every simulated
/// backend holds it: cloning shares the same world.
#[derive(Debug, Clone)]
pub struct Shared {
    world: Arc<Mutex<World>>,
    clock: Arc<Clock>,
}

impl Shared {
    /// Shares `world`, on `clock`.
    #[must_use]
    pub fn new(world: World, clock: Arc<Clock>) -> Self {
        Self { world: Arc::new(Mutex::new(world)), clock }
    }

    /// The world, locked. Hold it only for one read or change.
    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The run's clock.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Now, on the run's clock.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// How long the world has run: virtual time since its `start`.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        let start = self.lock().start();
        Duration::try_from(self.now().duration_since(start)).unwrap_or_default()
    }

    /// [`Self::elapsed`], for a caller that holds the world's lock.
    #[must_use]
    pub fn elapsed_of(&self, world: &World) -> Duration {
        Duration::try_from(self.now().duration_since(world.start())).unwrap_or_default()
    }
}

fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(':')))
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Counter(i64);
    impl WorldPart for Counter {
        fn snapshot(&self) -> Value {
            Value::from(self.0)
        }
    }
    fn counter(v: &Value) -> Result<Box<dyn WorldPart>, String> {
        v.as_i64().map(|n| Box::new(Counter(n)) as Box<dyn WorldPart>).ok_or_else(|| "expected a number".into())
    }
    const SECTIONS: &[(&str, SectionLoader)] = &[("counter", counter)];

    #[test]
    fn loads_parts_and_saves_them_back() {
        let mut w = World::load("name: t\nstart: 2026-11-21T06:00:00Z\ncounter: 3\n", "t.yaml", SECTIONS).unwrap();
        w.part_mut::<Counter>("counter").unwrap().0 += 1;
        let saved = w.to_yaml(w.start());
        let again = World::load(&saved, "saved", SECTIONS).unwrap();
        assert_eq!(again.part::<Counter>("counter").unwrap().0, 4);
    }

    #[test]
    fn unknown_sections_and_bad_parts_are_named() {
        let err = World::load("name: t\ncountr: 3\n", "t.yaml", SECTIONS).unwrap_err();
        assert_eq!(err.to_string(), "world `t.yaml` has an unknown section `countr`");
        assert_eq!(err.hint().as_deref(), Some("did you mean `counter`?"));
        let err = World::load("name: t\n\ncounter: x\n", "t.yaml", SECTIONS).unwrap_err();
        assert_eq!(err.to_string(), "world `t.yaml`, section `counter` (line 3): expected a number");
        let err = World::load("- a\n", "t.yaml", SECTIONS).unwrap_err();
        assert!(err.to_string().contains("expected a mapping"));
        let err = World::load("start: yesterday\n", "t.yaml", SECTIONS).unwrap_err();
        assert!(err.to_string().contains("`start` must be an RFC 3339 time"));
    }

    proptest::proptest! {
        #[test]
        fn load_never_panics(text in "\\PC{0,200}") {
            let _ = World::load(&text, "fuzz.yaml", SECTIONS);
        }

        #[test]
        fn load_never_panics_on_yamlish(text in "(name|start|counter|world|x)?: ?[-\\[\\]{}:a-z0-9 \n]{0,60}") {
            let _ = World::load(&text, "fuzz.yaml", SECTIONS);
        }
    }
}
