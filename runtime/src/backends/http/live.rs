//! HTTP on the network, through reqwest (rustls, the system's trust roots).
//! Reads build their requests with `get`/`head` only; the mutating methods
//! are banned in `clippy.toml` everywhere but [`Client::send`], which takes
//! the gate's `Permit`.

use super::{Error, Read, Request, Response, Write};
use crate::effects::Permit;

/// What the live half needs to send requests.
#[derive(Debug, Clone)]
pub struct Client {
    /// The `user-agent` every request carries.
    user_agent: &'static str,
}

impl Default for Client {
    fn default() -> Self {
        Self { user_agent: concat!("hubops/", env!("CARGO_PKG_VERSION")) }
    }
}

impl Client {
    /// Sends a GET or HEAD.
    pub async fn read(&self, req: &Request<Read>) -> Result<Response, Error> {
        let client = self.build(req).await?;
        let builder = match req.method {
            Read::Get => client.get(req.url.clone()),
            Read::Head => client.head(req.url.clone()),
        };
        finish(builder, req).await
    }

    /// Sends a request that changes something; under `Permit::Check` only a
    /// HEAD to the URL, which changes nothing.
    #[allow(clippy::disallowed_methods)] // the mutating methods: takes the gate's Permit
    pub async fn send(&self, permit: &Permit, req: &Request<Write>) -> Result<Response, Error> {
        if permit.is_check() {
            return self.read(&req.head()).await;
        }
        let client = self.build(req).await?;
        let url = req.url.clone();
        let builder = match req.method {
            Write::Post => client.post(url),
            Write::Put => client.put(url),
            Write::Patch => client.patch(url),
            Write::Delete => client.delete(url),
        };
        finish(builder, req).await
    }

    // A client per request: `insecure`, the timeout and the pinned address
    // are the request's own (and each answer's address is a new connection's).
    async fn build<M>(&self, req: &Request<M>) -> Result<reqwest::Client, Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(req.timeout)
            .danger_accept_invalid_certs(req.insecure)
            .user_agent(self.user_agent);
        if let Some(address) = &req.connect_to {
            let host = req.url.host_str().ok_or_else(|| Error::Invalid(format!("`{}` has no host", req.url)))?;
            let port = req.url.port_or_known_default().unwrap_or(443);
            let addrs = addresses(address, port).await?;
            // reqwest matches the override by the URL's host as written (no
            // brackets for IPv6), and keeps the URL's own port if it has one.
            builder = builder.resolve_to_addrs(host.trim_start_matches('[').trim_end_matches(']'), &addrs);
        }
        builder.build().map_err(|e| Error::Unreachable { url: req.url.to_string(), source: Some(Box::new(e)) })
    }
}

/// The socket addresses `address` stands for (`port` unless it names one):
/// an IP as is, a host name through the system resolver.
async fn addresses(address: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, Error> {
    let (host, given) = super::split_address(address).map_err(Error::Invalid)?;
    let port = given.unwrap_or(port);
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![std::net::SocketAddr::new(ip, port)]);
    }
    let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| Error::Unresolved { address: address.to_string(), source: Some(e) })?
        .collect();
    if found.is_empty() {
        return Err(Error::Unresolved { address: address.to_string(), source: None });
    }
    Ok(found)
}

/// Whether `came_from` (`ip:port`, as an answer records it) is one of the
/// addresses `address` stands for now.
pub(super) async fn same_address(came_from: &str, address: &str) -> Result<bool, Error> {
    let (ip, _) = super::split_address(came_from).map_err(Error::Invalid)?;
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else { return Ok(false) };
    Ok(addresses(address, 0).await?.iter().any(|a| a.ip() == ip))
}

/// Adds the body, headers and token, sends, and reads the answer.
async fn finish<M>(mut builder: reqwest::RequestBuilder, req: &Request<M>) -> Result<Response, Error> {
    let url = req.url.to_string();
    if let Some((content_type, body)) = &req.body {
        builder = builder.header("content-type", content_type).body(body.clone());
    }
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    if let Some(token) = &req.bearer {
        builder = builder.bearer_auth(token);
    }
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            Error::Timeout { url: url.clone(), after: crate::duration::format(req.timeout) }
        } else {
            Error::Unreachable { url: url.clone(), source: Some(Box::new(e)) }
        }
    };
    let resp = builder.send().await.map_err(classify)?;
    let address = resp.remote_addr().map(|a| a.to_string());
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = resp.text().await.map_err(classify)?;
    Ok(Response { status, headers, body, address })
}
