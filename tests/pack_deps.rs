//! `pack` with dependencies given by URL: each archive is downloaded from a loopback HTTPS
//! server whose certificate is made at test time, checked against its sha256 and as a tarball,
//! and embedded as `deps/NAME.tgz`; every way a download can go wrong fails the pack with an
//! error naming the dependency and its URL, and leaves no file behind.

mod common;
#[path = "support/tls.rs"]
mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long a test server lives at most, whatever the test does.
const SERVER_LIFETIME: Duration = Duration::from_secs(60);
/// How long a server waits on one client's request or socket.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server answers on a path.
#[derive(Clone)]
enum Reply {
    /// 200 with the bytes and their Content-Length.
    Bytes(Vec<u8>),
    /// 200 with the bytes in chunks, no Content-Length.
    Chunked(Vec<u8>),
    /// This status and a short text body.
    Status(u16),
    /// 302 to this Location.
    Redirect(String),
    /// 200 announcing this Content-Length, then closing without a body.
    Announce(u64),
    /// 200 announcing twice the bytes, sending them, then going silent until the client leaves.
    Stall(Vec<u8>),
}

/// A loopback HTTPS (or, for the plain-http test, HTTP) server with a fixed set of paths, at
/// most `max_connections` connections and [`SERVER_LIFETIME`]. A pack with the mirror's CA
/// opens one connection more than it sends requests: its first handshake tries the public
/// roots, which do not vouch for the test CA.
struct Server {
    address: SocketAddr,
    scheme: &'static str,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn https(authority: &tls::Authority, routes: &[(&str, Reply)], max_connections: usize) -> Self {
        let config = authority
            .server_config(&[IpAddr::V4(Ipv4Addr::LOCALHOST)])
            .unwrap();
        Self::start(Some(config), routes, max_connections)
    }

    fn plain(routes: &[(&str, Reply)], max_connections: usize) -> Self {
        Self::start(None, routes, max_connections)
    }

    fn start(
        tls: Option<Arc<rustls::ServerConfig>>,
        routes: &[(&str, Reply)],
        max_connections: usize,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let routes: Vec<(String, Reply)> = routes
            .iter()
            .map(|(path, reply)| (path.to_string(), reply.clone()))
            .collect();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut served = 0;
                while served < max_connections
                    && !stop.load(Ordering::Relaxed)
                    && started.elapsed() < SERVER_LIFETIME
                {
                    let stream = match listener.accept() {
                        Ok((stream, _)) => stream,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        Err(_) => break,
                    };
                    served += 1;
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(SOCKET_TIMEOUT)).unwrap();
                    stream.set_write_timeout(Some(SOCKET_TIMEOUT)).unwrap();
                    // A refused handshake (a client that does not trust us) is just a
                    // connection that ends.
                    let _ = match &tls {
                        Some(config) => {
                            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
                            let mut stream = rustls::StreamOwned::new(connection, stream);
                            serve(&mut stream, &routes, &requests, &stop)
                        }
                        None => {
                            let mut stream = stream;
                            serve(&mut stream, &routes, &requests, &stop)
                        }
                    };
                }
            })
        };
        Server {
            address,
            scheme,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.address)
    }

    /// The paths requested so far, in order.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request from `stream` and answers it, closing the connection after.
