//! A small synchronous MySQL client for the build-time check: the classic
//! protocol (handshake v10, `HandshakeResponse41`), `mysql_native_password`
//! and the fast path of `caching_sha2_password`, and `COM_QUERY` with text
//! result sets. No TLS and no async runtime: the build-script side stays
//! light. The runtime talks to MySQL through sqlx instead.

use std::io::{Read, Write};
use std::net::TcpStream;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

use sha1::Digest as _;

/// A `mysql://` (or `mariadb://`) URL as sqlx reads it: user, password,
/// host, port (3306), database, and `?socket=` for a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyUrl {
    /// The user (`root` when the URL names none).
    pub user: String,
    /// The password, if any.
    pub password: Option<String>,
    /// The host (`localhost` when the URL names none).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// A Unix socket's path, which wins over host and port.
    pub socket: Option<String>,
    /// The database, if any.
    pub database: Option<String>,
}

impl MyUrl {
    /// Reads `mysql://user:password@host:port/database?socket=/path`.
    ///
    /// ```
    /// use migcheck_core::engine::mysql::wire::MyUrl;
    /// let url = MyUrl::parse("mariadb://app:s%40cret@db.local:3307/shop").unwrap();
    /// assert_eq!((url.user.as_str(), url.password.as_deref(), url.port), ("app", Some("s@cret"), 3307));
    /// assert_eq!(url.database.as_deref(), Some("shop"));
    /// ```
    pub fn parse(url: &str) -> Result<MyUrl, String> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .ok_or_else(|| "a MySQL URL starts with `mysql://` or `mariadb://`".to_owned())?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, server) = match authority.rsplit_once('@') {
            Some((c, s)) => (Some(c), s),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (decode(u)?, Some(decode(p)?)),
                None => (decode(c)?, None),
            },
            None => ("root".to_owned(), None),
        };
        let (host, port) = match server.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("`{p}` is not a port"))?),
            None => (server, 3306),
        };
        let mut socket = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "socket" => socket = Some(decode(value)?),
                "ssl-mode" | "sslmode" if !matches!(value.to_ascii_lowercase().as_str(), "disabled" | "preferred") => {
                    return Err(format!(
                        "`{key}={value}` asks for TLS, which migcheck's build-time MySQL client does not speak: \
                         give the scratch server without it"
                    ));
                }
                _ => {}
            }
        }
        Ok(MyUrl {
            user: if user.is_empty() { "root".to_owned() } else { user },
            password,
            host: if host.is_empty() { "localhost".to_owned() } else { decode(host)? },
            port,
            socket,
            database: (!path.is_empty()).then(|| decode(path)).transpose()?,
        })
    }

    /// Where the server is, for messages.
    pub fn server(&self) -> String {
        match &self.socket {
            Some(path) => path.clone(),
            None => format!("{}:{}", self.host, self.port),
        }
    }
}

fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("a `%` not followed by two hex digits")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a `%` not followed by two hex digits")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoding that is not UTF-8".to_owned())
}

/// What went wrong talking to the server.
#[derive(Debug)]
pub enum MyError {
    /// The server refused: its error number, SQLSTATE and message.
    Server {
        /// MySQL's error number (`1146`).
        code: u16,
        /// The SQLSTATE (`42S02`).
        state: String,
        /// The message.
        message: String,
    },
    /// The connection failed or timed out.
    Io(std::io::Error),
    /// The server said something this client does not understand.
    Protocol(String),
}

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MyError::Server { code, state, message } => write!(f, "{message} ({code}, {state})"),
            MyError::Io(e) => write!(f, "{e}"),
            MyError::Protocol(m) => write!(f, "unexpected reply from the server: {m}"),
        }
    }
}

impl From<std::io::Error> for MyError {
    fn from(e: std::io::Error) -> Self {
        MyError::Io(e)
    }
}

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// Rows of a result set, each value as text (`None` for NULL).
pub type Rows = Vec<Vec<Option<String>>>;

const LONG_PASSWORD: u32 = 1;
const LONG_FLAG: u32 = 4;
const CONNECT_WITH_DB: u32 = 8;
const PROTOCOL_41: u32 = 0x200;
const TRANSACTIONS: u32 = 0x2000;
const SECURE_CONNECTION: u32 = 0x8000;
const MULTI_RESULTS: u32 = 0x20000;
const PLUGIN_AUTH: u32 = 0x80000;
const MORE_RESULTS_EXIST: u16 = 0x0008;
/// utf8mb4_general_ci: known to MySQL 5.5.3+ and every MariaDB.
const UTF8MB4: u8 = 45;

