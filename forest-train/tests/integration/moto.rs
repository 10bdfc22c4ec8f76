//! moto's AWS-API server on a free loopback port, one per test: real S3 (and
//! SageMaker) wire protocol without an AWS account. Stopped on drop, also
//! when the test panics.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str =
    "moto's server is needed for the AWS tests; run: pip install 'moto[server]' (or pip install -r forest-train/tests/requirements.txt)";

/// How long moto may take to import and start answering (it is slow on a busy machine).
const STARTUP: Duration = Duration::from_secs(20);

pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts `moto_server` (or `python3 -m moto.server`) and waits until it
    /// answers HTTP. Panics with install instructions if neither works.
    pub fn start() -> Moto {
        let candidates: [(&str, &[&str]); 2] =
            [("moto_server", &[]), ("python3", &["-m", "moto.server"])];
        let mut failures = Vec::new();
        for (program, args) in candidates {
            let port = free_port();
            let spawned = Command::new(program)
                .args(args)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(e) => {
                    failures.push(format!("{program}: {e}"));
                    continue;
                }
            };
            match wait_until_answering(&mut child, port) {
                Ok(()) => {
                    return Moto {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        child,
                    }
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push(format!("{program}: {why}"));
                }
            }
        }
        panic!("{INSTALL_HINT}\n(tried {})", failures.join("; "));
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (the OS picks it; we release it).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

fn wait_until_answering(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("exited ({status}) before answering"));
        }
        if answers_http(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "did not answer HTTP on port {port} within {STARTUP:?}"
    ))
}

fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut head = [0u8; 5];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && &head == b"HTTP/"
}

/// An endpoint that dies mid-request: a TCP proxy in front of moto that
/// forwards faithfully until `die_after` bytes of requests have gone
/// through, then closes every open connection and answers every new one by
/// closing it at once, as a killed server's port would. moto behind it
/// keeps its state, so a test can look at what the client left there.
pub struct DyingEndpoint {
    /// `http://127.0.0.1:PORT`, for the client under test.
    pub endpoint: String,
    state: std::sync::Arc<ProxyState>,
    accept: Option<std::thread::JoinHandle<()>>,
}

struct ProxyState {
    upstream: SocketAddr,
    die_after: u64,
    forwarded: std::sync::atomic::AtomicU64,
    dead: std::sync::atomic::AtomicBool,
    stop: std::sync::atomic::AtomicBool,
    /// Connections refused after the death: the client's retries.
    refused: std::sync::atomic::AtomicUsize,
}

impl DyingEndpoint {
    pub fn start(moto: &Moto, die_after: u64) -> DyingEndpoint {
        use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
        use std::sync::Arc;
        let upstream: SocketAddr = moto
            .endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("moto's address");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProxyState {
            upstream,
            die_after,
            forwarded: AtomicU64::new(0),
            dead: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            refused: AtomicUsize::new(0),
        });
        let s = state.clone();
        let accept = std::thread::spawn(move || {
            while !s.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) if s.dead.load(Ordering::Relaxed) => {
                        s.refused.fetch_add(1, Ordering::Relaxed);
                        drop(client);
                    }
                    Ok((client, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || relay(client, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        DyingEndpoint {
            endpoint,
            state,
            accept: Some(accept),
        }
    }

    /// Whether the endpoint has died.
    pub fn died(&self) -> bool {
        self.state.dead.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connections the client made after the death (its retries).
    pub fn refused(&self) -> usize {
        self.state
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for DyingEndpoint {
    fn drop(&mut self) {
        self.state
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Pumps one connection both ways until either side closes or the
/// endpoint dies.
fn relay(client: TcpStream, state: &std::sync::Arc<ProxyState>) {
    use std::sync::atomic::Ordering;
    let Ok(upstream) = TcpStream::connect(state.upstream) else {
        return;
    };
    let tick = Some(Duration::from_millis(50));
    for s in [&client, &upstream] {
        let _ = s.set_read_timeout(tick);
        let _ = s.set_nodelay(true);
    }
    let pump = |mut from: &TcpStream, mut to: &TcpStream, counted: bool| {
        let mut buf = [0u8; 16 * 1024];
        loop {
            if state.dead.load(Ordering::Relaxed) || state.stop.load(Ordering::Relaxed) {
                break;
            }
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if counted {
                        let before = state.forwarded.fetch_add(n as u64, Ordering::Relaxed);
                        if before + n as u64 > state.die_after {
                            state.dead.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = from.shutdown(std::net::Shutdown::Both);
        let _ = to.shutdown(std::net::Shutdown::Both);
    };
    std::thread::scope(|scope| {
        scope.spawn(|| pump(&client, &upstream, true));
        pump(&upstream, &client, false);
    });
}
