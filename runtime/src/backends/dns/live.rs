//! DNS questions on the wire: one question to one server, UDP with a TCP
//! retry when the answer is truncated. Built on hickory-proto's message
//! codec so that hubops sees exactly what each server answers (records,
//! TTLs, the authoritative flag) with no cache in between: a propagation
//! check must ask every authoritative server itself. Only reads: nothing
//! here sends an update.
//!
//! The "system resolver" is `HUBOPS_RESOLVER` (comma-separated `ip[:port]`)
//! or the `nameserver` lines of /etc/resolv.conf. Authoritative servers are
//! asked on port 53, or `HUBOPS_DNS_PORT` (test setups on loopback).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{normalize, server_addr, Answer, Error, NameServer, Rec};

fn name_of(text: &str) -> Result<Name, Error> {
    let mut name = Name::from_utf8(text).map_err(|e| Error::Invalid(format!("`{text}` is not a DNS name: {e}")))?;
    name.set_fqdn(true);
    Ok(name)
}

fn text_of(data: &RData) -> String {
    match data {
        RData::A(a) => a.to_string(),
        RData::AAAA(a) => a.to_string(),
        RData::CNAME(n) => normalize(&n.to_string()),
        RData::NS(n) => normalize(&n.to_string()),
        RData::PTR(n) => normalize(&n.to_string()),
        RData::MX(mx) => format!("{} {}", mx.preference, normalize(&mx.exchange.to_string())),
        RData::TXT(txt) => txt.txt_data.iter().map(|b| String::from_utf8_lossy(b)).collect::<String>(),
        other => other.to_string(),
    }
}

/// Asks `server` one question. `recursion` sets the RD flag (on for
/// resolvers, off for authoritative servers).
pub(crate) async fn query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    timeout: Duration,
    recursion: bool,
) -> Result<Answer, Error> {
    let mut message = Message::query();
    message.add_query(Query::query(name_of(name)?, rtype));
    message.metadata.recursion_desired = recursion;
    let bytes = message.to_vec().map_err(|e| Error::Invalid(e.to_string()))?;
    let id = message.metadata.id;
    let shown = server.to_string();
    let timed_out = || Error::Timeout { server: shown.clone(), after: crate::duration::format(timeout) };
    let unreachable = |why: String| Error::Unreachable { server: shown.clone(), why };

    let reply =
        tokio::time::timeout(timeout, udp(server, &bytes, id)).await.map_err(|_| timed_out())?.map_err(unreachable)?;
    let reply = if reply.metadata.truncation {
        tokio::time::timeout(timeout, tcp(server, &bytes)).await.map_err(|_| timed_out())?.map_err(unreachable)?
    } else {
        reply
    };
    let convert = |records: &[hickory_proto::rr::Record]| -> Vec<Rec> {
        records
            .iter()
            .map(|r| Rec {
                name: normalize(&r.name.to_string()),
                rtype: r.record_type().to_string(),
                ttl: r.ttl,
                value: text_of(&r.data),
            })
            .collect()
    };
    Ok(Answer {
        server: shown.clone(),
        rcode: rcode_name(reply.metadata.response_code),
        authoritative: reply.metadata.authoritative,
        records: convert(&reply.answers),
        authority: convert(&reply.authorities),
    })
}

/// The standard mnemonic of a response code (`NXDOMAIN`), as dig prints it.
fn rcode_name(code: hickory_proto::op::ResponseCode) -> String {
    use hickory_proto::op::ResponseCode;
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => other.to_string().to_ascii_uppercase().replace(' ', "_"),
    }
}

async fn udp(server: SocketAddr, bytes: &[u8], id: u16) -> Result<Message, String> {
    let bind: SocketAddr = if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }.parse().map_err(|e| format!("{e}"))?;
    let socket = tokio::net::UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    socket.connect(server).await.map_err(|e| e.to_string())?;
    socket.send(bytes).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
        let reply = Message::from_vec(&buf[..n]).map_err(|e| format!("not a DNS answer: {e}"))?;
        // Stray datagrams with another id are ignored, as resolvers do.
        if reply.metadata.id == id {
            return Ok(reply);
        }
    }
}

