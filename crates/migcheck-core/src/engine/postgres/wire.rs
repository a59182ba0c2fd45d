//! A small synchronous PostgreSQL client for the build-time check: the
//! simple-query protocol over TCP, a Unix socket or (feature `tls`) TLS
//! through rustls. The build script must not pull an async runtime, and this
//! is all it needs: create a scratch database, run files, read the catalogs.
//!
//! The protocol's messages and SCRAM-SHA-256 / MD5 authentication come from
//! `postgres-protocol` (the sync-agnostic core of rust-postgres); this module
//! only moves bytes and reads URLs the way libpq and sqlx read them.

use std::io::{self, Read, Write};
use std::net::TcpStream;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator as _;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::{backend::Message, frontend};

/// An error the server reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub code: String,
    pub message: String,
    /// 1-based character position in the query, when the server gives one.
    pub position: Option<usize>,
    pub detail: Option<String>,
}

/// What [`Client::describe`] learnt of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// Each parameter's type (`bigint`), `$1` first.
    pub parameters: Vec<String>,
    /// The result columns' names, in order.
    pub columns: Vec<String>,
}

/// Why a call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PgError {
    /// The server reported an error.
    Server(ServerError),
    /// The URL cannot be read.
    Url(UrlError),
    /// Connecting to `server` (host and port, or a socket) failed.
    Connect { server: String, source: Box<PgError> },
    /// Reading or writing the connection.
    Io(io::Error),
    /// The TLS handshake, a certificate, or the `sslrootcert` file.
    Tls(String),
    /// `sslmode` asks for TLS and this build has none (feature `tls`).
    NoTls,
    /// The server asks for a password and the URL has none.
    NoPassword,
    /// The server answered outside the protocol, or asks for what this
    /// client does not support (an authentication method, say).
    Protocol(String),
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PgError::Server(e) => f.write_str(&e.message),
            PgError::Url(e) => e.fmt(f),
            PgError::Connect { server, source } => write!(f, "cannot connect to {server}: {source}"),
            PgError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.write_str("the server closed the connection")
            }
            PgError::Io(e) => write!(f, "the connection failed: {e}"),
            PgError::Tls(e) => write!(f, "TLS: {e}"),
            PgError::NoTls => f.write_str(
                "sslmode asks for TLS, and this build has no TLS: turn on the `tls` feature of migcheck-build \
                 (migcheck-build = { version = \"…\", features = [\"tls\"] })",
            ),
            PgError::NoPassword => f.write_str("the server asks for a password; put it in the URL"),
            PgError::Protocol(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PgError::Url(e) => Some(e),
            PgError::Connect { source, .. } => Some(source),
            PgError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for PgError {
    fn from(e: io::Error) -> Self {
        PgError::Io(e)
    }
}

fn protocol(e: impl std::fmt::Display) -> PgError {
    PgError::Protocol(e.to_string())
}

/// Why a URL cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Not `postgres://` or `postgresql://`.
    NotPostgres(String),
    BadPort(String),
    BadSslMode(String),
    /// A `%` not followed by two hex digits, or bytes that are not UTF-8.
    BadEncoding,
    /// `[::1` without its `]`.
    UnclosedBracket,
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlError::NotPostgres(url) => write!(f, "`{url}` is not a postgres:// URL"),
            UrlError::BadPort(p) => write!(f, "`{p}` is not a port"),
            UrlError::BadSslMode(m) => {
                write!(f, "unknown sslmode `{m}`: disable, prefer, require, verify-ca or verify-full")
            }
            UrlError::BadEncoding => f.write_str("bad percent-encoding in the URL"),
            UrlError::UnclosedBracket => f.write_str("unclosed `[` in the URL's host"),
        }
    }
}

impl std::error::Error for UrlError {}

/// An `sslmode` value (`allow` is taken as `disable`: migcheck never
/// retries a refused plain connection with TLS).
fn ssl_mode(value: &str) -> Result<SslMode, UrlError> {
    Ok(match value {
        "disable" | "allow" => SslMode::Disable,
        "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => return Err(UrlError::BadSslMode(other.to_owned())),
    })
}

