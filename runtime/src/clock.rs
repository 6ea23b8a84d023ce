//! The run's clock: real time on live systems, virtual time on worlds, where
//! a 15-minute wait advances the clock instantly. Waits here are the only
//! sleeps in hubops, and every one can be interrupted by Ctrl-C. A leaf: it
//! imports only `cancel`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::cancel::{Cancel, Interrupted};

/// Real or virtual time.
#[derive(Debug)]
pub enum Clock {
    /// The system clock.
    Live,
    /// Virtual time that only moves when something waits.
    Virtual(Mutex<Timestamp>),
}

impl Clock {
    /// A virtual clock starting at `start`.
    #[must_use]
    pub fn starting_at(start: Timestamp) -> Self {
        Self::Virtual(Mutex::new(start))
    }

    /// The current time on this clock.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        match self {
            Self::Live => Timestamp::now(),
            Self::Virtual(t) => *t.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// Whether time is virtual.
    #[must_use]
    pub fn is_virtual(&self) -> bool {
        matches!(self, Self::Virtual(_))
    }

    /// Waits `d`: advances virtual time at once, or sleeps in slices so that
    /// Ctrl-C ends it early. `tick` is told the time waited so far.
    pub(crate) fn sleep(
        &self,
        d: Duration,
        cancel: &Cancel,
        mut tick: impl FnMut(Duration),
    ) -> Result<(), Interrupted> {
        cancel.check()?;
        match self {
            Self::Virtual(t) => {
                let mut now = t.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let span = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
                *now = now.checked_add(span).unwrap_or(Timestamp::MAX);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_moves_only_when_waiting() {
        let start: Timestamp = "2026-11-21T06:00:00Z".parse().unwrap();
        let clock = Clock::starting_at(start);
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
}
