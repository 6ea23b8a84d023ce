//! A feed: items handed out as something finds them, for `parallel` to
//! start work on while the search goes on (`homes::changes` is one: copies
//! begin while the source is still being walked). The producer pushes
//! items through its [`Filler`] and then ends the feed, with an error when
//! it could not find them all; `parallel(feed, ...)` takes each as it
//! comes, and `feed.wait()` says how the search ended. Once no clone of the
//! feed is left (the script that wanted it failed, or dropped it), the
//! thread filling it is stopped and waited for, so a search does not go on
//! walking a tree for nobody, nor outlive the run. (`homes::changes` fills
//! its feed before it hands it out on a virtual clock, so a rehearsal gives
//! the same journal every time.)

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rhai::{Array, Dynamic};

use crate::cancel::Cancel;

/// How often a wait for the next item looks at Ctrl-C.
const CHECK: Duration = Duration::from_millis(50);

/// Items as they are found (cheap to clone: clones share the items).
#[derive(Debug, Clone)]
pub struct Feed {
    shared: Arc<Shared>,
    /// Shared by the clones only, not by the filler: dropped with the last.
    work: Arc<Work>,
}

/// The end of a feed its producer fills. Holding it does not keep the feed
/// wanted.
#[derive(Debug, Clone)]
pub struct Filler(Arc<Shared>);

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

/// How long a dropped feed waits for its stopped producer to end (a
/// process it runs gets 2 s after SIGTERM before SIGKILL); past that, the
/// run goes on without it.
#[cfg(not(test))]
const STOPPING: Duration = Duration::from_secs(10);
#[cfg(test)]
const STOPPING: Duration = Duration::from_millis(300);

/// The thread that fills a feed, and the flag that stops it.
#[derive(Debug, Default)]
struct Work(Mutex<Option<(Cancel, JoinHandle<()>)>>);

impl Drop for Work {
    fn drop(&mut self) {
        let work = self.0.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((stop, thread)) = work {
            stop.cancel();
            let until = std::time::Instant::now() + STOPPING;
            while !thread.is_finished() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                // A producer that panicked has nothing left to stop.
                let _ = thread.join();
            } else {
                tracing::warn!(
                    "the work filling a feed was told to stop {STOPPING:?} ago and still runs; going on without it"
                );
            }
        }
    }
}

fn state(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Filler {
    /// Adds an item (ignored once the feed has ended).
    pub fn push(&self, item: Dynamic) {
        let mut state = state(&self.0);
        if state.ended.is_none() {
            state.items.push(item);
            self.0.more.notify_all();
        }
    }

    /// Ends the feed: `Err` with the error (a script error value) when the
    /// producer could not find everything. Only the first end counts.
    pub fn end(&self, how: Result<(), Dynamic>) {
        let mut state = state(&self.0);
        if state.ended.is_none() {
            state.ended = Some(how);
            self.0.more.notify_all();
        }
    }
}

impl Feed {
    /// An empty feed, and the end that fills it.
    #[must_use]
    pub fn new() -> (Self, Filler) {
        let shared = Arc::new(Shared::default());
        (Self { shared: shared.clone(), work: Arc::default() }, Filler(shared))
    }

    /// Gives the feed the thread that fills it: once no clone of the feed
    /// is left, `stop` is cancelled and the thread waited for.
    pub fn filled_by(&self, stop: Cancel, thread: JoinHandle<()>) {
        *self.work.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((stop, thread));
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        state(&self.shared)
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
            state = self.shared.more.wait_timeout(state, CHECK).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_items_as_they_come_and_says_how_it_ended() {
        let (feed, filler) = Feed::new();
        let cancel = Cancel::default();
        filler.push("alice".into());
        let no = || false;
        assert_eq!(feed.get(0, no).map(|d| d.to_string()), Some("alice".into()));
        assert_eq!(feed.len_if_ended(), None);
        let producer = filler.clone();
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
        let (feed, _filler) = Feed::new();
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

    #[test]
    fn the_work_filling_a_feed_nobody_holds_is_stopped_and_waited_for() {
        let run = Cancel::default();
        let (feed, filler) = Feed::new();
        let stop = run.child();
        let seen = stop.clone();
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = finished.clone();
        let thread = std::thread::spawn(move || {
            filler.push("alice".into());
            let start = std::time::Instant::now();
            while !seen.is_cancelled() && start.elapsed() < Duration::from_secs(30) {
                seen.wait_timeout(CHECK);
            }
            filler.end(Err("stopped".into()));
            done.store(seen.is_cancelled(), std::sync::atomic::Ordering::SeqCst);
        });
        feed.filled_by(stop, thread);
        let copy = feed.clone();
        assert!(copy.get(0, || false).is_some());
        drop(feed);
        assert!(!finished.load(std::sync::atomic::Ordering::SeqCst), "a clone still wants it");
        drop(copy);
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst), "stopped, and ended before the drop returned");
        assert!(!run.is_cancelled(), "the run goes on");
    }

    #[test]
    fn a_producer_that_does_not_stop_holds_the_drop_up_only_so_long() {
        let (feed, filler) = Feed::new();
        let (release, held) = std::sync::mpsc::channel::<()>();
        // Deaf to its flag: ends only when the test lets it.
        let thread = std::thread::spawn(move || {
            let _ = held.recv_timeout(Duration::from_secs(30));
            filler.end(Ok(()));
        });
        feed.filled_by(Cancel::default(), thread);
        let start = std::time::Instant::now();
        drop(feed);
        let took = start.elapsed();
        assert!(took >= STOPPING, "waited for it first: {took:?}");
        assert!(took < Duration::from_secs(20), "not for good: {took:?}");
        let _ = release.send(());
    }
}
