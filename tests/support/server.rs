//! The transport: a listener per node address, TLS (or plain HTTP when the optional listener is
//! on), HTTP/1.1 with keep-alive, authentication, the faults that act on connections, and the
//! record of every request.

use super::api::{self, Head, Reply};
use super::body::BodyReader;
use super::state::{Admission, ClusterState, CountedFault, RequestRecord};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// Longest TLS handshake (or first byte on the plain listener).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a request's headers, including idle keep-alive time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest life of one connection.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(600);
/// Connections served at once by one listener; more are closed on arrival.
const MAX_CONNECTIONS: usize = 128;

/// Everything the request handlers share.
pub struct Shared {
    pub state: Mutex<ClusterState>,
    /// The exact `Authorization` value that authenticates.
    pub expected_authorization: String,
    /// Whether non-TLS connections are served (and recorded) instead of failing the handshake.
    pub plain_http: bool,
    /// Per node: the certificate signed by the cluster CA.
    pub tls: Vec<Arc<ServerConfig>>,
    /// Per node: a certificate signed by a stranger CA.
    pub wrong_tls: Vec<Arc<ServerConfig>>,
    /// Where uploaded bundled modules go.
    pub cluster_dir: PathBuf,
    /// Largest upload accepted.
    pub max_upload_bytes: u64,
    /// Bandwidth of each node's link for request bodies, if limited.
    pub link_bytes_per_second: Option<u64>,
}

impl Shared {
    /// The state, even if a panicking thread poisoned the lock.
    pub fn state(&self) -> MutexGuard<'_, ClusterState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running listeners of one node; stopping them also aborts their connections.
pub struct NodeListeners {
    aborts: Vec<AbortHandle>,
    closed: Vec<mpsc::Receiver<()>>,
}

impl NodeListeners {
    /// Aborts the accept loops with their connections and waits (bounded) until every socket is
    /// closed, so a client probing a pooled connection sees it closed.
    pub fn stop(self) {
        for abort in &self.aborts {
            abort.abort();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        for closed in self.closed {
            // Every accept loop and connection task holds a sender; all gone means all closed.
            while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
                if let Err(mpsc::RecvTimeoutError::Disconnected | mpsc::RecvTimeoutError::Timeout) =
                    closed.recv_timeout(left)
                {
                    break;
                }
            }
        }
    }
}

/// Held by an accept loop and each of its connections; the receiver learns when all are gone.
#[derive(Clone)]
struct ClosedSignal(mpsc::Sender<()>);

/// Binds a listening socket; must run inside the runtime's context.
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // Lets a node come back on its port right after `Fault::Down` is cleared.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(256)
}

/// Starts accepting on a node's listeners.
pub fn spawn_node(
    runtime: &Handle,
    shared: &Arc<Shared>,
    node: usize,
    epoch: u64,
    listeners: Vec<TcpListener>,
) -> NodeListeners {
    let mut aborts = Vec::new();
    let mut closed = Vec::new();
    for listener in listeners {
        let (sender, receiver) = mpsc::channel();
        let task = runtime.spawn(accept_loop(
            shared.clone(),
            node,
            epoch,
            listener,
            ClosedSignal(sender),
        ));
        aborts.push(task.abort_handle());
        closed.push(receiver);
    }
    NodeListeners { aborts, closed }
}

async fn accept_loop(
    shared: Arc<Shared>,
    node: usize,
    epoch: u64,
    listener: TcpListener,
    closed: ClosedSignal,
) {
    // Owning the connections here means aborting this loop aborts them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < MAX_CONNECTIONS => {
                    let (shared, signal) = (shared.clone(), closed.clone());
                    connections.spawn(async move {
                        serve_connection(shared, node, epoch, stream).await;
                        drop(signal);
                    });
                }
                Ok(_) => {}
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One accepted connection as the handlers see it.
struct Connection {
    node: usize,
    epoch: u64,
    local_ip: IpAddr,
    tls: bool,
    /// A second handle on the socket, to turn the close into a reset (`SO_LINGER` 0).
    socket: std::net::TcpStream,
}

impl Connection {
    fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(&self.socket).set_linger(Some(Duration::ZERO));
    }
}

async fn serve_connection(shared: Arc<Shared>, node: usize, epoch: u64, stream: TcpStream) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(socket) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let tls = if shared.plain_http {
        // A TLS connection opens with a handshake record (0x16); anything else is plain HTTP.
        let mut first = [0u8; 1];
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
            Ok(Ok(1)) => first[0] == 0x16,
            _ => return,
        }
    } else {
        true
    };
    let connection = Arc::new(Connection {
        node,
        epoch,
        local_ip: local.ip(),
        tls,
        socket,
    });
    if tls {
        let config = if shared.state().serves_wrong_certificate(node) {
            shared.wrong_tls[node - 1].clone()
        } else {
            shared.tls[node - 1].clone()
        };
        let accepted =
            tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(config).accept(stream)).await;
        if let Ok(Ok(tls_stream)) = accepted {
            serve_http(shared, connection, TokioIo::new(tls_stream)).await;
        }
    } else {
        serve_http(shared, connection, TokioIo::new(stream)).await;
    }
}

