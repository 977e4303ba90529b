//! `GET /healthz`, `/readyz` and `/metrics` on `--listen`.
//!
//! `/readyz` is 200 once a cycle has succeeded, and 503 before that and while any tenant's
//! policy files are invalid: the repository's declaration is then not what is enforced (the
//! last valid one is), as Flux marks a Kustomization not ready when its source fails to
//! build although the last applied revision stays in place.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Metrics;

/// State the endpoints report.
pub struct Health {
    /// Metrics to render.
    pub metrics: Arc<Metrics>,
    /// Set once a cycle has succeeded: ready to be relied on, unless a tenant's policy files
    /// are invalid (from [`Metrics::invalid_declarations`]).
    pub ready: AtomicBool,
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// `/readyz`: 503 while a tenant's policy files are invalid or before any cycle succeeded.
fn readiness(health: &Health) -> Response<Full<Bytes>> {
    let invalid = health.metrics.invalid_declarations();
    if !invalid.is_empty() {
        let lines: String = invalid
            .iter()
            .map(|(tenant, errors, commit)| {
                format!(
                    "{tenant}: the policy files{} have {errors} error(s); the last valid declaration (if any) is enforced\n",
                    commit
                        .as_deref()
                        .map(|c| format!(" at commit {c}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        return reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", lines);
    }
    if health.ready.load(Ordering::SeqCst) {
        reply(StatusCode::OK, "text/plain", "ready\n".into())
    } else {
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "no successful reconcile yet\n".into(),
        )
    }
}

/// Binds `addr` and serves the endpoints in the background; returns the bound address.
pub async fn serve(addr: SocketAddr, health: Arc<Health>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let health = Arc::clone(&health);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let health = Arc::clone(&health);
                    async move {
                        let r = match req.uri().path() {
                            "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".into()),
                            "/readyz" => readiness(&health),
                            "/metrics" => reply(
                                StatusCode::OK,
                                "text/plain; version=0.0.4; charset=utf-8",
                                health.metrics.render(),
                            ),
                            _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
                        };
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(bound)
}
