//! `rmpack pack` on modules of many blocks: the same zip on any number of threads, block-compressed entries other readers accept, and the inputs and interruptions the
//! writer must refuse or clean up after.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

fn rmpack() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rmpack"));
    command
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("RMPACK_REDIS_SERVER");
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Deterministic bytes that compress like code (about 3:1), `len` of them.
fn code_like(len: usize, seed: u64) -> Vec<u8> {
    let words: [&[u8]; 8] = [
        b"\x48\x89\xe5",
        b"\x48\x83\xec\x10",
        b"\xe8\x00\x00\x00\x00",
        b"\xc3",
        b"\x0f\x1f\x44\x00\x00",
        b"RedisModule_",
        b"\x00\x00\x00\x00\x00\x00\x00\x00",
        b"\x41\x57\x41\x56",
    ];
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state % 3 == 0 {
            out.push((state >> 32) as u8);
        } else {
            out.extend_from_slice(words[(state >> 40) as usize % words.len()]);
        }
    }
    out.truncate(len);
    out
}

/// The `plain` fixture with `extra` bytes of code-like data after its end: still a valid
/// module (the ELF headers do not cover the tail), as large as needed.
fn big_module(dir: &Path, extra: usize) -> PathBuf {
    let path = dir.join("big.so");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&std::fs::read(common::fixture("plain")).unwrap())
        .unwrap();
    let mut left = extra;
    let mut seed = 1;
    while left > 0 {
        let chunk = code_like(left.min(8 << 20), seed);
        file.write_all(&chunk).unwrap();
        left -= chunk.len();
        seed += 1;
    }
    path
}

/// Arguments that pack the `plain` module without loading it.
const NO_DISCOVER: [&str; 6] = [
    "--no-discover",
    "--no-manifest",
    "--module-name",
    "plain",
    "--module-version",
    "10203",
];

fn pack(module: &Path, output: &Path, extra: &[&str]) -> Output {
    rmpack()
        .arg("pack")
        .arg(module)
        .args(NO_DISCOVER)
        .arg("--output")
        .arg(output)
        .args(extra)
        .output()
        .expect("run rmpack")
}

use common::dir_listing;

#[test]
fn one_worker_and_four_give_byte_identical_zips() {
    let work = tempfile::tempdir().unwrap();
    // Several blocks, the last one short, and a dependency that spans blocks too.
    let module = big_module(work.path(), (5 << 20) + 12_345);
    let dep = work.path().join("dep");
    std::fs::create_dir(&dep).unwrap();
    std::fs::write(dep.join("data.bin"), code_like(3 << 20, 9)).unwrap();
    let dep_flag = format!("lib={}", dep.display());
    let mut zips = Vec::new();
    for threads in ["1", "4"] {
        let output = work.path().join(format!("t{threads}.zip"));
        let result = pack(
            &module,
            &output,
            &["--threads", threads, "--dep", &dep_flag],
        );
        assert!(result.status.success(), "{}", stderr(&result));
        zips.push(std::fs::read(&output).unwrap());
    }
    assert_eq!(zips[0], zips[1], "the worker count changed the zip");

    // The module inside is the module, and its recorded sha256 is its hash.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zips[0])).unwrap();
    let mut so = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name("big.so").unwrap(), &mut so).unwrap();
    assert_eq!(so, std::fs::read(&module).unwrap());
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name("module.json").unwrap(), &mut json).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["sha256"], hex::encode(Sha256::digest(&so)));
}