fn serve(
    stream: &mut (impl Read + Write),
    routes: &[(String, Reply)],
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head
        .lines()
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    requests.lock().unwrap().push(path.clone());
    let reply = routes
        .iter()
        .find(|(route, _)| *route == path)
        .map_or(Reply::Status(404), |(_, reply)| reply.clone());
    let header = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\nConnection: close\r\n{extra}\r\n").into_bytes()
    };
    match reply {
        Reply::Bytes(bytes) => {
            stream.write_all(&header(
                "200 OK",
                &format!("Content-Length: {}\r\n", bytes.len()),
            ))?;
            stream.write_all(&bytes)?;
        }
        Reply::Chunked(bytes) => {
            stream.write_all(&header("200 OK", "Transfer-Encoding: chunked\r\n"))?;
            for chunk in bytes.chunks(4096) {
                stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                stream.write_all(chunk)?;
                stream.write_all(b"\r\n")?;
            }
            stream.write_all(b"0\r\n\r\n")?;
        }
        Reply::Status(code) => {
            let body = format!("status {code}\n");
            stream.write_all(&header(
                &format!("{code} Whatever"),
                &format!("Content-Length: {}\r\n", body.len()),
            ))?;
            stream.write_all(body.as_bytes())?;
        }
        Reply::Redirect(location) => {
            stream.write_all(&header(
                "302 Found",
                &format!("Location: {location}\r\nContent-Length: 0\r\n"),
            ))?;
        }
        Reply::Announce(length) => {
            stream.write_all(&header("200 OK", &format!("Content-Length: {length}\r\n")))?;
        }
        Reply::Stall(bytes) => {
            stream.write_all(&header(
                "200 OK",
                &format!("Content-Length: {}\r\n", bytes.len() * 2),
            ))?;
            stream.write_all(&bytes)?;
            stream.flush()?;
            // Silent until the client goes away (a read sees EOF or an error) or the test ends.
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < SERVER_LIFETIME {
                match stream.read(&mut byte) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    }
    stream.flush()
}

/// A gzip'd tarball holding `files` (name, bytes), as a dependency archive is built.
fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gzip);
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, name, *bytes).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A test's folders: `work` (the current folder, holding the CA file), `work/dist` (the output
/// folder), and `cache` (`XDG_CACHE_HOME`).
struct Work {
    _root: tempfile::TempDir,
    work: PathBuf,
    dist: PathBuf,
    cache: PathBuf,
    ca: PathBuf,
}

impl Work {
    fn new(authority: &tls::Authority) -> Self {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        let dist = work.join("dist");
        let cache = root.path().join("cache");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        let ca = work.join("mirror-ca.pem");
        std::fs::write(&ca, authority.pem()).unwrap();
        Work {
            _root: root,
            work,
            dist,
            cache,
            ca,
        }
    }

    /// `rmpack pack` of the prebuilt aarch64 module (its manifest gives everything discovery
    /// would), into `dist/`, trusting the test CA, with `args` added.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.command_without_ca(&[]);
        command.arg("--download-ca-cert").arg(&self.ca).args(args);
        command
    }

    /// [`Work::command`] without `--download-ca-cert`.
    fn command_without_ca(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rmpack"));
        command
            .arg("pack")
            .arg(common::prebuilt_aarch64())
            .arg("--output")
            .arg(&self.dist)
            .args(args)
            .current_dir(&self.work)
            .env("XDG_CACHE_HOME", &self.cache);
        for variable in [
            "SOURCE_DATE_EPOCH",
            "RMPACK_REDIS_SERVER",
            "RMPACK_DOWNLOAD_CA_CERT",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            command.env_remove(variable);
        }
        command
    }

    fn pack(&self, args: &[&str]) -> Output {
        let manifest = self.manifest();
        let mut with_manifest = vec!["--manifest", path_str(&manifest)];
        with_manifest.extend_from_slice(args);
        self.command(&with_manifest).output().expect("run rmpack")
    }

    fn manifest(&self) -> PathBuf {
        common::manifest("plain-aarch64.toml")
    }

    /// Packs and expects success; returns the zip and the output.
    fn pack_ok(&self, args: &[&str]) -> (PathBuf, Output) {
        let output = self.pack(args);
        assert!(
            output.status.success(),
            "rmpack pack {args:?} failed: {}",
            stderr(&output)
        );
        let zips = common::dir_listing(&self.dist);
        assert_eq!(zips.len(), 1, "one zip in dist: {zips:?}");
        (self.dist.join(&zips[0]), output)
    }

    /// Packs, expects failure with an error naming `name` and `url`, and checks that neither
    /// the output folder nor the cache holds anything.
    fn pack_fails(&self, args: &[&str], name: &str, url: &str) -> String {
        let output = self.pack(args);
        self.failed(&output, name, url)
    }

    fn failed(&self, output: &Output, name: &str, url: &str) -> String {
        let text = stderr(output);
        assert_eq!(output.status.code(), Some(2), "pack must fail: {text}");
        assert!(
            text.contains(&format!("dependency `{name}`")),
            "the error names the dependency: {text}"
        );
        assert!(text.contains(url), "the error names the URL {url}: {text}");
        self.assert_nothing_left();
        text
    }

    fn assert_nothing_left(&self) {
        assert!(
            common::dir_listing(&self.dist).is_empty(),
            "no zip and no temporary file: {:?}",
            common::dir_listing(&self.dist)
        );
        assert_eq!(
            common::dir_listing(&self.work),
            ["dist", "mirror-ca.pem"],
            "nothing beside the output either"
        );
        assert_eq!(self.cached(), Vec::<String>::new(), "nothing cached");
    }

    /// The files in the download cache.
    fn cached(&self) -> Vec<String> {
        let dir = self.cache.join("rmpack/deps");
        if dir.is_dir() {
            common::dir_listing(&dir)
        } else {
            Vec::new()
        }
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn entry_bytes(zip_path: &Path, name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    let mut bytes = Vec::new();
    archive
        .by_name(name)
        .unwrap_or_else(|e| panic!("{name} in {}: {e}", zip_path.display()))
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

fn entry_names(zip_path: &Path) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().unwrap().to_string())
        .collect()
}

