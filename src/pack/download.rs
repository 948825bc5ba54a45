//! Remote dependencies, embedded: a `url` + `sha256` dependency is downloaded, checked against
//! its pinned sha256 while it streams to an unlinked temporary file, checked as a dependency
//! tarball, and embedded as `deps/<name>.tgz` like a local one.
//!
//! RS reads dependencies only from inside the zip; a dependency module.json lists that the zip
//! does not hold fails the upload with "Missing dependency". So a URL alone is not enough.
//!
//! What is refused, each with an error naming the dependency and its URL: plain `http://`
//! (unless allowed), a redirect to another scheme, host or port (a redirect on the same origin is
//! followed, a few times at most), an answer other than 2xx, more bytes than the cap, other bytes
//! than the pinned sha256, and an archive that breaks the checks `validate` applies to
//! `deps/<name>.tgz`. Public servers are verified against the webpki roots; extra CAs (a private
//! mirror's) can be trusted besides them.

use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use super::dep_cache::DepCache;
use super::deps::DepArchive;
use crate::bundle::tarball::{self, CheckOnly, TarProblem, WalkError};
use crate::bundle::Limits;
use crate::listener::Listener;

/// The largest dependency archive downloaded: RS takes at most 500 MB for a whole module
/// (`MAX_MODULE_SIZE_BYTES`), so no dependency of an installable module is larger.
pub const MAX_DEPENDENCY_SIZE: u64 = crate::manifest::layout::RS_MAX_MODULE_ZIP_BYTES;
/// How many redirects (each to the same scheme, host and port) a download follows.
pub const MAX_REDIRECTS: u32 = 5;
/// Default wait for a connection to open.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default budget for one dependency's whole download (redirects included): 500 MB at about
/// 1 MB/s.
pub const DEFAULT_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest a server may go silent in the middle of an answer.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest CA certificate file read.
const MAX_CA_FILE: u64 = 1 << 20;
/// How often (in bytes) download progress is reported.
const PROGRESS_STEP: u64 = 256 * 1024;

/// How `pack` treats dependencies given by `url` and `sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Record the URL in module.json without downloading the archive. RS cannot install such a
    /// zip ("Missing dependency" at upload); pack warns.
    pub keep_urls: bool,
    /// Download from plain `http://` URLs too (the sha256 still pins the bytes).
    pub allow_http: bool,
    /// A PEM file of CA certificates trusted besides the public (webpki) roots, for a private
    /// mirror.
    pub extra_ca_cert: Option<PathBuf>,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// How long one dependency's download may take in all.
    pub timeout: Duration,
    /// The largest archive accepted, in bytes.
    pub max_size: u64,
    /// Where verified archives are kept by sha256 (see [`default_cache_dir`]); `None` keeps
    /// nothing.
    pub cache_dir: Option<PathBuf>,
    /// Never download: take archives from the cache only.
    pub offline: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            keep_urls: false,
            allow_http: false,
            extra_ca_cert: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_DOWNLOAD_TIMEOUT,
            max_size: MAX_DEPENDENCY_SIZE,
            cache_dir: None,
            offline: false,
        }
    }
}

/// The download cache's usual place: `$XDG_CACHE_HOME/rmpack/deps`, else
/// `$HOME/.cache/rmpack/deps`; `None` when neither variable is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    cache_dir_from(|name| std::env::var_os(name))
}

/// [`default_cache_dir`] with the environment read through `var`.
fn cache_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let non_empty = |name: &str| var(name).filter(|value| !value.is_empty());
    let base = non_empty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("rmpack").join("deps"))
}