#[test]
fn unzip_python_and_the_projects_reader_accept_block_compressed_entries() {
    let work = tempfile::tempdir().unwrap();
    let module = big_module(work.path(), (3 << 20) + 777);
    let dep = work.path().join("notes.txt");
    std::fs::write(&dep, code_like(2 << 20, 4)).unwrap();
    let output = work.path().join("out.zip");
    let dep_flag = format!("notes={}", dep.display());
    let result = pack(&module, &output, &["--dep", &dep_flag]);
    assert!(result.status.success(), "{}", stderr(&result));

    let unzip = Command::new("unzip")
        .arg("-t")
        .arg(&output)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&unzip.stdout);
    assert!(unzip.status.success(), "{text}");
    assert!(text.contains("No errors detected"), "{text}");

    let python = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(z.testzip())",
            path_str(&output),
        ])
        .output()
        .unwrap();
    assert!(python.status.success(), "{}", stderr(&python));
    assert_eq!(String::from_utf8_lossy(&python.stdout).trim(), "None");

    let bundle = rmpack::bundle::Bundle::read(&output).unwrap();
    assert!(bundle.problems.is_empty(), "{:?}", bundle.problems);
    let binary = bundle.module.as_ref().expect("the module");
    assert_eq!(&*binary.bytes, std::fs::read(&module).unwrap().as_slice());
    assert_eq!(binary.unix_mode.map(|m| m & 0o777), Some(0o755));
    assert_eq!(bundle.deps.len(), 1);

    // validate agrees: the sha256 in module.json is the module's.
    let validate = rmpack()
        .args(["validate", path_str(&output), "--format", "json"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&validate.stdout);
    assert!(!report.contains("sha256-mismatch"), "{report}");
}

/// Where the piece table of the zip's `.so` entry is: the offset of its first length and the
/// lengths, found in the central directory by the field's id and version.
fn piece_table(zip: &[u8]) -> (usize, Vec<u32>) {
    let central = zip
        .windows(4)
        .rposition(|w| w == b"PK\x01\x02")
        .expect("a central record");
    let at = central
        + zip[central..]
            .windows(3)
            .position(|w| w[..2] == *b"rm" && w[2] != 0)
            .expect("the piece table's id");
    let body = u16::from_le_bytes([zip[at + 2], zip[at + 3]]) as usize;
    assert_eq!(zip[at + 4], 1, "format version");
    let first = at + 4 + 5;
    let lengths = zip[first..at + 4 + body]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (first, lengths)
}

fn validate_json(zip: &Path) -> (i32, String) {
    let output = rmpack()
        .args(["validate", path_str(zip), "--format", "json"])
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Packs a module of `extra` bytes past the fixture; returns it, the zip and the zip's bytes.
fn packed_module(work: &Path, extra: usize) -> (PathBuf, PathBuf, Vec<u8>) {
    let module = big_module(work, extra);
    let zip = work.join("good.zip");
    let result = pack(&module, &zip, &[]);
    assert!(result.status.success(), "{}", stderr(&result));
    let bytes = std::fs::read(&zip).unwrap();
    (module, zip, bytes)
}

#[test]
fn a_damaged_block_of_a_packed_module_is_caught_by_validate_as_zip_damaged() {
    let work = tempfile::tempdir().unwrap();
    let (module, good, mut bytes) = packed_module(work.path(), (3 << 20) + 99);
    let (_, lengths) = piece_table(&bytes);
    let blocks = std::fs::metadata(&module)
        .unwrap()
        .len()
        .div_ceil(rmpack::pack::deflate::BLOCK_SIZE as u64);
    assert_eq!(lengths.len() as u64, blocks, "one piece per block");
    let (_, report) = validate_json(&good);
    assert!(!report.contains("zip-damaged"), "{report}");

    // Flip bytes in the middle of the second block.
    let local = bytes.windows(4).position(|w| w == b"PK\x03\x04").unwrap();
    let second_local = local
        + 4
        + bytes[local + 4..]
            .windows(4)
            .position(|w| w == b"PK\x03\x04")
            .unwrap();
    let name_len = u16::from_le_bytes([bytes[second_local + 26], bytes[second_local + 27]]);
    let data = second_local + 30 + name_len as usize;
    let middle = data + lengths[0] as usize + lengths[1] as usize / 2;
    for b in &mut bytes[middle..middle + 8] {
        *b ^= 0xa5;
    }
    let damaged = work.path().join("damaged.zip");
    std::fs::write(&damaged, &bytes).unwrap();
    let (code, report) = validate_json(&damaged);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("zip-damaged"), "{report}");
    assert!(report.contains("big.so"), "{report}");
}

