//! Reading and unpacking module zips: a good zip unpacks with its execute bit and dependencies;
//! every hostile zip is refused with a clear error, exit code 2, and nothing left behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rmpack::bundle::{unpack, Bundle, BundleError, Limits};
use sha2::{Digest, Sha256};

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Writes the zip at argv[1] with Python's zipfile, after `prelude` has defined:
/// `so` (path of the plain fixture), `meta` (a good module.json as a dict), `tgz` (path of a
/// dependency tarball) and `add_so(z, name)` (stores the .so with mode 0755).
fn python_zip(dir: &Path, name: &str, body: &str) -> PathBuf {
    let so = common::fixture("plain");
    let tgz = dependency_tarball(dir);
    let prelude = format!(
        r#"import sys, json, zipfile, hashlib, warnings
warnings.simplefilter("ignore")
so = {so:?}
tgz = {tgz:?}
def sha(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()
meta = {{"module_name": "plain", "module_file": "plain.so", "version": 10203,
        "semantic_version": "1.2.3", "display_name": "plain", "commands": [],
        "command_line_args": "", "capabilities": [], "min_redis_version": "6.0",
        "architecture": "x86_64", "os": "Linux", "sha256": sha(so),
        "dependencies": {{"helper": {{"sha256": sha(tgz)}}}}}}
def add_so(z, name="plain.so", data=None):
    i = zipfile.ZipInfo(name); i.create_system = 3; i.external_attr = 0o100755 << 16
    i.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(i, data if data is not None else open(so, "rb").read())
z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED)
"#,
        so = so.display().to_string(),
        tgz = tgz.display().to_string(),
    );
    let script = format!("{prelude}{body}\nz.close()\n");
    let path = dir.join(name);
    let output = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .arg(&path)
        .output()
        .expect("python3 is needed for these tests");
    assert!(
        output.status.success(),
        "{}\n{script}",
        String::from_utf8_lossy(&output.stderr)
    );
    path
}

/// A dependency tarball holding `bin/tool` (0755) and `share/data.txt`.
fn dependency_tarball(dir: &Path) -> PathBuf {
    let path = dir.join("helper.tgz");
    if path.is_file() {
        return path;
    }
    let script = r##"import sys, tarfile, io
with tarfile.open(sys.argv[1], "w:gz") as t:
    for name, data, mode in [("bin/tool", b"#!/bin/sh\necho tool\n", 0o755), ("share/data.txt", b"data\n", 0o644)]:
        i = tarfile.TarInfo(name); i.size = len(data); i.mode = mode
        t.addfile(i, io.BytesIO(data))
"##;
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

const GOOD: &str = r#"z.writestr("module.json", json.dumps(meta))
add_so(z)
z.write(tgz, "deps/helper.tgz")"#;

fn run_unpack(zip: &Path, dest: &Path, extra: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .arg("unpack")
        .arg(zip)
        .arg("-d")
        .arg(dest)
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn listing(dir: &Path) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            e.unwrap()
                .path()
                .strip_prefix(dir)
                .unwrap()
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn a_good_zip_unpacks_with_the_execute_bit_and_its_dependencies() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let zip = python_zip(dir.path(), "good.zip", GOOD);
    let dest = dir.path().join("out");
    let unpacked = unpack(&zip, &dest, Limits::default()).unwrap();
    assert_eq!(unpacked.module_json.module_name, "plain");
    let so = dest.join("plain.so");
    assert_eq!(unpacked.module, so);
    assert_eq!(
        std::fs::metadata(&so).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(sha256_file(&so), sha256_file(&common::fixture("plain")));
    let tool = dest.join("deps/helper/bin/tool");
    assert_eq!(
        std::fs::metadata(&tool).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("deps/helper/share/data.txt")).unwrap(),
        "data\n"
    );
    assert!(dest.join("deps/helper.tgz").is_file());
    let mut files = listing(&dest);
    files.sort();
    assert!(
        !files.iter().any(|f| f.contains(".rmpack-unpack")),
        "no staging folder left: {files:?}"
    );
    // Unpacking again over the same files is refused, and the first result stays intact.
    let err = unpack(&zip, &dest, Limits::default()).unwrap_err();
    assert!(
        matches!(err, BundleError::DestinationExists { .. }),
        "{err}"
    );
    assert!(so.is_file());

    // The CLI does the same and says what it verified.
    let dest2 = dir.path().join("cli-out");
    let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .args(["unpack"])
        .arg(&zip)
        .arg("-d")
        .arg(&dest2)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("sha256") && stdout.contains("helper"),
        "{stdout}"
    );
    assert!(dest2.join("plain.so").is_file());
}

