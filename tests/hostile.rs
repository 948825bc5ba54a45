//! Hostile inputs: dependency tarballs that `unpack` refuses are refused by `validate` with their
//! rule; zips that disagree with themselves are refused the same way by validate, inspect and
//! unpack; inputs that are not regular files are refused at once with bounded memory; a file
//! truncated while it is read gives an error, never a signal; and damaged tarballs never panic.

mod common;

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rmpack::bundle::{unpack, Bundle, Limits};
use sha2::{Digest, Sha256};

fn rmpack() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmpack"))
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A tar entry written with raw header fields, so names the tar crate would refuse get in.
struct TarItem<'a> {
    name: &'a str,
    kind: tar::EntryType,
    data: &'a [u8],
    link: Option<&'a str>,
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> TarItem<'a> {
    TarItem {
        name,
        kind: tar::EntryType::Regular,
        data,
        link: None,
    }
}

fn raw_tar(items: &[TarItem<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..item.name.len()].copy_from_slice(item.name.as_bytes());
        if let Some(link) = item.link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(item.kind);
        header.set_size(item.data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, item.data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn good_tgz() -> Vec<u8> {
    gzip(&raw_tar(&[
        file("bin/tool", b"#!/bin/sh\necho tool\n"),
        file("share/data.txt", b"data\n"),
    ]))
}

/// The module.json of the plain fixture, listing `deps/helper.tgz` with `tgz_sha256`.
fn meta(tgz_sha256: Option<&str>) -> serde_json::Value {
    let so = std::fs::read(common::fixture("plain")).unwrap();
    let mut meta = serde_json::json!({
        "module_name": "plain", "module_file": "plain.so", "version": 10203,
        "semantic_version": "1.2.3", "display_name": "plain", "commands": [],
        "command_line_args": "", "capabilities": [], "min_redis_version": "6.0",
        "architecture": "x86_64", "os": "Linux", "sha256": sha256(&so),
    });
    if let Some(sum) = tgz_sha256 {
        meta["dependencies"] = serde_json::json!({"helper": {"sha256": sum}});
    }
    meta
}

/// A module zip: module.json (raw bytes), plain.so (0755) and, when given, deps/helper.tgz.
/// Entries are stored, so their bytes can be found and patched.
fn module_zip(path: &Path, module_json: &[u8], tgz: Option<&[u8]>) {
    let so = std::fs::read(common::fixture("plain")).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("module.json", stored.unix_permissions(0o644))
        .unwrap();
    zip.write_all(module_json).unwrap();
    zip.start_file("plain.so", stored.unix_permissions(0o755))
        .unwrap();
    zip.write_all(&so).unwrap();
    if let Some(tgz) = tgz {
        zip.start_file("deps/helper.tgz", stored.unix_permissions(0o644))
            .unwrap();
        zip.write_all(tgz).unwrap();
    }
    zip.finish().unwrap();
}

fn zip_with_dependency(dir: &Path, name: &str, tgz: &[u8]) -> PathBuf {
    let path = dir.join(format!("{name}.zip"));
    let meta = meta(Some(&sha256(tgz)));
    module_zip(&path, meta.to_string().as_bytes(), Some(tgz));
    path
}

fn run(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let output = rmpack().args(args).output().unwrap();
    assert!(
        output.status.signal().is_none(),
        "killed by a signal: {:?}",
        output.status
    );
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn rule_ids(report_json: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(report_json).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {report_json}");
    });
    value["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn validate_refuses_each_hostile_tarball_unpack_refuses_with_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_tgz();
    let zeros = vec![0u8; 24 << 20];
    let many: Vec<String> = (0..1001).map(|i| format!("f{i}")).collect();
    let many_items: Vec<TarItem<'_>> = many.iter().map(|n| file(n, b"x")).collect();
    let special = |name: &'static str, kind| TarItem {
        name,
        kind,
        data: b"",
        link: Some("/etc/passwd"),
    };
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "not-gzip",
            b"this is plain text".to_vec(),
            "dependency-not-gzip",
            "not a gzip'd tarball",
        ),
        ("empty", Vec::new(), "dependency-not-gzip", "it is empty"),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "dependency-damaged",
            "damaged",
        ),
        (
            "garbage-after-magic",
            [&[0x1f, 0x8b][..], &[0x55; 300][..]].concat(),
            "dependency-damaged",
            "damaged",
        ),
        (
            "dotdot",
            gzip(&raw_tar(&[file("../../escape.txt", b"x")])),
            "dependency-unsafe-path",
            "`..` component",
        ),
        (
            "absolute",
            gzip(&raw_tar(&[file("/tmp/evil.txt", b"x")])),
            "dependency-unsafe-path",
            "absolute path",
        ),
        (
            "symlink",
            gzip(&raw_tar(&[special("lib", tar::EntryType::Symlink)])),
            "dependency-link",
            "a link",
        ),
        (
            "hardlink",
            gzip(&raw_tar(&[special("passwd", tar::EntryType::Link)])),
            "dependency-link",
            "a link",
        ),
        (
            "char-device",
            gzip(&raw_tar(&[special("null", tar::EntryType::Char)])),
            "dependency-special-file",
            "character device",
        ),
        (
            "block-device",
            gzip(&raw_tar(&[special("sda", tar::EntryType::Block)])),
            "dependency-special-file",
            "block device",
        ),
        (
            "fifo",
            gzip(&raw_tar(&[special("pipe", tar::EntryType::Fifo)])),
            "dependency-special-file",
            "FIFO",
        ),
        (
            "duplicate",
            gzip(&raw_tar(&[file("a.txt", b"1"), file("A.TXT", b"2")])),
            "dependency-duplicate",
            "duplicate",
        ),
        (
            "bomb",
            gzip(&raw_tar(&[TarItem {
                name: "zeros",
                kind: tar::EntryType::Regular,
                data: &zeros,
                link: None,
            }])),
            "dependency-too-large",
            "inflates past",
        ),
        (
            "many-entries",
            gzip(&raw_tar(&many_items)),
            "dependency-too-large",
            "more than 1000 entries",
        ),
    ];
    let cap = (16u64 << 20).to_string();
    for (name, tgz, rule, message) in &cases {
        let zip = zip_with_dependency(dir.path(), name, tgz);
        let (code, stdout, stderr) = run(&[
            os("validate"),
            zip.as_os_str(),
            os("--format"),
            os("json"),
            os("--max-size"),
            os(&cap),
        ]);
        assert_eq!(code, 1, "{name}: validate must fail: {stdout}{stderr}");
        let rules = rule_ids(&stdout);
        assert!(
            rules.contains(&rule.to_string()),
            "{name}: {rules:?}\n{stdout}"
        );
        assert!(
            stdout.contains("invalid_dependency_data"),
            "{name}: {stdout}"
        );
        assert!(stdout.contains(message), "{name}: `{message}` in {stdout}");

        let dest = dir.path().join(format!("{name}-out"));
        std::fs::create_dir(&dest).unwrap();
        let (code, _, stderr) = run(&[
            os("unpack"),
            zip.as_os_str(),
            os("-d"),
            dest.as_os_str(),
            os("--max-size"),
            os(&cap),
        ]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stderr.contains("dependency archive"), "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: `{message}` in {stderr}");
        assert_eq!(
            std::fs::read_dir(&dest).unwrap().count(),
            0,
            "{name} left files"
        );
        assert!(!dir.path().join("escape.txt").exists());
    }
    // The good archive passes both.
    let zip = zip_with_dependency(dir.path(), "good", &good);
    let (code, stdout, _) = run(&[os("validate"), zip.as_os_str(), os("--format"), os("json")]);
    let rules = rule_ids(&stdout);
    assert!(
        !rules.iter().any(|r| r.starts_with("dependency-")),
        "{rules:?}"
    );
    assert_eq!(code, 0, "{stdout}");
    let dest = dir.path().join("good-out");
    let (code, _, stderr) = run(&[os("unpack"), zip.as_os_str(), os("-d"), dest.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(dest.join("deps/helper/bin/tool").is_file());
    // A folder holding a hostile archive gets the same check.
    let folder = dir.path().join("folder");
    std::fs::create_dir_all(folder.join("deps")).unwrap();
    std::fs::write(folder.join("deps/helper.tgz"), &cases[4].1).unwrap();
    let bundle = Bundle::from_directory(&folder).unwrap();
    let report = rmpack::validate::check_bundle(
        &bundle,
        &rmpack::validate::Target::default(),
        &rmpack::validate::CheckOptions::default(),
    );
    assert!(
        report.has("dependency-unsafe-path"),
        "{:?}",
        report.diagnostics
    );
}

/// Positions of `needle` in `haystack`.
fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Runs validate, inspect and unpack on `zip`: (code, stdout + stderr) of each.
fn three_readers(zip: &Path, dest: &Path) -> [(i32, String); 3] {
    let both = |(code, out, err): (i32, String, String)| (code, format!("{out}{err}"));
    [
        both(run(&[os("validate"), zip.as_os_str()])),
        both(run(&[os("inspect"), zip.as_os_str()])),
        both(run(&[
            os("unpack"),
            zip.as_os_str(),
            os("-d"),
            dest.as_os_str(),
        ])),
    ]
}

#[test]
fn zips_that_disagree_with_themselves_are_refused_alike_by_validate_inspect_and_unpack() {
    let dir = tempfile::tempdir().unwrap();
    let good_json = meta(None).to_string();

    // A local header that renames module.json.
    let renamed = dir.path().join("renamed.zip");
    module_zip(&renamed, good_json.as_bytes(), None);
    let mut bytes = std::fs::read(&renamed).unwrap();
    let local = find_all(&bytes, b"PK\x03\x04")[0];
    bytes[local + 30..local + 30 + 11].copy_from_slice(b"modulX.json");
    std::fs::write(&renamed, &bytes).unwrap();

    // Five central entries sharing the .so's local header.
    let shared = dir.path().join("shared.zip");
    module_zip(&shared, good_json.as_bytes(), None);
    let mut bytes = std::fs::read(&shared).unwrap();
    let central = find_all(&bytes, b"PK\x01\x02");
    let end = find_all(&bytes, b"PK\x05\x06")[0];
    let so_record = bytes[central[1]..end].to_vec();
    let mut patched = bytes[..end].to_vec();
    for _ in 0..4 {
        patched.extend_from_slice(&so_record);
    }
    let mut eocd = bytes[end..].to_vec();
    let count = 2 + 4u16;
    eocd[8..10].copy_from_slice(&count.to_le_bytes());
    eocd[10..12].copy_from_slice(&count.to_le_bytes());
    let cd_size = (patched.len() - central[0]) as u32;
    eocd[12..16].copy_from_slice(&cd_size.to_le_bytes());
    patched.extend_from_slice(&eocd);
    bytes = patched;
    std::fs::write(&shared, &bytes).unwrap();

    for (zip, expected) in [
        (&renamed, "its local header names it `modulX.json`"),
        (&shared, "overlaps that of `plain.so`"),
    ] {
        let results = three_readers(zip, &dir.path().join("out"));
        let first_line = |text: &str| {
            text.lines()
                .find(|l| l.contains("not a consistent zip"))
                .unwrap_or_default()
                .trim_start_matches(|c: char| !c.is_alphanumeric())
                .to_string()
        };
        for (code, text) in &results {
            assert_eq!(*code, 2, "{}: {text}", zip.display());
            assert!(text.contains(expected), "{}: {text}", zip.display());
        }
        let lines: Vec<String> = results.iter().map(|(_, t)| first_line(t)).collect();
        assert!(lines.iter().all(|l| l.contains(expected)), "{lines:?}");
        assert!(!dir.path().join("out").exists(), "unpack wrote nothing");
    }

    // Bytes after module.json's JSON, and a key given twice: the same reason from all three.
    for (name, json, reason) in [
        (
            "trailing",
            format!("{good_json}\n{{}}"),
            "trailing characters",
        ),
        (
            "duplicate-key",
            good_json.replacen('{', "{\"module_name\": \"other\", ", 1),
            "duplicate key `module_name`",
        ),
    ] {
        let zip = dir.path().join(format!("{name}.zip"));
        module_zip(&zip, json.as_bytes(), None);
        let [(v_code, v_text), (i_code, i_text), (u_code, u_text)] =
            three_readers(&zip, &dir.path().join(format!("{name}-out")));
        assert_eq!(v_code, 1, "{v_text}");
        assert!(
            v_text.contains("json-syntax") && v_text.contains(reason),
            "{v_text}"
        );
        assert_eq!(i_code, 0, "{i_text}");
        assert!(
            i_text.contains("module.json is not valid JSON") && i_text.contains(reason),
            "{i_text}"
        );
        assert_eq!(u_code, 2, "{u_text}");
        assert!(
            u_text.contains("module.json cannot be read") && u_text.contains(reason),
            "{u_text}"
        );
    }

    // A declared size that does not match the data (deflated, so the sizes stay consistent).
    let liar = dir.path().join("liar.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&liar).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("module.json", options).unwrap();
        zip.write_all(good_json.as_bytes()).unwrap();
        zip.start_file("plain.so", options.unix_permissions(0o755))
            .unwrap();
        zip.write_all(&std::fs::read(common::fixture("plain")).unwrap())
            .unwrap();
        zip.finish().unwrap();
    }
    let mut bytes = std::fs::read(&liar).unwrap();
    let declared = (good_json.len() as u32).to_le_bytes();
    let bigger = (good_json.len() as u32 + 1).to_le_bytes();
    let local = find_all(&bytes, b"PK\x03\x04")[0];
    let central = find_all(&bytes, b"PK\x01\x02")[0];
    assert_eq!(bytes[local + 22..local + 26], declared);
    bytes[local + 22..local + 26].copy_from_slice(&bigger);
    bytes[central + 24..central + 28].copy_from_slice(&bigger);
    std::fs::write(&liar, &bytes).unwrap();
    let reason = format!(
        "it inflates to {} bytes, but its header declares {}",
        good_json.len(),
        good_json.len() + 1
    );
    let [(v_code, v_text), _, (u_code, u_text)] =
        three_readers(&liar, &dir.path().join("liar-out"));
    assert_eq!(v_code, 1, "{v_text}");
    assert!(
        v_text.contains("zip-damaged") && v_text.contains(&reason),
        "{v_text}"
    );
    assert_eq!(u_code, 2, "{u_text}");
    assert!(u_text.contains(&reason), "{u_text}");
}

/// Runs rmpack to completion and returns (exit code, stderr, peak resident memory in KiB), read
/// from the child's own rusage (wait4). A watchdog kills a child that hangs, so the test fails
/// instead.
#[allow(clippy::zombie_processes)] // reaped by wait4 below
fn wait_measured(args: &[std::ffi::OsString]) -> (i32, String, i64) {
    use std::io::Read;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut child = rmpack()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            for _ in 0..300 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if done.load(Ordering::Relaxed) {
                    return false;
                }
            }
            // SAFETY: the child is not reaped before `done` is set, so the pid is still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            true
        })
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid pointers.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    done.store(true, Ordering::Relaxed);
    assert_eq!(reaped, pid);
    assert!(
        !watchdog.join().unwrap(),
        "rmpack {args:?} hung and was killed"
    );
    assert!(
        libc::WIFEXITED(status),
        "rmpack {args:?} died of a signal: {status}"
    );
    (libc::WEXITSTATUS(status), stderr, usage.ru_maxrss)
}

