//! Fixture modules for the integration tests.
//!
//! The C sources in `testdata/modules/` are compiled with `gcc` on first use and cached under the
//! target directory, keyed by a hash of everything that goes into the build (sources, header,
//! flags), so a run compiles each fixture at most once and an edited source is rebuilt. Builds
//! write to a unique temporary name and rename it into place, so parallel tests and parallel test
//! binaries can ask for the same fixture at the same time.
//!
//! Fixtures (module name, version → semantic version, commands):
//!
//! | fixture       | module     | version | commands                                                        |
//! |---------------|------------|---------|-----------------------------------------------------------------|
//! | `plain`       | `plain`    | 10203 → 1.2.3 | `plain.set` (write, 1 1 1, arity 3), `plain.get` (readonly, 1 1 1, arity 2), `plain.ping` (no keys, arity 1), `plain.mget` (1 -1 1, no command info: arity -1) |
//! | `subcmds`     | `subcmds`  | 20001 → 2.0.1 | containers `sub.cfg` (`get`, `set`) and `sub.obj` (`put`, key spec at 2), `sub.count` (keynum key spec, movablekeys) |
//! | `args`        | `args`, or the value of `NAME` | 300 → 0.3.0 | `<PREFIX>.echo`, `<PREFIX>.loadargs` (PREFIX defaults to `args`) |
//! | `failload`    | —          | —       | logs a warning and refuses to load                              |
//! | `notmodule`   | —          | —       | a shared library without `RedisModule_OnLoad`                   |
//! | `newglibc`    | `newglibc` | 10000 → 1.0.0 | `newglibc.rand`; needs `GLIBC_2.36` (`arc4random`, `arc4random_uniform`) |
//! | `glibc234`    | `glibc234` | 10000 → 1.0.0 | `glibc234.closefrom`; needs `GLIBC_2.34` (`closefrom`) |
//! | `needs_ssl11` | `needsssl` | 10100 → 1.1.0 | `needsssl.init`; `DT_NEEDED` has `libssl.so.1.1`, needs `OPENSSL_1_1_0` |
//! | `upper`       | `upper`    | 10000 → 1.0.0 | `HELLO.UPPER`, `Hello.Mixed`: names in upper and mixed case |
//! | `probetcp`    | `probetcp` | 100     | OnLoad PINGs every TCP listener of its server, writes the outcome to the file in its first argument |
//! | `hang`        | —          | —       | OnLoad never returns (creates `$RMPACK_FIXTURE_HANG_MARKER` first) |
//! | `crash`       | —          | —       | OnLoad dies with SIGSEGV                                        |
//! | `newredis`    | —          | —       | refuses to load: "Redis version is too old, please upgrade to redis 99.1.0" |
//! | `needs_absent`| `needsabsent` | 100  | `DT_NEEDED` has `librmpack_absent.so.1`, which is never on the loader's path |
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

/// Every fixture module source in `testdata/modules/`, by the name [`fixture`] takes.
pub const FIXTURES: &[&str] = &[
    "plain",
    "subcmds",
    "args",
    "failload",
    "notmodule",
    "newglibc",
    "glibc234",
    "needs_ssl11",
    "upper",
    "probetcp",
    "hang",
    "crash",
    "newredis",
    "needs_absent",
];

/// Flags every fixture is compiled with. `-g` keeps debug info so `strip` and
/// `objcopy --only-keep-debug` have something to work on.
const CFLAGS: &[&str] = &[
    "-O2", "-g", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror",
];

/// The crate's `testdata/` directory.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// A file under `testdata/manifests/`, e.g. `manifest("plain-aarch64.toml")`.
pub fn manifest(name: &str) -> PathBuf {
    let path = testdata().join("manifests").join(name);
    assert!(path.is_file(), "no manifest {}", path.display());
    path
}

/// The directory the built fixtures are cached in (created on demand).
pub fn cache_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rmpack-fixtures");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create fixture cache {}: {e}", dir.display()));
    dir
}