fn module_json(zip_path: &Path) -> Value {
    serde_json::from_slice(&entry_bytes(zip_path, "module.json")).unwrap()
}

/// `--dep NAME=URL#SHA256`.
fn dep_arg(name: &str, url: &str, sha256: &str) -> String {
    format!("{name}={url}#{sha256}")
}

fn authority() -> tls::Authority {
    tls::Authority::generate("rmpack test mirror").unwrap()
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn a_downloaded_dependency_is_embedded_as_served_and_the_zip_validates_clean() {
    let authority = authority();
    let work = Work::new(&authority);
    let required = tgz(&[("lib/libgears.so.1", b"not really a library")]);
    let optional = tgz(&[("share/data.txt", b"optional data")]);
    let server = Server::https(
        &authority,
        &[
            ("/deps/gears.tgz", Reply::Bytes(required.clone())),
            // No Content-Length: the size is counted as the bytes come.
            ("/deps/extra.tgz", Reply::Chunked(optional.clone())),
        ],
        4,
    );
    let gears_url = server.url("/deps/gears.tgz");
    let extra_url = server.url("/deps/extra.tgz");
    // An upper-case sha256 is accepted and recorded in lower case.
    let (zip, output) = work.pack_ok(&[
        "--dep",
        &dep_arg("gears", &gears_url, &sha256_hex(&required).to_uppercase()),
        "--optional-dep",
        &dep_arg("extra", &extra_url, &sha256_hex(&optional)),
    ]);
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    assert_eq!(
        server.requests(),
        ["/deps/gears.tgz", "/deps/extra.tgz"],
        "each archive downloaded once"
    );
    assert_eq!(
        entry_names(&zip),
        [
            "module.json",
            "plain.aarch64.so",
            "deps/extra.tgz",
            "deps/gears.tgz"
        ]
    );
    assert_eq!(entry_bytes(&zip, "deps/gears.tgz"), required, "as served");
    assert_eq!(entry_bytes(&zip, "deps/extra.tgz"), optional, "as served");
    // Another reader agrees.
    let unzipped = Command::new("unzip")
        .arg("-p")
        .arg(&zip)
        .arg("deps/gears.tgz")
        .output()
        .expect("unzip");
    assert_eq!(unzipped.stdout, required);
    let json = module_json(&zip);
    assert_eq!(
        json["dependencies"]["gears"],
        serde_json::json!({"url": gears_url, "sha256": sha256_hex(&required)})
    );
    assert_eq!(
        json["optional-dependencies"]["extra"],
        serde_json::json!({"url": extra_url, "sha256": sha256_hex(&optional)})
    );

    let validate = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .arg("validate")
        .arg(&zip)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&validate.stdout);
    assert_eq!(
        validate.status.code(),
        Some(0),
        "{report}{}",
        stderr(&validate)
    );
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["summary"]["errors"], 0, "{report}");
    let findings = report["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !findings
            .iter()
            .any(|d| d["severity"] == "error"
                || d["rule"].as_str().unwrap_or("").contains("dependency")),
        "no error and nothing about dependencies: {findings:?}"
    );
}