const MEASURE_ARGS: &str = "RMPACK_TEST_MEASURE_ARGS";

/// Not a test of its own: run by [`run_measured`] in a fresh process of this test binary, it
/// starts rmpack and reports its rusage. Linux carries a parent's peak memory over to a child
/// through fork and exec, so rmpack is started from this small process rather than from the
/// test process, whose other tests hold large buffers.
#[test]
fn measure_helper() {
    let Some(args) = std::env::var_os(MEASURE_ARGS) else {
        return;
    };
    let args: Vec<std::ffi::OsString> = serde_json::from_str::<Vec<String>>(args.to_str().unwrap())
        .unwrap()
        .into_iter()
        .map(Into::into)
        .collect();
    let (code, stderr, max_rss) = wait_measured(&args);
    let report = serde_json::json!({"code": code, "stderr": stderr, "max_rss_kib": max_rss});
    println!("MEASURED {report}");
}

fn run_measured(args: &[&std::ffi::OsStr]) -> (i32, String, i64) {
    let list: Vec<String> = args
        .iter()
        .map(|a| a.to_str().unwrap().to_string())
        .collect();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "measure_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MEASURE_ARGS, serde_json::to_string(&list).unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("MEASURED ").map(|(_, json)| json))
        .unwrap_or_else(|| {
            panic!(
                "no measurement: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    (
        value["code"].as_i64().unwrap() as i32,
        value["stderr"].as_str().unwrap().to_string(),
        value["max_rss_kib"].as_i64().unwrap(),
    )
}

#[test]
fn inputs_that_are_not_regular_files_are_refused_at_once_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = common::fixture("plain");
    let link = |name: &str, to: &Path| {
        let path = d.join(name);
        std::os::unix::fs::symlink(to, &path).unwrap();
        path
    };
    let fifo = |name: &str| {
        let path = d.join(name);
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        path
    };
    let zero = Path::new("/dev/zero");
    let json_dir = d.join("bundle");
    std::fs::create_dir(&json_dir).unwrap();
    std::os::unix::fs::symlink(zero, json_dir.join("module.json")).unwrap();
    let zero_json = link("module.json", zero);
    let zero_so = link("zero.so", zero);
    let zero_toml = link("zero.toml", zero);
    let zero_zip = link("zero.zip", zero);
    let fifo_zip = fifo("pipe.zip");
    let fifo_so = fifo("pipe.so");
    let fifo_toml = fifo("pipe.toml");
    let fifo_db = fifo("db.json");
    let folder = d.join("folder.zip");
    std::fs::create_dir(&folder).unwrap();
    let out = d.join("out");
    let p = |p: &Path| p.as_os_str().to_owned();
    let s = |s: &str| std::ffi::OsString::from(s);
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (vec![s("validate"), p(&zero_json)], "character device"),
        (vec![s("validate"), p(&json_dir)], "character device"),
        (vec![s("validate"), p(&zero_so)], "character device"),
        (vec![s("validate"), p(&zero_zip)], "character device"),
        (vec![s("inspect"), p(&zero_json)], "character device"),
        (
            vec![s("unpack"), p(&zero_zip), s("-d"), p(&out)],
            "character device",
        ),
        (
            vec![s("pack"), s("--no-discover"), p(&zero_so)],
            "character device",
        ),
        (
            vec![
                s("pack"),
                s("--no-discover"),
                s("--manifest"),
                p(&zero_toml),
                p(&plain),
            ],
            "character device",
        ),
        (
            vec![
                s("pack"),
                s("--no-discover"),
                s("--add-command"),
                p(&zero_json),
                p(&plain),
            ],
            "character device",
        ),
        (
            vec![s("validate"), p(&plain), s("--db-config"), p(zero)],
            "character device",
        ),
        (vec![s("validate"), p(&fifo_zip)], "FIFO"),
        (vec![s("inspect"), p(&fifo_zip)], "FIFO"),
        (vec![s("unpack"), p(&fifo_zip), s("-d"), p(&out)], "FIFO"),
        (vec![s("pack"), s("--no-discover"), p(&fifo_so)], "FIFO"),
        (
            vec![
                s("pack"),
                s("--no-discover"),
                s("--manifest"),
                p(&fifo_toml),
                p(&plain),
            ],
            "FIFO",
        ),
        (
            vec![s("validate"), p(&plain), s("--db-config"), p(&fifo_db)],
            "FIFO",
        ),
        (
            vec![s("unpack"), p(&folder), s("-d"), p(&out)],
            "a directory",
        ),
        (
            vec![
                s("pack"),
                s("--no-discover"),
                s("--manifest"),
                p(&folder),
                p(&plain),
            ],
            "a directory",
        ),
        (
            vec![s("validate"), p(&plain), s("--db-config"), p(&folder)],
            "a directory",
        ),
    ];
    for (args, what) in &cases {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let (code, stderr, max_rss_kib) = run_measured(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(what),
            "{args:?}: expected `{what}` in {stderr}"
        );
        assert!(
            max_rss_kib < 64 * 1024,
            "{args:?} took {max_rss_kib} KiB at its peak"
        );
    }
    assert!(!out.exists());
}