/// The password the password file (`PGPASSFILE`, else `~/.pgpass`) gives
/// for `host:port:database:user`: the first line whose four fields match
/// (`*` matches anything; `\:` and `\\` escape). A file others may read is
/// ignored, as libpq ignores it.
fn password_file(
    env: &dyn Fn(&str) -> Option<String>,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<String> {
    let files = [env("PGPASSFILE").map(PathBuf::from), env("HOME").map(|home| Path::new(&home).join(".pgpass"))];
    let port = port.to_string();
    files.into_iter().flatten().find_map(|path| {
        let file = std::fs::File::open(&path).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if file.metadata().ok()?.permissions().mode() & 0o077 != 0 {
                return None;
            }
        }
        let text = std::io::read_to_string(file).ok()?;
        text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
            let fields = pgpass_fields(line);
            let [h, p, d, u, password] = fields.as_slice() else { return None };
            let matches = |field: &str, value: &str| field == "*" || field == value;
            (matches(h, host) && matches(p, &port) && matches(d, database) && matches(u, user))
                .then(|| password.clone())
        })
    })
}

/// A password-file line's fields, unescaped: the fifth takes the rest.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().unwrap().extend(chars.next()),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// `sslmode`, as libpq reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// TLS if the server offers it (libpq's default).
    Prefer,
    /// TLS, the certificate not verified.
    Require,
    /// TLS, the certificate verified against the root certificates.
    VerifyCa,
    /// As `VerifyCa`, and the certificate names the host.
    VerifyFull,
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Tcp(String),
    /// The directory of a Unix socket (`host=/var/run/postgresql`).
    Socket(PathBuf),
}

/// What a `postgres://` URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    pub user: String,
    pub password: Option<String>,
    pub host: Host,
    pub port: u16,
    pub database: String,
    pub ssl: SslMode,
    /// `sslrootcert`: PEM file of the certificates to trust.
    pub root_cert: Option<PathBuf>,
    /// Other startup parameters (`application_name`, `options`).
    pub parameters: Vec<(String, String)>,
}

impl PgUrl {
    /// Reads `postgres://[user[:password]@][host][:port][/database][?param=value&…]`,
    /// with the parameters libpq and sqlx accept (`host` — a directory for a
    /// Unix socket —, `hostaddr` (the address connected to, `PGHOSTADDR` where the URL has none), `port`, `user`, `password`, `dbname`, `sslmode`,
    /// `sslrootcert`, `application_name`, `options`). What the URL leaves out
    /// comes from where sqlx (the runtime's client) and libpq take it: the
    /// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`,
    /// `PGSSLROOTCERT`, `PGAPPNAME` and `PGOPTIONS` variables, then a local
    /// server's Unix socket (`/var/run/postgresql`, `/private/tmp`, `/tmp`)
    /// before `localhost`, and the password from the password file
    /// (`PGPASSFILE`, else `~/.pgpass`, ignored unless private). So `check`
    /// and `upgrade` reach the same server as the same role.
    ///
    /// ```
    /// # use migcheck_core::engine::postgres::wire::{Host, PgUrl, SslMode};
    /// let url = PgUrl::parse("postgres://app:s%40cret@db.example.com/app?sslmode=verify-full").unwrap();
    /// assert_eq!((url.host, url.port, url.ssl), (Host::Tcp("db.example.com".into()), 5432, SslMode::VerifyFull));
    /// ```
    pub fn parse(url: &str) -> Result<PgUrl, UrlError> {
        PgUrl::parse_with(url, &|name| std::env::var(name).ok())
    }

