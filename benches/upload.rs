//! Upload benchmark: a 200 MB module zip (a real module `.so`, stored uncompressed) rolled out to
//! 8 emulated nodes against the same zip to 1 node, in one run, with the peak resident memory of
//! the `rmpack` process, and `curl` posting the zip node by node (the manual way) beside it. Each
//! case runs twice: with every node's link at 1 Gbit/s, as on a real network, and on unlimited
//! loopback, where the emulated nodes' TLS and disk writes compete with rmpack for the same CPUs.
//! The emulated cluster runs in this process; `rmpack` runs as a child process, measured by
//! `/usr/bin/time -v` ("Maximum resident set size").
//!
//! Run: `cargo bench --bench upload` (size in MB via `RMPACK_BENCH_MB`, default 200; the binary
//! measured via `RMPACK_BENCH_BIN`, default the one cargo built).
//! Targets: 8 nodes take at most 2× one node; peak memory stays under 64 MB.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use std::io::{Read, Write};

use sha2::{Digest, Sha256};
use support::{module_json, Emulator, EmulatorSpec};

/// A real, loadable module `.so` of about `megabytes` MB (scripts/gen-big-module.sh), zipped
/// without compression with a module.json that passes the pre-flight; returns the zip's size.
fn big_module_zip(dir: &Path, megabytes: u64, zip_path: &Path) -> u64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-big-module.sh");
    let status = Command::new("sh")
        .arg(script)
        .arg(dir.join("big"))
        .arg(megabytes.to_string())
        .env("CONTENT", "table")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("sh runs");
    assert!(status.success(), "gen-big-module.sh failed");
    let so_path = dir.join("big/big.so");
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(&so_path).expect("big.so");
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let mut json = module_json("big", "1.0.0");
    json["module_file"] = "big.so".into();
    json["sha256"] = hex::encode(hasher.finalize()).into();
    json["operating_systems"] = serde_json::json!([]);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(zip_path).expect("zip"));
    let options = |mode| {
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true)
            .unix_permissions(mode)
    };
    zip.start_file("module.json", options(0o644))
        .expect("entry");
    zip.write_all(&serde_json::to_vec_pretty(&json).expect("json"))
        .expect("write");
    zip.start_file("big.so", options(0o755)).expect("entry");
    std::io::copy(
        &mut std::fs::File::open(&so_path).expect("big.so"),
        &mut zip,
    )
    .expect("copy");
    zip.finish().expect("finish");
    std::fs::metadata(zip_path).expect("zip").len()
}

struct Measure {
    elapsed: Duration,
    peak_kib: Option<u64>,
}

/// A private copy of the binary: a shared target directory may get another build of it meanwhile.
fn private_binary(dir: &Path) -> PathBuf {
    let built =
        std::env::var("RMPACK_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rmpack").into());
    let copy = dir.join("rmpack");
    std::fs::copy(&built, &copy).expect("the binary is copied");
    let help = Command::new(&copy)
        .args(["upload", "--help"])
        .output()
        .expect("rmpack runs");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--rollback-on-failure"),
        "{built} is not a build with `rmpack upload`; set RMPACK_BENCH_BIN to one"
    );
    copy
}

/// Starts an emulated cluster of `nodes` nodes whose links carry `link` bytes per second.
fn cluster(nodes: usize, link: Option<u64>) -> Emulator {
    let mut spec = EmulatorSpec::nodes(nodes).on_tmpfs();
    spec.link_bytes_per_second = link;
    Emulator::start(spec).expect("the emulator starts")
}