#[test]
fn a_zip_truncated_while_it_is_read_gives_an_error_and_exit_2_never_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("big.zip");
    // A large stored module: reading (and hashing) it takes long enough for the truncation to
    // land while it is read.
    let so = std::fs::read(common::fixture("plain")).unwrap();
    let mut module = so.clone();
    module.resize(96 << 20, 0x5a);
    let meta = {
        let mut m = meta(None);
        m["sha256"] = serde_json::Value::String(sha256(&module));
        m.to_string()
    };
    let write_zip = || {
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        writer.start_file("module.json", stored).unwrap();
        writer.write_all(meta.as_bytes()).unwrap();
        writer
            .start_file("plain.so", stored.unix_permissions(0o755))
            .unwrap();
        writer.write_all(&module).unwrap();
        writer.finish().unwrap();
    };
    let mut saw_the_message = false;
    for command in ["validate", "inspect", "unpack"] {
        write_zip();
        let mut cmd = rmpack();
        cmd.arg(command).arg(&zip);
        if command == "unpack" {
            cmd.arg("-d").arg(dir.path().join("out"));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Let it read the central directory, then cut the module's data short.
        std::thread::sleep(std::time::Duration::from_millis(150));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&zip)
            .unwrap()
            .set_len(4 << 20)
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.signal().is_none(),
            "{command} died of signal {:?}: {stderr}",
            output.status.signal()
        );
        let code = output.status.code().unwrap();
        assert!(code <= 2, "{command}: {code} {stderr}");
        if code == 2 {
            assert!(
                stderr.contains("became shorter") || stderr.contains("not a readable zip"),
                "{command}: {stderr}"
            );
            saw_the_message |= stderr.contains("became shorter");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(saw_the_message, "no run was cut short while reading");
    assert!(
        !dir.path().join("out").join("plain.so").exists(),
        "a cut-short unpack left no module"
    );
}

