//! Wall-clock time, injectable: lease and invitation expiry, JWKS ages and the like read the
//! time through a `Clock`, so tests move it forward instead of sleeping.

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

use chrono::{Duration, SubsecRound, Utc};

use crate::time::Timestamp;

#[derive(Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system time; only tests change it.
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock::default()
    }

    /// Now, in UTC with millisecond precision (what is stored and shown).
    pub fn now(&self) -> Timestamp {
        (Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))).trunc_subsecs(3)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock(+{} ms)", self.offset_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_offset() {
        let clock = Clock::system();
        let copy = clock.clone();
        let before = copy.now();
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(copy.now() - before >= Duration::seconds(3600));
    }
}