/// `rmpack upload` of `zip` to every node of a fresh cluster, under `/usr/bin/time -v`.
fn upload(rmpack: &Path, nodes: usize, link: Option<u64>, zip: &Path, dir: &Path) -> Measure {
    let emulator = cluster(nodes, link);
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-v")
        .arg(rmpack)
        .args([
            "upload",
            &zip.to_string_lossy(),
            "--quiet",
            "--concurrency",
            "8",
        ])
        .args(["--cluster", &emulator.url()])
        .arg("--ca-cert")
        .arg(emulator.ca_cert_path())
        .env("RMPACK_USER", emulator.user())
        .env("RMPACK_PASSWORD", emulator.password())
        .env("RMPACK_PROFILES", dir.join("none.toml"));
    let started = Instant::now();
    let output = command.output().expect("rmpack runs under /usr/bin/time");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "upload to {nodes} node(s) failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    for node in 1..=nodes {
        assert_eq!(
            emulator.artifacts(node).len(),
            1,
            "node {node} holds the artifact:\n{}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    let peak_kib = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok());
    Measure { elapsed, peak_kib }
}

/// The way artifacts are rolled out by hand: `curl` posting the zip to each node's local
/// endpoint, one node after another.
fn curl_node_by_node(nodes: usize, link: Option<u64>, zip: &Path) -> Option<Measure> {
    let emulator = cluster(nodes, link);
    let started = Instant::now();
    for node in 1..=nodes {
        let status = Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--fail",
                "--output",
                "/dev/null",
            ])
            .arg("--cacert")
            .arg(emulator.ca_cert_path())
            .arg("--user")
            .arg(format!("{}:{}", emulator.user(), emulator.password()))
            .arg("--form")
            .arg(format!("module=@{}", zip.display()))
            .arg(format!(
                "{}/v2/local/modules/user-defined/artifacts",
                emulator.node_url(node)
            ))
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
    }
    Some(Measure {
        elapsed: started.elapsed(),
        peak_kib: None,
    })
}

fn main() {
    // `cargo test --benches` runs bench targets with no `--bench`: keep that fast.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let megabytes: u64 = std::env::var("RMPACK_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = dir.path().join("big.Linux-x86_64.1.0.0.zip");
    let size = big_module_zip(dir.path(), megabytes, &zip);
    println!(
        "zip: {:.1} MiB; {} CPUs; the emulated nodes run on the same CPUs as rmpack",
        size as f64 / (1 << 20) as f64,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let rmpack = private_binary(dir.path());
    let secs = |m: &Measure| format!("{:.2} s", m.elapsed.as_secs_f64());
    let mib = |m: &Measure| {
        m.peak_kib.map_or("–".to_string(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    println!();
    println!("| links | rmpack, 1 node | rmpack, 8 nodes | 8 ÷ 1 | curl, 8 nodes one by one | rmpack peak RSS (1 / 8 nodes) |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut peak = 0;
    let mut ratios = Vec::new();
    // 1 Gbit/s is the slowest link RS supports between nodes; unlimited loopback makes the
    // emulated nodes compete with rmpack for the same CPUs.
    for (label, link) in [
        ("1 Gbit/s per node", Some(125_000_000)),
        ("loopback, unlimited", None),
    ] {
        let one = upload(&rmpack, 1, link, &zip, dir.path());
        let eight = upload(&rmpack, 8, link, &zip, dir.path());
        let curl = curl_node_by_node(8, link, &zip);
        let ratio = eight.elapsed.as_secs_f64() / one.elapsed.as_secs_f64();
        ratios.push((label, ratio));
        peak = peak
            .max(one.peak_kib.unwrap_or(0))
            .max(eight.peak_kib.unwrap_or(0));
        println!(
            "| {label} | {} | {} | {ratio:.2}× | {} | {} / {} |",
            secs(&one),
            secs(&eight),
            curl.as_ref().map_or("–".to_string(), secs),
            mib(&one),
            mib(&eight)
        );
    }
    println!();
    for (label, ratio) in ratios {
        println!(
            "target, 8 nodes ≤ 2× one node ({label}): {}",
            if ratio <= 2.0 { "met" } else { "missed" }
        );
    }
    println!(
        "target, peak memory < 64 MB: {}",
        if peak > 0 && peak < 64 * 1024 {
            "met"
        } else {
            "missed"
        }
    );
}