async fn serve_http<I>(shared: Arc<Shared>, connection: Arc<Connection>, io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request| handle(shared.clone(), connection.clone(), request));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let _ = tokio::time::timeout(CONNECTION_LIFETIME, builder.serve_connection(io, service)).await;
}

/// Returned to hyper to drop a connection without answering.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the emulator")
    }
}

impl std::error::Error for DropConnection {}

async fn handle(
    shared: Arc<Shared>,
    connection: Arc<Connection>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = request.into_parts();
    let head = Head::new(&parts);
    let mut body = BodyReader::new(body).with_link(shared.link_bytes_per_second);
    let authorization = parts.headers.get(AUTHORIZATION);
    let expect_continue = parts
        .headers
        .get(hyper::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let admission = shared.state().admit(
        connection.node,
        connection.epoch,
        head.method.as_str(),
        &head.path,
    );

    let mut slow = None;
    let reply = match admission {
        Admission::Refuse => None,
        Admission::Fault(CountedFault::DropMidUpload) => {
            // Take part of the upload, then vanish: half the announced length, at most 256 KiB.
            let threshold = head
                .content_length
                .map_or(64 * 1024, |len| (len / 2).clamp(1, 256 * 1024));
            let _ = body.read_at_least(threshold).await;
            None
        }
        Admission::Fault(CountedFault::Status503) => drain(&mut body, &shared).await.then(|| {
            Reply::error(
                503,
                "service_unavailable",
                "The node is temporarily unavailable; try again later",
            )
        }),
        Admission::Fault(CountedFault::OkWithErrorBody) => {
            drain(&mut body, &shared).await.then(|| {
                Reply::json(
                    200,
                    serde_json::json!({
                        "error_code": "internal_error",
                        "description": "the request was not carried out",
                    }),
                )
            })
        }
        Admission::Fault(CountedFault::LoseAnswer) => {
            // The work is done, the answer never arrives.
            let _ = api::route(&shared, connection.node, &head, &mut body).await;
            let _ = drain(&mut body, &shared).await;
            None
        }
        Admission::Fault(CountedFault::Busy409) => drain(&mut body, &shared).await.then(|| {
            Reply::error(
                409,
                "busy",
                "Another change is in progress on the cluster; try again later",
            )
        }),
        Admission::Serve { slow: delay, link } => {
            slow = delay;
            if link.is_some() {
                body = body.with_link(link);
            }
            let authenticated = authorization
                .is_some_and(|value| value.as_bytes() == shared.expected_authorization.as_bytes());
            if !authenticated {
                drain(&mut body, &shared).await.then(|| {
                    Reply::error(
                        401,
                        "unauthorized",
                        "Authentication failed: wrong or missing credentials",
                    )
                    .with_header(
                        WWW_AUTHENTICATE.as_str(),
                        "Basic realm=\"Redis Enterprise\"",
                    )
                })
            } else {
                match api::route(&shared, connection.node, &head, &mut body).await {
                    Ok(reply) => drain(&mut body, &shared).await.then_some(reply),
                    Err(_) => None,
                }
            }
        }
    };
    let record = RequestRecord {
        seq: 0,
        node: connection.node,
        local_ip: connection.local_ip,
        tls: connection.tls,
        method: head.method.as_str().to_owned(),
        path: head.path.clone(),
        query: head.query.clone(),
        authorization: authorization.is_some(),
        status: reply.as_ref().map(|r| r.status),
        error_code: reply.as_ref().and_then(|r| r.error_code()),
        body_bytes: body.received(),
        json_body: body.json.take(),
        expect_continue,
        at: std::time::Instant::now(),
    };
    {
        // Requests refused for exceeding the budget are counted, not recorded.
        let mut state = shared.state();
        if state.log.len() < state.max_requests {
            state.record(record);
        }
    }
    // Held back after it is recorded: a client that stops waiting does not erase the request
    // the node carried out.
    if let (Some(delay), Some(_)) = (slow, &reply) {
        tokio::time::sleep(delay).await;
    }

    match reply {
        Some(reply) => Ok(reply.into_response()),
        None => {
            connection.reset_on_close();
            Err(DropConnection)
        }
    }
}

/// Reads the rest of the body so the answer reaches a client still sending; `false` if the
/// client went away.
async fn drain(body: &mut BodyReader, shared: &Shared) -> bool {
    body.drain(shared.max_upload_bytes).await.is_ok()
}

impl Reply {
    fn into_response(self) -> Response<Full<Bytes>> {
        let mut builder = Response::builder().status(self.status);
        let bytes = match &self.body {
            Some(value) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(value).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(Full::new(bytes)).unwrap_or_else(|_| {
            let mut fallback = Response::new(Full::new(Bytes::new()));
            *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
    }
}

/// `Basic <base64(user:password)>`.
pub fn basic_authorization(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