/// Why a remote dependency could not be embedded. Every variant names the dependency and the URL.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// A URL rmpack cannot download from.
    #[error("dependency `{name}`: {url} is not a URL rmpack can download ({problem})")]
    BadUrl {
        /// Dependency name.
        name: String,
        /// The URL.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A plain `http://` URL without `--allow-http-dependencies`.
    #[error("dependency `{name}`: {url} is plain http; use its https:// address, or pass --allow-http-dependencies (the sha256 still pins the bytes)")]
    PlainHttp {
        /// Dependency name.
        name: String,
        /// The URL.
        url: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("dependency `{name}`: cannot download {url}: {detail}")]
    Transport {
        /// Dependency name.
        name: String,
        /// The URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The download took longer than allowed.
    #[error("dependency `{name}`: downloading {url} took longer than {seconds} s; check the server, or raise --download-timeout")]
    Timeout {
        /// Dependency name.
        name: String,
        /// The URL.
        url: String,
        /// The budget, in seconds.
        seconds: u64,
    },
    /// An answer other than 2xx (or a redirect that was followed).
    #[error("dependency `{name}`: {url} answered HTTP {status}; check the URL")]
    Status {
        /// Dependency name.
        name: String,
        /// The URL that answered.
        url: String,
        /// Status code and reason.
        status: String,
    },
    /// A redirect to another scheme, host or port.
    #[error("dependency `{name}`: {url} redirects to {location}, which is not on {origin}; rmpack follows a redirect only to the same scheme, host and port, so give the final URL (the sha256 stays the same)")]
    OffSiteRedirect {
        /// Dependency name.
        name: String,
        /// The URL that redirected.
        url: String,
        /// Where it pointed.
        location: String,
        /// The origin of the dependency's URL.
        origin: String,
    },
    /// A redirect without a usable `Location`.
    #[error("dependency `{name}`: {url} answered HTTP {status} without a usable Location header")]
    BadRedirect {
        /// Dependency name.
        name: String,
        /// The URL that redirected.
        url: String,
        /// The status code.
        status: u16,
    },
    /// More redirects than [`MAX_REDIRECTS`].
    #[error("dependency `{name}`: {url} redirects more than {max} times; give the final URL")]
    TooManyRedirects {
        /// Dependency name.
        name: String,
        /// The dependency's URL.
        url: String,
        /// The limit.
        max: u32,
    },
    /// An archive larger than the cap.
    #[error("dependency `{name}`: {url} is {size} bytes, over the {max} bytes a dependency may have (RS takes at most 500 MB for a whole module)")]
    TooLarge {
        /// Dependency name.
        name: String,
        /// The URL.
        url: String,
        /// Its size as announced, or "more than MAX" when counted.
        size: String,
        /// The cap.
        max: u64,
    },
    /// Other bytes than the pinned sha256.
    #[error("dependency `{name}`: {url} served bytes with sha256 {actual}, not the pinned {expected}; the file on the server changed or the pinned sha256 is wrong")]
    Checksum {
        /// Dependency name.
        name: String,
        /// The URL.
        url: String,
        /// The pinned sha256.
        expected: String,
        /// What was received.
        actual: String,
    },
    /// The archive breaks a rule every `deps/<name>.tgz` follows.
    #[error("dependency `{name}`: the archive at {url} is refused: {problem}; RS refuses it as invalid_dependency_data")]
    Archive {
        /// Dependency name.
        name: String,
        /// The URL.
        url: String,
        /// What is wrong inside.
        problem: TarProblem,
    },
    /// `--offline` and the archive is not in the cache.
    #[error("dependency `{name}`: {url} is not in the download cache{place} and --offline forbids downloading it; pack once without --offline")]
    NotCached {
        /// Dependency name.
        name: String,
        /// The URL.
        url: String,
        /// " (the folder)" or " (none is set)".
        place: String,
    },
    /// The extra CA file is unusable.
    #[error("--download-ca-cert {path}: {problem}")]
    CaCert {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The temporary file for the download could not be written.
    #[error("dependency `{name}`: cannot keep the download of {url} in a temporary file")]
    Spill {
        /// Dependency name.
        name: String,
        /// The URL.
        url: String,
        /// The I/O error.
        source: io::Error,
    },
}

/// The scheme, host and port of a URL: a redirect may stay only on the origin it started from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an absolute `http(s)` URL without user info.
    fn of(url: &str) -> Result<Origin, String> {
        let uri: ureq::http::Uri = url.parse().map_err(|e| format!("{e}"))?;
        let scheme = uri
            .scheme_str()
            .map(str::to_ascii_lowercase)
            .ok_or("it has no scheme")?;
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            other => return Err(format!("the scheme `{other}` is not http or https")),
        };
        let authority = uri.authority().ok_or("it has no host")?;
        if authority.as_str().contains('@') {
            return Err("it carries user info, which would be written into module.json".into());
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return Err("it has no host".into());
        }
        Ok(Origin {
            scheme,
            host,
            port: authority.port_u16().unwrap_or(default_port),
        })
    }

    fn is_plain_http(&self) -> bool {
        self.scheme == "http"
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Resolves a `Location` header against the URL that answered it: absolute, scheme-relative
/// (`//host/…`), absolute-path (`/…`) or relative-path references.
fn resolve_location(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    let scheme_end = base.find("://")? + 3;
    let path_start = base[scheme_end..]
        .find(['/', '?'])
        .map_or(base.len(), |i| scheme_end + i);
    let has_scheme = location
        .split_once(':')
        .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains(['/', '?', '#']));
    Some(if has_scheme {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{}//{rest}", &base[..scheme_end - 2])
    } else if location.starts_with('/') {
        format!("{}{location}", &base[..path_start])
    } else {
        let path = base[path_start..].split(['?', '#']).next().unwrap_or("");
        let folder = path.rfind('/').map_or("/", |i| &path[..=i]);
        format!("{}{folder}{location}", &base[..path_start])
    })
}

/// Downloads remote dependencies for one `pack`.
pub struct Downloader<'a> {
    options: &'a DownloadOptions,
    /// Verifies against the public (webpki) roots.
    public: ureq::Agent,
    /// Verifies against the extra CAs, tried when the public roots do not vouch for a server.
    private: Option<ureq::Agent>,
    /// Origins the public roots did not vouch for and the extra CAs did: asked with the extra
    /// CAs first from then on (redirects, further dependencies), saving a handshake.
    private_origins: std::cell::RefCell<Vec<String>>,
    cache: Option<DepCache>,
    spill_dir: PathBuf,
    listener: &'a dyn Listener,
}

