//! The run's clock: real time on live systems, virtual time on worlds and in
//! dry runs, where a 15-minute wait advances the clock instantly. Waits here
//! are the only sleeps in hubops, and every one can be interrupted by Ctrl-C.
//!
//! Virtual time is a discrete-event scheduler, so that a rehearsal gives the
//! same journal every time, also under `parallel`: the threads that run
//! script code (the script's own and `parallel`'s workers) take turns, one at
//! a time, each holding the turn until it waits on the clock, finishes, or
//! waits for its own workers. Time advances only when no thread can run, and
//! then to the earliest wake-up; threads woken at the same instant, and
//! threads ready at once, run in the order of their ticket (the order in
//! which they were started, which is itself deterministic). This is the
//! model of tokio's paused clock and of simulation testing: how far time
//! moves never depends on how the OS schedules threads.
//!
//! A leaf: it imports only `cancel`.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::cancel::{Cancel, Interrupted};

/// Real or virtual time.
#[derive(Debug)]
pub enum Clock {
    /// The system clock.
    Live,
    /// Virtual time that only moves when every script thread waits.
    Virtual(Scheduler),
}

thread_local! {
    /// The ticket of the script thread running here (0: the script's own).
    static TICKET: Cell<u64> = const { Cell::new(0) };
}

/// The turns of the script threads on a virtual clock.
#[derive(Debug)]
pub struct Scheduler {
    state: Mutex<State>,
    turn: Condvar,
}

#[derive(Debug)]
struct State {
    now: Timestamp,
    /// The thread whose turn it is.
    running: Option<u64>,
    /// Threads that may run, waiting for their turn.
    ready: BTreeSet<u64>,
    /// Threads waiting on the clock: (wake-up, ticket).
    sleeping: BTreeSet<(Timestamp, u64)>,
    /// Threads waiting for their workers: parent -> workers left.
    waiting: BTreeMap<u64, usize>,
    /// Worker -> its parent.
    parents: BTreeMap<u64, u64>,
    next_ticket: u64,
}

impl State {
    /// The current thread gives up its turn: the next ready thread runs, or,
    /// when none is, time moves to the earliest wake-up.
    fn pass(&mut self) {
        self.running = None;
        if self.ready.is_empty() {
            if let Some(&(at, _)) = self.sleeping.first() {
                self.now = self.now.max(at);
                while let Some(&(wake, ticket)) = self.sleeping.first() {
                    if wake > at {
                        break;
                    }
                    self.sleeping.pop_first();
                    self.ready.insert(ticket);
                }
            }
        }
        self.running = self.ready.pop_first();
    }
}

/// The workers of one `parallel` call on a virtual clock; dropping it (when
/// the workers are joined) hands the turn back to the parent.
#[derive(Debug)]
pub struct Workers<'a> {
    clock: Option<&'a Scheduler>,
    parent: u64,
    /// The tickets, in the order workers are started.
    pub tickets: Vec<u64>,
}

impl Clock {
    /// A virtual clock starting at `start`.
    #[must_use]
    pub fn starting_at(start: Timestamp) -> Self {
        Self::Virtual(Scheduler {
            state: Mutex::new(State {
                now: start,
                running: Some(0),
                ready: BTreeSet::new(),
                sleeping: BTreeSet::new(),
                waiting: BTreeMap::new(),
                parents: BTreeMap::new(),
                next_ticket: 1,
            }),
            turn: Condvar::new(),
        })
    }

    /// The current time on this clock.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        match self {
            Self::Live => Timestamp::now(),
            Self::Virtual(s) => s.lock().now,
        }
    }

    /// Whether time is virtual.
    #[must_use]
    pub fn is_virtual(&self) -> bool {
        matches!(self, Self::Virtual(_))
    }

    /// Waits `d`: on a virtual clock, until every other script thread waits
    /// too and `d` is the earliest wake-up; live, sleeps in slices so that
    /// Ctrl-C ends it early. `tick` is told the time waited so far.
    pub(crate) fn sleep(
        &self,
        d: Duration,
        cancel: &Cancel,
        mut tick: impl FnMut(Duration),
    ) -> Result<(), Interrupted> {
        cancel.check()?;
        match self {
            Self::Virtual(s) => {
                let me = TICKET.with(Cell::get);
                let mut state = s.lock();
                let span = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
                let wake = state.now.checked_add(span).unwrap_or(Timestamp::MAX);
                state.sleeping.insert((wake, me));
                state.pass();
                s.turn.notify_all();
                drop(s.wait_turn(state, me, cancel)?);
                tick(d);
                Ok(())
            }
            Self::Live => {
                let start = Instant::now();
                loop {
                    let waited = start.elapsed();
                    tick(waited.min(d));
                    if waited >= d {
                        return Ok(());
                    }
                    cancel.wait_timeout(d.saturating_sub(waited).min(Duration::from_millis(200)));
                    cancel.check()?;
                }
            }
        }
    }

    /// Registers `n` workers of a `parallel` call made by the current
    /// thread. On a virtual clock the parent gives up its turn until every
    /// worker finished; live, workers run at once.
    pub(crate) fn workers(&self, n: usize) -> Workers<'_> {
        let parent = TICKET.with(Cell::get);
        match self {
            Self::Live => Workers { clock: None, parent, tickets: (0..n as u64).collect() },
            Self::Virtual(s) => {
                let mut state = s.lock();
                let tickets: Vec<u64> = (0..n)
                    .map(|_| {
                        let t = state.next_ticket;
                        state.next_ticket += 1;
                        state.ready.insert(t);
                        state.parents.insert(t, parent);
                        t
                    })
                    .collect();
                if n > 0 {
                    state.waiting.insert(parent, n);
                    state.pass();
                    s.turn.notify_all();
                }
                Workers { clock: Some(s), parent, tickets }
            }
        }
    }
}

