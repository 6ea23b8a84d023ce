//! Following one object for a wait: each [`Watch::look`] says how the
//! object is now and when looking again can tell something new. Live, the
//! first look is a `get` and every later one waits on a watch (the API
//! server pushes each change); on a world, every look reads the cluster and
//! says how long until its next scheduled change, so the run's (virtual)
//! clock can jump straight there. Deciding whether the object is as wanted,
//! and how long to wait in all, is the caller's: the run's wait path.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use super::cluster::Cluster;
use super::live::ObjectWatch;
use super::{Error, ResourceKind};

/// What one look saw.
#[derive(Debug)]
pub struct Look {
    /// The object as it is now (`None`: it does not exist).
    pub object: Option<Value>,
    /// When to look again: after this long on the run's clock, or `None`
    /// when the look itself waited (a live watch).
    pub again: Option<Duration>,
}

/// One object followed for a wait.
pub struct Watch<'a> {
    cluster: &'a Cluster,
    kind: ResourceKind,
    ns: String,
    name: String,
    looked: bool,
    stream: Option<ObjectWatch>,
    last: Option<Value>,
}

impl std::fmt::Debug for Watch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Watch({})", self.kind.describe(&self.ns, &self.name))
    }
}

impl<'a> Watch<'a> {
    /// Follows one object of `cluster` for a wait.
    #[must_use]
    pub fn new(cluster: &'a Cluster, kind: &ResourceKind, ns: &str, name: &str) -> Self {
        Self { cluster, kind: kind.clone(), ns: ns.into(), name: name.into(), looked: false, stream: None, last: None }
    }

    /// Looks at the object, waiting at most `within` for it to change (live,
    /// after the first look).
    pub async fn look(&mut self, within: Duration) -> Result<Look, Error> {
        let first = !self.looked;
        self.looked = true;
        match self.cluster {
            Cluster::World(world) => {
                let object = world.get_opt(&self.kind, &self.ns, &self.name)?;
                let next = world.next_change()?.filter(|d| *d <= within).unwrap_or(within);
                Ok(Look { object, again: Some(next) })
            }
            Cluster::Live(live) if first => {
                self.last = live.get_opt(&self.kind, &self.ns, &self.name).await?;
                Ok(Look { object: self.last.clone(), again: Some(Duration::ZERO) })
            }
            Cluster::Live(live) => {
                let stream = self.stream.get_or_insert_with(|| live.watch(&self.kind, &self.ns, &self.name));
                match tokio::time::timeout(within, stream.next()).await {
                    // Nothing changed in time: the object is as last seen.
                    Err(_) => {}
                    Ok(Some(seen)) => self.last = seen?,
                    Ok(None) => {
                        let what = self.kind.describe(&self.ns, &self.name);
                        return Err(Error::Client { message: format!("the watch of {what} ended"), source: None });
                    }
                }
                Ok(Look { object: self.last.clone(), again: None })
            }
        }
    }
}