impl<'a> Downloader<'a> {
    /// A downloader with `options`, keeping downloads in unlinked files under `spill_dir`.
    /// Fails only when the extra CA file is unusable.
    pub fn new(
        options: &'a DownloadOptions,
        spill_dir: &Path,
        listener: &'a dyn Listener,
    ) -> Result<Self, DownloadError> {
        let agent = |roots: RootCerts| {
            let tls = TlsConfig::builder()
                .provider(TlsProvider::Rustls)
                .root_certs(roots)
                .build();
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .https_only(false)
                .tls_config(tls)
                .timeout_connect(Some(options.connect_timeout))
                .timeout_per_read(Some(STALL_TIMEOUT.min(options.timeout)))
                // Redirects are followed by hand, only on the same origin.
                .max_redirects(0)
                .max_redirects_will_error(false)
                .user_agent(concat!("rmpack/", env!("CARGO_PKG_VERSION")))
                .build()
                .new_agent()
        };
        let private = match &options.extra_ca_cert {
            Some(path) => Some(agent(RootCerts::new_with_certs(&read_ca_certificates(
                path,
            )?))),
            None => None,
        };
        Ok(Downloader {
            options,
            public: agent(RootCerts::WebPki),
            private,
            private_origins: std::cell::RefCell::new(Vec::new()),
            cache: options.cache_dir.clone().map(DepCache::new),
            spill_dir: spill_dir.to_path_buf(),
            listener,
        })
    }

