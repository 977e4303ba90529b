//! A local Microsoft Graph and Entra token endpoint, faithful to the real service's shapes,
//! validation, permissions and throttling (`shared/graph/FACTS.md`).
//!
//! Every test, the `--sandbox` mode and every benchmark run against it: `mfactl emulator`
//! serves it on a socket, and [`Emulator::start`] runs the same code in-process.
//!
//! Layout: [`http`] owns sockets, TLS and fault injection; [`api`] routes one Graph request
//! (also the inner requests of `$batch`); [`policy`], [`conditional_access`], [`hardware`], [`directory`],
//! [`user_methods`], [`reports`] and [`batch`] implement the resources; [`identity`] issues and checks tokens; [`throttle`]
//! models Graph's token buckets; [`control`] is the `/_emulator` test API.

pub mod api;
pub mod batch;
pub mod conditional_access;
pub mod control;
pub mod directory;
pub mod discovery;
pub mod generate;
pub mod hardware;
pub mod http;
pub mod identity;
pub mod odata;
pub mod policy;
pub mod reports;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod user_methods;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

pub use state::State;

use crate::msgraph::ApiVersion;

use control::{Faults, RequestLog};
use identity::Identity;
use state::{DirectoryIndex, Tenant};
use throttle::{Throttle, ThrottleMode};

/// Failures that stop the emulator from starting.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listen address could not be bound (in use, or not a local address).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The `--state` file could not be read.
    #[error("cannot read state file {path}: {source}")]
    ReadState {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The `--state` file is not valid emulator state.
    #[error("{path}:{line}:{column}: invalid emulator state: {message}")]
    InvalidState {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The state is well-formed JSON but contradicts itself (duplicate ids, bad policy).
    #[error("invalid emulator state: {0}")]
    InconsistentState(String),
    /// A `--generate` specification could not be parsed.
    #[error("invalid --generate specification: {0}")]
    InvalidGenerateSpec(String),
    /// The test certificate authority or server certificate could not be created or written.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// The endpoints could not be written as JSON (the `emulator` verb's first line).
    #[error("cannot write the endpoints: {0}")]
    Endpoints(serde_json::Error),
    /// SIGINT and SIGTERM could not be listened for (the `emulator` verb).
    #[error("cannot wait for a stop signal: {0}")]
    Signal(std::io::Error),
}

/// How to run an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Also accept TLS on the same port, with a generated test CA.
    pub tls: bool,
    /// Where to write the test CA certificate (PEM); a temporary file when `None`.
    pub ca_file: Option<PathBuf>,
    /// The initial world.
    pub state: State,
    /// Graph-like throttling or none.
    pub throttle: ThrottleMode,
    /// Latency added to every request.
    pub latency: Duration,
    /// At most this many entries are kept in the request log (oldest dropped first).
    pub request_log_limit: usize,
    /// Seed for fault probabilities and batch response order.
    pub seed: u64,
}

impl EmulatorConfig {
    /// A loopback emulator on a free port serving `state`, with Graph-like throttling.
    pub fn new(state: State) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            ca_file: None,
            state,
            throttle: ThrottleMode::Graph,
            latency: Duration::ZERO,
            request_log_limit: 100_000,
            seed: 1,
        }
    }
}

/// One tenant and its look-up tables.
#[derive(Debug)]
pub struct TenantSlot {
    /// The tenant's data.
    pub tenant: Tenant,
    /// Indexes over its directory.
    pub index: DirectoryIndex,
}

impl TenantSlot {
    fn new(tenant: Tenant) -> Self {
        let index = DirectoryIndex::build(&tenant);
        Self { tenant, index }
    }
}

/// Every tenant, addressable by id or domain.
#[derive(Debug, Default)]
pub struct World {
    /// The tenants in state order.
    pub tenants: Vec<TenantSlot>,
}

impl World {
    /// Builds the world from a state, checking that ids are unique and policies are valid.
    pub fn from_state(state: State) -> Result<Self, EmulatorError> {
        let mut seen = std::collections::HashSet::new();
        let mut tenants = Vec::with_capacity(state.tenants.len());
        for mut t in state.tenants {
            if !seen.insert(t.id.to_ascii_lowercase()) {
                return Err(EmulatorError::InconsistentState(format!(
                    "tenant id {} appears twice",
                    t.id
                )));
            }
            policy::normalise_stored_policy(&mut t.authentication_methods_policy).map_err(|m| {
                EmulatorError::InconsistentState(format!(
                    "tenant {}: authenticationMethodsPolicy: {m}",
                    t.id
                ))
            })?;
            conditional_access::check_tenant(&mut t)
                .map_err(|m| EmulatorError::InconsistentState(format!("tenant {}: {m}", t.id)))?;
            hardware::check_tenant(&t)
                .map_err(|m| EmulatorError::InconsistentState(format!("tenant {}: {m}", t.id)))?;
            tenants.push(TenantSlot::new(t));
        }
        Ok(Self { tenants })
    }

