//! Graph's throttling, modelled as token buckets with the documented limits (FACTS.md §10).
//!
//! Identity-and-access resources (policies, users, groups, per-user authentication) cost
//! resource units from per app-and-tenant and per-app buckets, and writes also draw from the
//! write buckets. The registration-details report has its own, much smaller bucket (the
//! stricter of the two documented figures: 5 requests per 10 s per app per tenant). A
//! throttled request still accrues usage, as Graph documents, and its `Retry-After` is the
//! time after which the same request will be admitted.
//!
//! Conditional Access policies and named locations have one more limit, per tenant across
//! all apps: 1 request per second, and a 429 without `Retry-After` (FACTS-CA item 53).
//! A request refused by it is not counted against it.
//!
//! The clock can be moved ahead ([`Throttle::advance`], `POST /_emulator/clock`), so that
//! tests see buckets refill without waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::GraphError;
use crate::msgraph::conditional_access::REQUESTS_PER_SECOND_PER_TENANT;
use crate::msgraph::throttle::{Cost, LimitClass, Meter, Scope, TokenBucket, limit};

/// Whether throttling is modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleMode {
    /// Token buckets with Graph's documented limits.
    Graph,
    /// No throttling (benchmarks of other things, quick experiments).
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    scope: Scope,
    meter: Meter,
    app: String,
    tenant: String,
}

/// All buckets of all apps and tenants.
pub struct Throttle {
    mode: ThrottleMode,
    buckets: Mutex<HashMap<BucketKey, TokenBucket>>,
    /// The Conditional Access bucket of each tenant (lower-cased id).
    conditional_access: Mutex<HashMap<String, TokenBucket>>,
    /// How far the clock has been moved ahead of the real one.
    offset: Mutex<Duration>,
}

/// Headers for an admitted request.
pub type Admitted = Vec<(String, String)>;

impl Throttle {
    /// Buckets for the given mode.
    pub fn new(mode: ThrottleMode) -> Self {
        Self {
            mode,
            buckets: Mutex::new(HashMap::new()),
            conditional_access: Mutex::new(HashMap::new()),
            offset: Mutex::new(Duration::ZERO),
        }
    }