    /// The archive of dependency `name` at `url`, whose bytes have sha256 `sha256`: from the
    /// cache when it holds a verified copy, else downloaded (and then cached).
    pub fn fetch(&self, name: &str, url: &str, sha256: &str) -> Result<DepArchive, DownloadError> {
        let expected = sha256.to_ascii_lowercase();
        let origin = Origin::of(url).map_err(|problem| DownloadError::BadUrl {
            name: name.to_string(),
            url: url.to_string(),
            problem,
        })?;
        if origin.is_plain_http() && !self.options.allow_http {
            return Err(DownloadError::PlainHttp {
                name: name.to_string(),
                url: url.to_string(),
            });
        }
        if let Some(archive) = self.cached(name, url, &expected)? {
            return Ok(archive);
        }
        if self.options.offline {
            return Err(DownloadError::NotCached {
                name: name.to_string(),
                url: url.to_string(),
                place: match &self.cache {
                    Some(cache) => format!(" ({})", cache.dir().display()),
                    None => " (none is set)".to_string(),
                },
            });
        }
        self.listener
            .on_status(&format!("downloading dependency {name} from {url}"));
        self.download(name, url, &origin, &expected)
    }

    /// The cached archive with sha256 `expected`, after one pass that hashes it and walks it
    /// as a tarball; a copy that fails either is removed (and downloaded again by the caller).
    fn cached(
        &self,
        name: &str,
        url: &str,
        expected: &str,
    ) -> Result<Option<DepArchive>, DownloadError> {
        let Some(cache) = &self.cache else {
            return Ok(None);
        };
        let Some((mut file, _)) = cache.open(expected) else {
            return Ok(None);
        };
        let (outcome, size, actual) = {
            let mut source = &file;
            let mut pass = Pass::new(&mut source, self.options.max_size);
            let outcome = pass.run();
            (outcome, pass.size, pass.sha256())
        };
        let problem = match outcome {
            Ok(_) if actual != expected => {
                Some(format!("does not match its sha256 (it has {actual})"))
            }
            Ok(None) => None,
            Ok(Some(problem)) => Some(format!("is refused: {problem}")),
            Err(PassFailure::TooLarge) => {
                return Err(self.too_large(
                    name,
                    url,
                    format!("more than {}", self.options.max_size),
                ))
            }
            Err(PassFailure::Read(e) | PassFailure::Spill(e)) => {
                Some(format!("cannot be read: {e}"))
            }
        };
        if let Some(problem) = problem {
            let path = cache.discard(expected);
            self.listener.on_warning(&format!(
                "dependency `{name}`: the cached copy {} {problem}; removed it, downloading {url} again",
                path.display()
            ));
            return Ok(None);
        }
        file.seek(io::SeekFrom::Start(0))
            .map_err(|source| self.spill_error(name, url, source))?;
        self.listener.on_status(&format!(
            "dependency {name}: verified copy from the download cache"
        ));
        Ok(Some(DepArchive {
            name: name.to_string(),
            file,
            size,
            sha256: expected.to_string(),
        }))
    }

