//! A minimal HTTP/1.1 client for pod endpoints: one request per connection
//! (`Connection: close`), the whole response read to the end. The workload
//! answers small JSON or text bodies, so nothing more is needed, and a fresh
//! connection per request keeps replicas independent (a stopped replica
//! cannot hold a pooled connection).
//!
//! Kept instead of hyper's client for speed, measured with `just
//! bench-loadgen` on the 2-core development machine (the load generator
//! sends every request through [`request`]): the highest open-loop rate
//! answered in full was 30,000, 32,000 and 32,000 req/s with this client
//! against 16,000, 30,000, 28,000 and 26,000 req/s with
//! `hyper::client::conn::http1` doing the same (a handshake per request,
//! `Connection: close`), while `wrk` reached 58,000–62,000 req/s on the same
//! endpoint in each run. The load generator's goal is half of `wrk`'s rate.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status and body.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The connection was refused or could not be made.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// The connection broke while sending or reading.
    #[error("i/o: {0}")]
    Io(std::io::Error),
    /// The response could not be parsed.
    #[error("bad response: {0}")]
    Bad(String),
}

/// Sends `method path` with `body` (JSON) to `addr`.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Response, HttpError> {
    let mut s = TcpStream::connect(addr).await.map_err(HttpError::Connect)?;
    let _ = s.set_nodelay(true);
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut msg = Vec::with_capacity(head.len() + body.len());
    msg.extend_from_slice(head.as_bytes());
    msg.extend_from_slice(body);
    s.write_all(&msg).await.map_err(HttpError::Io)?;
    let mut raw = Vec::with_capacity(512);
    s.read_to_end(&mut raw).await.map_err(HttpError::Io)?;
    parse(&raw)
}

fn parse(raw: &[u8]) -> Result<Response, HttpError> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| HttpError::Bad(format!("no header end in {} bytes", raw.len())))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| HttpError::Bad(e.to_string()))?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| HttpError::Bad(format!("no status line: {head:?}")))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(Response { status, body })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    loop {
        let line_end = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| HttpError::Bad("truncated chunk".into()))?;
        let size_text =
            std::str::from_utf8(&b[..line_end]).map_err(|e| HttpError::Bad(e.to_string()))?;
        let size = usize::from_str_radix(size_text.trim(), 16)
            .map_err(|e| HttpError::Bad(format!("chunk size {size_text:?}: {e}")))?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size {
            return Err(HttpError::Bad("truncated chunk".into()));
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
}

/// The same request over a blocking socket, with a timeout on each step
/// (used by the sampler and the readiness probe, which run on plain threads).
pub fn request_blocking(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: std::time::Duration,
) -> Result<Response, HttpError> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(HttpError::Connect)?;
    s.set_read_timeout(Some(timeout)).map_err(HttpError::Io)?;
    s.set_write_timeout(Some(timeout)).map_err(HttpError::Io)?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).map_err(HttpError::Io)?;
    let mut raw = Vec::with_capacity(1024);
    s.read_to_end(&mut raw).map_err(HttpError::Io)?;
    parse(&raw)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_bodies() {
        let r = parse(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (503, b"{}".as_slice()));
        let r = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