/// One connection.
pub struct Client {
    stream: Stream,
    seq: u8,
    /// The server's version string (`10.11.14-MariaDB-0+deb12u2`).
    pub server_version: String,
    /// Rows the last statement changed, as its OK packet says.
    pub affected: u64,
}

impl Client {
    /// Connects and logs in, into `url`'s database or `database` when given.
    pub fn connect(url: &MyUrl, database: Option<&str>, timeout: Duration) -> Result<Client, MyError> {
        let stream = match &url.socket {
            #[cfg(unix)]
            Some(path) => Stream::Unix(UnixStream::connect(path)?),
            #[cfg(not(unix))]
            Some(_) => return Err(MyError::Protocol("Unix sockets need a Unix system".into())),
            None => {
                use std::net::ToSocketAddrs as _;
                let mut last = None;
                let mut connected = None;
                for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
                        Ok(s) => {
                            connected = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let s = connected.ok_or_else(|| {
                    last.unwrap_or_else(|| std::io::Error::other(format!("`{}` has no address", url.host)))
                })?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
        };
        stream.set_read_timeout(Some(timeout))?;
        let mut client = Client { stream, seq: 0, server_version: String::new(), affected: 0 };
        client.handshake(url, database.or(url.database.as_deref()))?;
        Ok(client)
    }

    fn read_packet(&mut self) -> Result<Vec<u8>, MyError> {
        let mut out = Vec::new();
        loop {
            let mut header = [0u8; 4];
            self.stream.read_exact(&mut header)?;
            let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
            self.seq = header[3].wrapping_add(1);
            let start = out.len();
            out.resize(start + len, 0);
            self.stream.read_exact(&mut out[start..])?;
            // A payload of exactly 2^24 - 1 bytes continues in the next packet.
            if len < 0xff_ffff {
                return Ok(out);
            }
        }
    }

    fn write_packet(&mut self, payload: &[u8]) -> Result<(), MyError> {
        let mut chunks = payload.chunks(0xff_ffff).peekable();
        let mut buf = Vec::with_capacity(payload.len() + 8);
        if payload.is_empty() {
            buf.extend_from_slice(&[0, 0, 0, self.seq]);
            self.seq = self.seq.wrapping_add(1);
        }
        while let Some(chunk) = chunks.next() {
            let len = chunk.len();
            buf.extend_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, self.seq]);
            buf.extend_from_slice(chunk);
            self.seq = self.seq.wrapping_add(1);
            if chunks.peek().is_none() && len == 0xff_ffff {
                buf.extend_from_slice(&[0, 0, 0, self.seq]);
                self.seq = self.seq.wrapping_add(1);
            }
        }
        self.stream.write_all(&buf)?;
        Ok(())
    }