    /// Downloads `url`, following same-origin redirects, in one pass over the body: it is
    /// counted against the cap, hashed, walked as a tarball, and written to an unlinked
    /// temporary file and to a pending cache entry (committed only when everything matched).
    fn download(
        &self,
        name: &str,
        url: &str,
        origin: &Origin,
        expected: &str,
    ) -> Result<DepArchive, DownloadError> {
        let response = self.answer(name, url, origin)?;
        let max = self.options.max_size;
        let announced = response
            .headers()
            .get("content-length")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        if let Some(length) = announced.filter(|length| *length > max) {
            return Err(self.too_large(name, url, length.to_string()));
        }
        let spill = tempfile::tempfile_in(&self.spill_dir)
            .or_else(|_| tempfile::tempfile())
            .map_err(|source| self.spill_error(name, url, source))?;
        let pending = self.cache.as_ref().and_then(|cache| {
            cache
                .begin(expected)
                .inspect_err(|error| self.cache_warning(name, cache, error))
                .ok()
        });
        let mut body = response.into_body().into_reader();
        let mut pass = Pass::new(&mut body, max);
        pass.spill = Some(io::BufWriter::with_capacity(256 * 1024, spill));
        pass.cache = pending
            .as_ref()
            .map(|entry| io::BufWriter::with_capacity(256 * 1024, entry.file()));
        pass.progress = Some((self.listener, format!("dependency {name}"), announced));
        let result = pass.run();
        let size = pass.size;
        let problem = result.map_err(|failure| match failure {
            PassFailure::TooLarge => self.too_large(name, url, format!("more than {max}")),
            PassFailure::Read(e) => self.read_error(name, url, e, size),
            PassFailure::Spill(e) => self.spill_error(name, url, e),
        })?;
        let actual = pass.sha256();
        if actual != expected {
            return Err(DownloadError::Checksum {
                name: name.to_string(),
                url: url.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
        if let Some(problem) = problem {
            return Err(DownloadError::Archive {
                name: name.to_string(),
                url: url.to_string(),
                problem,
            });
        }
        let mut file = pass
            .spill
            .take()
            .map(|writer| writer.into_inner().map_err(io::IntoInnerError::into_error))
            .transpose()
            .map_err(|source| self.spill_error(name, url, source))?
            .ok_or_else(|| self.spill_error(name, url, io::Error::other("no spill file")))?;
        file.seek(io::SeekFrom::Start(0))
            .map_err(|source| self.spill_error(name, url, source))?;
        // The pending entry is complete once its writer is flushed; then it is committed.
        let cached = match (pass.cache_error.take(), pass.cache.take()) {
            (Some(error), _) => Err(error),
            (None, Some(writer)) => writer
                .into_inner()
                .map(drop)
                .map_err(io::IntoInnerError::into_error),
            (None, None) => Err(io::Error::other("no cache entry was written")),
        };
        drop(pass);
        if let (Some(cache), Some(entry)) = (&self.cache, pending) {
            if let Err(error) = cached.and_then(|()| entry.commit()) {
                self.cache_warning(name, cache, &error);
            }
        }
        Ok(DepArchive {
            name: name.to_string(),
            file,
            size,
            sha256: actual,
        })
    }

    /// The 2xx answer for `url`, after following redirects on its origin.
    fn answer(
        &self,
        name: &str,
        url: &str,
        origin: &Origin,
    ) -> Result<ureq::http::Response<ureq::Body>, DownloadError> {
        let deadline = Instant::now() + self.options.timeout;
        let mut current = url.to_string();
        let mut redirects = 0;
        loop {
            let response = self.get(name, &current, deadline)?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Err(DownloadError::Status {
                    name: name.to_string(),
                    url: current,
                    status: match status.canonical_reason() {
                        Some(reason) => format!("{} {reason}", status.as_u16()),
                        None => status.as_u16().to_string(),
                    },
                });
            }
            let bad_redirect = || DownloadError::BadRedirect {
                name: name.to_string(),
                url: current.clone(),
                status: status.as_u16(),
            };
            let location = response
                .headers()
                .get("location")
                .and_then(|value| value.to_str().ok())
                .ok_or_else(bad_redirect)?;
            let next = resolve_location(&current, location).ok_or_else(bad_redirect)?;
            if Origin::of(&next).ok().as_ref() != Some(origin) {
                return Err(DownloadError::OffSiteRedirect {
                    name: name.to_string(),
                    url: current,
                    location: location.to_string(),
                    origin: origin.to_string(),
                });
            }
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(DownloadError::TooManyRedirects {
                    name: name.to_string(),
                    url: url.to_string(),
                    max: MAX_REDIRECTS,
                });
            }
            current = next;
        }
    }

    fn too_large(&self, name: &str, url: &str, size: String) -> DownloadError {
        DownloadError::TooLarge {
            name: name.to_string(),
            url: url.to_string(),
            size,
            max: self.options.max_size,
        }
    }

    fn spill_error(&self, name: &str, url: &str, source: io::Error) -> DownloadError {
        DownloadError::Spill {
            name: name.to_string(),
            url: url.to_string(),
            source,
        }
    }

    fn cache_warning(&self, name: &str, cache: &DepCache, error: &io::Error) {
        self.listener.on_warning(&format!(
            "dependency `{name}`: cannot keep a copy in the download cache {}: {error}",
            cache.dir().display()
        ));
    }

    /// One GET of `url`, with the time left until `deadline`; a server the public roots do not
    /// vouch for is tried again with the extra CAs.
    fn get(
        &self,
        name: &str,
        url: &str,
        deadline: Instant,
    ) -> Result<ureq::http::Response<ureq::Body>, DownloadError> {
        let call = |agent: &ureq::Agent| {
            let left = deadline.saturating_duration_since(Instant::now());
            agent
                .get(url)
                .config()
                .timeout_global(Some(left))
                .build()
                .call()
        };
        let origin = Origin::of(url).map(|origin| origin.to_string()).ok();
        let known_private = origin
            .as_ref()
            .is_some_and(|origin| self.private_origins.borrow().contains(origin));
        let result = match (&self.private, known_private) {
            (Some(private), true) => call(private),
            (Some(private), false) => match call(&self.public) {
                Err(error) if is_untrusted_certificate(&error) => {
                    let result = call(private);
                    if result.is_ok() {
                        self.private_origins.borrow_mut().extend(origin);
                    }
                    result
                }
                result => result,
            },
            (None, _) => call(&self.public),
        };
        result.map_err(|error| self.transport_error(name, url, error))
    }

    fn transport_error(&self, name: &str, url: &str, error: ureq::Error) -> DownloadError {
        let detail = match error {
            ureq::Error::Timeout(_) => return self.timeout(name, url),
            ureq::Error::Io(e) => return self.read_error(name, url, e, 0),
            ureq::Error::ConnectionFailed => "the connection was refused".to_string(),
            ureq::Error::HostNotFound => "the host name does not resolve".to_string(),
            ureq::Error::Rustls(e) => certificate_detail(&e, self.private.is_some()),
            other => other.to_string(),
        };
        DownloadError::Transport {
            name: name.to_string(),
            url: url.to_string(),
            detail,
        }
    }

    /// An I/O error while connecting or reading the body.
    fn read_error(&self, name: &str, url: &str, error: io::Error, received: u64) -> DownloadError {
        if let Some(inner) = error.get_ref() {
            if let Some(ureq::Error::Timeout(_)) = inner.downcast_ref::<ureq::Error>() {
                return self.timeout(name, url);
            }
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return DownloadError::Transport {
                    name: name.to_string(),
                    url: url.to_string(),
                    detail: certificate_detail(tls, self.private.is_some()),
                };
            }
        }
        let detail = match error.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => return self.timeout(name, url),
            io::ErrorKind::ConnectionRefused => "the connection was refused".to_string(),
            _ if received > 0 => format!("the connection broke after {received} bytes ({error})"),
            _ => error.to_string(),
        };
        DownloadError::Transport {
            name: name.to_string(),
            url: url.to_string(),
            detail,
        }
    }

    fn timeout(&self, name: &str, url: &str) -> DownloadError {
        DownloadError::Timeout {
            name: name.to_string(),
            url: url.to_string(),
            seconds: self.options.timeout.as_secs(),
        }
    }
}

