//! Sockets, TLS, fault injection and the request log around [`super::api`].
//!
//! One port serves both plain HTTP and, with `--tls`, HTTPS: the first byte of a connection
//! tells a TLS handshake (0x16) from an HTTP request line.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::api::{self, GraphRequest};
use super::control::{self, FaultAction, LogEntry};
use super::discovery::{self, LoginRoute};
use super::{
    ApiResponse, Emulator, EmulatorConfig, EmulatorError, Endpoints, GraphError, RunningEmulator,
    batch, tls,
};

const GRAPH_CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
/// How long in-flight requests get to finish after a shutdown request.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Returned by the service to make hyper close the connection without answering.
#[derive(Debug)]
struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedByFault {}

/// Binds, then serves in a background task until shut down.
pub async fn serve(
    core: Arc<Emulator>,
    config: &EmulatorConfig,
) -> Result<RunningEmulator, EmulatorError> {
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: config.listen,
                source,
            })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind {
            addr: config.listen,
            source,
        })?;
    let pki = if config.tls {
        Some(tls::generate()?)
    } else {
        None
    };
    let ca_file = pki
        .as_ref()
        .map(|p| tls::TempCaFile::write(&p.ca_pem, config.ca_file.as_deref()))
        .transpose()?;
    let acceptor = pki.map(|p| TlsAcceptor::from(p.server));
    let endpoints = Endpoints {
        graph_url: format!("http://{addr}"),
        login_url: if config.tls {
            format!("https://localhost:{}", addr.port())
        } else {
            format!("http://{addr}")
        },
        ca_file: ca_file.as_ref().map(|c| c.path().to_path_buf()),
        tenants: core
            .world()
            .tenants
            .iter()
            .map(|t| t.tenant.id.clone())
            .collect(),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, Arc::clone(&core), acceptor, rx));
    Ok(RunningEmulator {
        core,
        addr,
        endpoints,
        shutdown: Some(tx),
        task: Some(task),
        _ca_dir: ca_file,
    })
}

async fn accept_loop(
    listener: TcpListener,
    core: Arc<Emulator>,
    acceptor: Option<TlsAcceptor>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or a connection reset before accept: back off
                    // briefly rather than spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, Arc::clone(&core), acceptor.clone(), graceful.watcher()));
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

async fn connection(
    stream: TcpStream,
    core: Arc<Emulator>,
    acceptor: Option<TlsAcceptor>,
    watcher: Watcher,
) {
    let mut first = [0u8; 1];
    let is_tls = matches!(stream.peek(&mut first).await, Ok(1) if first[0] == 0x16);
    match (is_tls, acceptor) {
        (true, Some(acceptor)) => {
            if let Ok(tls) = acceptor.accept(stream).await {
                serve_io(tls, core, "https", watcher).await;
            }
        }
        _ => serve_io(stream, core, "http", watcher).await,
    }
}

async fn serve_io<I>(io: I, core: Arc<Emulator>, scheme: &'static str, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let core = Arc::clone(&core);
        async move { handle(core, req, scheme).await }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(io), service);
    let _ = watcher.watch(conn).await;
}

