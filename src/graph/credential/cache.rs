//! [`CachedCredential`]: one token per credential, reused until shortly before it expires.

use std::fmt;
use std::sync::Arc;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};

use super::BoxFuture;

/// A token is refreshed this long before it expires (or at half its lifetime if shorter).
const REFRESH_MARGIN_SECS: i64 = 300;

/// Caches one token per credential (one tenant and app) and refreshes it shortly before it
/// expires; concurrent requests wait for the one refresh in flight. azure_identity caches
/// in most credentials but not all (the Azure CLI one runs `az` per call): this makes the
/// rule the same for every kind.
pub(super) struct CachedCredential {
    inner: Arc<dyn TokenCredential>,
    kind: &'static str,
    cached: tokio::sync::Mutex<Option<(AccessToken, azure_core::time::OffsetDateTime)>>,
}

impl CachedCredential {
    pub(super) fn new(inner: Arc<dyn TokenCredential>, kind: &'static str) -> Self {
        Self {
            inner,
            kind,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    async fn token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let mut cached = self.cached.lock().await;
        let now = azure_core::time::OffsetDateTime::now_utc();
        if let Some((token, fetched)) = cached.as_ref() {
            let lifetime = token.expires_on - *fetched;
            let margin = azure_core::time::Duration::seconds(REFRESH_MARGIN_SECS).min(lifetime / 2);
            if token.expires_on - margin > now {
                return Ok(token.clone());
            }
        }
        let token = self.inner.get_token(scopes, options).await?;
        tracing::debug!(
            credential = self.kind,
            expires_in_s = (token.expires_on - now).whole_seconds(),
            "token acquired"
        );
        *cached = Some((token.clone(), now));
        Ok(token)
    }
}

impl fmt::Debug for CachedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredential")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl TokenCredential for CachedCredential {
    // `#[async_trait]` written out: the crate does not depend on async-trait itself.
    fn get_token<'life0, 'life1, 'life2, 'life3, 'async_trait>(
        &'life0 self,
        scopes: &'life1 [&'life2 str],
        options: Option<TokenRequestOptions<'life3>>,
    ) -> BoxFuture<'async_trait, azure_core::Result<AccessToken>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        'life3: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.token(scopes, options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::credentials::Secret;

    /// Issues tokens with a fixed lifetime and counts the requests.
    #[derive(Debug)]
    struct Counting {
        lifetime: azure_core::time::Duration,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl TokenCredential for Counting {
        fn get_token<'life0, 'life1, 'life2, 'life3, 'async_trait>(
            &'life0 self,
            _scopes: &'life1 [&'life2 str],
            _options: Option<TokenRequestOptions<'life3>>,
        ) -> BoxFuture<'async_trait, azure_core::Result<AccessToken>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            'life3: 'async_trait,
            Self: 'async_trait,
        {
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let token = AccessToken::new(
                Secret::new(format!("token-{n}")),
                azure_core::time::OffsetDateTime::now_utc() + self.lifetime,
            );
            Box::pin(async move { Ok(token) })
        }
    }

    async fn calls_after(lifetime_ms: i64, gets: usize, pause_ms: u64) -> usize {
        let inner = Arc::new(Counting {
            lifetime: azure_core::time::Duration::milliseconds(lifetime_ms),
            calls: std::sync::atomic::AtomicUsize::new(0),
        });
        let cached = CachedCredential::new(inner.clone(), "test");
        for _ in 0..gets {
            cached.get_token(&["s/.default"], None).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        }
        inner.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn tokens_are_reused_and_refreshed_before_they_expire() {
        // An hour-long token serves every call.
        assert_eq!(calls_after(3_600_000, 5, 0).await, 1);
        // A 400 ms token is refreshed at half its lifetime: after 250 ms, a new one.
        assert_eq!(calls_after(400, 2, 250).await, 2);
        // Concurrent callers share the one request in flight.
        let inner = Arc::new(Counting {
            lifetime: azure_core::time::Duration::hours(1),
            calls: std::sync::atomic::AtomicUsize::new(0),
        });
        let cached = Arc::new(CachedCredential::new(inner.clone(), "test"));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let c = cached.clone();
                tokio::spawn(async move { c.get_token(&["s/.default"], None).await.is_ok() })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        assert_eq!(inner.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(!format!("{cached:?}").contains("token-0"));
    }
}
