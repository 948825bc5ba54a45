//! Upload benchmark, in one run, against the emulated cluster of `tests/support/` (RS 8.2, HTTPS,
//! one loopback address per node):
//!
//! - one module zip of about 200 MB (a real module `.so`, stored) to 1 node and to 8 nodes: the
//!   ratio 8 nodes ÷ 1 node;
//! - a release set of 10 such zips to 8 nodes: 5 module versions (one per Redis feature set RS 8.2
//!   runs: 6.2, 7.2, 7.4, 8.0, 8.2), each built for Ubuntu 22.04 and RHEL 9, on a cluster of 4
//!   Ubuntu and 4 RHEL nodes: 5 registrations and 40 transfers, each node getting its own builds;
//!   its time and the peak memory of `rmpack`;
//! - the set's pre-flight alone (`--dry-run`: GET requests only);
//! - `curl` doing the same node by node (the manual way: the registration, then the zip to each
//!   node's artifact endpoint, one after another) beside each.
//!
//! Beside each time: the peak memory of `rmpack`, and the CPU time of `rmpack` and of the
//! emulated nodes, which tells how much of the machine a case needs.
//!
//! Each case runs with every node's link at 1 Gbit/s (the emulator paces request bodies), as on a
//! real network, and on unlimited loopback, where the emulated nodes' TLS, parsing and writes
//! compete with rmpack for the same CPUs. The emulated cluster runs in this process and stores
//! what it receives on tmpfs (`/dev/shm`); `rmpack` runs as a child process, measured by
//! `/usr/bin/time -v` ("Maximum resident set size").
//!
//! The 10 zips share one `.so` body: each build's `.so` differs from it in 32 bytes of the data
//! table the module never runs (and so in its SHA-256), and carries its own module.json. The zips
//! take 10 × the module size on the temp dir's disk; the emulator holds up to 40 × it on tmpfs
//! during the set case (checked before the run).
//!
//! Run: `cargo bench --bench upload`. Knobs: `RMPACK_BENCH_MB` (module size in MB, default 200),
//! `RMPACK_BENCH_RUNS` (runs of each rmpack case, the median is printed; default 3),
//! `RMPACK_BENCH_BIN` (the binary measured; default the one cargo built).
//! Targets: 8 nodes take at most 1.2× one node on 1 Gbit/s links; peak memory stays under 64 MiB.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{module_json, user_defined_config, Emulator, EmulatorSpec, NodePlatform};

/// The RS version of the emulated cluster: the first whose Redis versions span 5 feature sets.
const RS_VERSION: &str = "8.2.1-20";
/// The set's module versions, one per Redis feature set of RS 8.2: (version, feature set).
const VERSIONS: [(&str, &str); 5] = [
    ("2.4.20", "6.2"),
    ("2.6.16", "7.2"),
    ("2.8.9", "7.4"),
    ("8.0.3", "8.0"),
    ("8.2.1", "8.2"),
];
/// The set's platforms: (module.json OS name, file-name spelling).
const PLATFORMS: [(&str, &str); 2] = [("ubuntu22", "ubuntu22.04"), ("rhel9", "rhel9")];
/// Nodes of the multi-node clusters; the first half run Ubuntu 22.04, the rest RHEL 9.
const NODES: usize = 8;
/// 1 Gbit/s: the slowest link RS supports between nodes.
const GIGABIT: u64 = 125_000_000;
const MIB: f64 = (1 << 20) as f64;

/// A real, loadable module `.so` of about `megabytes` MB (scripts/gen-big-module.sh).
fn big_module(dir: &Path, megabytes: u64) -> PathBuf {
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
    let so = dir.join("big/big.so");
    // Only the module is kept: its table is in it.
    std::fs::remove_file(dir.join("big/big_table.bin")).expect("the table is removed");
    so
}

/// Where the builds differ: the middle of the `.so`'s largest section (the data table the
/// module never runs).
fn stamp_offset(so: &Path) -> u64 {
    let file = std::fs::File::open(so).expect("big.so");
    // SAFETY: the file is this benchmark's own, and nothing writes it while it is mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("big.so is mapped");
    let elf = goblin::elf::Elf::parse(&map).expect("big.so is an ELF file");
    let table = elf
        .section_headers
        .iter()
        .filter(|s| s.sh_type != goblin::elf::section_header::SHT_NOBITS)
        .max_by_key(|s| s.sh_size)
        .expect("big.so has sections");
    table.sh_offset + table.sh_size / 2
}

