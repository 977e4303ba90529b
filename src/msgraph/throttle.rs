//! Graph's throttling: what a request costs and the documented limits (FACTS.md §10), as
//! token buckets. The emulator meters with them, and the client's pacer (`crate::graph::pace`)
//! with the same buckets, so that both meter alike.

use std::time::Instant;

/// Which family of limits a request falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitClass {
    /// Identity and access: policies, users, groups, per-user authentication.
    IdentityAndAccess,
    /// Identity and access reports: `reports/authenticationMethods/*`.
    Reports,
}

/// What a request costs, from its method and query options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Resource units.
    pub units: f64,
    /// Whether it is a write (POST, PATCH, PUT, DELETE).
    pub write: bool,
}

impl Cost {
    /// The documented cost of an unlisted path: 1 unit, plus a write for mutations, with
    /// `$select` −1, `$expand` +1 and `$top` < 20 −1, at least 1.
    pub fn of(method: &str, query: &[(String, String)]) -> Self {
        let write = !method.eq_ignore_ascii_case("GET");
        let has = |k: &str| query.iter().any(|(q, _)| q.eq_ignore_ascii_case(k));
        let mut units: f64 = 1.0;
        if has("$select") {
            units -= 1.0;
        }
        if has("$expand") {
            units += 1.0;
        }
        let small_top = query
            .iter()
            .find(|(q, _)| q.eq_ignore_ascii_case("$top"))
            .and_then(|(_, v)| v.parse::<u32>().ok())
            .is_some_and(|t| t < 20);
        if small_top {
            units -= 1.0;
        }
        Self {
            units: units.max(1.0),
            write,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    TenantApplication,
    Tenant,
    Application,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::TenantApplication => "Tenant_Application",
            Scope::Tenant => "Tenant",
            Scope::Application => "Application",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Meter {
    ResourceUnits,
    Writes,
    Reports,
    Requests,
}

/// A token bucket that refills continuously: the model of every Graph limit here, and of
/// the client's pacer (`crate::graph::pace`), so that both meter alike.
#[derive(Debug)]
pub struct TokenBucket {
    /// Tokens available now; may go negative when a request is charged regardless.
    pub tokens: f64,
    /// Tokens when full.
    pub capacity: f64,
    /// Refill rate.
    pub per_second: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens that refills completely in `window_secs`.
    pub fn new(capacity: f64, window_secs: f64, now: Instant) -> Self {
        Self {
            tokens: capacity,
            capacity,
            per_second: capacity / window_secs,
            last: now,
        }
    }

    /// Adds what has refilled since the last call, up to the capacity.
    pub fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    /// Seconds until `amount` tokens are available (0 when they are).
    pub fn wait_for(&self, amount: f64) -> f64 {
        if amount <= 0.0 || self.tokens >= amount {
            0.0
        } else {
            (amount.min(self.capacity) - self.tokens) / self.per_second
        }
    }

    /// The share of `limit` tokens in use (above 1 when the bucket is overdrawn).
    pub fn used_fraction_of(&self, limit: f64) -> f64 {
        (limit - self.tokens) / limit
    }
}

/// The limits (capacity per window in seconds) of one bucket.
pub fn limit(meter: Meter, scope: Scope, tenant_users: usize) -> (f64, f64) {
    match (meter, scope) {
        (Meter::ResourceUnits, Scope::TenantApplication) => {
            let units = if tenant_users < 50 {
                3_500.0
            } else if tenant_users <= 500 {
                5_000.0
            } else {
                8_000.0
            };
            (units, 10.0)
        }
        (Meter::ResourceUnits, _) => (150_000.0, 20.0),
        (Meter::Writes, Scope::TenantApplication) => (3_000.0, 150.0),
        (Meter::Writes, Scope::Application) => (70_000.0, 300.0),
        (Meter::Writes, Scope::Tenant) => (18_000.0, 300.0),
        (Meter::Reports, _) => (5.0, 10.0),
        (Meter::Requests, _) => (2_000.0, 1.0),
    }
}