    fn handshake(&mut self, url: &MyUrl, database: Option<&str>) -> Result<(), MyError> {
        let greeting = self.read_packet()?;
        if greeting.first() == Some(&0xff) {
            return Err(server_error(&greeting));
        }
        let mut r = Reader::new(&greeting);
        let version = r.u8()?;
        if version != 10 {
            return Err(MyError::Protocol(format!("handshake version {version}, not 10")));
        }
        self.server_version = r.nul_str()?;
        r.skip(4)?; // connection id
        let mut scramble = r.bytes(8)?.to_vec();
        r.skip(1)?;
        let caps_low = u32::from(r.u16()?);
        r.skip(1 + 2)?; // character set, status
        let caps = caps_low | u32::from(r.u16()?) << 16;
        let data_len = usize::from(r.u8()?);
        r.skip(10)?;
        if caps & SECURE_CONNECTION != 0 {
            let n = data_len.saturating_sub(8).max(13);
            let part = r.bytes(n.min(r.left()))?;
            scramble.extend_from_slice(part.strip_suffix(&[0]).unwrap_or(part));
        }
        let plugin = if caps & PLUGIN_AUTH != 0 { r.nul_str().unwrap_or_default() } else { String::new() };
        let plugin = if plugin.is_empty() { "mysql_native_password".to_owned() } else { plugin };
        let password = url.password.as_deref().unwrap_or_default();
        let mut flags = LONG_PASSWORD | LONG_FLAG | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION | MULTI_RESULTS;
        flags |= PLUGIN_AUTH & caps;
        if database.is_some() {
            flags |= CONNECT_WITH_DB;
        }
        let auth = scramble_for(&plugin, password, &scramble)?;
        let mut out = Vec::new();
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&(16u32 << 20).to_le_bytes());
        out.push(UTF8MB4);
        out.extend_from_slice(&[0; 23]);
        out.extend_from_slice(url.user.as_bytes());
        out.push(0);
        out.push(auth.len() as u8);
        out.extend_from_slice(&auth);
        if let Some(db) = database {
            out.extend_from_slice(db.as_bytes());
            out.push(0);
        }
        if flags & PLUGIN_AUTH != 0 {
            out.extend_from_slice(plugin.as_bytes());
            out.push(0);
        }
        self.write_packet(&out)?;
        let mut plugin = plugin;
        loop {
            let reply = self.read_packet()?;
            match reply.first() {
                Some(0x00) => return Ok(()),
                Some(0xff) => return Err(server_error(&reply)),
                // An authentication switch: the named plugin, a new scramble.
                Some(0xfe) => {
                    let mut r = Reader::new(&reply[1..]);
                    plugin = r.nul_str()?;
                    let data = r.rest();
                    let data = data.strip_suffix(&[0]).unwrap_or(data).to_vec();
                    let auth = scramble_for(&plugin, password, &data)?;
                    self.write_packet(&auth)?;
                }
                // caching_sha2_password: 3 is fast authentication done (OK
                // follows), 4 asks for the password in full, over TLS.
                Some(0x01) if plugin == "caching_sha2_password" => match reply.get(1) {
                    Some(3) => continue,
                    _ => {
                        return Err(MyError::Protocol(
                            "the server asks for caching_sha2_password's full authentication, which needs TLS: \
                             log in once with the mysql client (the server then caches the password), or give \
                             the scratch user mysql_native_password"
                                .into(),
                        ));
                    }
                },
                _ => return Err(MyError::Protocol("an authentication reply it does not know".into())),
            }
        }
    }

    /// Runs one statement; the rows of its (last) result set, if any.
    pub fn query(&mut self, sql: &str) -> Result<Rows, MyError> {
        self.seq = 0;
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(0x03);
        payload.extend_from_slice(sql.as_bytes());
        self.write_packet(&payload)?;
        let mut rows = Vec::new();
        loop {
            let first = self.read_packet()?;
            let more = match first.first() {
                Some(0x00) => {
                    let mut r = Reader::new(&first[1..]);
                    self.affected = r.lenenc()?;
                    r.lenenc()?;
                    r.u16()? & MORE_RESULTS_EXIST != 0
                }
                Some(0xff) => return Err(server_error(&first)),
                Some(0xfb) => return Err(MyError::Protocol("LOAD DATA LOCAL INFILE is not allowed here".into())),
                _ => {
                    let columns = Reader::new(&first).lenenc()? as usize;
                    for _ in 0..columns {
                        self.read_packet()?;
                    }
                    let eof = self.read_packet()?;
                    if eof.first() != Some(&0xfe) {
                        return Err(MyError::Protocol("no EOF after the column definitions".into()));
                    }
                    rows.clear();
                    loop {
                        let packet = self.read_packet()?;
                        match packet.first() {
                            Some(0xfe) if packet.len() < 9 => {
                                let mut r = Reader::new(&packet[1..]);
                                r.u16()?;
                                break r.u16()? & MORE_RESULTS_EXIST != 0;
                            }
                            Some(0xff) => return Err(server_error(&packet)),
                            _ => {
                                let mut r = Reader::new(&packet);
                                let mut row = Vec::with_capacity(columns);
                                for _ in 0..columns {
                                    row.push(r.lenenc_str()?);
                                }
                                rows.push(row);
                            }
                        }
                    }
                }
            };
            if !more {
                return Ok(rows);
            }
        }
    }

    /// Runs statements that return nothing worth reading.
    pub fn execute(&mut self, sql: &str) -> Result<(), MyError> {
        self.query(sql).map(drop)
    }
}