async fn tcp(server: SocketAddr, bytes: &[u8]) -> Result<Message, String> {
    let mut stream = tokio::net::TcpStream::connect(server).await.map_err(|e| e.to_string())?;
    let len = u16::try_from(bytes.len()).map_err(|_| "query too large".to_string())?;
    stream.write_all(&len.to_be_bytes()).await.map_err(|e| e.to_string())?;
    stream.write_all(bytes).await.map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    Message::from_vec(&buf).map_err(|e| format!("not a DNS answer: {e}"))
}

/// The resolvers to ask: `HUBOPS_RESOLVER`, else /etc/resolv.conf.
pub(crate) fn system_resolvers() -> Result<Vec<SocketAddr>, Error> {
    if let Ok(list) = std::env::var("HUBOPS_RESOLVER") {
        if !list.trim().is_empty() {
            return list.split(',').map(|s| server_addr(s.trim(), 53)).collect();
        }
    }
    let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers: Vec<SocketAddr> = conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| server_addr(rest.trim(), 53).ok())
        .collect();
    if servers.is_empty() {
        Err(Error::NoResolver)
    } else {
        Ok(servers)
    }
}

/// The port authoritative servers are asked on.
#[must_use]
fn authoritative_port() -> u16 {
    std::env::var("HUBOPS_DNS_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(53)
}

/// Asks the system resolvers in turn; the first that answers wins.
pub(crate) async fn resolve(name: &str, rtype: RecordType, timeout: Duration) -> Result<Answer, Error> {
    let mut last = Error::NoResolver;
    for server in system_resolvers()? {
        match query(server, name, rtype, timeout, true).await {
            Ok(answer) if answer.rcode != "SERVFAIL" && answer.rcode != "REFUSED" => return Ok(answer),
            Ok(answer) => last = Error::Unreachable { server: answer.server, why: answer.rcode },
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The zone a name belongs to: the owner of the SOA the resolver returns for
/// it or, when the name is itself an alias (a CNAME has no SOA beside it),
/// for its parent, walking up.
pub(crate) async fn zone_of(name: &str, timeout: Duration) -> Result<String, Error> {
    let mut candidate = normalize(name);
    loop {
        let answer = resolve(&candidate, RecordType::SOA, timeout).await?;
        let soa = answer
            .records
            .iter()
            .filter(|r| r.rtype == "SOA" && r.name == candidate)
            .chain(answer.authority.iter().filter(|r| r.rtype == "SOA"))
            .map(|r| r.name.clone())
            .next();
        if let Some(zone) = soa {
            return Ok(zone);
        }
        match candidate.split_once('.') {
            Some((_, parent)) if !parent.is_empty() => candidate = parent.to_string(),
            _ => return Err(Error::NotFound(format!("no zone found for `{name}` (no SOA record)"))),
        }
    }
}

/// The authoritative servers of `zone`, with their addresses.
pub(crate) async fn nameservers(zone: &str, timeout: Duration) -> Result<Vec<NameServer>, Error> {
    let answer = resolve(zone, RecordType::NS, timeout).await?;
    let hosts = answer.values(zone, "NS");
    if hosts.is_empty() {
        return Err(Error::NotFound(format!("`{zone}` has no NS records: is it a zone?")));
    }
    let port = authoritative_port();
    let mut servers = Vec::new();
    for host in hosts {
        let a = resolve(&host, RecordType::A, timeout).await?;
        let addrs: Vec<SocketAddr> = a
            .values(&host, "A")
            .iter()
            .filter_map(|ip| IpAddr::from_str(ip).ok())
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        if addrs.is_empty() {
            return Err(Error::NotFound(format!("name server `{host}` of `{zone}` has no address")));
        }
        servers.push(NameServer { host, addrs });
    }
    Ok(servers)
}
