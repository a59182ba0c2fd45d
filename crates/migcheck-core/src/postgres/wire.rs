//! A small synchronous PostgreSQL client for the build-time check: the
//! simple-query protocol over TCP, with trust, password and SCRAM-SHA-256
//! authentication. The build script must not pull an async runtime, and this
//! is all it needs: create a scratch database, run files, read the catalogs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// An error the server reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub code: String,
    pub message: String,
    /// 1-based character position in the query, when the server gives one.
    pub position: Option<usize>,
    pub detail: Option<String>,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgError {
    Server(ServerError),
    /// Connecting, the protocol, or the URL.
    Client(String),
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PgError::Server(e) => write!(f, "{}", e.message),
            PgError::Client(e) => f.write_str(e),
        }
    }
}

fn client(e: impl std::fmt::Display) -> PgError {
    PgError::Client(e.to_string())
}

/// What a `postgres://` URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    pub user: String,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    pub database: String,
}

impl PgUrl {
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| format!("`{url}` is not a postgres:// URL"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        if query.split('&').any(|kv| matches!(kv, "sslmode=require" | "sslmode=verify-ca" | "sslmode=verify-full")) {
            return Err("the scratch server connection does not support TLS; use a local server".into());
        }
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (decode(u)?, Some(decode(p)?)),
                None => (decode(c)?, None),
            },
            None => (std::env::var("USER").unwrap_or_else(|_| "postgres".into()), None),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| format!("`{p}` is not a port"))?),
            None => (host_port.to_owned(), 5432),
        };
        let host = if host.is_empty() { "localhost".to_owned() } else { host };
        let database = if database.is_empty() { user.clone() } else { decode(database)? };
        Ok(PgUrl { user, password, host, port, database })
    }

    /// The same server, another database.
    pub fn with_database(&self, database: &str) -> PgUrl {
        PgUrl { database: database.to_owned(), ..self.clone() }
    }
}

fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("bad percent-encoding in the URL")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad percent-encoding in the URL")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URL is not UTF-8".into())
}

/// A connection.
pub struct Client {
    stream: TcpStream,
}

/// Rows of text values (`None` for NULL).
pub type Rows = Vec<Vec<Option<String>>>;

impl Client {
    pub fn connect(url: &PgUrl) -> Result<Client, PgError> {
        let stream = TcpStream::connect((url.host.as_str(), url.port))
            .map_err(|e| client(format!("cannot connect to {}:{}: {e}", url.host, url.port)))?;
        stream.set_read_timeout(Some(Duration::from_secs(300))).map_err(client)?;
        let _ = stream.set_nodelay(true);
        let mut c = Client { stream };
        let mut body = Vec::new();
        body.extend_from_slice(&196_608i32.to_be_bytes());
        for (k, v) in [("user", url.user.as_str()), ("database", url.database.as_str()), ("client_encoding", "UTF8")] {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        c.stream.write_all(&msg).map_err(client)?;
        c.authenticate(url)?;
        loop {
            let (tag, payload) = c.read()?;
            match tag {
                b'Z' => return Ok(c),
                b'E' => return Err(PgError::Server(parse_error(&payload))),
                _ => {}
            }
        }
    }

    fn authenticate(&mut self, url: &PgUrl) -> Result<(), PgError> {
        let password =
            || url.password.clone().ok_or_else(|| client("the server asks for a password; put it in the URL"));
        loop {
            let (tag, payload) = self.read()?;
            match tag {
                b'E' => return Err(PgError::Server(parse_error(&payload))),
                b'R' => {}
                _ => return Err(client("unexpected message during authentication")),
            }
            let code = i32::from_be_bytes(
                payload.get(..4).ok_or_else(|| client("short message"))?.try_into().unwrap_or_default(),
            );
            match code {
                0 => return Ok(()),
                3 => {
                    let mut p = password()?.into_bytes();
                    p.push(0);
                    self.send(b'p', &p)?;
                }
                10 => {
                    let mechanisms = String::from_utf8_lossy(&payload[4..]).to_string();
                    if !mechanisms.split('\0').any(|m| m == "SCRAM-SHA-256") {
                        return Err(client(format!("unsupported SASL mechanisms: {mechanisms:?}")));
                    }
                    self.scram(&password()?)?;
                }
                5 => return Err(client("md5 password authentication is not supported: use scram-sha-256 or trust")),
                other => return Err(client(format!("unsupported authentication method {other}"))),
            }
        }
    }

    /// SCRAM-SHA-256 (RFC 5802 / 7677), without channel binding.
    fn scram(&mut self, password: &str) -> Result<(), PgError> {
        let nonce = base64(&nonce_bytes());
        let client_first_bare = format!("n=,r={nonce}");
        let client_first = format!("n,,{client_first_bare}");
        let mut msg = b"SCRAM-SHA-256\0".to_vec();
        msg.extend_from_slice(&(client_first.len() as i32).to_be_bytes());
        msg.extend_from_slice(client_first.as_bytes());
        self.send(b'p', &msg)?;
        let server_first = self.sasl_message(11)?;
        let attr = |k: &str| server_first.split(',').find_map(|kv| kv.strip_prefix(k)).map(str::to_owned);
        let server_nonce = attr("r=").filter(|r| r.starts_with(&nonce)).ok_or_else(|| client("bad SCRAM nonce"))?;
        let salt =
            unbase64(&attr("s=").ok_or_else(|| client("no SCRAM salt"))?).ok_or_else(|| client("bad SCRAM salt"))?;
        let iterations: u32 =
            attr("i=").and_then(|i| i.parse().ok()).ok_or_else(|| client("bad SCRAM iteration count"))?;
        let salted = pbkdf2(password.as_bytes(), &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let client_final_without_proof = format!("c=biws,r={server_nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{client_final_without_proof}");
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(signature).map(|(a, b)| a ^ b).collect();
        let client_final = format!("{client_final_without_proof},p={}", base64(&proof));
        self.send(b'p', client_final.as_bytes())?;
        let server_final = self.sasl_message(12)?;
        let server_key = hmac(&salted, b"Server Key");
        let expected = base64(&hmac(&server_key, auth_message.as_bytes()));
        if server_final.strip_prefix("v=") != Some(expected.as_str()) {
            return Err(client("the server's SCRAM signature does not match"));
        }
        Ok(())
    }

    fn sasl_message(&mut self, expected: i32) -> Result<String, PgError> {
        let (tag, payload) = self.read()?;
        if tag == b'E' {
            return Err(PgError::Server(parse_error(&payload)));
        }
        let code = payload.get(..4).map(|b| i32::from_be_bytes(b.try_into().unwrap_or_default()));
        if tag != b'R' || code != Some(expected) {
            return Err(client("unexpected message during SCRAM authentication"));
        }
        Ok(String::from_utf8_lossy(&payload[4..]).into_owned())
    }

    /// Runs `sql` (one or more statements) and returns the rows of the last
    /// result, or the first error.
    pub fn query(&mut self, sql: &str) -> Result<Rows, PgError> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(b'Q', &body)?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let (tag, payload) = self.read()?;
            match tag {
                b'T' => rows.clear(),
                b'D' => rows.push(parse_row(&payload)?),
                b'E' => error = error.or(Some(parse_error(&payload))),
                b'Z' => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(PgError::Server(e)),
            None => Ok(rows),
        }
    }

    fn send(&mut self, tag: u8, body: &[u8]) -> Result<(), PgError> {
        let mut msg = vec![tag];
        msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        msg.extend_from_slice(body);
        self.stream.write_all(&msg).map_err(client)
    }

    fn read(&mut self) -> Result<(u8, Vec<u8>), PgError> {
        let mut head = [0u8; 5];
        self.stream.read_exact(&mut head).map_err(|e| client(format!("the server closed the connection: {e}")))?;
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let len = usize::try_from(len - 4).map_err(|_| client("bad message length"))?;
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).map_err(client)?;
        Ok((head[0], payload))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.send(b'X', &[]);
    }
}