#[test]
fn hostile_zips_are_refused_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "dotdot",
            r#"z.writestr("module.json", json.dumps(meta)); add_so(z); z.writestr("../evil.txt", b"x")"#,
            "unsafe name",
        ),
        (
            "nested-dotdot",
            r#"z.writestr("module.json", json.dumps(meta)); add_so(z); z.writestr("deps/../../evil.tgz", b"x")"#,
            "unsafe name",
        ),
        (
            "absolute",
            r#"z.writestr("module.json", json.dumps(meta)); add_so(z); z.writestr("/tmp/evil.txt", b"x")"#,
            "unsafe name",
        ),
        (
            "backslash",
            r#"z.writestr("module.json", json.dumps(meta)); add_so(z); z.writestr("..\\evil.txt", b"x")"#,
            "unsafe name",
        ),
        (
            "drive",
            r#"z.writestr("module.json", json.dumps(meta)); add_so(z); z.writestr("C:/evil.txt", b"x")"#,
            "unsafe name",
        ),
        (
            "symlink",
            r#"z.writestr("module.json", json.dumps(meta))
i = zipfile.ZipInfo("plain.so"); i.create_system = 3; i.external_attr = 0o120777 << 16
z.writestr(i, "/etc/passwd")"#,
            "is a link",
        ),
        (
            "duplicate",
            r#"z.writestr("module.json", json.dumps(meta)); add_so(z); z.writestr("module.json", b"{}")"#,
            "same name",
        ),
        (
            "case-duplicate",
            r#"z.writestr("module.json", json.dumps(meta)); add_so(z); add_so(z, "PLAIN.so")"#,
            "same name",
        ),
        (
            "two-modules",
            r#"z.writestr("module.json", json.dumps(meta)); add_so(z); add_so(z, "other.so")"#,
            "2 .so files",
        ),
        (
            "extra-file",
            r#"z.writestr("module.json", json.dumps(meta)); add_so(z); z.writestr("README.md", b"hello")"#,
            "unexpected entry",
        ),
        ("no-module-json", r#"add_so(z)"#, "no module.json"),
        (
            "so-sha256-mismatch",
            r#"meta["sha256"] = "0" * 64
z.writestr("module.json", json.dumps(meta)); add_so(z); z.write(tgz, "deps/helper.tgz")"#,
            "sha256 of `plain.so`",
        ),
        (
            "dep-sha256-mismatch",
            r#"meta["dependencies"]["helper"]["sha256"] = "1" * 64
z.writestr("module.json", json.dumps(meta)); add_so(z); z.write(tgz, "deps/helper.tgz")"#,
            "sha256 of `deps/helper.tgz`",
        ),
        (
            "tar-escape",
            r#"import tarfile, io
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as t:
    i = tarfile.TarInfo("../../escape.txt"); i.size = 1; t.addfile(i, io.BytesIO(b"x"))
data = buf.getvalue()
meta["dependencies"]["helper"]["sha256"] = hashlib.sha256(data).hexdigest()
z.writestr("module.json", json.dumps(meta)); add_so(z); z.writestr("deps/helper.tgz", data)"#,
            "dependency archive",
        ),
        (
            "tar-symlink",
            r#"import tarfile, io
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as t:
    i = tarfile.TarInfo("lib"); i.type = tarfile.SYMTYPE; i.linkname = "/etc"; t.addfile(i)
data = buf.getvalue()
meta["dependencies"]["helper"]["sha256"] = hashlib.sha256(data).hexdigest()
z.writestr("module.json", json.dumps(meta)); add_so(z); z.writestr("deps/helper.tgz", data)"#,
            "a link",
        ),
        (
            "tgz-bomb",
            r#"import tarfile, io
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as t:
    i = tarfile.TarInfo("zeros"); i.size = 24 << 20; t.addfile(i, io.BytesIO(b"\0" * (24 << 20)))
data = buf.getvalue()
meta["dependencies"]["helper"]["sha256"] = hashlib.sha256(data).hexdigest()
z.writestr("module.json", json.dumps(meta)); add_so(z); z.writestr("deps/helper.tgz", data)"#,
            "inflates past",
        ),
        (
            "zip-bomb",
            r#"z.writestr("module.json", json.dumps(meta)); add_so(z, data=open(so, "rb").read() + b"\0" * (64 << 20))"#,
            "inflates past",
        ),
    ];
    let small_cap = (16u64 << 20).to_string();
    for (name, body, expected) in cases {
        let zip = python_zip(dir.path(), &format!("{name}.zip"), body);
        let dest = dir.path().join(format!("{name}-out"));
        std::fs::create_dir(&dest).unwrap();
        let (code, stderr) = run_unpack(&zip, &dest, &["--max-size", &small_cap]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{name}: expected `{expected}` in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(listing(&dest), Vec::<String>::new(), "{name} left files");
        assert!(
            !dir.path().join("evil.txt").exists() && !dir.path().join("escape.txt").exists(),
            "{name} escaped"
        );
        // A destination that did not exist is not left behind either.
        let fresh = dir.path().join(format!("{name}-fresh"));
        let limits = Limits {
            max_total_size: 16 << 20,
            ..Limits::default()
        };
        assert!(unpack(&zip, &fresh, limits).is_err(), "{name}");
        assert!(!fresh.exists(), "{name} left {}", fresh.display());
    }
}