    /// [`PgUrl::parse`] with the variables `env` gives (`None`: unset).
    pub fn parse_with(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<PgUrl, UrlError> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| UrlError::NotPostgres(url.to_owned()))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (mut user, mut password) = match credentials {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (Some(decode(u)?), Some(decode(p)?)),
                None => (Some(decode(c)?), None),
            },
            None => (None, None),
        };
        let (host, port) = match host_port.strip_prefix('[') {
            // IPv6: `[::1]:5432`.
            Some(v6) => {
                let (h, rest) = v6.split_once(']').ok_or(UrlError::UnclosedBracket)?;
                (h.to_owned(), rest.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((h, p)) => (decode(h)?, Some(p)),
                None => (decode(host_port)?, None),
            },
        };
        let mut host = (!host.is_empty()).then_some(host);
        let mut port = port.filter(|p| !p.is_empty()).map(str::to_owned);
        let mut database = (!database.is_empty()).then(|| decode(database)).transpose()?;
        let mut ssl = match env("PGSSLMODE") {
            Some(mode) => ssl_mode(&mode)?,
            None => SslMode::Prefer,
        };
        let mut root_cert = env("PGSSLROOTCERT").map(PathBuf::from);
        let mut parameters: Vec<(String, String)> = Vec::new();
        let mut options = env("PGOPTIONS");
        let mut application_name = env("PGAPPNAME");
        let mut hostaddr = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match key {
                "host" => host = Some(value),
                "hostaddr" => hostaddr = Some(value),
                "port" => port = Some(value),
                "user" => user = Some(value),
                "password" => password = Some(value),
                "dbname" => database = Some(value),
                "sslmode" | "ssl-mode" => ssl = ssl_mode(&value)?,
                "sslrootcert" | "ssl-root-cert" | "ssl-ca" => root_cert = Some(PathBuf::from(value)),
                "application_name" => application_name = Some(value),
                // Several `options` add up, as in sqlx.
                "options" => {
                    options = Some(match options {
                        Some(before) => format!("{before} {value}"),
                        None => value,
                    })
                }
                // Others (connect_timeout, statement-cache sizes, …) tune a
                // client, not what it connects to.
                _ => {}
            }
        }
        let env_port = match env("PGPORT") {
            Some(p) => p.parse().map_err(|_| UrlError::BadPort(p))?,
            None => 5432,
        };
        let user = user.or_else(|| env("PGUSER")).or_else(|| env("USER")).unwrap_or_else(|| "postgres".into());
        let port = match port {
            Some(p) => p.parse().map_err(|_| UrlError::BadPort(p))?,
            None => env_port,
        };
        // A local server's socket before `localhost`, looked for at the
        // environment's port, as sqlx does.
        let host = host.or_else(|| env("PGHOST")).unwrap_or_else(|| {
            let socket = format!(".s.PGSQL.{env_port}");
            ["/var/run/postgresql", "/private/tmp", "/tmp"]
                .into_iter()
                .find(|dir| Path::new(dir).join(&socket).exists())
                .unwrap_or("localhost")
                .to_owned()
        });
        // A socket wins; over TCP, `hostaddr` (else `PGHOSTADDR`) is the
        // address connected to whatever the host is named, as in libpq and sqlx.
        let host = match hostaddr.or_else(|| env("PGHOSTADDR")) {
            _ if host.starts_with('/') => Host::Socket(PathBuf::from(host)),
            Some(addr) => Host::Tcp(addr),
            None => Host::Tcp(host),
        };
        let database_given = database.or_else(|| env("PGDATABASE"));
        let password = password.or_else(|| env("PGPASSWORD")).or_else(|| {
            let host = match &host {
                Host::Tcp(h) => h.as_str(),
                Host::Socket(_) => "localhost",
            };
            password_file(env, host, port, database_given.as_deref().unwrap_or_default(), &user)
        });
        let database = database_given.unwrap_or_else(|| user.clone());
        parameters.extend(application_name.map(|name| ("application_name".to_owned(), name)));
        parameters.extend(options.map(|options| ("options".to_owned(), options)));
        Ok(PgUrl { user, password, host, port, database, ssl, root_cert, parameters })
    }

    /// The same server, another database.
    pub fn with_database(&self, database: &str) -> PgUrl {
        PgUrl { database: database.to_owned(), ..self.clone() }
    }

    /// The URL that reaches this server, role and database with nothing
    /// left to the environment: what was read from `PG*` variables, the
    /// password file or a local socket is written out, so that sqlx and
    /// libpq read it alike wherever they run.
    ///
    /// ```
    /// # use migcheck_core::engine::postgres::wire::PgUrl;
    /// let url = PgUrl::parse("postgres://app:s%40cret@db.example.com/app?sslmode=require").unwrap();
    /// assert_eq!(url.to_url(), "postgres://app:s%40cret@db.example.com:5432/app?sslmode=require");
    /// ```
    pub fn to_url(&self) -> String {
        use crate::engine::url_encode;
        let mut url = format!("postgres://{}", url_encode(&self.user, false));
        if let Some(password) = &self.password {
            url.push_str(&format!(":{}", url_encode(password, false)));
        }
        let mut query = Vec::new();
        match &self.host {
            Host::Tcp(h) if h.contains(':') => url.push_str(&format!("@[{h}]:{}", self.port)),
            Host::Tcp(h) => url.push_str(&format!("@{h}:{}", self.port)),
            Host::Socket(dir) => {
                url.push_str(&format!("@localhost:{}", self.port));
                query.push(format!("host={}", url_encode(&dir.to_string_lossy(), false)));
            }
        }
        url.push_str(&format!("/{}", url_encode(&self.database, false)));
        let ssl = match self.ssl {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        };
        query.insert(0, format!("sslmode={ssl}"));
        if let Some(cert) = &self.root_cert {
            query.push(format!("sslrootcert={}", url_encode(&cert.to_string_lossy(), false)));
        }
        for (k, v) in &self.parameters {
            query.push(format!("{}={}", url_encode(k, false), url_encode(v, false)));
        }
        format!("{url}?{}", query.join("&"))
    }

    /// Where the server is, for messages.
    pub fn server(&self) -> String {
        match &self.host {
            Host::Tcp(h) => format!("{h}:{}", self.port),
            Host::Socket(dir) => format!("{}/.s.PGSQL.{}", dir.display(), self.port),
        }
    }
}