    /// The state these tenants were built from, with their current contents.
    pub fn to_state(&self) -> State {
        State {
            tenants: self.tenants.iter().map(|s| s.tenant.clone()).collect(),
        }
    }

    /// A tenant by id or one of its domains, case-insensitively.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.tenants.iter().position(|s| {
            s.tenant.id.eq_ignore_ascii_case(key)
                || s.tenant.domains.iter().any(|d| d.eq_ignore_ascii_case(key))
        })
    }
}

/// The emulator's shared core: state, identity, throttling, faults and the request log.
pub struct Emulator {
    world: RwLock<World>,
    /// Serialised policy GET responses by tenant, version and `include-unknown-enum-members`;
    /// emptied whenever the world is written.
    policy_cache: std::sync::Mutex<HashMap<(usize, ApiVersion, bool), bytes::Bytes>>,
    identity: Identity,
    throttle: Throttle,
    faults: Faults,
    /// PATCHes a deferred fault answered but has not applied yet, with the GETs each still
    /// waits for.
    deferred: std::sync::Mutex<Vec<(u64, api::GraphRequest)>>,
    log: RequestLog,
    latency: Duration,
}

impl Emulator {
    /// Builds the core without serving it; `config.state` is not read (the world is `state`).
    pub fn new(state: State, config: &EmulatorConfig) -> Result<Arc<Self>, EmulatorError> {
        let world = World::from_state(state)?;
        Ok(Arc::new(Self {
            world: RwLock::new(world),
            policy_cache: std::sync::Mutex::new(HashMap::new()),
            identity: Identity::new(),
            throttle: Throttle::new(config.throttle),
            faults: Faults::new(config.seed),
            deferred: std::sync::Mutex::new(Vec::new()),
            log: RequestLog::new(config.request_log_limit),
            latency: config.latency,
        }))
    }

    /// Holds back a PATCH a deferred fault answered, until `after_reads` more GETs arrive.
    fn defer(&self, after_reads: u64, request: api::GraphRequest) {
        self.deferred
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((after_reads, request));
    }

    /// Counts one GET against every held-back PATCH and hands back those now due, in the
    /// order they arrived: they are applied before the GET is served.
    fn due_deferred(&self) -> Vec<api::GraphRequest> {
        let mut held = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        let mut due = Vec::new();
        held.retain_mut(|(left, request)| {
            *left = left.saturating_sub(1);
            if *left == 0 {
                due.push(request.clone());
            }
            *left > 0
        });
        due
    }

    /// Starts serving on `config.listen` and returns once the socket is bound.
    pub async fn start(mut config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
        // The world moves into the core: a million-user state is not worth a second copy.
        let state = std::mem::take(&mut config.state);
        let core = Self::new(state, &config)?;
        http::serve(core, &config).await
    }

    /// Read access to the world. A poisoned lock (a panic while writing) still yields the
    /// data: every write replaces whole values, so no half-written state is visible.
    pub fn world(&self) -> RwLockReadGuard<'_, World> {
        self.world.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to the world. Cached responses are dropped while the write lock is held,
    /// so no reader can put back a response rendered from the old world.
    pub fn world_mut(&self) -> RwLockWriteGuard<'_, World> {
        let guard = self.world.write().unwrap_or_else(|e| e.into_inner());
        self.policy_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        guard
    }

    /// The policy GET response for a tenant, rendered once per version until the next
    /// write: the policy is what every plan reads first, and what benchmarks hammer. The
    /// caller holds the world's read lock (it passes the tenant in), which keeps a writer
    /// from clearing the cache between rendering and inserting.
    pub fn cached_policy(
        &self,
        world: &World,
        tenant: usize,
        version: ApiVersion,
        include_unknown: bool,
    ) -> ApiResponse {
        let key = (tenant, version, include_unknown);
        let hit = self
            .policy_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let bytes = match hit {
            Some(b) => b,
            None => {
                let rendered =
                    policy::get_policy(version, &world.tenants[tenant].tenant, include_unknown);
                let bytes = rendered.body.map(|b| b.to_bytes()).unwrap_or_default();
                self.policy_cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, bytes.clone());
                bytes
            }
        };
        ApiResponse {
            status: 200,
            headers: Vec::new(),
            body: Some(Body::Serialized(bytes)),
        }
    }

    /// Replaces the whole world.
    pub fn replace_state(&self, state: State) -> Result<(), EmulatorError> {
        let world = World::from_state(state)?;
        *self.world_mut() = world;
        Ok(())
    }

    /// The request log.
    pub fn log(&self) -> &RequestLog {
        &self.log
    }

    /// Fault rules.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

