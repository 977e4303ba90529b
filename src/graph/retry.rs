//! When and how long to wait before trying a Graph request again (FACTS.md §10).
//!
//! 429 waits the `Retry-After` Graph gives (fractional seconds, or an HTTP date); without
//! one, and for 500, 502, 503, 504 and failed connections, the wait is exponential backoff
//! with full jitter (a uniformly random delay below the exponential cap, so that clients
//! throttled together do not retry together). Every call is bounded by a number of attempts
//! and by an overall deadline.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use ring::rand::SecureRandom;

use crate::support::rng::SplitMix64;

/// How persistent a [`super::GraphClient`] is.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Overall time allowed per call: pacing, every attempt and every wait between them.
    /// A wait that would end past it is not started.
    pub deadline: Duration,
    /// Timeout of one attempt (connect, send, and read the whole body); never longer than
    /// what is left of the deadline.
    pub request_timeout: Duration,
    /// The cap of the first backoff; doubled per attempt.
    pub base_backoff: Duration,
    /// The largest backoff cap.
    pub max_backoff: Duration,
    /// The longest `Retry-After` waited for; a longer one ends the retries at once.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: super::MAX_ATTEMPTS,
            deadline: super::CALL_DEADLINE,
            request_timeout: super::REQUEST_TIMEOUT,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_retry_after: super::MAX_RETRY_AFTER,
        }
    }
}

impl RetryPolicy {
    /// The backoff cap before attempt `attempt + 1`: `base_backoff · 2^(attempt−1)`, at most
    /// `max_backoff`.
    pub fn backoff_cap(&self, attempt: u32) -> Duration {
        self.base_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(20))
            .min(self.max_backoff)
    }
}

/// Full-jitter delays: uniform in `[0, cap)`.
pub(crate) struct Jitter(Mutex<SplitMix64>);

impl Jitter {
    /// A generator seeded from the system's randomness (a fixed seed if that fails: the
    /// delays are still spread, only predictable).
    pub(crate) fn new() -> Self {
        let mut seed = [0u8; 8];
        let _ = ring::rand::SystemRandom::new().fill(&mut seed);
        Self(Mutex::new(SplitMix64::new(u64::from_le_bytes(seed))))
    }

    /// A delay uniformly drawn below `cap`.
    pub(crate) fn below(&self, cap: Duration) -> Duration {
        let r = self.0.lock().unwrap_or_else(|e| e.into_inner()).next_f64();
        cap.mul_f64(r)
    }
}

/// `Retry-After` as seconds (possibly fractional: Graph's samples show `2.128`) or as an
/// HTTP date (RFC 9110 §10.2.3), relative to `now`. A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Duration::try_from_secs_f64(secs).ok()
        } else {
            None
        };
    }
    let at = parse_http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP senders must use.
fn parse_http_date(v: &str) -> Option<SystemTime> {
    let format = time::format_description::parse_borrowed::<1>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    let date = time::PrimitiveDateTime::parse(v, &format).ok()?;
    Some(SystemTime::from(date.assume_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_fractional_seconds_or_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        assert_eq!(
            parse_retry_after("2.128", now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(
            parse_retry_after(" 10 ", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        // 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        let later = now + Duration::from_secs(60);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", later),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("tomorrow", now), None);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_jitter_stays_below() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_cap(1), Duration::from_millis(100));
        assert_eq!(p.backoff_cap(2), Duration::from_millis(200));
        assert_eq!(p.backoff_cap(100), Duration::from_secs(5));
        let j = Jitter::new();
        let draws: Vec<Duration> = (0..200).map(|_| j.below(p.backoff_cap(3))).collect();
        assert!(draws.iter().all(|d| *d < Duration::from_millis(400)));
        assert!(draws.iter().any(|d| *d < Duration::from_millis(100)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(300)));
    }
}