#[test]
fn packing_twice_downloads_the_same_bytes_into_identical_zips() {
    let authority = authority();
    let archive = tgz(&[("bin/tool", b"#!/bin/sh\n")]);
    let server = Server::https(
        &authority,
        &[("/tool.tgz", Reply::Bytes(archive.clone()))],
        4,
    );
    let dep = dep_arg("tool", &server.url("/tool.tgz"), &sha256_hex(&archive));
    let mut zips = Vec::new();
    for _ in 0..2 {
        // Each with its own empty cache, so both really download.
        let work = Work::new(&authority);
        let (zip, _) = work.pack_ok(&["--dep", &dep]);
        zips.push(std::fs::read(zip).unwrap());
    }
    assert_eq!(server.requests().len(), 2);
    assert_eq!(zips[0], zips[1], "byte for byte the same zip");
}

#[test]
fn other_bytes_than_the_pinned_sha256_fail_and_leave_nothing() {
    let authority = authority();
    let work = Work::new(&authority);
    let served = tgz(&[("a.txt", b"what the server has now")]);
    let pinned = sha256_hex(&tgz(&[("a.txt", b"what was released")]));
    let server = Server::https(&authority, &[("/a.tgz", Reply::Bytes(served.clone()))], 2);
    let url = server.url("/a.tgz");
    let error = work.pack_fails(&["--dep", &dep_arg("adep", &url, &pinned)], "adep", &url);
    assert!(
        error.contains(&pinned) && error.contains(&sha256_hex(&served)),
        "both checksums: {error}"
    );
}

#[test]
fn an_unreachable_server_fails_and_leaves_nothing() {
    let authority = authority();
    let work = Work::new(&authority);
    let url = format!("https://127.0.0.1:{}/gone.tgz", closed_port());
    let error = work.pack_fails(
        &["--dep", &dep_arg("gone", &url, &"a".repeat(64))],
        "gone",
        &url,
    );
    assert!(error.contains("refused"), "{error}");
}

#[test]
fn a_redirect_off_the_origin_is_refused_and_one_on_it_followed() {
    let authority = authority();
    let archive = tgz(&[("x.txt", b"x")]);
    let sha = sha256_hex(&archive);
    // The other origin would serve the right bytes: the refusal is about where, not what.
    let other = Server::https(&authority, &[("/x.tgz", Reply::Bytes(archive.clone()))], 1);
    let other_host = format!("https://localhost:{}/x.tgz", other.address.port());
    let plain_scheme = format!("http://{}/x.tgz", other.address);
    let server = Server::https(
        &authority,
        &[
            ("/other-port.tgz", Reply::Redirect(other.url("/x.tgz"))),
            ("/other-host.tgz", Reply::Redirect(other_host.clone())),
            ("/other-scheme.tgz", Reply::Redirect(plain_scheme.clone())),
            ("/hop1.tgz", Reply::Redirect("/hop2.tgz".into())),
            ("/hop2.tgz", Reply::Redirect("x.tgz".into())),
            ("/x.tgz", Reply::Bytes(archive.clone())),
            ("/loop.tgz", Reply::Redirect("/loop.tgz".into())),
            ("/no-location.tgz", Reply::Status(302)),
        ],
        24,
    );
    for (path, location) in [
        ("/other-port.tgz", other.url("/x.tgz")),
        ("/other-host.tgz", other_host),
        ("/other-scheme.tgz", plain_scheme),
    ] {
        let work = Work::new(&authority);
        let url = server.url(path);
        let error = work.pack_fails(&["--dep", &dep_arg("moved", &url, &sha)], "moved", &url);
        assert!(
            error.contains(&location) && error.contains("same scheme, host and port"),
            "{error}"
        );
    }
    assert!(other.requests().is_empty(), "never followed off the origin");

    // Relative and absolute-path locations on the same origin are followed.
    let work = Work::new(&authority);
    let url = server.url("/hop1.tgz");
    let (zip, _) = work.pack_ok(&["--dep", &dep_arg("moved", &url, &sha)]);
    assert_eq!(entry_bytes(&zip, "deps/moved.tgz"), archive);
    assert_eq!(
        module_json(&zip)["dependencies"]["moved"]["url"],
        url.as_str()
    );
    let seen = server.requests();
    assert_eq!(
        &seen[seen.len() - 3..],
        ["/hop1.tgz", "/hop2.tgz", "/x.tgz"]
    );

    // But not forever, and not without a Location.
    let work = Work::new(&authority);
    let url = server.url("/loop.tgz");
    let error = work.pack_fails(&["--dep", &dep_arg("moved", &url, &sha)], "moved", &url);
    assert!(error.contains("redirects more than 5 times"), "{error}");
    let work = Work::new(&authority);
    let url = server.url("/no-location.tgz");
    let error = work.pack_fails(&["--dep", &dep_arg("moved", &url, &sha)], "moved", &url);
    assert!(error.contains("without a usable Location"), "{error}");
}