#[test]
fn a_header_that_lies_about_its_size_is_caught_while_inflating() {
    let dir = tempfile::tempdir().unwrap();
    // A .so entry of 8 MiB of zeros whose headers claim 100 bytes: the declared sizes pass the
    // up-front check, so it is caught while inflating, after bytes were written, which must
    // then be removed.
    let zip = python_zip(
        dir.path(),
        "liar.zip",
        r#"z.writestr("module.json", json.dumps(meta)); add_so(z, data=b"\0" * (8 << 20))
z.close()
import struct
b = bytearray(open(sys.argv[1], "rb").read())
for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
    pos = 0
    while True:
        pos = b.find(sig, pos)
        if pos < 0: break
        name_len = struct.unpack_from("<H", b, pos + (26 if sig == b"PK\x03\x04" else 28))[0]
        start = pos + (30 if sig == b"PK\x03\x04" else 46)
        if bytes(b[start:start + name_len]) == b"plain.so":
            struct.pack_into("<I", b, pos + off, 100)
        pos += 4
open(sys.argv[1], "wb").write(b)
z = zipfile.ZipFile(io := __import__("io").BytesIO(), "w")"#,
    );
    let dest = dir.path().join("out");
    std::fs::create_dir(&dest).unwrap();
    let limits = Limits {
        max_total_size: 1 << 20,
        ..Limits::default()
    };
    let err = unpack(&zip, &dest, limits).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::TooLarge { .. } | BundleError::Corrupt { .. }
        ),
        "{err}"
    );
    assert_eq!(listing(&dest), Vec::<String>::new());
    // The tolerant reader records the same instead of failing.
    let bundle = Bundle::read_with_limits(&zip, limits).unwrap();
    assert!(!bundle.problems.is_empty(), "{:?}", bundle.problems);
}