/// The fixture module built from `testdata/modules/{name}.c`, as an absolute path to its `.so`.
///
/// `needs_ssl11` is linked against a stand-in `libssl.so.1.1` (see [`fake_libssl_dir`]) with a
/// RUNPATH pointing at it, so it also loads into the local redis-server.
pub fn fixture(name: &str) -> PathBuf {
    let source = testdata().join("modules").join(format!("{name}.c"));
    assert!(
        source.is_file(),
        "no fixture source {} (known fixtures: {FIXTURES:?})",
        source.display()
    );
    let mut args: Vec<String> = CFLAGS.iter().map(|s| s.to_string()).collect();
    args.push(format!("-I{}", testdata().join("include").display()));
    args.push(source.display().to_string());
    let mut inputs = vec![source.clone(), testdata().join("include/redismodule.h")];
    if name == "needs_ssl11" {
        let ssl_dir = fake_libssl_dir();
        args.push(format!("-L{}", ssl_dir.display()));
        args.push("-l:libssl.so.1.1".to_string());
        args.push(format!("-Wl,-rpath,{}", ssl_dir.display()));
        inputs.push(ssl_dir.join("libssl.so.1.1"));
    }
    if name == "needs_absent" {
        // Linked against a library that exists only in the build folder, with no RUNPATH.
        let absent_dir = absent_lib_dir();
        args.push(format!("-L{}", absent_dir.display()));
        args.push("-Wl,--no-as-needed".to_string());
        args.push("-l:librmpack_absent.so.1".to_string());
        inputs.push(absent_dir.join("librmpack_absent.so.1"));
    }
    cached_build(&format!("{name}.so"), &inputs, &args, |out| {
        let mut command = Command::new("gcc");
        command.args(&args).arg("-o").arg(out);
        run(command, &format!("compile fixture {name}"));
    })
}

/// A directory holding `librmpack_absent.so.1`, built from `testdata/lib/absent.c`, for linking
/// the `needs_absent` fixture; nothing puts it on the loader's path.
pub fn absent_lib_dir() -> PathBuf {
    let source = testdata().join("lib/absent.c");
    let key = content_key("librmpack_absent.so.1", std::slice::from_ref(&source), &[]);
    let dir = cache_dir().join(format!("absent-{key}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    build_once(&dir.join("librmpack_absent.so.1"), |out| {
        let mut command = Command::new("gcc");
        command
            .args([
                "-O2",
                "-fPIC",
                "-shared",
                "-Wl,-soname,librmpack_absent.so.1",
            ])
            .arg(&source)
            .arg("-o")
            .arg(out);
        run(command, "build the stand-in librmpack_absent.so.1");
    });
    dir
}

/// A directory holding the stand-in `libssl.so.1.1` (soname `libssl.so.1.1`, exporting
/// `OPENSSL_init_ssl@OPENSSL_1_1_0`), built from `testdata/lib/fake_libssl.c`.
pub fn fake_libssl_dir() -> PathBuf {
    let source = testdata().join("lib/fake_libssl.c");
    let map = testdata().join("lib/fake_libssl.map");
    // The linker looks a library up by its file name, so each build gets its own directory.
    let key = content_key("libssl.so.1.1", &[source.clone(), map.clone()], &[]);
    let dir = cache_dir().join(format!("libssl-{key}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    build_once(&dir.join("libssl.so.1.1"), |out| {
        let mut command = Command::new("gcc");
        command
            .args(["-O2", "-fPIC", "-shared", "-Wl,-soname,libssl.so.1.1"])
            .arg(format!("-Wl,--version-script={}", map.display()))
            .arg(&source)
            .arg("-o")
            .arg(out);
        run(command, "build the stand-in libssl.so.1.1");
    });
    dir
}

/// The committed aarch64 build of the `plain` module (rebuilt by `testdata/build-prebuilt.sh`).
pub fn prebuilt_aarch64() -> PathBuf {
    let path = testdata().join("prebuilt/plain.aarch64.so");
    assert!(
        path.is_file(),
        "missing {}; run testdata/build-prebuilt.sh",
        path.display()
    );
    path
}

/// The `big` module of `scripts/gen-big-module.sh`: a loadable module (name `big`, version 10000,
/// commands `big.size` and `big.byte`) whose `.so` is about 36 MB and deflates about 3x.
pub fn big_module() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("scripts/gen-big-module.sh");
    let inputs = [
        script.clone(),
        testdata().join("big/big.c"),
        testdata().join("big/gen_table.c"),
        testdata().join("include/redismodule.h"),
    ];
    let key = content_key("big", &inputs, &[]);
    let dir = cache_dir().join(format!("big-{key}"));
    let module = dir.join("big.so");
    let _guard = build_lock(&module);
    if !module.is_file() {
        let mut command = Command::new("sh");
        // The synthetic table: the same bytes on every machine.
        command.arg(&script).arg(&dir).env("CONTENT", "table");
        run(
            command,
            "build the big module with scripts/gen-big-module.sh",
        );
    }
    module
}

