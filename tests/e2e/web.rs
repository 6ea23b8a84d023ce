//! A small HTTP(S) server for tests, on a loopback port: it records every
//! request (with its `Host` and, over TLS, the name the client sent for
//! SNI) and answers from a handler. TLS uses a self-signed certificate made
//! for the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A request the server received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) authorization: String,
    pub(crate) body: String,
    /// The `Host` header.
    pub(crate) host: String,
    /// The server name the client sent in its TLS hello, if any.
    pub(crate) sni: Option<String>,
}

type Handler = dyn Fn(&Seen, usize) -> (u16, String, String) + Send + Sync;

pub(crate) struct Web {
    pub(crate) base: String,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
}

impl Web {
    /// Starts a server; `handler(request, n)` gets the request and how many
    /// came before it, and returns (status, content type, body).
    pub(crate) fn start(
        tls: bool,
        handler: impl Fn(&Seen, usize) -> (u16, String, String) + Send + Sync + 'static,
    ) -> Self {
        Self::start_at("127.0.0.1:0", tls, handler)
    }

    /// [`Self::start`] on a given loopback address (`127.0.0.2:0`).
    pub(crate) fn start_at(
        address: &str,
        tls: bool,
        handler: impl Fn(&Seen, usize) -> (u16, String, String) + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind(address).expect("bind loopback");
        let local = listener.local_addr().expect("addr");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let config = tls.then(server_config);
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, handler, config) = (log.clone(), handler.clone(), config.clone());
                std::thread::spawn(move || match config {
                    Some(config) => {
                        let Ok(mut conn) = rustls::ServerConnection::new(config) else { return };
                        let mut stream = stream;
                        while conn.is_handshaking() {
                            if conn.complete_io(&mut stream).is_err() {
                                return;
                            }
                        }
                        let sni = conn.server_name().map(str::to_string);
                        serve(rustls::StreamOwned::new(conn, stream), sni, &log, &*handler);
                    }
                    None => serve(stream, None, &log, &*handler),
                });
            }
        });
        let scheme = if tls { "https" } else { "http" };
        Self { base: format!("{scheme}://{local}"), seen }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn server_config() -> Arc<rustls::ServerConfig> {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("cert");
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("server config");
    Arc::new(config)
}

fn serve<S: Read + Write>(stream: S, sni: Option<String>, log: &Mutex<Vec<Seen>>, handler: &Handler) {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        return;
    }
    let mut authorization = String::new();
    let mut host = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("authorization:") {
            authorization = line[line.len() - v.len()..].trim().to_string();
        }
        if let Some(v) = lower.strip_prefix("host:") {
            host = v.trim().to_string();
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let mut parts = first.split_whitespace();
    let seen = Seen {
        method: parts.next().unwrap_or("").to_string(),
        path: parts.next().unwrap_or("/").to_string(),
        authorization,
        body: String::from_utf8_lossy(&body).into_owned(),
        host,
        sni,
    };
    let n = {
        let mut log = log.lock().expect("lock");
        log.push(seen.clone());
        log.len() - 1
    };
    let (status, content_type, text) = handler(&seen, n);
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.flush();
}