/// The auth response `plugin` computes from `password` and the server's
/// scramble.
fn scramble_for(plugin: &str, password: &str, scramble: &[u8]) -> Result<Vec<u8>, MyError> {
    if password.is_empty() {
        return Ok(Vec::new());
    }
    let seed = &scramble[..scramble.len().min(20)];
    match plugin {
        // SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))
        "mysql_native_password" => {
            let first = sha1::Sha1::digest(password.as_bytes());
            let second = sha1::Sha1::digest(first);
            let mut h = sha1::Sha1::new();
            h.update(seed);
            h.update(second);
            let mix = h.finalize();
            Ok(first.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect())
        }
        // SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble)
        "caching_sha2_password" => {
            use sha2::Digest as _;
            let first = sha2::Sha256::digest(password.as_bytes());
            let second = sha2::Sha256::digest(first);
            let mut h = sha2::Sha256::new();
            h.update(second);
            h.update(seed);
            let mix = h.finalize();
            Ok(first.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect())
        }
        other => Err(MyError::Protocol(format!(
            "the server asks for the `{other}` authentication plugin; migcheck speaks mysql_native_password and \
             caching_sha2_password"
        ))),
    }
}

fn server_error(packet: &[u8]) -> MyError {
    let code = packet.get(1..3).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    let (state, message) = match packet.get(3) {
        Some(b'#') => (
            String::from_utf8_lossy(packet.get(4..9).unwrap_or_default()).into_owned(),
            String::from_utf8_lossy(packet.get(9..).unwrap_or_default()).into_owned(),
        ),
        _ => ("HY000".to_owned(), String::from_utf8_lossy(packet.get(3..).unwrap_or_default()).into_owned()),
    };
    MyError::Server { code, state, message }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn short() -> MyError {
        MyError::Protocol("a packet ended early".into())
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], MyError> {
        let out = self.bytes.get(self.at..self.at + n).ok_or_else(Reader::short)?;
        self.at += n;
        Ok(out)
    }

    fn skip(&mut self, n: usize) -> Result<(), MyError> {
        self.bytes(n).map(drop)
    }

    fn rest(&mut self) -> &'a [u8] {
        let out = &self.bytes[self.at..];
        self.at = self.bytes.len();
        out
    }

    fn u8(&mut self) -> Result<u8, MyError> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, MyError> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn nul_str(&mut self) -> Result<String, MyError> {
        let end = self.bytes[self.at..].iter().position(|&b| b == 0).ok_or_else(Reader::short)?;
        let text = String::from_utf8_lossy(&self.bytes[self.at..self.at + end]).into_owned();
        self.at += end + 1;
        Ok(text)
    }

    fn lenenc(&mut self) -> Result<u64, MyError> {
        let first = self.u8()?;
        let n = match first {
            0xfc => 2,
            0xfd => 3,
            0xfe => 8,
            b => return Ok(u64::from(b)),
        };
        let bytes = self.bytes(n)?;
        Ok(bytes.iter().rev().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    fn lenenc_str(&mut self) -> Result<Option<String>, MyError> {
        if self.bytes.get(self.at) == Some(&0xfb) {
            self.at += 1;
            return Ok(None);
        }
        let n = usize::try_from(self.lenenc()?).map_err(|_| Reader::short())?;
        Ok(Some(String::from_utf8_lossy(self.bytes(n)?).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_as_sqlx_reads_them() {
        let url = MyUrl::parse("mysql://root:migcheck-test@127.0.0.1:47331/mysql").unwrap();
        assert_eq!((url.host.as_str(), url.port, url.database.as_deref()), ("127.0.0.1", 47331, Some("mysql")));
        let bare = MyUrl::parse("mysql://db.local").unwrap();
        assert_eq!((bare.user.as_str(), bare.password, bare.port, bare.database), ("root", None, 3306, None));
        let socket = MyUrl::parse("mysql://app@localhost/shop?socket=%2Frun%2Fmysqld%2Fmysqld.sock").unwrap();
        assert_eq!(socket.server(), "/run/mysqld/mysqld.sock");
        assert!(MyUrl::parse("mysql://h/db?ssl-mode=required").unwrap_err().contains("TLS"));
        assert!(MyUrl::parse("mysql://h/db?ssl-mode=PREFERRED").is_ok());
        assert!(MyUrl::parse("postgres://h/db").is_err());
    }
}