/// Damaged tarballs (bytes of the tar or of the gzip stream flipped, cut short, overwritten)
/// give a finding or an error, never a panic, from the reader, the validator and the unpacker.
#[test]
fn damaged_tarballs_never_panic() {
    let tar = raw_tar(&[
        file("bin/tool", b"#!/bin/sh\necho tool\n"),
        file("share/data.txt", b"data\n"),
        file("share/more/deep.txt", b"deeper\n"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("folder");
    std::fs::create_dir_all(folder.join("deps")).unwrap();
    let zip = dir.path().join("damaged.zip");
    let out = dir.path().join("out");
    let mut rng = fastrand::Rng::with_seed(0x7a5b);
    let limits = Limits {
        max_total_size: 1 << 20,
        ..Limits::default()
    };
    for round in 0..300 {
        // Half the rounds damage the tar itself (then gzip it, so the tar reader sees it).
        let mut bytes = if round % 2 == 0 {
            tar.clone()
        } else {
            gzip(&tar)
        };
        match round % 3 {
            0 => {
                for _ in 0..rng.usize(1..8) {
                    let at = rng.usize(..bytes.len());
                    bytes[at] = rng.u8(..);
                }
            }
            1 => bytes.truncate(rng.usize(..bytes.len())),
            _ => {
                let at = rng.usize(..bytes.len().saturating_sub(16));
                for b in &mut bytes[at..at + 16] {
                    *b = rng.u8(..);
                }
            }
        }
        if round % 2 == 0 {
            bytes = gzip(&bytes);
        }
        std::fs::write(folder.join("deps/helper.tgz"), &bytes).unwrap();
        if let Ok(bundle) = Bundle::from_directory(&folder) {
            let _ = rmpack::validate::check_bundle(
                &bundle,
                &rmpack::validate::Target::default(),
                &rmpack::validate::CheckOptions::default(),
            );
        }
        let meta = meta(Some(&sha256(&bytes)));
        module_zip(&zip, meta.to_string().as_bytes(), Some(&bytes));
        if let Ok(bundle) = Bundle::read_with_limits(&zip, limits) {
            let _ = rmpack::validate::check_bundle(
                &bundle,
                &rmpack::validate::Target::default(),
                &rmpack::validate::CheckOptions::default(),
            );
        }
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        if unpack(&zip, &out, limits).is_err() {
            let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
            assert!(
                left.is_empty(),
                "round {round}: a refused unpack left {left:?}"
            );
        }
    }
}
