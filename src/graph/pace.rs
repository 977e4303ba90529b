//! Client-side pacing below Graph's documented limits (FACTS.md §10), so that a large run
//! rarely meets a 429 at all.
//!
//! One [`Pacer`] per Graph service, tenant and application, shared by every request of
//! every [`super::GraphClient`] for them in the process. It keeps token buckets that mirror
//! the service's, each at [`PaceLimits::headroom`] of the documented figure: resource units
//! per app and tenant (by default the strictest tier, 3,500 per 10 s), writes (3,000 per
//! 150 s), report requests (5 per 10 s), requests (2,000 per second per app) and Conditional
//! Access requests (policies and named locations: 1 per second per tenant, FACTS-CA item 53,
//! kept here per app: two apps of one tenant in one process each keep to it). A request
//! reserves what it will cost, waiting until every bucket it draws from can pay; reservations
//! queue in arrival order.
//!
//! Two signals from the service slow it further: `x-ms-throttle-limit-percentage` (sent only
//! above 0.8 of a limit) showing more use than the pacer accounts for (another process with
//! the same app, say) makes the pacer adopt the service's figure; and a 429 holds back every
//! request of its class until its `Retry-After` has passed, with no burst afterwards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::msgraph::throttle::TokenBucket;

/// The limits a [`Pacer`] keeps below.
#[derive(Debug, Clone, PartialEq)]
pub struct PaceLimits {
    /// Identity-and-access resource units per app and tenant per 10 s: 3,500 (under 50
    /// users), 5,000 (50–500) or 8,000 (more).
    pub resource_units_per_10s: f64,
    /// Writes per app and tenant per 150 s.
    pub writes_per_150s: f64,
    /// Identity-and-access report requests per app and tenant per 10 s (the stricter of the
    /// two documented figures).
    pub reports_per_10s: f64,
    /// Requests per second per app.
    pub requests_per_second: f64,
    /// Conditional Access policy and named-location requests per second per tenant.
    pub conditional_access_per_second: f64,
    /// The fraction of each limit (burst and rate) the pacer allows itself: the rest absorbs
    /// the difference between when a request leaves and when the service counts it.
    pub headroom: f64,
}

impl Default for PaceLimits {
    fn default() -> Self {
        Self {
            resource_units_per_10s: 3_500.0,
            writes_per_150s: 3_000.0,
            reports_per_10s: 5.0,
            requests_per_second: 2_000.0,
            conditional_access_per_second: 1.0,
            headroom: 0.98,
        }
    }
}

/// What one request costs, in the meters of [`PaceLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Charge {
    /// Identity-and-access resource units.
    pub units: f64,
    /// Writes.
    pub writes: f64,
    /// Report requests.
    pub reports: f64,
    /// Requests (every request counts once).
    pub requests: f64,
    /// Conditional Access requests (policies and named locations).
    pub conditional_access: f64,
}

impl Charge {
    /// The documented cost of a request to `path` (version included, `/v1.0/users/x`) with
    /// `query` (without `?`): 1 resource unit, `$select` −1, `$expand` +1, `$top` < 20 −1, at
    /// least 1; a write for POST, PATCH, PUT and DELETE; `reports/...` is metered as
    /// reports instead; `identity/conditionalAccess/policies`, `…/namedLocations` and
    /// `…/deletedItems` also count against the Conditional Access limit.
    pub fn of(method: &str, path: &str, query: Option<&str>) -> Self {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let conditional_access = segments
            .get(1..)
            .is_some_and(crate::msgraph::conditional_access::is_rate_limited_path);
        let report = segments
            .get(1)
            .is_some_and(|s| s.eq_ignore_ascii_case("reports"));
        if report {
            return Self {
                reports: 1.0,
                requests: 1.0,
                ..Self::default()
            };
        }
        let pairs: Vec<(String, String)> = query
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        // The same documented cost model the emulator charges with.
        let cost = crate::msgraph::throttle::Cost::of(method, &pairs);
        Self {
            units: cost.units,
            writes: if cost.write { 1.0 } else { 0.0 },
            reports: 0.0,
            requests: 1.0,
            conditional_access: if conditional_access { 1.0 } else { 0.0 },
        }
    }

