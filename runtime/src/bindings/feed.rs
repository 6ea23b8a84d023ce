//! A feed: items handed out as something finds them, for `parallel` to
//! start work on while the search goes on (`homes::changes` is one: copies
//! begin while the source is still being walked). The producer pushes
//! items and then ends the feed, with an error when it could not find them
//! all; `parallel(feed, ...)` takes each as it comes, and `feed.wait()`
//! says how the search ended. (`homes::changes` fills its feed before it
//! hands it out on a virtual clock, so a rehearsal gives the same journal
//! every time.)

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rhai::{Array, Dynamic};

use crate::cancel::Cancel;

/// How often a wait for the next item looks at Ctrl-C.
const CHECK: Duration = Duration::from_millis(50);

/// Items as they are found (cheap to clone: clones share the items).
#[derive(Debug, Clone, Default)]
pub struct Feed(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    more: Condvar,
}

#[derive(Debug, Default)]
struct State {
    items: Vec<Dynamic>,
    /// `Some` once the producer is done: `Err` with what stopped it.
    ended: Option<Result<(), Dynamic>>,
}

impl Feed {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds an item (ignored once the feed has ended).
    pub fn push(&self, item: Dynamic) {
        let mut state = self.state();
        if state.ended.is_none() {
            state.items.push(item);
            self.0.more.notify_all();
        }
    }

    /// Ends the feed: `Err` with the error (a script error value) when the
    /// producer could not find everything. Only the first end counts.
    pub fn end(&self, how: Result<(), Dynamic>) {
        let mut state = self.state();
        if state.ended.is_none() {
            state.ended = Some(how);
            self.0.more.notify_all();
        }
    }

    /// How many items there are, when the feed has ended.
    #[must_use]
    pub fn len_if_ended(&self) -> Option<usize> {
        let state = self.state();
        state.ended.as_ref().map(|_| state.items.len())
    }

    /// Item `i` once there is one, or `None` when the feed ended before it
    /// or `give_up` says so (looked at every 50 ms: Ctrl-C, or the work
    /// the items are for has stopped).
    #[must_use]
    pub fn get(&self, i: usize, give_up: impl Fn() -> bool) -> Option<Dynamic> {
        self.until(give_up, |state| match state.items.get(i) {
            Some(item) => Some(Some(item.clone())),
            None => state.ended.is_some().then_some(None),
        })
        .flatten()
    }

    /// Item `i` if it has come.
    #[must_use]
    pub fn peek(&self, i: usize) -> Option<Dynamic> {
        self.state().items.get(i).cloned()
    }

    /// Waits for the feed to end: every item, and the error that ended it
    /// (`None` when the producer found everything), or `None` on Ctrl-C.
    #[must_use]
    pub fn wait(&self, cancel: &Cancel) -> Option<(Array, Option<Dynamic>)> {
        self.until(
            || cancel.is_cancelled(),
            |state| state.ended.as_ref().map(|ended| (state.items.clone(), ended.clone().err())),
        )
    }

    /// What `answer` gives once it gives something, woken by every push and
    /// end; `None` when `give_up` says so first (looked at every 50 ms).
    fn until<T>(&self, give_up: impl Fn() -> bool, answer: impl Fn(&State) -> Option<T>) -> Option<T> {
        let mut state = self.state();
        loop {
            if let Some(found) = answer(&state) {
                return Some(found);
            }
            if give_up() {
                return None;
            }
            state = self.0.more.wait_timeout(state, CHECK).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_items_as_they_come_and_says_how_it_ended() {
        let feed = Feed::default();
        let cancel = Cancel::default();
        feed.push("alice".into());
        let no = || false;
        assert_eq!(feed.get(0, no).map(|d| d.to_string()), Some("alice".into()));
        assert_eq!(feed.len_if_ended(), None);
        let producer = feed.clone();
        let later = std::thread::spawn(move || {
            producer.push("bob".into());
            producer.end(Err("find failed".into()));
            producer.push("ignored".into());
        });
        assert_eq!(feed.get(1, no).map(|d| d.to_string()), Some("bob".into()));
        later.join().unwrap();
        assert!(feed.get(2, no).is_none(), "ended before a third");
        let (items, error) = feed.wait(&cancel).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(error.map(|e| e.to_string()), Some("find failed".into()));
        assert_eq!(feed.len_if_ended(), Some(2));
    }

    #[test]
    fn ctrl_c_ends_a_wait_for_an_item_that_never_comes() {
        let feed = Feed::default();
        let cancel = Cancel::default();
        let stop = cancel.clone();
        let presser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            stop.cancel();
        });
        assert!(feed.get(0, || cancel.is_cancelled()).is_none());
        assert!(feed.wait(&cancel).is_none());
        presser.join().unwrap();
    }
}