#[test]
fn an_answer_other_than_2xx_fails_and_leaves_nothing() {
    let authority = authority();
    let server = Server::https(&authority, &[("/forbidden.tgz", Reply::Status(403))], 4);
    for (path, status) in [("/missing.tgz", "404"), ("/forbidden.tgz", "403")] {
        let work = Work::new(&authority);
        let url = server.url(path);
        let error = work.pack_fails(
            &["--dep", &dep_arg("lost", &url, &"b".repeat(64))],
            "lost",
            &url,
        );
        assert!(error.contains(&format!("HTTP {status}")), "{error}");
    }
}

#[test]
fn an_archive_over_the_size_cap_fails_and_leaves_nothing() {
    let authority = authority();
    let big = tgz(&[("blob", &vec![7u8; 200_000])]);
    let server = Server::https(
        &authority,
        &[
            // Announced too large: refused before a byte of the body is read.
            ("/announced.tgz", Reply::Announce(600 << 20)),
            // No length announced: counted as it comes.
            ("/streamed.tgz", Reply::Chunked(big.clone())),
            ("/fits.tgz", Reply::Bytes(big.clone())),
        ],
        6,
    );
    let work = Work::new(&authority);
    let url = server.url("/announced.tgz");
    let error = work.pack_fails(
        &["--dep", &dep_arg("huge", &url, &"c".repeat(64))],
        "huge",
        &url,
    );
    assert!(
        error.contains(&(600u64 << 20).to_string()) && error.contains("524288000"),
        "the announced size and the 500 MiB cap: {error}"
    );
    let cap = (big.len() - 1).to_string();
    let url = server.url("/streamed.tgz");
    let error = work.pack_fails(
        &[
            "--max-dependency-size",
            &cap,
            "--dep",
            &dep_arg("huge", &url, &sha256_hex(&big)),
        ],
        "huge",
        &url,
    );
    assert!(error.contains(&format!("more than {cap}")), "{error}");
    // Exactly at the cap is fine.
    let url = server.url("/fits.tgz");
    let cap = big.len().to_string();
    work.pack_ok(&[
        "--max-dependency-size",
        &cap,
        "--dep",
        &dep_arg("huge", &url, &sha256_hex(&big)),
    ]);
}

#[test]
fn an_archive_validate_would_refuse_is_refused_at_pack() {
    let authority = authority();
    let not_gzip = b"just some text, not a tarball".to_vec();
    let escaping = {
        // The tar crate refuses to write `..`; a hostile archive is written by hand.
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..14].copy_from_slice(b"../outside.txt");
        header.set_size(1);
        header.set_mode(0o644);
        header.set_cksum();
        let mut raw = header.as_bytes().to_vec();
        raw.extend_from_slice(&[b'x'; 512]);
        raw.extend_from_slice(&[0; 1024]);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&raw).unwrap();
        gzip.finish().unwrap()
    };
    let server = Server::https(
        &authority,
        &[
            ("/text.tgz", Reply::Bytes(not_gzip.clone())),
            ("/escaping.tgz", Reply::Bytes(escaping.clone())),
        ],
        4,
    );
    for (path, bytes, problem) in [
        ("/text.tgz", &not_gzip, "not a gzip'd tarball"),
        ("/escaping.tgz", &escaping, "../outside.txt"),
    ] {
        let work = Work::new(&authority);
        let url = server.url(path);
        let error = work.pack_fails(
            &["--dep", &dep_arg("odd", &url, &sha256_hex(bytes))],
            "odd",
            &url,
        );
        assert!(
            error.contains(problem) && error.contains("invalid_dependency_data"),
            "{error}"
        );
    }
}