    /// Both charges together.
    pub fn plus(self, other: Charge) -> Self {
        Self {
            units: self.units + other.units,
            writes: self.writes + other.writes,
            reports: self.reports + other.reports,
            requests: self.requests + other.requests,
            conditional_access: self.conditional_access + other.conditional_access,
        }
    }

    fn is_report(&self) -> bool {
        self.reports > 0.0 && self.units == 0.0
    }
}

/// A bucket sized at `headroom` times the service's `limit` (at least one token), refilling
/// at `headroom` times the service's rate even when the size is rounded up to one token.
fn bucket(limit: f64, window_secs: f64, headroom: f64, now: Instant) -> TokenBucket {
    let mut b = TokenBucket::new((limit * headroom).max(1.0), window_secs, now);
    b.per_second = limit * headroom / window_secs;
    b
}

/// The share of the Conditional Access limit (one request a second) the pacer uses. The
/// service counts arrivals: a request that left on time can arrive later than the one after
/// it (a new connection's handshake), so the spacing keeps a quarter second to spare.
const CONDITIONAL_ACCESS_HEADROOM: f64 = 0.8;

/// The share of the service's limit used, as the service would report it.
fn used_fraction(b: &TokenBucket, headroom: f64) -> f64 {
    b.used_fraction_of(b.capacity / headroom)
}

/// Takes the service's reported use (fraction of its limit) when it exceeds ours.
fn adopt(b: &mut TokenBucket, fraction: f64, headroom: f64) {
    let service_capacity = b.capacity / headroom;
    let service_tokens = service_capacity * (1.0 - fraction);
    let ours = service_tokens - (service_capacity - b.capacity);
    b.tokens = b.tokens.min(ours);
}

#[derive(Debug)]
struct Buckets {
    units: TokenBucket,
    writes: TokenBucket,
    reports: TokenBucket,
    requests: TokenBucket,
    conditional_access: TokenBucket,
    /// No identity-and-access request before this (after a 429).
    hold: Option<Instant>,
    /// No report request before this.
    hold_reports: Option<Instant>,
}

impl Buckets {
    /// Seconds until every bucket `charge` draws from can pay it.
    fn wait_for(&self, charge: Charge) -> f64 {
        self.units
            .wait_for(charge.units)
            .max(self.writes.wait_for(charge.writes))
            .max(self.reports.wait_for(charge.reports))
            .max(self.requests.wait_for(charge.requests))
            .max(self.conditional_access.wait_for(charge.conditional_access))
    }

    fn refill(&mut self, now: Instant) {
        self.units.refill(now);
        self.writes.refill(now);
        self.reports.refill(now);
        self.requests.refill(now);
        self.conditional_access.refill(now);
    }
}

/// Token buckets for one service, tenant and app. See the module documentation.
#[derive(Debug)]
pub struct Pacer {
    limits: PaceLimits,
    buckets: Mutex<Buckets>,
}

/// What [`Pacer::observe`] makes of a response.
const PERCENTAGE_TOLERANCE: f64 = 0.05;

impl Pacer {
    /// Full buckets for `limits`.
    pub fn new(limits: PaceLimits) -> Self {
        let now = Instant::now();
        let h = limits.headroom.clamp(0.1, 1.0);
        let buckets = Buckets {
            units: bucket(limits.resource_units_per_10s, 10.0, h, now),
            writes: bucket(limits.writes_per_150s, 150.0, h, now),
            reports: bucket(limits.reports_per_10s, 10.0, h, now),
            requests: bucket(limits.requests_per_second, 1.0, h, now),
            conditional_access: bucket(
                limits.conditional_access_per_second,
                1.0,
                h.min(CONDITIONAL_ACCESS_HEADROOM),
                now,
            ),
            hold: None,
            hold_reports: None,
        };
        Self {
            limits: PaceLimits {
                headroom: h,
                ..limits
            },
            buckets: Mutex::new(buckets),
        }
    }