#[test]
fn the_tolerant_reader_lists_entries_and_hashes_while_reading() {
    let dir = tempfile::tempdir().unwrap();
    let zip = python_zip(dir.path(), "good.zip", GOOD);
    let bundle = Bundle::read(&zip).unwrap();
    let names: Vec<&str> = bundle.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["module.json", "plain.so", "deps/helper.tgz"]);
    let module = bundle.module.as_ref().unwrap();
    assert_eq!(module.sha256, sha256_file(&common::fixture("plain")));
    assert_eq!(module.unix_mode, Some(0o755));
    assert_eq!(
        bundle.deps[0].sha256,
        sha256_file(&dependency_tarball(dir.path()))
    );
    assert!(bundle.manifest().is_some());
    // A module.json that does not parse is kept with its error, not fatal.
    let broken = python_zip(
        dir.path(),
        "broken.zip",
        r#"z.writestr("module.json", "{not json"); add_so(z)"#,
    );
    let bundle = Bundle::read(&broken).unwrap();
    assert!(matches!(bundle.module_json_value, Some(Err(_))));
    assert!(bundle.module.is_some());
    // Not a zip at all is the one hard failure.
    let not_zip = dir.path().join("not.zip");
    std::fs::write(&not_zip, b"hello").unwrap();
    assert!(matches!(
        Bundle::read(&not_zip),
        Err(BundleError::NotAZip { .. })
    ));
}