/// `so`'s bytes with `stamp` written over them at `offset`.
struct Stamped<'a> {
    file: std::fs::File,
    position: u64,
    offset: u64,
    stamp: &'a [u8],
}

impl<'a> Stamped<'a> {
    fn open(so: &Path, offset: u64, stamp: &'a [u8]) -> Self {
        Stamped {
            file: std::fs::File::open(so).expect("big.so"),
            position: 0,
            offset,
            stamp,
        }
    }
}

impl Read for Stamped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        let (start, end) = (self.position, self.position + n as u64);
        let stamp_end = self.offset + self.stamp.len() as u64;
        for at in start.max(self.offset)..end.min(stamp_end) {
            buf[(at - start) as usize] = self.stamp[(at - self.offset) as usize];
        }
        self.position = end;
        Ok(n)
    }
}

/// One build of the set.
struct Build {
    zip: PathBuf,
    module_json: Value,
    /// The module.json OS name it is built for.
    os: &'static str,
    size: u64,
}

/// Writes the stored zip of one build: module.json, and `so` stamped with the build's name.
fn write_build(
    dir: &Path,
    so: &Path,
    offset: u64,
    (version, feature_set): (&str, &str),
    (os, os_file_name): (&'static str, &str),
) -> Build {
    let zip_path = dir.join(format!("big.Linux-{os_file_name}-x86_64.{version}.zip"));
    let stamp = format!("{:<32}", format!("big {version} {os}"));
    let stamp = &stamp.as_bytes()[..32];
    let mut hasher = Sha256::new();
    std::io::copy(&mut Stamped::open(so, offset, stamp), &mut hasher).expect("big.so is read");
    let mut json = module_json("big", version);
    json["module_file"] = "big.so".into();
    json["sha256"] = hex::encode(hasher.finalize()).into();
    json["operating_systems"] = json!([os]);
    json["compatible_redis_version"] = feature_set.into();
    json["min_redis_version"] = format!("{feature_set}.0").into();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).expect("zip"));
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
    std::io::copy(&mut Stamped::open(so, offset, stamp), &mut zip).expect("copy");
    zip.finish().expect("finish");
    Build {
        size: std::fs::metadata(&zip_path).expect("zip").len(),
        zip: zip_path,
        module_json: json,
        os,
    }
}

/// Which nodes run what.
#[derive(Clone, Copy)]
enum Nodes {
    /// Every node Ubuntu 22.04.
    Ubuntu(usize),
    /// The first half Ubuntu 22.04, the rest RHEL 9.
    Mixed(usize),
}

impl Nodes {
    fn count(self) -> usize {
        match self {
            Nodes::Ubuntu(n) | Nodes::Mixed(n) => n,
        }
    }

    /// The module.json OS name of node `node` (1-based).
    fn os_of(self, node: usize) -> &'static str {
        match self {
            Nodes::Mixed(n) if node > n.div_ceil(2) => PLATFORMS[1].0,
            _ => PLATFORMS[0].0,
        }
    }

    fn platform_of(self, node: usize) -> NodePlatform {
        if self.os_of(node) == PLATFORMS[0].0 {
            NodePlatform::ubuntu("22.04")
        } else {
            NodePlatform::rhel("9.4")
        }
    }
}

/// Starts an emulated cluster of `nodes` whose links carry `link` bytes per second.
fn cluster(nodes: Nodes, link: Option<u64>) -> Emulator {
    let mut spec = EmulatorSpec::nodes(nodes.count())
        .rs_version(RS_VERSION)
        .allow_modules_upload(true)
        .on_tmpfs();
    spec.link_bytes_per_second = link;
    let emulator = Emulator::start(spec).expect("the emulator starts");
    for node in 1..=nodes.count() {
        emulator.set_node_platform(node, nodes.platform_of(node));
    }
    emulator
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
        String::from_utf8_lossy(&help.stdout).contains("--concurrency"),
        "{built} is not a build with `rmpack upload`; set RMPACK_BENCH_BIN to one"
    );
    copy
}