    /// The limits paced below.
    pub fn limits(&self) -> &PaceLimits {
        &self.limits
    }

    /// Moves the resource-unit limit to the documented tier for a tenant of `users` users
    /// (3,500 per 10 s under 50 users, 5,000 up to 500, 8,000 above), once the size is
    /// known; never below what the pacer was made with. Tokens already spent stay spent.
    pub fn set_tenant_size(&self, users: usize) {
        let tier: f64 = if users < 50 {
            3_500.0
        } else if users <= 500 {
            5_000.0
        } else {
            8_000.0
        };
        let limit = tier.max(self.limits.resource_units_per_10s);
        let capacity = (limit * self.limits.headroom).max(1.0);
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        b.units.refill(Instant::now());
        if capacity > b.units.capacity {
            // The service's bucket had the larger size all along: what was spent from the
            // smaller one was spent from it, and the difference is there to use.
            b.units.tokens += capacity - b.units.capacity;
            b.units.capacity = capacity;
            b.units.per_second = capacity / 10.0;
        }
    }

    /// How long a request costing `charge` would wait if it were reserved now; nothing is
    /// reserved.
    pub fn ready_in(&self, charge: Charge) -> Duration {
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        b.refill(now);
        let secs = b.wait_for(charge);
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }

    /// Reserves `charge` and returns how long to wait before sending. When that wait would
    /// end after `deadline`, nothing is reserved and the wait is the error.
    pub fn reserve(&self, charge: Charge, deadline: Instant) -> Result<Duration, Duration> {
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        b.refill(now);
        let mut secs = b.wait_for(charge);
        let hold = if charge.is_report() {
            b.hold_reports
        } else {
            b.hold
        };
        if let Some(until) = hold {
            secs = secs.max(until.saturating_duration_since(now).as_secs_f64());
        }
        let wait = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
        if now.checked_add(wait).is_none_or(|at| at > deadline) {
            return Err(wait);
        }
        b.units.tokens -= charge.units;
        b.writes.tokens -= charge.writes;
        b.reports.tokens -= charge.reports;
        b.requests.tokens -= charge.requests;
        b.conditional_access.tokens -= charge.conditional_access;
        Ok(wait)
    }

    /// Takes in a response's `x-ms-throttle-limit-percentage`: when the service counts more
    /// use than the pacer does, the pacer adopts the service's figure and slows down.
    pub fn observe(&self, charge: Charge, percentage: f64) {
        if !percentage.is_finite() {
            return;
        }
        let h = self.limits.headroom;
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        b.refill(now);
        let ours = if charge.is_report() {
            used_fraction(&b.reports, h).max(used_fraction(&b.requests, h))
        } else {
            used_fraction(&b.units, h)
                .max(used_fraction(&b.writes, h))
                .max(used_fraction(&b.requests, h))
        };
        if percentage > ours + PERCENTAGE_TOLERANCE {
            tracing::debug!(
                percentage,
                ours,
                "Graph reports more use than paced; slowing down"
            );
            if charge.is_report() {
                adopt(&mut b.reports, percentage, h);
            } else {
                adopt(&mut b.units, percentage, h);
            }
        }
    }

    /// After a 429: nothing of the same class leaves before `retry_after` has passed, and
    /// the pacer's burst allowance is spent.
    pub fn throttled(&self, charge: Charge, retry_after: Duration) {
        let now = Instant::now();
        let until = now.checked_add(retry_after).unwrap_or(now);
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if charge.is_report() {
            b.hold_reports = Some(b.hold_reports.map_or(until, |h| h.max(until)));
            b.reports.refill(now);
            b.reports.tokens = b.reports.tokens.min(0.0);
        } else {
            b.hold = Some(b.hold.map_or(until, |h| h.max(until)));
            b.units.refill(now);
            b.units.tokens = b.units.tokens.min(0.0);
        }
    }
}

type Registry = Mutex<HashMap<String, Weak<Pacer>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