#[test]
fn a_piece_table_that_lies_does_not_change_what_validate_reads() {
    let work = tempfile::tempdir().unwrap();
    let (module, _, mut bytes) = packed_module(work.path(), (2 << 20) + 5);
    let (first, lengths) = piece_table(&bytes);
    // Move one byte from the first piece to the second: the same total, wrong cuts. The
    // stream itself is intact, so the module reads as before (from the stream).
    let moved = [lengths[0] - 1, lengths[1] + 1];
    for (i, length) in moved.iter().enumerate() {
        bytes[first + 4 * i..first + 4 * i + 4].copy_from_slice(&length.to_le_bytes());
    }
    let lying = work.path().join("lying.zip");
    std::fs::write(&lying, &bytes).unwrap();
    let bundle = rmpack::bundle::Bundle::read(&lying).unwrap();
    assert!(bundle.problems.is_empty(), "{:?}", bundle.problems);
    assert_eq!(
        &*bundle.module.as_ref().unwrap().bytes,
        std::fs::read(&module).unwrap().as_slice()
    );
    let (_, report) = validate_json(&lying);
    assert!(!report.contains("zip-damaged"), "{report}");
    assert!(!report.contains("sha256-mismatch"), "{report}");
}

/// Random damage to a packed zip's data or to its piece table never panics, and whatever the
/// reader accepts without a problem is the module itself: the pieces are only trusted when
/// they inflate to exactly their shares and the CRC-32 of the whole matches.
#[test]
fn damage_to_pieces_or_their_table_never_gives_other_bytes() {
    let work = tempfile::tempdir().unwrap();
    let (module, _, bytes) = packed_module(work.path(), (1 << 20) + 333);
    let original = std::fs::read(&module).unwrap();
    let (table_at, lengths) = piece_table(&bytes);
    let table_end = table_at + 4 * lengths.len();
    let data_start = bytes.windows(4).position(|w| w == b"PK\x03\x04").unwrap();
    let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let mut rng = fastrand::Rng::with_seed(10);
    let damaged = work.path().join("damaged.zip");
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..120 {
        let mut copy = bytes.clone();
        // Half the rounds hit the table (lengths and piece size), half the compressed data.
        for _ in 0..rng.usize(1..4) {
            let at = if round % 2 == 0 {
                rng.usize(table_at - 4..table_end)
            } else {
                rng.usize(data_start..central)
            };
            copy[at] ^= 1 << rng.u8(..8);
        }
        std::fs::write(&damaged, &copy).unwrap();
        match rmpack::bundle::Bundle::read(&damaged) {
            Ok(bundle) if bundle.problems.is_empty() => {
                if let Some(binary) = bundle.module.as_ref() {
                    assert!(
                        *binary.bytes == *original,
                        "round {round}: the reader accepted bytes that are not the module"
                    );
                    accepted += 1;
                }
            }
            _ => refused += 1,
        }
    }
    // Damage to the table alone leaves an intact stream, read as such.
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn an_output_that_names_an_input_is_refused_before_anything_is_written() {
    let work = tempfile::tempdir().unwrap();
    let module = work.path().join("m.so");
    std::fs::copy(common::fixture("plain"), &module).unwrap();
    let before = std::fs::read(&module).unwrap();
    for output in [module.clone(), work.path().join(".").join("m.so")] {
        let result = pack(&module, &output, &[]);
        assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
        assert!(
            stderr(&result).contains("is the input"),
            "{}",
            stderr(&result)
        );
        assert_eq!(
            std::fs::read(&module).unwrap(),
            before,
            "the module was replaced"
        );
        assert_eq!(dir_listing(work.path()), ["m.so"]);
    }
}

#[test]
fn a_module_json_over_the_validate_cap_is_refused() {
    let work = tempfile::tempdir().unwrap();
    // Two command files, each well under the 4 MiB a command file may be, that together make
    // module.json larger than 4 MiB.
    let mut flags = Vec::new();
    for part in 0..2 {
        let commands: Vec<serde_json::Value> = (0..1_200)
            .map(|i| {
                serde_json::json!({
                    "command_name": format!("plain.{part}x{i:06}{}", "n".repeat(2000)),
                    "command_arity": -1,
                    "flags": ["readonly"],
                    "first_key": 1,
                    "last_key": 1,
                    "step": 1,
                })
            })
            .collect();
        let file = work.path().join(format!("commands{part}.json"));
        std::fs::write(&file, serde_json::to_vec(&commands).unwrap()).unwrap();
        assert!(std::fs::metadata(&file).unwrap().len() < 4 << 20);
        flags.push("--add-command".to_string());
        flags.push(file.display().to_string());
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let result = pack(
        &common::fixture("plain"),
        &work.path().join("out.zip"),
        &flags,
    );
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    assert!(stderr(&result).contains("4194304"), "{}", stderr(&result));
    assert_eq!(
        dir_listing(work.path()),
        ["commands0.json", "commands1.json"]
    );
}

/// Waits for `child` at most `limit`; kills it and fails the test if it does not finish.
fn wait_bounded(mut child: std::process::Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rmpack did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_a_device_or_a_folder_as_the_module_is_refused_at_once() {
    let work = tempfile::tempdir().unwrap();
    let fifo = work.path().join("pipe.so");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let folder = work.path().join("folder.so");
    std::fs::create_dir(&folder).unwrap();
    for (module, kind) in [
        (fifo.as_path(), "FIFO"),
        (Path::new("/dev/zero"), "character device"),
        (folder.as_path(), "a directory"),
    ] {
        let child = rmpack()
            .arg("pack")
            .arg(module)
            .args(NO_DISCOVER)
            .arg("--output")
            .arg(work.path().join("out.zip"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let result = wait_bounded(child, Duration::from_secs(30));
        assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
        assert!(stderr(&result).contains(kind), "{}", stderr(&result));
    }
    assert_eq!(dir_listing(work.path()), ["folder.so", "pipe.so"]);
}

#[test]
fn leftover_temporary_zips_of_killed_runs_are_removed_by_the_next_run() {
    let work = tempfile::tempdir().unwrap();
    let hour = Duration::from_secs(3600);
    let write_dated = |path: &Path, bytes: &[u8], modified: std::time::SystemTime| {
        std::fs::write(path, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    };
    let stale = work.path().join(".rmpack-AbC123.zip.tmp");
    write_dated(&stale, b"half a zip", std::time::SystemTime::now() - hour);
    // Not ours by name, or written after the run started: kept.
    let other = work.path().join(".rmpack-notes.txt");
    std::fs::write(&other, b"keep").unwrap();
    let future = work.path().join(".rmpack-Future.zip.tmp");
    write_dated(
        &future,
        b"a run still writing",
        std::time::SystemTime::now() + hour,
    );
    let result = pack(&common::fixture("plain"), &work.path().join("out.zip"), &[]);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(
        stderr(&result).contains(".rmpack-AbC123.zip.tmp"),
        "{}",
        stderr(&result)
    );
    assert_eq!(
        dir_listing(work.path()),
        [".rmpack-Future.zip.tmp", ".rmpack-notes.txt", "out.zip"]
    );
}

#[cfg(unix)]
#[test]
fn sigterm_while_the_zip_is_written_removes_the_temporary_zip() {
    let work = tempfile::tempdir().unwrap();
    // Stored, so writing the zip copies 150 MB and takes long enough to be caught.
    let module = big_module(work.path(), 150 << 20);
    let out_dir = work.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let mut caught = false;
    for _attempt in 0..5 {
        let child = rmpack()
            .arg("pack")
            .arg(&module)
            .args(NO_DISCOVER)
            .args(["--compression", "0", "--output"])
            .arg(out_dir.join("out.zip"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = Instant::now();
        let mut seen = false;
        while start.elapsed() < Duration::from_secs(60) {
            if dir_listing(&out_dir)
                .iter()
                .any(|name| name.starts_with(".rmpack-") && name.ends_with(".zip.tmp"))
            {
                seen = true;
                break;
            }
            if std::fs::metadata(format!("/proc/{pid}")).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        if !seen {
            // The write finished between two looks; try again.
            let _ = wait_bounded(child, Duration::from_secs(60));
            let _ = std::fs::remove_file(out_dir.join("out.zip"));
            continue;
        }
        let killed = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let result = wait_bounded(child, Duration::from_secs(60));
        if result.status.success() {
            // It finished before the signal arrived.
            let _ = std::fs::remove_file(out_dir.join("out.zip"));
            continue;
        }
        assert_eq!(result.status.code(), Some(143), "{}", stderr(&result));
        assert_eq!(dir_listing(&out_dir), Vec::<String>::new());
        caught = true;
        break;
    }
    assert!(caught, "the write was never caught in progress");
}