struct Measure {
    elapsed: Duration,
    peak_kib: u64,
    /// CPU seconds (user + system) of rmpack, and of this process (the emulated nodes).
    cpu: (f64, f64),
}

/// CPU seconds (user + system) this process has used so far: the emulated nodes' work.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name: utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or("", |(_, rest)| rest)
        .split(' ')
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Linux reports them in clock ticks of 1/100 s (USER_HZ).
    (ticks(11) + ticks(12)) / 100.0
}

/// The measures of one kind of link.
struct Figures {
    one: Measure,
    eight: Measure,
    set: Measure,
    curl_eight: Option<Duration>,
    curl_set: Option<Duration>,
}

/// `rmpack upload` of `input` (a zip or a folder of them) to every node of a fresh cluster,
/// under `/usr/bin/time -v`; checks that each node then holds `artifacts_per_node`.
fn upload(
    rmpack: &Path,
    nodes: Nodes,
    link: Option<u64>,
    input: &Path,
    artifacts_per_node: usize,
    extra: &[&str],
) -> Measure {
    let emulator = cluster(nodes, link);
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-v")
        .arg(rmpack)
        .arg("upload")
        .arg(input)
        .arg("--quiet")
        .args(extra)
        .args(["--cluster", &emulator.url()])
        .arg("--ca-cert")
        .arg(emulator.ca_cert_path())
        .env("RMPACK_USER", emulator.user())
        .env("RMPACK_PASSWORD", emulator.password())
        .env("RMPACK_PROFILES", rmpack.with_file_name("no-profiles.toml"));
    let nodes_cpu = own_cpu_seconds();
    let started = Instant::now();
    let output = command.output().expect("rmpack runs under /usr/bin/time");
    let elapsed = started.elapsed();
    let nodes_cpu = own_cpu_seconds() - nodes_cpu;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let nodes = nodes.count();
    assert!(
        output.status.success(),
        "upload to {nodes} node(s) failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    for node in 1..=nodes {
        assert_eq!(
            emulator.artifacts(node).len(),
            artifacts_per_node,
            "node {node} holds its artifacts:\n{}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    let reported = |field: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(field))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("/usr/bin/time -v reports {field}"))
    };
    Measure {
        elapsed,
        peak_kib: reported("Maximum resident set size (kbytes):") as u64,
        cpu: (
            reported("User time (seconds):") + reported("System time (seconds):"),
            nodes_cpu,
        ),
    }
}

/// `runs` runs of one case: the run of median time, with the highest peak memory of all.
fn upload_runs(runs: usize, case: impl Fn() -> Measure) -> Measure {
    let mut measures: Vec<Measure> = (0..runs).map(|_| case()).collect();
    let peak_kib = measures.iter().map(|m| m.peak_kib).max().unwrap_or(0);
    measures.sort_by_key(|m| m.elapsed);
    let median = measures.swap_remove(measures.len() / 2);
    Measure { peak_kib, ..median }
}

/// One `curl` call with the cluster's CA and credentials; `false` when it fails.
fn curl(emulator: &Emulator, args: &[String]) -> bool {
    Command::new("curl")
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
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// The way it is done by hand: `curl` registering each version with the cluster, then posting
/// each node the zip for its OS, one node after another.
fn curl_node_by_node(nodes: Nodes, link: Option<u64>, builds: &[&Build]) -> Option<Duration> {
    let emulator = cluster(nodes, link);
    let started = Instant::now();
    let mut registered = Vec::new();
    for build in builds {
        let version = &build.module_json["semantic_version"];
        if registered.contains(&version) {
            continue;
        }
        registered.push(version);
        let config = user_defined_config(&build.module_json).to_string();
        let ok = curl(
            &emulator,
            &[
                "--header".into(),
                "Content-Type: application/json".into(),
                "--data".into(),
                config,
                format!("{}/v2/modules/user-defined", emulator.url()),
            ],
        );
        if !ok {
            return None;
        }
    }
    for node in 1..=nodes.count() {
        for build in builds.iter().filter(|b| b.os == nodes.os_of(node)) {
            let ok = curl(
                &emulator,
                &[
                    "--form".into(),
                    format!("module=@{}", build.zip.display()),
                    format!(
                        "{}/v2/local/modules/user-defined/artifacts",
                        emulator.node_url(node)
                    ),
                ],
            );
            if !ok {
                return None;
            }
        }
    }
    Some(started.elapsed())
}

/// The load averages (1, 5, 15 minutes): other work on the machine slows the cases that are
/// CPU-bound.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Free bytes of the file system holding `path`.
fn free_bytes(path: &Path) -> u64 {
    let output = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .expect("df runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    // `cargo test --benches` runs bench targets with no `--bench`: keep that fast.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let env_number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let megabytes = env_number("RMPACK_BENCH_MB", 200);
    let runs = env_number("RMPACK_BENCH_RUNS", 3).max(1) as usize;
    let transfers = VERSIONS.len() * NODES;
    let (tmpfs_needed, disk_needed) = (
        megabytes * 1_000_000 * transfers as u64 * 11 / 10,
        megabytes * 1_000_000 * (VERSIONS.len() * PLATFORMS.len() + 2) as u64,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let shm = Path::new("/dev/shm");
    let tmpfs_free = if shm.is_dir() { free_bytes(shm) } else { 0 };
    assert!(
        tmpfs_free >= tmpfs_needed,
        "the set case stores {transfers} artifacts of {megabytes} MB on /dev/shm: {} MB needed, {} MB free; lower RMPACK_BENCH_MB",
        tmpfs_needed / 1_000_000,
        tmpfs_free / 1_000_000
    );
    assert!(
        free_bytes(dir.path()) >= disk_needed,
        "the zips take {} MB in {}; lower RMPACK_BENCH_MB",
        disk_needed / 1_000_000,
        dir.path().display()
    );

    let so = big_module(dir.path(), megabytes);
    let offset = stamp_offset(&so);
    let set_dir = dir.path().join("release");
    std::fs::create_dir(&set_dir).expect("the set's folder");
    let builds: Vec<Build> = VERSIONS
        .iter()
        .flat_map(|&version| PLATFORMS.iter().map(move |&platform| (version, platform)))
        .map(|(version, platform)| write_build(&set_dir, &so, offset, version, platform))
        .collect();
    std::fs::remove_file(&so).expect("big.so is removed");
    // The single zip: the newest version's Ubuntu build, to a cluster of Ubuntu nodes.
    let single = builds
        .iter()
        .rev()
        .find(|b| b.os == PLATFORMS[0].0)
        .expect("an Ubuntu build");
    let single_dir = dir.path().join("single");
    std::fs::create_dir(&single_dir).expect("the single zip's folder");
    let single_zip = single_dir.join(single.zip.file_name().expect("a file name"));
    std::fs::hard_link(&single.zip, &single_zip).expect("the single zip is linked");
    let set_bytes: u64 = builds.iter().map(|b| b.size).sum();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "one zip: {:.1} MiB; the set: {} zips ({} versions × {} OSes), {:.1} MiB, to {NODES} nodes ({} Ubuntu 22.04, {} RHEL 9): {} registrations, {transfers} transfers",
        single.size as f64 / MIB,
        builds.len(),
        VERSIONS.len(),
        PLATFORMS.len(),
        set_bytes as f64 / MIB,
        NODES.div_ceil(2),
        NODES / 2,
        VERSIONS.len(),
    );
    println!(
        "{cpus} CPUs, shared by rmpack and the emulated nodes; rmpack: median of {runs} run(s), peak RSS the highest; curl: one run"
    );
    println!("load average at the start: {}", load_average());
    let rmpack = private_binary(dir.path());
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let cpu = |m: &Measure| format!("{:.1} + {:.1}", m.cpu.0, m.cpu.1);
    let ubuntu: Vec<&Build> = vec![single];
    let everything: Vec<&Build> = builds.iter().collect();

    let mut rows = Vec::new();
    let mut figures = Vec::new();
    for (links, link) in [
        ("1 Gbit/s per node", Some(GIGABIT)),
        ("loopback, unlimited", None),
    ] {
        let one = upload_runs(runs, || {
            upload(&rmpack, Nodes::Ubuntu(1), link, &single_zip, 1, &[])
        });
        let curl_one = curl_node_by_node(Nodes::Ubuntu(1), link, &ubuntu);
        let eight = upload_runs(runs, || {
            upload(&rmpack, Nodes::Ubuntu(NODES), link, &single_zip, 1, &[])
        });
        let curl_eight = curl_node_by_node(Nodes::Ubuntu(NODES), link, &ubuntu);
        let set = upload_runs(runs, || {
            upload(
                &rmpack,
                Nodes::Mixed(NODES),
                link,
                &set_dir,
                VERSIONS.len(),
                &[],
            )
        });
        let curl_set = curl_node_by_node(Nodes::Mixed(NODES), link, &everything);
        let curl_cell = |d: Option<Duration>| d.map_or("failed".to_string(), secs);
        for (case, measure, by_hand) in [
            ("1 zip → 1 node", &one, curl_one),
            (
                &format!("1 zip → {NODES} nodes") as &str,
                &eight,
                curl_eight,
            ),
            (
                &format!(
                    "set of {} zips → {NODES} nodes ({transfers} transfers)",
                    builds.len()
                ),
                &set,
                curl_set,
            ),
        ] {
            rows.push(format!(
                "| {links} | {case} | {} | {} | {} | {} |",
                secs(measure.elapsed),
                mib(measure.peak_kib),
                cpu(measure),
                curl_cell(by_hand)
            ));
        }
        figures.push(Figures {
            one,
            eight,
            set,
            curl_eight,
            curl_set,
        });
    }
    // The pre-flight alone (GET requests only): reading and checking the set's zips.
    let preflight = upload_runs(runs, || {
        upload(
            &rmpack,
            Nodes::Mixed(NODES),
            None,
            &set_dir,
            0,
            &["--dry-run"],
        )
    });

    println!();
    println!(
        "| links | upload | rmpack | rmpack peak RSS | CPU s: rmpack + nodes | curl, node by node |\n|---|---|---:|---:|---:|---:|"
    );
    for row in &rows {
        println!("{row}");
    }
    println!(
        "| — | set of {} zips, `--dry-run` (the pre-flight alone) | {} | {} | {} | — |",
        builds.len(),
        secs(preflight.elapsed),
        mib(preflight.peak_kib),
        cpu(&preflight)
    );
    println!();
    println!("| figure | 1 Gbit/s per node | loopback, unlimited | target |\n|---|---:|---:|---|");
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let cells =
        |f: &dyn Fn(&Figures) -> String| figures.iter().map(f).collect::<Vec<_>>().join(" | ");
    let times = |by_hand: Option<Duration>, rmpack: &Measure| {
        by_hand.map_or("–".to_string(), |c| {
            format!("{:.2}×", ratio(c, rmpack.elapsed))
        })
    };
    let gigabit_ratio = ratio(figures[0].eight.elapsed, figures[0].one.elapsed);
    println!(
        "| 1 zip: {NODES} nodes ÷ 1 node | {} | ≤ 1.2× on 1 Gbit/s ({}) |",
        cells(&|f| format!("{:.2}×", ratio(f.eight.elapsed, f.one.elapsed))),
        if gigabit_ratio <= 1.2 {
            "met"
        } else {
            "missed"
        }
    );
    println!(
        "| set to {NODES} nodes ÷ 1 zip to 1 node ({} zips per node) | {} | — |",
        VERSIONS.len(),
        cells(&|f| format!("{:.2}×", ratio(f.set.elapsed, f.one.elapsed)))
    );
    let peak = figures
        .iter()
        .flat_map(|f| [f.one.peak_kib, f.eight.peak_kib, f.set.peak_kib])
        .chain([preflight.peak_kib])
        .max()
        .unwrap_or(0);
    println!(
        "| rmpack peak RSS, set to {NODES} nodes | {} | < 64 MiB ({}) |",
        cells(&|f| mib(f.set.peak_kib)),
        if peak > 0 && peak < 64 * 1024 {
            "met"
        } else {
            "missed"
        }
    );
    println!(
        "| curl node by node ÷ rmpack, 1 zip to {NODES} nodes | {} | — |",
        cells(&|f| times(f.curl_eight, &f.eight))
    );
    println!(
        "| curl node by node ÷ rmpack, set to {NODES} nodes | {} | — |",
        cells(&|f| times(f.curl_set, &f.set))
    );
    println!();
    println!("load average at the end: {}", load_average());
}