#[test]
fn inspect_shows_the_contents_and_the_checksum_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let zip = python_zip(dir.path(), "good.zip", GOOD);
    let bad = python_zip(
        dir.path(),
        "bad.zip",
        r#"meta["sha256"] = "0" * 64
meta["commands"] = [{"command_name": "plain.get", "command_arity": 2, "flags": ["readonly"], "first_key": 1, "last_key": 1, "step": 1}]
z.writestr("module.json", json.dumps(meta)); add_so(z)"#,
    );
    let inspect = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
            .arg("inspect")
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, out) = inspect(&[zip.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("matches the sha256 module.json records"),
        "{out}"
    );
    assert!(
        out.contains("deps/helper.tgz") && out.contains("x86_64"),
        "{out}"
    );
    let (_, out) = inspect(&[bad.to_str().unwrap()]);
    assert!(out.contains("DOES NOT MATCH"), "{out}");
    assert!(
        out.contains("plain.get") && out.contains("readonly"),
        "{out}"
    );
    let (code, out) = inspect(&[bad.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["module"]["sha256_matches"], false);
    assert_eq!(value["module_json"]["module_name"], "plain");
    assert_eq!(value["elf"]["has_redis_module_onload"], true);
    let (code, _) = inspect(&[common::fixture("plain").to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, _) = inspect(&[dir.path().join("missing.zip").to_str().unwrap()]);
    assert_eq!(code, 2);
}

/// Damaged zips (bytes flipped, cut short, headers overwritten) must give an error or a report,
/// never a panic, from the reader, the validator and the unpacker alike.
#[test]
fn damaged_zips_never_panic() {
    let original = std::fs::read(common::testdata().join("ramp/plain.ramp.zip")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.zip");
    let out = dir.path().join("out");
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for round in 0..300 {
        let mut bytes = original.clone();
        match round % 3 {
            0 => {
                for _ in 0..rng.usize(1..8) {
                    let at = rng.usize(..bytes.len());
                    bytes[at] = rng.u8(..);
                }
            }
            1 => bytes.truncate(rng.usize(..bytes.len())),
            _ => {
                // Overwrite a run inside the central directory or a local header.
                let at = rng.usize(..bytes.len().saturating_sub(16));
                for b in &mut bytes[at..at + 16] {
                    *b = rng.u8(..);
                }
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(bundle) = Bundle::read(&path) {
            let _ = rmpack::validate::check_bundle(
                &bundle,
                &rmpack::validate::Target::default(),
                &rmpack::validate::CheckOptions::default(),
            );
        }
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        if unpack(&path, &out, Limits::default()).is_err() {
            let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
            assert!(
                left.is_empty(),
                "round {round}: a refused unpack left {left:?}"
            );
        }
    }
}

/// A module larger than `max_in_memory` is inflated into a temporary file rather than memory, and
/// a zip larger than it is read through a buffer rather than mapped; what is read is the same.
#[test]
fn large_modules_are_read_through_a_file_with_the_same_result() {
    let zip = common::testdata().join("ramp/plain.ramp.zip");
    let in_memory = Bundle::read(&zip).unwrap();
    let module = in_memory.module.as_ref().unwrap();
    let facts = rmpack::elf::ElfFacts::read(&module.bytes).unwrap();
    let report = |bundle: &Bundle| {
        rmpack::validate::check_bundle(
            bundle,
            &rmpack::validate::Target::default(),
            &rmpack::validate::CheckOptions::default(),
        )
        .diagnostics
    };
    let zip_size = std::fs::metadata(&zip).unwrap().len();
    assert!(zip_size < module.bytes.len() as u64);
    // Mapped zip, module spilled; then a zip too large to map, module spilled.
    for max_in_memory in [zip_size + 1, 1024] {
        let limits = Limits {
            max_in_memory,
            ..Limits::default()
        };
        let spilled = Bundle::read_with_limits(&zip, limits).unwrap();
        let spilled_module = spilled.module.as_ref().unwrap();
        assert!(matches!(
            spilled_module.bytes,
            rmpack::bundle::ModuleBytes::Spilled(_)
        ));
        assert_eq!(spilled_module.sha256, module.sha256);
        assert_eq!(&*spilled_module.bytes, &*module.bytes);
        assert_eq!(
            rmpack::elf::ElfFacts::read(&spilled_module.bytes).unwrap(),
            facts
        );
        assert_eq!(report(&spilled), report(&in_memory));
    }
    // The size cap still holds on the file path.
    let limits = Limits {
        max_in_memory: 1024,
        max_total_size: 4096,
        ..Limits::default()
    };
    let capped = Bundle::read_with_limits(&zip, limits).unwrap();
    assert!(capped.module.is_none());
    assert!(!capped.problems.is_empty());
}

/// module.json is parsed in memory, so one far larger than any real one is refused by size,
/// before it is read whole: a small zip cannot make the reader or the unpacker take gigabytes.
#[test]
fn an_oversized_module_json_is_refused_by_reader_and_unpacker() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("padded.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("module.json", options).unwrap();
    let padding = vec![b' '; (rmpack::bundle::MAX_MODULE_JSON + 1) as usize];
    zip.write_all(&padding).unwrap();
    zip.write_all(b"{}").unwrap();
    zip.start_file("plain.so", options.unix_permissions(0o755))
        .unwrap();
    zip.write_all(&std::fs::read(common::fixture("plain")).unwrap())
        .unwrap();
    zip.finish().unwrap();
    assert!(
        std::fs::metadata(&path).unwrap().len() < 200 * 1024,
        "deflate squeezes the padding"
    );

    let bundle = Bundle::read(&path).unwrap();
    assert!(bundle.module_json_raw.is_none());
    assert!(bundle.module.is_some(), "the rest of the zip is still read");
    let report = rmpack::validate::check_bundle(
        &bundle,
        &rmpack::validate::Target::default(),
        &rmpack::validate::CheckOptions::default(),
    );
    assert!(report.has("zip-too-large"), "{:?}", report.diagnostics);

    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let err = unpack(&path, &out, Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::Layout(rmpack::bundle::LayoutIssue::ModuleJsonTooLarge { .. })
        ),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

/// A refused unpack removes the folders it created on the way to the destination, not only the
/// last one.
#[test]
fn a_refused_unpack_removes_the_folders_it_created() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrong-sha.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("module.json", options).unwrap();
    let meta = serde_json::json!({
        "module_name": "plain", "module_file": "plain.so", "version": 10203,
        "semantic_version": "1.2.3", "architecture": "x86_64", "sha256": "0".repeat(64),
    });
    zip.write_all(meta.to_string().as_bytes()).unwrap();
    zip.start_file("plain.so", options.unix_permissions(0o755))
        .unwrap();
    zip.write_all(&std::fs::read(common::fixture("plain")).unwrap())
        .unwrap();
    zip.finish().unwrap();

    let dest = dir.path().join("out/a/b");
    assert!(unpack(&path, &dest, Limits::default()).is_err());
    assert!(
        !dir.path().join("out").exists(),
        "out/ and out/a/ are removed"
    );
}