/// A copy of fixture `name` with every symbol table but `.dynsym` removed (`strip --strip-all`).
pub fn stripped(name: &str) -> PathBuf {
    let input = fixture(name);
    cached_build(
        &format!("{name}.stripped.so"),
        std::slice::from_ref(&input),
        &[],
        |out| {
            let mut command = Command::new("strip");
            command.arg("--strip-all").arg(&input).arg("-o").arg(out);
            run(command, &format!("strip fixture {name}"));
        },
    )
}

/// The separate debug file of fixture `name` (`objcopy --only-keep-debug`): an ELF whose code
/// and data sections are NOBITS, which is not loadable.
pub fn debug_only(name: &str) -> PathBuf {
    let input = fixture(name);
    cached_build(
        &format!("{name}.debug"),
        std::slice::from_ref(&input),
        &[],
        |out| {
            let mut command = Command::new("objcopy");
            command.arg("--only-keep-debug").arg(&input).arg(out);
            run(
                command,
                &format!("extract the debug file of fixture {name}"),
            );
        },
    )
}

/// The first `len` bytes of fixture `name`, as a file named like a module.
pub fn truncated(name: &str, len: usize) -> PathBuf {
    let input = fixture(name);
    cached_build(
        &format!("{name}.first{len}.so"),
        std::slice::from_ref(&input),
        &[],
        |out| {
            let bytes =
                std::fs::read(&input).unwrap_or_else(|e| panic!("read {}: {e}", input.display()));
            assert!(
                len < bytes.len(),
                "fixture {name} has only {} bytes",
                bytes.len()
            );
            std::fs::write(out, &bytes[..len])
                .unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
        },
    )
}