fn key(service: &url::Url, tenant: &str, app: &str) -> String {
    format!(
        "{} {} {}",
        service.origin().ascii_serialization(),
        tenant.to_ascii_lowercase(),
        app.to_ascii_lowercase()
    )
}

/// The process's pacer for this service, tenant and app, made with `limits` if there is
/// none yet.
pub fn shared(service: &url::Url, tenant: &str, app: &str, limits: PaceLimits) -> Arc<Pacer> {
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    map.retain(|_, w| w.strong_count() > 0);
    let k = key(service, tenant, app);
    if let Some(p) = map.get(&k).and_then(Weak::upgrade) {
        return p;
    }
    let p = Arc::new(Pacer::new(limits));
    map.insert(k, Arc::downgrade(&p));
    p
}

/// A new pacer with `limits` for this service, tenant and app, replacing the shared one for
/// clients made from now on.
pub fn replace(service: &url::Url, tenant: &str, app: &str, limits: PaceLimits) -> Arc<Pacer> {
    let p = Arc::new(Pacer::new(limits));
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key(service, tenant, app), Arc::downgrade(&p));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[test]
    fn charges_follow_the_documented_costs() {
        let c = Charge::of("GET", "/v1.0/users/x", None);
        assert_eq!((c.units, c.writes, c.requests), (1.0, 0.0, 1.0));
        assert_eq!(
            Charge::of("GET", "/v1.0/users", Some("$expand=manager")).units,
            2.0
        );
        assert_eq!(
            Charge::of("GET", "/v1.0/users", Some("$select=id&$top=5")).units,
            1.0
        );
        assert_eq!(Charge::of("PATCH", "/beta/policies/x", None).writes, 1.0);
        let r = Charge::of(
            "GET",
            "/v1.0/reports/authenticationMethods/userRegistrationDetails",
            None,
        );
        assert_eq!((r.units, r.reports), (0.0, 1.0));
    }

    #[test]
    fn a_burst_passes_then_requests_are_spaced_at_the_rate() {
        let p = Pacer::new(PaceLimits {
            reports_per_10s: 5.0,
            headroom: 1.0,
            ..PaceLimits::default()
        });
        let report = Charge::of("GET", "/v1.0/reports/x", None);
        for _ in 0..5 {
            assert_eq!(p.reserve(report, far()), Ok(Duration::ZERO));
        }
        let sixth = p.reserve(report, far()).unwrap();
        assert!(
            sixth > Duration::from_millis(1900) && sixth <= Duration::from_secs(2),
            "{sixth:?}"
        );
        let seventh = p.reserve(report, far()).unwrap();
        assert!(seventh > Duration::from_millis(3900), "{seventh:?}");
        // A wait past the deadline reserves nothing.
        assert!(
            p.reserve(report, Instant::now() + Duration::from_secs(1))
                .is_err()
        );
        // Identity-and-access reads are not held up by the reports bucket.
        let read = Charge::of("GET", "/v1.0/users/x", None);
        assert_eq!(p.reserve(read, far()), Ok(Duration::ZERO));
    }

    #[test]
    fn the_service_reporting_more_use_slows_the_pacer() {
        let p = Pacer::new(PaceLimits::default());
        let read = Charge::of("GET", "/v1.0/users/x", None);
        // Our own use is low; the service says 95 % of the limit is gone (someone else).
        p.observe(read, 0.95);
        let mut waited = Duration::ZERO;
        for _ in 0..200 {
            waited = p.reserve(read, far()).unwrap();
        }
        assert!(waited > Duration::from_millis(100), "{waited:?}");

        // When the figure matches our own use, nothing changes.
        let q = Pacer::new(PaceLimits::default());
        for _ in 0..1_500 {
            q.reserve(read, far()).unwrap();
        }
        // Resource units 43 % used, requests 77 %: the service's 80 % is our own figure.
        q.observe(read, 0.80);
        assert_eq!(q.reserve(read, far()), Ok(Duration::ZERO));
    }

    #[test]
    fn a_429_holds_back_its_class() {
        let p = Pacer::new(PaceLimits::default());
        let read = Charge::of("GET", "/v1.0/users/x", None);
        p.throttled(read, Duration::from_millis(500));
        let wait = p.reserve(read, far()).unwrap();
        assert!(wait > Duration::from_millis(400), "{wait:?}");
        let report = Charge::of("GET", "/v1.0/reports/x", None);
        assert_eq!(p.reserve(report, far()), Ok(Duration::ZERO));
    }

    #[test]
    fn one_pacer_per_service_tenant_and_app() {
        let graph = url::Url::parse("https://graph.example").unwrap();
        let other = url::Url::parse("https://graph2.example").unwrap();
        let a = shared(&graph, "T", "App", PaceLimits::default());
        let b = shared(&graph, "t", "app", PaceLimits::default());
        assert!(Arc::ptr_eq(&a, &b));
        let c = shared(&other, "t", "app", PaceLimits::default());
        assert!(!Arc::ptr_eq(&a, &c));
        let d = shared(&graph, "t", "other-app", PaceLimits::default());
        assert!(!Arc::ptr_eq(&a, &d));
    }

    #[test]
    fn a_large_tenant_moves_the_pacer_to_the_larger_tier_at_once() {
        let limits = PaceLimits {
            headroom: 1.0,
            requests_per_second: 1e9,
            ..PaceLimits::default()
        };
        let read = Charge::of("GET", "/v1.0/users/x", None);
        // How many reads pass without waiting, and how many tokens the bucket (refilling
        // at a tenth of its size a second) can have regained while they were counted: the
        // count is exact on an idle machine, and a loaded one only adds refill.
        let burst = |p: &Pacer, per_second: f64| {
            let started = Instant::now();
            let n = (0..20_000)
                .take_while(|_| p.reserve(read, far()) == Ok(Duration::ZERO))
                .count();
            let refill = (started.elapsed().as_secs_f64() * per_second).ceil() as usize;
            (n, refill)
        };
        let within = |(n, refill): (usize, usize), expected: usize| {
            assert!(
                (expected..=expected + refill + 1).contains(&n),
                "{n} passed, {expected} expected (+{refill} refilled)"
            );
        };
        let p = Pacer::new(limits.clone());
        within(burst(&p, 350.0), 3_500);
        let q = Pacer::new(limits.clone());
        within(burst(&q, 350.0), 3_500);
        q.set_tenant_size(100_000);
        // What was spent from the small bucket was spent from the large one: 4,500 remain.
        let (after, refill) = burst(&q, 800.0);
        assert!(
            after + 1 >= 4_500 && after <= 4_501 + refill,
            "{after} passed after the move (+{refill} refilled)"
        );
        let small = Pacer::new(limits);
        small.set_tenant_size(10);
        within(burst(&small, 350.0), 3_500);
    }

    #[test]
    fn conditional_access_requests_are_spaced_a_second_apart() {
        let ca = Charge::of("GET", "/v1.0/identity/conditionalAccess/policies", None);
        let locations = Charge::of(
            "POST",
            "/beta/identity/conditionalAccess/namedLocations",
            None,
        );
        let strengths = Charge::of("GET", "/v1.0/policies/authenticationStrengthPolicies", None);
        assert_eq!(ca.conditional_access, 1.0);
        assert_eq!(locations.conditional_access, 1.0);
        assert_eq!(
            strengths.conditional_access, 0.0,
            "strengths are not in the CA limit"
        );
        let p = Pacer::new(PaceLimits::default());
        assert_eq!(p.reserve(ca, far()), Ok(Duration::ZERO));
        let second = p.reserve(locations, far()).unwrap_or(Duration::MAX);
        assert!(
            second >= Duration::from_millis(1_200) && second <= Duration::from_millis(1_300),
            "{second:?}"
        );
        // Other requests do not wait for it.
        assert_eq!(p.reserve(strengths, far()), Ok(Duration::ZERO));
    }
}