fn decode(s: &str) -> Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(UrlError::BadEncoding)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| UrlError::BadEncoding)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::BadEncoding)
}

/// The byte stream under the protocol.
enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Stream::Unix(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A connection.
pub struct Client {
    stream: Stream,
    /// Bytes read and not yet parsed.
    input: BytesMut,
    output: BytesMut,
}

/// Rows of text values (`None` for NULL).
pub type Rows = Vec<Vec<Option<String>>>;

const TIMEOUT: Duration = Duration::from_secs(300);

impl Client {
    pub fn connect(url: &PgUrl) -> Result<Client, PgError> {
        let cannot = |e: PgError| PgError::Connect { server: url.server(), source: Box::new(e) };
        let stream = match &url.host {
            #[cfg(unix)]
            Host::Socket(dir) => {
                let stream = UnixStream::connect(dir.join(format!(".s.PGSQL.{}", url.port)))
                    .map_err(|e| cannot(PgError::Io(e)))?;
                stream.set_read_timeout(Some(TIMEOUT))?;
                Stream::Unix(stream)
            }
            #[cfg(not(unix))]
            Host::Socket(_) => return Err(protocol("Unix sockets are not available on this system")),
            Host::Tcp(host) => {
                let stream = TcpStream::connect((host.as_str(), url.port)).map_err(|e| cannot(PgError::Io(e)))?;
                stream.set_read_timeout(Some(TIMEOUT))?;
                let _ = stream.set_nodelay(true);
                secure(stream, host, url).map_err(|e| match e {
                    PgError::Server(_) => e,
                    other => cannot(other),
                })?
            }
        };
        let mut c = Client { stream, input: BytesMut::with_capacity(8192), output: BytesMut::new() };
        let mut parameters =
            vec![("user", url.user.as_str()), ("database", url.database.as_str()), ("client_encoding", "UTF8")];
        parameters.extend(url.parameters.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        frontend::startup_message(parameters, &mut c.output)?;
        c.flush()?;
        c.authenticate(url)?;
        loop {
            match c.read()? {
                Message::ReadyForQuery(_) => return Ok(c),
                Message::ErrorResponse(body) => return Err(PgError::Server(server_error(&body))),
                _ => {}
            }
        }
    }

    fn authenticate(&mut self, url: &PgUrl) -> Result<(), PgError> {
        let password = || url.password.as_deref().ok_or(PgError::NoPassword);
        loop {
            match self.read()? {
                Message::AuthenticationOk => return Ok(()),
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password()?.as_bytes(), &mut self.output)?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(url.user.as_bytes(), password()?.as_bytes(), body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.output)?;
                }
                Message::AuthenticationSasl(body) => {
                    let mechanisms: Vec<&str> = body.mechanisms().collect()?;
                    if !mechanisms.contains(&sasl::SCRAM_SHA_256) {
                        return Err(protocol(format!("unsupported SASL mechanisms: {mechanisms:?}")));
                    }
                    self.scram(password()?)?;
                    continue;
                }
                Message::ErrorResponse(body) => return Err(PgError::Server(server_error(&body))),
                _ => {
                    return Err(protocol(
                        "unsupported authentication method: use scram-sha-256, md5, password or trust",
                    ));
                }
            }
            self.flush()?;
        }
    }

    /// SCRAM-SHA-256, without channel binding.
    fn scram(&mut self, password: &str) -> Result<(), PgError> {
        let mut scram = sasl::ScramSha256::new(password.as_bytes(), sasl::ChannelBinding::unsupported());
        frontend::sasl_initial_response(sasl::SCRAM_SHA_256, scram.message(), &mut self.output)?;
        self.flush()?;
        match self.read()? {
            Message::AuthenticationSaslContinue(body) => scram.update(body.data()).map_err(protocol)?,
            Message::ErrorResponse(body) => return Err(PgError::Server(server_error(&body))),
            _ => return Err(protocol("unexpected message during SCRAM authentication")),
        }
        frontend::sasl_response(scram.message(), &mut self.output)?;
        self.flush()?;
        match self.read()? {
            Message::AuthenticationSaslFinal(body) => scram.finish(body.data()).map_err(protocol),
            Message::ErrorResponse(body) => Err(PgError::Server(server_error(&body))),
            _ => Err(protocol("unexpected message during SCRAM authentication")),
        }
    }

    /// Runs `sql` (one or more statements) and returns the rows of the last
    /// result, or the first error.
    pub fn query(&mut self, sql: &str) -> Result<Rows, PgError> {
        frontend::query(sql, &mut self.output)?;
        self.flush()?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.read()? {
                Message::RowDescription(_) => rows.clear(),
                Message::DataRow(body) => {
                    let buffer = body.buffer();
                    let row = body
                        .ranges()
                        .map(|range| Ok(range.map(|r| String::from_utf8_lossy(&buffer[r]).into_owned())))
                        .collect()?;
                    rows.push(row);
                }
                Message::ErrorResponse(body) => error = error.or(Some(server_error(&body))),
                Message::ReadyForQuery(_) => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(PgError::Server(e)),
            None => Ok(rows),
        }
    }

    /// Prepares `sql` (one statement) unnamed without running it, and says
    /// what the server knows of it: its parameters' type names and its
    /// result columns' names (none for a statement that returns no rows).
    pub fn describe(&mut self, sql: &str) -> Result<Described, PgError> {
        frontend::parse("", sql, std::iter::empty(), &mut self.output)?;
        frontend::describe(b'S', "", &mut self.output)?;
        frontend::sync(&mut self.output);
        self.flush()?;
        let mut parameters = Vec::new();
        let mut columns = Vec::new();
        let mut error = None;
        loop {
            match self.read()? {
                Message::ParameterDescription(body) => parameters = body.parameters().collect()?,
                Message::RowDescription(body) => {
                    columns = body.fields().map(|f| Ok(f.name().to_owned())).collect()?;
                }
                Message::ErrorResponse(body) => error = error.or(Some(server_error(&body))),
                Message::ReadyForQuery(_) => break,
                _ => {}
            }
        }
        if let Some(e) = error {
            return Err(PgError::Server(e));
        }
        // The parameters' types by name, read back from the catalog.
        let mut types = Vec::with_capacity(parameters.len());
        for oid in parameters {
            let name = self.query(&format!("SELECT format_type({oid}, NULL)"))?.first().and_then(|r| r[0].clone());
            types.push(name.unwrap_or_else(|| oid.to_string()));
        }
        Ok(Described { parameters: types, columns })
    }

    fn flush(&mut self) -> Result<(), PgError> {
        self.stream.write_all(&self.output)?;
        self.output.clear();
        Ok(self.stream.flush()?)
    }

    fn read(&mut self) -> Result<Message, PgError> {
        loop {
            if let Some(message) = Message::parse(&mut self.input)? {
                return Ok(message);
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(PgError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(PgError::Io(e)),
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        frontend::terminate(&mut self.output);
        let _ = self.flush();
    }
}

fn server_error(body: &postgres_protocol::message::backend::ErrorResponseBody) -> ServerError {
    let mut e = ServerError { code: String::new(), message: String::new(), position: None, detail: None };
    let mut fields = body.fields();
    while let Ok(Some(field)) = fields.next() {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'C' => e.code = value,
            b'M' => e.message = value,
            b'P' => e.position = value.parse().ok(),
            b'D' => e.detail = Some(value),
            _ => {}
        }
    }
    e
}

/// Asks the server for TLS as `sslmode` says (an `SSLRequest`, then the
/// handshake if it agrees).
#[cfg(feature = "tls")]
fn secure(mut stream: TcpStream, host: &str, url: &PgUrl) -> Result<Stream, PgError> {
    if url.ssl == SslMode::Disable {
        return Ok(Stream::Tcp(stream));
    }
    let mut request = BytesMut::new();
    frontend::ssl_request(&mut request);
    stream.write_all(&request)?;
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer)?;
    match (answer[0], url.ssl) {
        (b'S', _) => {}
        (_, SslMode::Prefer) => return Ok(Stream::Tcp(stream)),
        _ => return Err(PgError::Tls("the server does not accept TLS connections, and sslmode asks for TLS".into())),
    }
    let config = tls::config(url)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| PgError::Tls(format!("`{host}` is not a host name for TLS")))?;
    let connection = rustls::ClientConnection::new(config, name).map_err(|e| PgError::Tls(e.to_string()))?;
    let mut tls = rustls::StreamOwned::new(connection, stream);
    // Complete the handshake now, so that a refused certificate is said here.
    tls.conn.complete_io(&mut tls.sock).map_err(|e| PgError::Tls(e.to_string()))?;
    Ok(Stream::Tls(Box::new(tls)))
}