#[test]
fn a_server_no_trusted_ca_vouches_for_is_refused() {
    let authority = authority();
    let archive = tgz(&[("x", b"x")]);
    let server = Server::https(&authority, &[("/x.tgz", Reply::Bytes(archive.clone()))], 4);
    let url = server.url("/x.tgz");
    let dep = dep_arg("private", &url, &sha256_hex(&archive));
    // Without the mirror's CA: the public roots do not vouch for it.
    let work = Work::new(&authority);
    let output = work
        .command_without_ca(&["--manifest", path_str(&work.manifest()), "--dep", &dep])
        .output()
        .unwrap();
    let error = work.failed(&output, "private", &url);
    assert!(error.contains("--download-ca-cert"), "{error}");
    // With another CA than the mirror's: still refused.
    let work = Work::new(&tls::Authority::generate("someone else").unwrap());
    let error = work.pack_fails(&["--dep", &dep], "private", &url);
    assert!(
        error.contains("certificate") || error.contains("TLS"),
        "{error}"
    );
    assert!(
        server.requests().is_empty(),
        "no request went out unverified"
    );
    // A file that holds no certificate is refused before anything is downloaded.
    let work = Work::new(&authority);
    std::fs::write(&work.ca, "not a certificate").unwrap();
    let output = work.pack(&["--dep", &dep]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("BEGIN CERTIFICATE"),
        "{}",
        stderr(&output)
    );
    assert!(common::dir_listing(&work.dist).is_empty());
}

#[test]
fn plain_http_is_refused_unless_allowed() {
    let authority = authority();
    let archive = tgz(&[("x", b"x")]);
    let server = Server::plain(&[("/x.tgz", Reply::Bytes(archive.clone()))], 1);
    let url = server.url("/x.tgz");
    let dep = dep_arg("plain_http", &url, &sha256_hex(&archive));
    let work = Work::new(&authority);
    let error = work.pack_fails(&["--dep", &dep], "plain_http", &url);
    assert!(error.contains("--allow-http-dependencies"), "{error}");
    assert!(server.requests().is_empty(), "refused before connecting");
    let (zip, _) = work.pack_ok(&["--allow-http-dependencies", "--dep", &dep]);
    assert_eq!(entry_bytes(&zip, "deps/plain_http.tgz"), archive);
}

#[test]
fn a_stalled_download_times_out_and_leaves_nothing() {
    let authority = authority();
    let archive = tgz(&[("x", &[1u8; 10_000])]);
    let server = Server::https(
        &authority,
        &[("/slow.tgz", Reply::Stall(archive.clone()))],
        2,
    );
    let work = Work::new(&authority);
    let url = server.url("/slow.tgz");
    let error = work.pack_fails(
        &[
            "--download-timeout",
            "2",
            "--dep",
            &dep_arg("slow", &url, &sha256_hex(&archive)),
        ],
        "slow",
        &url,
    );
    assert!(error.contains("longer than 2 s"), "{error}");
}