/// Whether the server's certificate chain leads to no trusted root.
fn is_untrusted_certificate(error: &ureq::Error) -> bool {
    let tls = match error {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(e) => e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    matches!(
        tls,
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        ))
    )
}

fn certificate_detail(error: &rustls::Error, extra_ca: bool) -> String {
    match error {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) if !extra_ca => {
            format!("the server's certificate is not signed by a trusted CA ({error}); for a private mirror, pass its CA with --download-ca-cert PEM")
        }
        _ => format!("TLS failed: {error}"),
    }
}

/// Why a pass over an archive stopped early.
enum PassFailure {
    /// More bytes than the cap.
    TooLarge,
    /// The source failed (the connection, or the cached file).
    Read(io::Error),
    /// The temporary file could not be written.
    Spill(io::Error),
}

/// One pass over an archive's bytes: each byte read is counted against the cap, hashed, and
/// copied to the temporary file and the pending cache entry, while the tarball walk checks what
/// it reads. So the archive is read once, as it arrives.
struct Pass<'a> {
    source: &'a mut dyn Read,
    max: u64,
    size: u64,
    hasher: Sha256,
    spill: Option<io::BufWriter<std::fs::File>>,
    /// Best effort: a cache that cannot be written is dropped, with a warning.
    cache: Option<io::BufWriter<&'a std::fs::File>>,
    cache_error: Option<io::Error>,
    progress: Option<(&'a dyn Listener, String, Option<u64>)>,
    reported: u64,
    failure: Option<PassFailure>,
}