#[cfg(not(feature = "tls"))]
fn secure(stream: TcpStream, _host: &str, url: &PgUrl) -> Result<Stream, PgError> {
    match url.ssl {
        SslMode::Disable | SslMode::Prefer => Ok(Stream::Tcp(stream)),
        _ => Err(PgError::NoTls),
    }
}

#[cfg(feature = "tls")]
mod tls {
    //! rustls configurations for each `sslmode`.

    use std::sync::Arc;

    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

    use super::{PgError, PgUrl, SslMode};

    fn tls(e: impl std::fmt::Display) -> PgError {
        PgError::Tls(e.to_string())
    }

    pub(super) fn config(url: &PgUrl) -> Result<Arc<rustls::ClientConfig>, PgError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(tls)?;
        let verifier: Arc<dyn ServerCertVerifier> = match url.ssl {
            // libpq: `require` and `prefer` encrypt without verifying.
            SslMode::Prefer | SslMode::Require | SslMode::Disable => Arc::new(Unverified(provider)),
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = Arc::new(roots(url)?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider).build().map_err(tls)?;
                if url.ssl == SslMode::VerifyCa { Arc::new(AnyName(webpki)) } else { webpki }
            }
        };
        Ok(Arc::new(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()))
    }

    /// `sslrootcert`, else `~/.postgresql/root.crt` as libpq reads it, else
    /// the Mozilla roots (`webpki-roots`).
    fn roots(url: &PgUrl) -> Result<RootCertStore, PgError> {
        let default = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".postgresql/root.crt"));
        let file = url.root_cert.clone().or(default.filter(|p| p.exists()));
        let mut store = RootCertStore::empty();
        match file {
            Some(path) => {
                for cert in CertificateDer::pem_file_iter(&path)
                    .map_err(|e| tls(format!("cannot read sslrootcert `{}`: {e}", path.display())))?
                {
                    let cert = cert.map_err(|e| tls(format!("sslrootcert `{}`: {e}", path.display())))?;
                    store.add(cert).map_err(|e| tls(format!("sslrootcert `{}`: {e}", path.display())))?;
                }
            }
            None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        Ok(store)
    }

    /// `require`: any certificate, but the handshake's signatures are still checked.
    #[derive(Debug)]
    struct Unverified(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for Unverified {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// `verify-ca`: the chain is verified, the name is not.
    #[derive(Debug)]
    struct AnyName(Arc<WebPkiServerVerifier>);

    impl ServerCertVerifier for AnyName {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
                Err(Error::InvalidCertificate(
                    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.0.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.0.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_verify_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        // Nothing from the environment or a password file.
        let parse = |url: &str| PgUrl::parse_with(url, &|_| None);
        let u = parse("postgres://me:p%40ss@db.local:6543/app?application_name=x").unwrap();
        assert_eq!(
            (u.user.as_str(), u.password.as_deref(), &u.host, u.port, u.database.as_str(), u.ssl),
            ("me", Some("p@ss"), &Host::Tcp("db.local".into()), 6543, "app", SslMode::Prefer)
        );
        assert_eq!(u.parameters, [("application_name".to_owned(), "x".to_owned())]);
        let u = parse("postgresql://postgres@127.0.0.1/postgres").unwrap();
        assert_eq!((u.port, u.password), (5432, None));
        let u = parse("postgres://u@[::1]:5433/db?sslmode=verify-full&sslrootcert=/etc/ca.pem").unwrap();
        assert_eq!((&u.host, u.port, u.ssl), (&Host::Tcp("::1".into()), 5433, SslMode::VerifyFull));
        assert_eq!(u.root_cert.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
        let u = parse("postgres:///app?host=%2Fvar%2Frun%2Fpostgresql&user=me&port=5433").unwrap();
        assert_eq!((&u.host, u.user.as_str(), u.port), (&Host::Socket("/var/run/postgresql".into()), "me", 5433));
        assert_eq!(u.server(), "/var/run/postgresql/.s.PGSQL.5433");
        assert!(parse("mysql://x").is_err());
        assert!(parse("postgres://h/db?sslmode=sometimes").is_err());
        assert!(parse("postgres://h:port/db").is_err());
    }

    /// What the URL leaves out comes from the `PG*` variables, then a local
    /// socket or `localhost`, and the password from a private password file.
    #[test]
    fn the_environment_and_the_password_file_fill_what_the_url_leaves_out() {
        let dir = tempfile::tempdir().unwrap();
        let passfile = dir.path().join("pgpass");
        std::fs::write(&passfile, "# comment\nother:*:*:*:no\ndb.local:6000:*:me:s\\:ecret\n*:*:*:*:any\n").unwrap();
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            let passfile = passfile.clone();
            move |name: &str| match name {
                "PGPASSFILE" => Some(passfile.to_string_lossy().into_owned()),
                _ => pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()),
            }
        };
        let env = vars(&[("PGHOST", "db.local"), ("PGPORT", "6000"), ("PGUSER", "me"), ("PGSSLMODE", "require")]);
        // Private: read. Escaped `:` in the password.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let u = PgUrl::parse_with("postgres:///app", &env).unwrap();
        assert_eq!(
            (&u.host, u.port, u.user.as_str(), u.ssl),
            (&Host::Tcp("db.local".into()), 6000, "me", SslMode::Require)
        );
        assert_eq!(u.password.as_deref(), Some("s:ecret"));
        // The URL wins over the environment; the file's catch-all line then.
        let u = PgUrl::parse_with("postgres://you@elsewhere:7000/app?sslmode=disable", &env).unwrap();
        assert_eq!(
            (&u.host, u.port, u.user.as_str(), u.ssl),
            (&Host::Tcp("elsewhere".into()), 7000, "you", SslMode::Disable)
        );
        assert_eq!(u.password.as_deref(), Some("any"));
        // PGPASSWORD before the file; PGOPTIONS and the URL's options add up.
        let env = vars(&[("PGPASSWORD", "pw"), ("PGOPTIONS", "-c a=b"), ("PGAPPNAME", "tool")]);
        let u = PgUrl::parse_with("postgres://u@h/app?options=-c%20x%3Dy", &env).unwrap();
        assert_eq!(u.password.as_deref(), Some("pw"));
        assert_eq!(
            u.parameters,
            [("application_name".to_owned(), "tool".to_owned()), ("options".to_owned(), "-c a=b -c x=y".to_owned())]
        );
        // A file others may read is ignored, as libpq ignores it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).unwrap();
            let u = PgUrl::parse_with("postgres://u@h/app", &vars(&[])).unwrap();
            assert_eq!(u.password, None);
        }
        assert!(PgUrl::parse_with("postgres://h/app", &vars(&[("PGSSLMODE", "sometimes")])).is_err());
    }
}