/// A file named `not-an-elf.so` that holds text, not an ELF image.
pub fn not_an_elf() -> PathBuf {
    cached_build("not-an-elf.so", &[], &[], |out| {
        std::fs::write(
            out,
            "#!/bin/sh\necho this is a shell script, not a module\n",
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
    })
}

/// Builds `file_name` once per distinct content of `inputs` and `args`: returns the cached file if
/// present, else runs `build` on a unique temporary path and renames the result into place.
fn cached_build(
    file_name: &str,
    inputs: &[PathBuf],
    args: &[String],
    build: impl FnOnce(&Path),
) -> PathBuf {
    let key = content_key(file_name, inputs, args);
    let (stem, ext) = match file_name.split_once('.') {
        Some((stem, ext)) => (stem, format!(".{ext}")),
        None => (file_name, String::new()),
    };
    let path = cache_dir().join(format!("{stem}-{key}{ext}"));
    build_once(&path, build);
    path
}

/// Runs `build` on a unique temporary sibling of `path` and renames the result to `path`, unless
/// `path` exists already. A failed build leaves no temporary file behind.
fn build_once(path: &Path, build: impl FnOnce(&Path)) {
    let _guard = build_lock(path);
    if path.is_file() {
        return;
    }
    let tmp = RemoveOnDrop(unique_temp(path));
    build(&tmp.0);
    assert!(
        tmp.0.is_file(),
        "building {} produced no file",
        path.display()
    );
    std::fs::rename(&tmp.0, path)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", tmp.0.display(), path.display()));
}

/// Deletes a temporary file when dropped, including when a build panics.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A short hex digest of a build's name, input file contents and arguments.
fn content_key(name: &str, inputs: &[PathBuf], args: &[String]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    for input in inputs {
        let bytes =
            std::fs::read(input).unwrap_or_else(|e| panic!("read {}: {e}", input.display()));
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    for arg in args {
        hasher.update((arg.len() as u64).to_le_bytes());
        hasher.update(arg.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Serialises builds of the same file within this process, so concurrent tests wait for one
/// build instead of each running their own. Other processes are kept safe by the atomic rename.
fn build_lock(path: &Path) -> std::sync::MutexGuard<'static, ()> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, &'static Mutex<()>>>> = OnceLock::new();
    let lock: &'static Mutex<()> = {
        let mut locks = LOCKS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks
            .entry(path.to_path_buf())
            .or_insert_with(|| Box::leak(Box::new(Mutex::new(()))))
    };
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A temporary sibling of `path`, unique across processes and threads.
fn unique_temp(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.{n}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Runs a build tool, panicking with its output (or with how to install it) on failure.
fn run(mut command: Command, what: &str) {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = match command.output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "cannot {what}: `{program}` is not on PATH. The tests compile the fixture modules in \
             testdata/ at run time; install it (Debian/Ubuntu: apt-get install gcc binutils)"
        ),
        Err(e) => panic!("cannot {what}: running `{program}` failed: {e}"),
    };
    if !output.status.success() {
        panic!(
            "cannot {what}: `{program}` exited with {}\n--- command ---\n{command:?}\n--- stderr ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The names in `dir`, sorted.
pub fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A module zip around the gcc-built `plain` fixture, laid out as `rmpack pack` lays it out
/// (module.json 0644, the `.so` 0755 at the root), with `json` as its module.json after
/// `module_file` and `sha256` are set for the fixture (and `operating_systems` to none when it
/// gives none).
pub fn plain_module_zip(
    dir: &Path,
    name: &str,
    version: &str,
    mut json: serde_json::Value,
) -> PathBuf {
    use std::io::Write;
    let so = std::fs::read(fixture("plain")).expect("fixture built");
    let so_name = format!("{name}.so");
    json["module_file"] = so_name.clone().into();
    json["sha256"] = hex::encode(Sha256::digest(&so)).into();
    if json.get("operating_systems").is_none() {
        json["operating_systems"] = serde_json::json!([]);
    }
    let path = dir.join(format!("{name}.Linux-x86_64.{version}.zip"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("zip created"));
    let options = |mode| zip::write::SimpleFileOptions::default().unix_permissions(mode);
    zip.start_file("module.json", options(0o644))
        .expect("entry");
    zip.write_all(&serde_json::to_vec_pretty(&json).expect("json"))
        .expect("written");
    zip.start_file(so_name, options(0o755)).expect("entry");
    zip.write_all(&so).expect("written");
    zip.finish().expect("zip finished");
    path
}

/// The environment variable that makes [`assert_golden`] rewrite golden files instead of
/// comparing with them.
pub const UPDATE_GOLDEN: &str = "UPDATE_GOLDEN";

/// Compares `actual` with the golden file `tests/golden/<name>`; `UPDATE_GOLDEN=1` rewrites the
/// file instead. Every golden comparison of the test suite goes through here.
pub fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os(UPDATE_GOLDEN).is_some() {
        std::fs::create_dir_all(path.parent().expect("tests/golden")).expect("golden folder");
        std::fs::write(&path, actual).expect("golden written");
        return;
    }
    let golden = std::fs::read_to_string(&path).map_err(|error| error.to_string());
    let golden = golden.as_deref().map_err(String::as_str);
    if let Some(failure) = golden_failure(name, golden, actual) {
        panic!("{failure}");
    }
}

/// Why `actual` does not pass as the golden file `name` (read as `golden`, or the reason it
/// could not be read), with the diff or the whole output and how to refresh; `None` when equal.
pub fn golden_failure(name: &str, golden: Result<&str, &str>, actual: &str) -> Option<String> {
    match golden {
        Ok(golden) if golden == actual => None,
        Ok(golden) => Some(format!(
            "output differs from tests/golden/{name} (- golden, + actual); rerun with \
             {UPDATE_GOLDEN}=1 if the change is intended:\n{}",
            golden_diff(golden, actual)
        )),
        Err(error) => Some(format!(
            "golden file tests/golden/{name} cannot be read ({error}); run with \
             {UPDATE_GOLDEN}=1 to create it from this output:\n{actual}"
        )),
    }
}

/// A line diff of `golden` and `actual`: a few lines they share before and after the change,
/// the golden lines marked `-` and the actual ones `+`, and a note when only line endings differ.
fn golden_diff(golden: &str, actual: &str) -> String {
    let old: Vec<&str> = golden.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let context = 3;
    let mut out = String::new();
    let shown_from = prefix.saturating_sub(context);
    if shown_from > 0 {
        out.push_str(&format!("@@ line {} @@\n", shown_from + 1));
    }
    for line in &old[shown_from..prefix] {
        out.push_str(&format!("  {line}\n"));
    }
    for line in &old[prefix..old.len() - suffix] {
        out.push_str(&format!("- {line}\n"));
    }
    for line in &new[prefix..new.len() - suffix] {
        out.push_str(&format!("+ {line}\n"));
    }
    for line in old[old.len() - suffix..].iter().take(context) {
        out.push_str(&format!("  {line}\n"));
    }
    if old == new {
        out.push_str(&format!(
            "(the lines read the same; the line endings differ: golden {:?}, actual {:?})\n",
            tail(golden),
            tail(actual)
        ));
    }
    out
}

/// The last few characters of `text`, where a line-ending difference shows.
fn tail(text: &str) -> &str {
    let start = text
        .char_indices()
        .rev()
        .nth(7)
        .map_or(0, |(index, _)| index);
    &text[start..]
}

/// Writes a zip of stored entries (`name`, bytes, Unix mode) followed by a stored entry
/// `padding` of `padding_len` zero bytes left as a hole in the file: a zip of any size that
/// costs no disk and no time to write.
pub fn zip_with_sparse_padding(path: &Path, entries: &[(&str, &[u8], u32)], padding_len: u64) {
    use std::io::{Seek, SeekFrom, Write};
    fn local_header(name: &str, crc: u32, size: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes()); // version needed
        h.extend_from_slice(&0u16.to_le_bytes()); // flags
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&0u16.to_le_bytes()); // time
        h.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        h
    }
    let padding_len = u32::try_from(padding_len).expect("padding under 4 GiB");
    let mut zeros = crc32fast::Hasher::new();
    let block = vec![0u8; 1 << 20];
    let mut left = padding_len as usize;
    while left > 0 {
        let n = left.min(block.len());
        zeros.update(&block[..n]);
        left -= n;
    }
    let padding_crc = zeros.finalize();
    let mut file = std::fs::File::create(path).expect("zip created");
    let mut central = Vec::new();
    let mut count = 0u16;
    let mut record =
        |central: &mut Vec<u8>, name: &str, crc: u32, size: u32, mode: u32, offset: u32| {
            central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by Unix
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes());
            central.extend_from_slice(&0x21u16.to_le_bytes());
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&size.to_le_bytes());
            central.extend_from_slice(&size.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0u8; 8]); // extra, comment, disk, internal attributes
            central.extend_from_slice(&((0o100000 | mode) << 16).to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
            count += 1;
        };
    for (name, bytes, mode) in entries {
        let offset = file.stream_position().unwrap() as u32;
        let crc = crc32fast::hash(bytes);
        file.write_all(&local_header(name, crc, bytes.len() as u32))
            .unwrap();
        file.write_all(bytes).unwrap();
        record(&mut central, name, crc, bytes.len() as u32, *mode, offset);
    }
    let offset = file.stream_position().unwrap() as u32;
    file.write_all(&local_header("padding", padding_crc, padding_len))
        .unwrap();
    file.seek(SeekFrom::Current(i64::from(padding_len)))
        .unwrap();
    record(
        &mut central,
        "padding",
        padding_crc,
        padding_len,
        0o644,
        offset,
    );
    let central_offset = file.stream_position().unwrap() as u32;
    file.write_all(&central).unwrap();
    let mut end = Vec::new();
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0u8; 4]);
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&central_offset.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    file.write_all(&end).unwrap();
}

/// Checks `value` against the schema at `schema` (a path from the crate root, e.g.
/// `schema/fleet.schema.json`); the project's other schemas resolve where it refers to them.
pub fn assert_schema(schema: &str, value: &serde_json::Value) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema file"))
            .expect("schema JSON")
    };
    let mut options = jsonschema::options();
    for entry in std::fs::read_dir(root.join("schema")).expect("schema folder") {
        let document = read(&entry.expect("entry").path());
        let id = document["$id"].as_str().expect("$id").to_string();
        options = options.with_resource(
            id,
            jsonschema::Resource::from_contents(document).expect("a schema"),
        );
    }
    let validator = options
        .build(&read(&root.join(schema)))
        .expect("valid schema");
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        problems.is_empty(),
        "{schema}: {problems:?}\n{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// How a run of the binary ended and what it printed.
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1 when a signal ended it).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Both streams, for failure messages and searches over everything printed.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<std::process::Output> for Run {
    fn from(output: std::process::Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}