impl Workers<'_> {
    /// Runs on a worker's own thread, first thing: waits for its turn.
    pub(crate) fn start(&self, ticket: u64, cancel: &Cancel) -> Result<(), Interrupted> {
        TICKET.with(|t| t.set(ticket));
        if let Some(s) = self.clock {
            drop(s.wait_turn(s.lock(), ticket, cancel)?);
        }
        Ok(())
    }

    /// Runs on a worker's own thread, last thing: it is done; the next
    /// thread runs (the parent once all its workers are done).
    pub(crate) fn finish(&self, ticket: u64) {
        let Some(s) = self.clock else { return };
        let mut state = s.lock();
        // A worker that never started (its thread could not be made) must
        // not be handed a turn it will never take.
        state.ready.remove(&ticket);
        state.sleeping.retain(|&(_, t)| t != ticket);
        if let Some(parent) = state.parents.remove(&ticket) {
            if let Some(left) = state.waiting.get_mut(&parent) {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    state.waiting.remove(&parent);
                    state.ready.insert(parent);
                }
            }
        }
        if state.running == Some(ticket) {
            state.pass();
        }
        s.turn.notify_all();
    }

    /// Runs on the parent's thread once the workers are joined: waits for
    /// its turn again.
    pub(crate) fn resume(&self, cancel: &Cancel) -> Result<(), Interrupted> {
        if let Some(s) = self.clock {
            drop(s.wait_turn(s.lock(), self.parent, cancel)?);
        }
        Ok(())
    }
}

impl Scheduler {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Blocks until it is `me`'s turn; Ctrl-C ends the wait.
    fn wait_turn<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        me: u64,
        cancel: &Cancel,
    ) -> Result<MutexGuard<'a, State>, Interrupted> {
        while state.running != Some(me) {
            if cancel.is_cancelled() {
                // Whoever stops first lets the others see the interruption too.
                state.ready.insert(me);
                if state.running.is_none() {
                    state.pass();
                }
                self.turn.notify_all();
                return Err(Interrupted);
            }
            state = match self.turn.wait_timeout(state, Duration::from_millis(100)) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> Timestamp {
        "2026-11-21T06:00:00Z".parse().unwrap()
    }

    #[test]
    fn virtual_time_moves_only_when_waiting() {
        let clock = Clock::starting_at(start());
        let wall = Instant::now();
        clock.sleep(Duration::from_mins(15), &Cancel::default(), |_| {}).unwrap();
        assert_eq!(clock.now().to_string(), "2026-11-21T06:15:00Z");
        assert!(wall.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn cancelled_waits_end() {
        let cancel = Cancel::default();
        cancel.cancel();
        assert!(Clock::Live.sleep(Duration::from_hours(1), &cancel, |_| {}).is_err());
    }

    /// Workers that sleep different times: each wakes at its own virtual
    /// instant, in a fixed order, whatever the threads do; concurrent waits
    /// overlap (the whole takes the longest, not the sum).
    #[test]
    fn workers_take_turns_and_time_is_the_longest_wait() {
        for _ in 0..20 {
            let clock = Clock::starting_at(start());
            let cancel = Cancel::default();
            let log = Mutex::new(Vec::new());
            let sleeps = [3_u64, 1, 2, 1];
            let workers = clock.workers(sleeps.len());
            std::thread::scope(|scope| {
                for (i, (&ticket, &mins)) in workers.tickets.iter().zip(&sleeps).enumerate() {
                    let (clock, cancel, log, workers) = (&clock, &cancel, &log, &workers);
                    scope.spawn(move || {
                        workers.start(ticket, cancel).unwrap();
                        clock.sleep(Duration::from_mins(mins), cancel, |_| {}).unwrap();
                        log.lock().unwrap().push((i, clock.now().to_string()));
                        workers.finish(ticket);
                    });
                }
            });
            workers.resume(&cancel).unwrap();
            assert_eq!(clock.now().to_string(), "2026-11-21T06:03:00Z");
            assert_eq!(
                log.into_inner().unwrap(),
                [
                    (1, "2026-11-21T06:01:00Z".to_string()),
                    (3, "2026-11-21T06:01:00Z".to_string()),
                    (2, "2026-11-21T06:02:00Z".to_string()),
                    (0, "2026-11-21T06:03:00Z".to_string()),
                ]
            );
        }
    }
}
