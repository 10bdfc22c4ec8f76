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