    /// The buckets' clock: the real one plus every [`Throttle::advance`].
    fn now(&self) -> Instant {
        Instant::now() + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the buckets' clock ahead, as if `by` had passed.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }

    /// Charges a Conditional Access request to its tenant's bucket: 1 request per second,
    /// and a 429 without `Retry-After` beyond it.
    pub fn admit_conditional_access(&self, tenant: &str) -> Result<(), GraphError> {
        if self.mode == ThrottleMode::Off {
            return Ok(());
        }
        let now = self.now();
        let mut buckets = self
            .conditional_access
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let b = buckets
            .entry(tenant.to_ascii_lowercase())
            .or_insert_with(|| TokenBucket::new(1.0, 1.0 / REQUESTS_PER_SECOND_PER_TENANT, now));
        b.refill(now);
        if b.tokens < 1.0 {
            return Err(GraphError::new(
                429,
                "TooManyRequests",
                "Too many requests to Conditional Access policies and named locations: the tenant's limit is 1 request per second across all apps.",
            ));
        }
        b.tokens -= 1.0;
        Ok(())
    }

    /// Charges a request to its buckets; a 429 when any bucket is short.
    pub fn admit(
        &self,
        app: &str,
        tenant: &str,
        tenant_users: usize,
        class: LimitClass,
        cost: Cost,
    ) -> Result<Admitted, GraphError> {
        let mut headers = vec![("x-ms-resource-unit".to_string(), format!("{}", cost.units))];
        if self.mode == ThrottleMode::Off {
            return Ok(headers);
        }
        let mut charges: Vec<(Scope, Meter, f64)> =
            vec![(Scope::Application, Meter::Requests, 1.0)];
        match class {
            LimitClass::IdentityAndAccess => {
                charges.push((Scope::TenantApplication, Meter::ResourceUnits, cost.units));
                charges.push((Scope::Application, Meter::ResourceUnits, cost.units));
                if cost.write {
                    charges.push((Scope::TenantApplication, Meter::Writes, 1.0));
                    charges.push((Scope::Application, Meter::Writes, 1.0));
                    charges.push((Scope::Tenant, Meter::Writes, 1.0));
                }
            }
            LimitClass::Reports => charges.push((Scope::TenantApplication, Meter::Reports, 1.0)),
        }
        let now = self.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait: Option<(f64, Scope, Meter)> = None;
        let mut peak_use: f64 = 0.0;
        for &(scope, meter, amount) in &charges {
            let key = key(scope, meter, app, tenant);
            let (cap, window) = limit(meter, scope, tenant_users);
            let b = buckets
                .entry(key)
                .or_insert_with(|| TokenBucket::new(cap, window, now));
            b.refill(now);
            if b.tokens < amount {
                // A throttled request still counts; it is admitted once the bucket has
                // refilled past what this attempt itself used up.
                let secs = (2.0 * amount - b.tokens) / b.per_second;
                if wait.is_none_or(|(w, _, _)| secs > w) {
                    wait = Some((secs, scope, meter));
                }
            }
        }
        for &(scope, meter, amount) in &charges {
            if let Some(b) = buckets.get_mut(&key(scope, meter, app, tenant)) {
                b.tokens = (b.tokens - amount).max(-0.8 * b.capacity);
                peak_use = peak_use.max(b.used_fraction_of(b.capacity));
            }
        }
        drop(buckets);
        if peak_use > 0.8 {
            headers.push((
                "x-ms-throttle-limit-percentage".to_string(),
                format!("{:.2}", peak_use.min(1.8)),
            ));
        }
        match wait {
            None => Ok(headers),
            Some((secs, scope, meter)) => {
                let kind = match meter {
                    Meter::Writes => "Write",
                    Meter::Reports | Meter::Requests | Meter::ResourceUnits => {
                        if cost.write {
                            "ReadWrite"
                        } else {
                            "Read"
                        }
                    }
                };
                let mut err = GraphError::new(429, "TooManyRequests", "Please retry again later.");
                err.retry_after = Some(secs);
                err.headers = headers;
                err.headers.push((
                    "x-ms-throttle-scope".to_string(),
                    format!("{}/{kind}/{app}/{tenant}", scope.label()),
                ));
                err.headers.push((
                    "x-ms-throttle-information".to_string(),
                    match meter {
                        Meter::Reports => "ReportsRequestLimitExceeded",
                        Meter::Requests => "GlobalRequestLimitExceeded",
                        Meter::Writes => "WriteLimitExceeded",
                        Meter::ResourceUnits => "ResourceUnitLimitExceeded",
                    }
                    .to_string(),
                ));
                Err(err)
            }
        }
    }
}

fn key(scope: Scope, meter: Meter, app: &str, tenant: &str) -> BucketKey {
    BucketKey {
        scope,
        meter,
        app: if scope == Scope::Tenant {
            String::new()
        } else {
            app.to_ascii_lowercase()
        },
        tenant: if scope == Scope::Application {
            String::new()
        } else {
            tenant.to_ascii_lowercase()
        },
    }
}

/// `Retry-After` as Graph writes it: seconds, fractional when needed (`2.128`, `10`).
pub fn format_retry_after(secs: f64) -> String {
    let s = format!("{:.3}", secs.max(0.001));
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_modifiers() {
        let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(Cost::of("GET", &[]).units, 1.0);
        assert_eq!(Cost::of("GET", &q("$expand", "x")).units, 2.0);
        assert_eq!(Cost::of("GET", &q("$select", "id")).units, 1.0);
        assert!(Cost::of("PATCH", &[]).write);
    }

    #[test]
    fn reports_bucket_allows_five_then_throttles_with_retry_after() {
        let t = Throttle::new(ThrottleMode::Graph);
        let cost = Cost::of("GET", &[]);
        for _ in 0..5 {
            assert!(t.admit("a", "t", 10, LimitClass::Reports, cost).is_ok());
        }
        let err = t
            .admit("a", "t", 10, LimitClass::Reports, cost)
            .unwrap_err();
        assert_eq!(err.status, 429);
        let secs = err.retry_after.unwrap();
        assert!(secs > 0.0 && secs <= 4.0, "{secs}");
        assert!(err.headers.iter().any(
            |(k, v)| k == "x-ms-throttle-scope" && v.starts_with("Tenant_Application/Read/a/t")
        ));
        // Another app has its own bucket.
        assert!(t.admit("b", "t", 10, LimitClass::Reports, cost).is_ok());
    }

    #[test]
    fn conditional_access_allows_one_request_per_second_per_tenant_without_retry_after() {
        let t = Throttle::new(ThrottleMode::Graph);
        assert!(t.admit_conditional_access("t").is_ok());
        let err = t.admit_conditional_access("T").unwrap_err();
        assert_eq!(err.status, 429);
        assert!(err.retry_after.is_none());
        assert!(t.admit_conditional_access("other").is_ok());
        t.advance(Duration::from_millis(1_000));
        assert!(t.admit_conditional_access("t").is_ok());
        assert!(t.admit_conditional_access("t").is_err());
    }

    #[test]
    fn retry_after_format() {
        assert_eq!(format_retry_after(2.128), "2.128");
        assert_eq!(format_retry_after(10.0), "10");
    }
}