/// What `mfactl emulator` prints as its first line, and what [`RunningEmulator`] offers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Graph base URL, without the version segment (`http://127.0.0.1:PORT`).
    pub graph_url: String,
    /// Token authority: `https://localhost:PORT` with TLS, else `http://127.0.0.1:PORT`.
    pub login_url: String,
    /// The test CA certificate (PEM) to trust for the HTTPS endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Ids of the tenants served.
    pub tenants: Vec<String>,
}

/// A serving emulator. Dropping it stops the server.
pub struct RunningEmulator {
    /// The shared core, for in-process inspection.
    pub core: Arc<Emulator>,
    /// The bound address.
    pub addr: SocketAddr,
    /// URLs and the CA file.
    pub endpoints: Endpoints,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _ca_dir: Option<tls::TempCaFile>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`
    pub fn graph_url(&self) -> &str {
        &self.endpoints.graph_url
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response body: a JSON value, or one already serialised (and shared by a cache).
#[derive(Debug, Clone)]
pub enum Body {
    /// A value still to be serialised.
    Json(Value),
    /// Serialised JSON.
    Serialized(bytes::Bytes),
}

impl Body {
    /// The body's bytes.
    pub fn to_bytes(&self) -> bytes::Bytes {
        match self {
            Body::Json(v) => bytes::Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            Body::Serialized(b) => b.clone(),
        }
    }

    /// The body as a value (`$batch` embeds inner bodies as JSON).
    pub fn into_value(self) -> Value {
        match self {
            Body::Json(v) => v,
            Body::Serialized(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        }
    }
}

/// A JSON body or none, with status and headers: the unit every handler returns.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Extra headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// JSON body; `None` for 204.
    pub body: Option<Body>,
}

impl ApiResponse {
    /// 200 with a JSON body.
    pub fn ok(body: Value) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: Some(Body::Json(body)),
        }
    }

    /// The JSON value of the body, if any.
    pub fn json(&self) -> Option<&Value> {
        match &self.body {
            Some(Body::Json(v)) => Some(v),
            _ => None,
        }
    }

    /// 204 with no body.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A Graph error: status, `error.code` and `error.message`.
#[derive(Debug, Clone)]
pub struct GraphError {
    /// HTTP status.
    pub status: u16,
    /// `error.code`.
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `Retry-After` in seconds, for 429 and 503.
    pub retry_after: Option<f64>,
    /// Extra headers, such as the `x-ms-throttle-*` ones.
    pub headers: Vec<(String, String)>,
}

impl GraphError {
    /// An error with a status, code and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
            headers: Vec::new(),
        }
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 404 for an unknown object.
    pub fn not_found(id: &str) -> Self {
        Self::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 400 for a path segment the version (or the service) does not have, as Graph's OData
    /// layer answers it.
    pub fn no_segment(segment: &str) -> Self {
        Self::new(
            400,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// 405 as Graph sends it.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    }

    /// The Graph error body and headers, with `innerError` carrying date and request ids.
    pub fn into_response(self, request_id: &str, client_request_id: &str) -> ApiResponse {
        let client_request_id = if client_request_id.is_empty() {
            request_id
        } else {
            client_request_id
        };
        let date = crate::support::time::now_graph_date();
        let mut inner = serde_json::json!({
            "date": date,
            "request-id": request_id,
            "client-request-id": client_request_id,
        });
        if self.status == 429 {
            inner["code"] = Value::String("429".into());
            inner["message"] = Value::String("Please retry after".into());
            inner["status"] = Value::String("429".into());
        }
        let mut resp = ApiResponse {
            status: self.status,
            headers: self.headers,
            body: Some(Body::Json(serde_json::json!({
                "error": {"code": self.code, "message": self.message, "innerError": inner}
            }))),
        };
        if let Some(secs) = self.retry_after {
            resp = resp.with_header("retry-after", throttle::format_retry_after(secs));
        }
        resp.with_header("request-id", request_id)
            .with_header("client-request-id", client_request_id)
    }
}