#[test]
fn an_interrupted_download_leaves_no_file() {
    let authority = authority();
    let archive = tgz(&[("x", &[2u8; 100_000])]);
    let server = Server::https(
        &authority,
        &[("/slow.tgz", Reply::Stall(archive.clone()))],
        2,
    );
    let work = Work::new(&authority);
    let url = server.url("/slow.tgz");
    let mut child = work
        .command(&[
            "--manifest",
            path_str(&work.manifest()),
            "--dep",
            &dep_arg("slow", &url, &sha256_hex(&archive)),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the download is under way: the status line is printed before the request.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = Instant::now();
    for line in lines.by_ref() {
        if line.unwrap().contains("downloading dependency slow") {
            break;
        }
    }
    while server.requests().is_empty() && started.elapsed() < SOCKET_TIMEOUT {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.requests(), ["/slow.tgz"]);
    // Some of the body has been received and spilled by now.
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: a signal to the child this test spawned.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exits with 128 + SIGINT");
    work.assert_nothing_left();
}

#[test]
fn keep_url_dependencies_records_the_url_only_and_warns() {
    let authority = authority();
    let work = Work::new(&authority);
    let sha = "d".repeat(64);
    // Nothing listens there: the flag downloads nothing.
    let url = format!("https://127.0.0.1:{}/never.tgz", closed_port());
    let (zip, output) = work.pack_ok(&[
        "--keep-url-dependencies",
        "--quiet",
        "--dep",
        &dep_arg("remote", &url, &sha),
    ]);
    assert_eq!(entry_names(&zip), ["module.json", "plain.aarch64.so"]);
    assert_eq!(
        module_json(&zip)["dependencies"]["remote"],
        serde_json::json!({"url": url, "sha256": sha})
    );
    let warnings = stderr(&output).replace(&url, "URL");
    common::assert_golden("pack-keep-url-dependencies.txt", &warnings);
}

#[test]
fn url_dependencies_of_rmpack_toml_and_ramp_yml_are_downloaded_too() {
    let authority = authority();
    let required = tgz(&[("py/lib.py", b"print('hi')\n")]);
    let optional = tgz(&[("doc.txt", b"doc")]);
    let server = Server::https(
        &authority,
        &[
            ("/py.tgz", Reply::Bytes(required.clone())),
            ("/doc.tgz", Reply::Bytes(optional.clone())),
        ],
        8,
    );
    let (py_url, doc_url) = (server.url("/py.tgz"), server.url("/doc.tgz"));
    let (py_sha, doc_sha) = (sha256_hex(&required), sha256_hex(&optional));
    let base = std::fs::read_to_string(common::manifest("plain-aarch64.toml")).unwrap();
    let toml = format!(
        "{base}\n[dependencies.python]\nurl = \"{py_url}\"\nsha256 = \"{py_sha}\"\n\n[optional-dependencies.docs]\nurl = \"{doc_url}\"\nsha256 = \"{doc_sha}\"\n"
    );
    // ramp.yml as the Redis module repos write it: a map of name to url and sha256, and the
    // list form for the optional ones.
    let commands: Value = toml::from_str::<Value>(&base).unwrap()["commands"].clone();
    let commands: String = commands
        .as_array()
        .unwrap()
        .iter()
        .map(|command| format!("    - {command}\n"))
        .collect();
    let yaml = format!(
        "module_name: plain\nversion: 10203\ncompatible_redis_version: \"7.4\"\ncommands:\n{commands}dependencies:\n    python:\n        url: {py_url}\n        sha256: {py_sha}\noptional-dependencies:\n    - name: docs\n      url: {doc_url}\n      sha256: {doc_sha}\n"
    );
    for (file_name, text) in [("rmpack.toml", toml), ("ramp.yml", yaml)] {
        let work = Work::new(&authority);
        let manifest_dir = tempfile::tempdir().unwrap();
        let manifest = manifest_dir.path().join(file_name);
        std::fs::write(&manifest, text).unwrap();
        let mut command = if file_name == "ramp.yml" {
            // The CA from the environment this time.
            let mut command = work.command_without_ca(&["--manifest", path_str(&manifest)]);
            command.env("RMPACK_DOWNLOAD_CA_CERT", &work.ca);
            command
        } else {
            work.command(&["--manifest", path_str(&manifest)])
        };
        let output = command.output().unwrap();
        assert!(output.status.success(), "{file_name}: {}", stderr(&output));
        let zip = work.dist.join(&common::dir_listing(&work.dist)[0]);
        assert_eq!(
            entry_bytes(&zip, "deps/python.tgz"),
            required,
            "{file_name}"
        );
        assert_eq!(entry_bytes(&zip, "deps/docs.tgz"), optional, "{file_name}");
        let json = module_json(&zip);
        assert_eq!(
            json["dependencies"]["python"],
            serde_json::json!({"url": py_url, "sha256": py_sha}),
            "{file_name}"
        );
        assert_eq!(
            json["optional-dependencies"]["docs"],
            serde_json::json!({"url": doc_url, "sha256": doc_sha}),
            "{file_name}"
        );
    }
    assert_eq!(server.requests().len(), 4, "two archives, two manifests");
}

#[test]
fn verified_archives_are_cached_by_sha256_and_offline_packs_use_only_the_cache() {
    let authority = authority();
    let archive = tgz(&[("lib/x.so", b"x")]);
    let sha = sha256_hex(&archive);
    let server = Server::https(&authority, &[("/x.tgz", Reply::Bytes(archive.clone()))], 4);
    let url = server.url("/x.tgz");
    let dep = dep_arg("cached", &url, &sha);
    let work = Work::new(&authority);

    // Offline with an empty cache: nothing to pack from.
    let error = work.pack_fails(&["--offline", "--dep", &dep], "cached", &url);
    assert!(error.contains("--offline"), "{error}");

    let (zip, _) = work.pack_ok(&["--dep", &dep]);
    let first = std::fs::read(&zip).unwrap();
    std::fs::remove_file(&zip).unwrap();
    assert_eq!(
        work.cached(),
        [format!("{sha}.tgz")],
        "only the entry, no temp"
    );
    assert_eq!(
        std::fs::read(work.cache.join(format!("rmpack/deps/{sha}.tgz"))).unwrap(),
        archive
    );
    // From the cache: no request, online or offline, and the same zip.
    for extra in [None, Some("--offline")] {
        let mut args: Vec<&str> = extra.into_iter().collect();
        args.extend(["--dep", dep.as_str()]);
        let (zip, _) = work.pack_ok(&args);
        assert_eq!(std::fs::read(&zip).unwrap(), first);
        std::fs::remove_file(&zip).unwrap();
    }
    assert_eq!(server.requests().len(), 1);

    // A damaged entry is never embedded: it is removed and downloaded again.
    std::fs::write(work.cache.join(format!("rmpack/deps/{sha}.tgz")), b"rot").unwrap();
    let (zip, output) = work.pack_ok(&["--dep", &dep]);
    assert!(
        stderr(&output).contains("does not match its sha256"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(&zip).unwrap(), first);
    assert_eq!(server.requests().len(), 2);

    // --no-download-cache does not read it: with the server gone, the pack fails.
    drop(server);
    std::fs::remove_file(&zip).unwrap();
    let output = work.pack(&["--no-download-cache", "--dep", &dep]);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(
        error.contains("dependency `cached`") && error.contains("refused"),
        "{error}"
    );
    assert!(common::dir_listing(&work.dist).is_empty());
    assert_eq!(
        work.cached(),
        [format!("{sha}.tgz")],
        "the cache is untouched"
    );
}

/// A folder dependency with a link inside: stored as the file it points to, so the zip passes
/// the checks RS's unpacker makes (no links in a dependency archive).
#[cfg(unix)]
#[test]
fn a_link_inside_a_folder_dependency_is_stored_as_its_file_and_the_zip_validates() {
    let work = tempfile::tempdir().unwrap();
    let dep = work.path().join("dep");
    std::fs::create_dir_all(dep.join("bin")).unwrap();
    std::fs::write(dep.join("data.txt"), b"payload").unwrap();
    std::os::unix::fs::symlink("../data.txt", dep.join("bin/link")).unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let plain = common::fixture("plain");
    let dep_arg = format!("data={}", dep.display());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .args(["pack"])
        .arg(&plain)
        .args([
            "--no-discover",
            "--module-name",
            "plain",
            "--module-version",
            "10203",
            "--dep",
            &dep_arg,
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let zip = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let validate = std::process::Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .arg("validate")
        .arg(&zip)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&validate.stdout);
    assert!(!text.contains("dependency-link"), "{text}");
    assert_eq!(validate.status.code(), Some(0), "{text}");
    std::os::unix::fs::symlink(".", dep.join("loop")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .args(["pack"])
        .arg(&plain)
        .args([
            "--no-discover",
            "--module-name",
            "plain",
            "--module-version",
            "10204",
            "--dep",
            &dep_arg,
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("points to the folder"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