impl<'a> Pass<'a> {
    fn new(source: &'a mut dyn Read, max: u64) -> Self {
        Pass {
            source,
            max,
            size: 0,
            hasher: Sha256::new(),
            spill: None,
            cache: None,
            cache_error: None,
            progress: None,
            reported: 0,
            failure: None,
        }
    }

    /// Walks the archive with the checks every `deps/<name>.tgz` gets (`validate`, `unpack`),
    /// then reads what follows it, so every byte is hashed: `Ok(Some(problem))` for an archive
    /// those checks refuse.
    fn run(&mut self) -> Result<Option<TarProblem>, PassFailure> {
        if let Some((listener, task, total)) = &self.progress {
            listener.on_progress(task, 0, *total);
        }
        let limits = Limits::default();
        let mut budget = limits.max_total_size;
        let walked = tarball::walk(self, &limits, &mut budget, &mut CheckOnly);
        if let Some(failure) = self.failure.take() {
            return Err(failure);
        }
        let problem = match walked {
            Ok(()) => None,
            Err(WalkError::Problem(problem)) => Some(problem),
            Err(WalkError::Source(e)) => return Err(PassFailure::Read(e)),
            Err(WalkError::Sink(e)) => {
                return Err(PassFailure::Read(io::Error::other(e.to_string())))
            }
        };
        let mut rest = vec![0u8; 64 * 1024];
        loop {
            match self.read(&mut rest) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.failure.take().unwrap_or(PassFailure::Read(e))),
            }
        }
        if let Some(spill) = &mut self.spill {
            spill.flush().map_err(PassFailure::Spill)?;
        }
        if let Some((listener, task, total)) = &self.progress {
            listener.on_progress(task, self.size, Some(total.unwrap_or(self.size)));
        }
        Ok(problem)
    }

    /// The hex sha256 of what was read (call after [`Pass::run`]).
    fn sha256(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    fn fail(&mut self, failure: PassFailure) -> io::Error {
        let error = io::Error::other("the download stopped");
        self.failure.get_or_insert(failure);
        error
    }
}

impl Read for Pass<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.source.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => return Err(self.fail(PassFailure::Read(e))),
        };
        self.size += n as u64;
        if self.size > self.max {
            return Err(self.fail(PassFailure::TooLarge));
        }
        let bytes = &buf[..n];
        self.hasher.update(bytes);
        if let Some(spill) = &mut self.spill {
            if let Err(e) = spill.write_all(bytes) {
                return Err(self.fail(PassFailure::Spill(e)));
            }
        }
        if let Some(cache) = &mut self.cache {
            if let Err(e) = cache.write_all(bytes) {
                self.cache_error = Some(e);
                self.cache = None;
            }
        }
        if let Some((listener, task, total)) = &self.progress {
            if self.size - self.reported >= PROGRESS_STEP {
                self.reported = self.size;
                listener.on_progress(task, self.size, *total);
            }
        }
        Ok(n)
    }
}