async fn handle(
    core: Arc<Emulator>,
    req: Request<Incoming>,
    scheme: &'static str,
) -> Result<Response<Full<Bytes>>, DroppedByFault> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(DroppedByFault),
    };
    let method = parts.method.as_str().to_ascii_uppercase();
    let path = percent_encoding::percent_decode_str(parts.uri.path())
        .decode_utf8_lossy()
        .into_owned();
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base_url = format!("{scheme}://{host}");

    if path == "/_emulator" || path.starts_with("/_emulator/") {
        return Ok(to_hyper(
            control::handle(&core, &method, &path, &body),
            "application/json",
            false,
        ));
    }
    if !core.latency.is_zero() {
        tokio::time::sleep(core.latency).await;
    }
    let mut malformed = false;
    let mut entry = LogEntry {
        seq: 0,
        time: crate::support::time::now_rfc3339(),
        method: method.clone(),
        path: path.clone(),
        query: raw_query.clone(),
        body: None,
        status: 0,
        tenant: None,
        app: None,
        batch_id: None,
    };
    let login = LoginRoute::of(&path);
    entry.body = if matches!(login, Some(LoginRoute::Token(_))) {
        Some(redacted_form(&body))
    } else {
        serde_json::from_slice(&body).ok()
    };
    let graph_req = GraphRequest {
        method: method.clone(),
        path: path.clone(),
        query: url::form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect(),
        raw_query: raw_query.clone(),
        headers: headers.clone(),
        body: body.to_vec(),
        base_url,
    };
    match core.faults.fire(&method, &path) {
        Some(FaultAction::Deferred { after_reads }) => {
            core.defer(after_reads, graph_req);
            let resp = ApiResponse::no_content();
            entry.status = resp.status;
            core.log.push(entry);
            return Ok(to_hyper(resp, GRAPH_CONTENT_TYPE, false));
        }
        Some(FaultAction::Drop) => {
            core.log.push(entry);
            return Err(DroppedByFault);
        }
        Some(FaultAction::Status {
            status,
            retry_after,
        }) => {
            let client_request_id = headers
                .iter()
                .find(|(k, _)| k == "client-request-id")
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            let resp = batch::fault_error(status, retry_after)
                .into_response(&control::new_request_id(), client_request_id);
            entry.status = resp.status;
            core.log.push(entry);
            return Ok(to_hyper(resp, GRAPH_CONTENT_TYPE, false));
        }
        Some(FaultAction::Latency { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Some(FaultAction::Malformed) => malformed = true,
        None => {}
    }

    let (response, content_type) = if let Some(route) = login {
        entry.tenant = route.tenant().map(str::to_string);
        let resp = match (&route, method.as_str()) {
            (LoginRoute::Token(tenant_key), "POST") => {
                let form: Vec<(String, String)> =
                    url::form_urlencoded::parse(&body).into_owned().collect();
                entry.app = form
                    .iter()
                    .find(|(k, _)| k == "client_id")
                    .map(|(_, v)| v.clone());
                core.identity.token(&core.world(), tenant_key, &form)
            }
            (_, "GET") => {
                discovery::serve(&core.world(), &route, &graph_req.base_url, &graph_req.query)
            }
            _ => GraphError::method_not_allowed().into_response(&control::new_request_id(), ""),
        };
        (resp, "application/json; charset=utf-8")
    } else {
        if method == "GET" {
            for write in core.due_deferred() {
                api::handle(&core, &write, None).await;
            }
        }
        let outcome = api::handle(&core, &graph_req, None).await;
        entry.tenant = outcome.tenant;
        entry.app = outcome.app;
        (
            outcome.response.with_header("odata-version", "4.0"),
            GRAPH_CONTENT_TYPE,
        )
    };
    entry.status = response.status;
    core.log.push(entry);
    Ok(to_hyper(response, content_type, malformed))
}

/// A token request's form for the log, without its secret or assertion.
fn redacted_form(body: &[u8]) -> Value {
    let mut map = Map::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        let value = if matches!(k.as_ref(), "client_secret" | "client_assertion") {
            "[redacted]".to_string()
        } else {
            v.into_owned()
        };
        map.insert(k.into_owned(), Value::String(value));
    }
    Value::Object(map)
}

fn to_hyper(resp: ApiResponse, content_type: &str, malformed: bool) -> Response<Full<Bytes>> {
    let mut bytes = resp.body.as_ref().map(|b| b.to_bytes()).unwrap_or_default();
    if malformed {
        // Half a document and then garbage: no JSON parser accepts it.
        let mut broken = bytes[..bytes.len() / 2].to_vec();
        broken.extend_from_slice(b"\x00<!-- truncated");
        bytes = Bytes::from(broken);
    }
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if resp.body.is_some() || malformed {
        builder = builder.header(hyper::header::CONTENT_TYPE, content_type);
    }
    if let Some(headers) = builder.headers_mut() {
        for (k, v) in &resp.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(k.as_str()),
                HeaderValue::try_from(v.as_str()),
            ) {
                headers.append(name, value);
            }
        }
    }
    builder
        .body(Full::new(bytes))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