fn parse_row(payload: &[u8]) -> Result<Vec<Option<String>>, PgError> {
    let short = || client("short data row");
    let count = i16::from_be_bytes(payload.get(..2).ok_or_else(short)?.try_into().unwrap_or_default());
    let mut at = 2;
    let mut row = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count {
        let len = i32::from_be_bytes(payload.get(at..at + 4).ok_or_else(short)?.try_into().unwrap_or_default());
        at += 4;
        if len < 0 {
            row.push(None);
        } else {
            let end = at + len as usize;
            row.push(Some(String::from_utf8_lossy(payload.get(at..end).ok_or_else(short)?).into_owned()));
            at = end;
        }
    }
    Ok(row)
}

fn parse_error(payload: &[u8]) -> ServerError {
    let mut e = ServerError { code: String::new(), message: String::new(), position: None, detail: None };
    for field in payload.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let value = String::from_utf8_lossy(&field[1..]).into_owned();
        match field[0] {
            b'C' => e.code = value,
            b'M' => e.message = value,
            b'P' => e.position = value.parse().ok(),
            b'D' => e.detail = Some(value),
            _ => {}
        }
    }
    e
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let mut h = Sha256::new();
    h.update(&inner);
    h.update(message);
    let inner_hash = h.finalize();
    let mut h = Sha256::new();
    h.update(&outer);
    h.update(inner_hash);
    h.finalize().into()
}

fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

fn nonce_bytes() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    (0..3)
        .flat_map(|i| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(i);
            h.write_u128(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
            );
            h.finish().to_le_bytes()
        })
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = PgUrl::parse("postgres://me:p%40ss@db.local:6543/app?application_name=x").unwrap();
        assert_eq!(
            (u.user.as_str(), u.password.as_deref(), u.host.as_str(), u.port, u.database.as_str()),
            ("me", Some("p@ss"), "db.local", 6543, "app")
        );
        let u = PgUrl::parse("postgresql://postgres@127.0.0.1/postgres").unwrap();
        assert_eq!((u.port, u.password), (5432, None));
        assert!(PgUrl::parse("mysql://x").is_err());
        assert!(PgUrl::parse("postgres://h/db?sslmode=require").is_err());
    }

    #[test]
    fn base64_round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(unbase64(&base64(data)).unwrap(), data);
        }
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
    }

    #[test]
    fn hmac_and_pbkdf2_match_known_vectors() {
        // RFC 4231 test case 2.
        assert_eq!(
            crate::checksum::to_hex(&hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // PBKDF2-HMAC-SHA256, "password"/"salt", 1 and 4096 iterations.
        assert_eq!(
            crate::checksum::to_hex(&pbkdf2(b"password", b"salt", 1)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        assert_eq!(
            crate::checksum::to_hex(&pbkdf2(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
    }
}