/// Reads the CA certificates of a PEM file, checking each is usable as a trust anchor.
fn read_ca_certificates(path: &Path) -> Result<Vec<Certificate<'static>>, DownloadError> {
    let bad = |problem: String| DownloadError::CaCert {
        path: path.to_path_buf(),
        problem,
    };
    let metadata = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !metadata.is_file() {
        return Err(bad("not a regular file".into()));
    }
    if metadata.len() > MAX_CA_FILE {
        return Err(bad(format!(
            "{} bytes, more than the {MAX_CA_FILE} a CA file may have",
            metadata.len()
        )));
    }
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut store = rustls::RootCertStore::empty();
    let mut certificates = Vec::new();
    for item in rustls_pemfile::certs(&mut io::Cursor::new(pem)) {
        let der = item.map_err(|e| bad(format!("not a PEM file: {e}")))?;
        store
            .add(der.clone())
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
        certificates.push(Certificate::from_der(der.as_ref()).to_owned());
    }
    if certificates.is_empty() {
        return Err(bad(
            "no `-----BEGIN CERTIFICATE-----` block found; give the mirror's CA certificate in PEM form".into(),
        ));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_effective_port() {
        let a = Origin::of("https://Mirror.example.com/a.tgz").unwrap();
        assert_eq!(a, Origin::of("https://mirror.example.com:443/b").unwrap());
        assert_ne!(a, Origin::of("http://mirror.example.com/a.tgz").unwrap());
        assert_ne!(a, Origin::of("https://mirror.example.com:8443/a").unwrap());
        assert_ne!(a, Origin::of("https://other.example.com/a").unwrap());
        assert_eq!(a.to_string(), "https://mirror.example.com:443");
        assert!(Origin::of("ftp://x/a").unwrap_err().contains("ftp"));
        assert!(Origin::of("https://user:pw@x/a")
            .unwrap_err()
            .contains("user info"));
        assert!(Origin::of("/relative").is_err());
    }

    #[test]
    fn locations_resolve_against_the_url_that_answered() {
        let base = "https://h:8443/dir/file.tgz?x=1";
        assert_eq!(
            resolve_location(base, "https://o/x").as_deref(),
            Some("https://o/x")
        );
        assert_eq!(
            resolve_location(base, "//o/x").as_deref(),
            Some("https://o/x")
        );
        assert_eq!(
            resolve_location(base, "/top.tgz").as_deref(),
            Some("https://h:8443/top.tgz")
        );
        assert_eq!(
            resolve_location(base, "other.tgz").as_deref(),
            Some("https://h:8443/dir/other.tgz")
        );
        assert_eq!(
            resolve_location("https://h", "a.tgz").as_deref(),
            Some("https://h/a.tgz")
        );
        assert_eq!(resolve_location(base, "  "), None);
    }

    #[test]
    fn ca_files_without_certificates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "hello").unwrap();
        let error = read_ca_certificates(&path).unwrap_err().to_string();
        assert!(error.contains("BEGIN CERTIFICATE"), "{error}");
        let error = read_ca_certificates(dir.path()).unwrap_err().to_string();
        assert!(error.contains("not a regular file"), "{error}");
    }

    #[test]
    fn the_cache_folder_follows_xdg_then_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| std::ffi::OsString::from(value))
            }
        };
        assert_eq!(
            cache_dir_from(env(&[("XDG_CACHE_HOME", "/c"), ("HOME", "/h")])),
            Some(PathBuf::from("/c/rmpack/deps"))
        );
        assert_eq!(
            cache_dir_from(env(&[("XDG_CACHE_HOME", ""), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.cache/rmpack/deps"))
        );
        assert_eq!(cache_dir_from(env(&[])), None);
    }
}
