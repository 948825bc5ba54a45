//! `rmpack pack`, run as the real binary on fixture modules compiled from `testdata/`.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rmpack::manifest::USER_DEFINED_REQUIRED_FIELDS;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Runs `rmpack pack ARGS` in `cwd` with `SOURCE_DATE_EPOCH` unset unless given in `env`.
fn pack_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rmpack"));
    command
        .arg("pack")
        .args(args)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("RMPACK_REDIS_SERVER");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run rmpack")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs pack, expects success, and returns the zip path it printed.
fn pack_ok(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (PathBuf, Output) {
    let output = pack_in(cwd, args, env);
    assert!(
        output.status.success(),
        "rmpack pack {args:?} failed: {}",
        stderr(&output)
    );
    let out = stdout(&output);
    let first = out.lines().next().expect("a path on stdout");
    (cwd.join(first), output)
}

/// Runs pack with `--json` and returns the parsed result object.
fn pack_json(cwd: &Path, args: &[&str]) -> (Value, Output) {
    let mut all = args.to_vec();
    all.push("--json");
    let output = pack_in(cwd, &all, &[]);
    assert!(
        output.status.success(),
        "rmpack pack {all:?} failed: {}",
        stderr(&output)
    );
    let value: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    (value, output)
}

fn entry_bytes(zip_path: &Path, name: &str) -> Vec<u8> {
    let file = std::fs::File::open(zip_path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut entry = archive.by_name(name).unwrap();
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    bytes
}

/// Each entry's modification time as (year, month, day, hour, minute, second).
fn entry_times<R: Read + std::io::Seek>(
    mut archive: zip::ZipArchive<R>,
) -> Vec<(u16, u8, u8, u8, u8, u8)> {
    (0..archive.len())
        .map(|i| {
            let t = archive.by_index(i).unwrap().last_modified().unwrap();
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
            )
        })
        .collect()
}

fn module_json(zip_path: &Path) -> Value {
    serde_json::from_slice(&entry_bytes(zip_path, "module.json")).unwrap()
}

fn entry_names(zip_path: &Path) -> Vec<String> {
    let file = std::fs::File::open(zip_path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().unwrap().to_string())
        .collect()
}

use common::dir_listing;

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn packing_twice_gives_identical_zips_and_source_date_epoch_sets_entry_times() {
    let plain = common::fixture("plain");
    let manifest = common::manifest("plain.toml");
    let args = [path_str(&plain), "--manifest", path_str(&manifest)];
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let (zip_one, _) = pack_ok(first.path(), &args, &[]);
    let (zip_two, _) = pack_ok(second.path(), &args, &[]);
    assert_eq!(
        zip_one.file_name().unwrap(),
        "plain.Linux-ubuntu22.04-x86_64.1.2.3.zip"
    );
    let one = std::fs::read(&zip_one).unwrap();
    assert_eq!(one, std::fs::read(&zip_two).unwrap(), "byte-identical");
    assert_eq!(
        entry_names(&zip_one),
        ["module.json", plain.file_name().unwrap().to_str().unwrap()]
    );

    // Without SOURCE_DATE_EPOCH every entry says 1980-01-01 00:00:00.
    let archive = zip::ZipArchive::new(std::io::Cursor::new(one)).unwrap();
    for time in entry_times(archive) {
        assert_eq!(time, (1980, 1, 1, 0, 0, 0));
    }

    // 2023-11-14 22:13:20 UTC.
    let dated = tempfile::tempdir().unwrap();
    let (zip_dated, _) = pack_ok(dated.path(), &args, &[("SOURCE_DATE_EPOCH", "1700000000")]);
    let archive = zip::ZipArchive::new(std::fs::File::open(&zip_dated).unwrap()).unwrap();
    for time in entry_times(archive) {
        assert_eq!(time, (2023, 11, 14, 22, 13, 20));
    }
    let python = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, list(i.date_time))",
            path_str(&zip_dated),
        ])
        .output()
        .expect("python3");
    assert!(python.status.success(), "{}", stderr(&python));
    let listing = stdout(&python);
    assert_eq!(listing.lines().count(), 2, "{listing}");
    for line in listing.lines() {
        assert!(line.ends_with("[2023, 11, 14, 22, 13, 20]"), "{listing}");
    }
    let again = tempfile::tempdir().unwrap();
    let (zip_again, _) = pack_ok(again.path(), &args, &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_eq!(
        std::fs::read(&zip_dated).unwrap(),
        std::fs::read(&zip_again).unwrap()
    );
}

#[test]
fn the_zip_unpacks_with_python_and_unzip_with_an_executable_module() {
    let plain = common::fixture("plain");
    let work = tempfile::tempdir().unwrap();
    let (zip_path, output) = pack_ok(work.path(), &[path_str(&plain), "--output", "out.zip"], &[]);
    assert_eq!(zip_path, work.path().join("out.zip"));
    // stdout: path, size, sha256 of the zip.
    let bytes = std::fs::read(&zip_path).unwrap();
    let printed = stdout(&output);
    assert!(printed.contains(&bytes.len().to_string()), "{printed}");
    assert!(printed.contains(&sha256_hex(&bytes)), "{printed}");
    let so_name = plain.file_name().unwrap().to_str().unwrap();

    // module.json has every field RS's user-defined endpoint requires, with the right types.
    let module = module_json(&zip_path);
    for field in USER_DEFINED_REQUIRED_FIELDS {
        assert!(module.get(*field).is_some(), "module.json lacks {field}");
    }
    assert!(module["version"].is_u64(), "version must be an integer");
    assert_eq!(module["version"], 10203);
    for field in [
        "module_name",
        "semantic_version",
        "display_name",
        "command_line_args",
        "min_redis_version",
    ] {
        assert!(module[field].is_string(), "{field} must be a string");
    }
    assert!(module["commands"].is_array() && module["capabilities"].is_array());
    assert_eq!(module["semantic_version"], "1.2.3");
    assert_eq!(module["architecture"], "x86_64");
    assert_eq!(module["module_file"], so_name);
    assert_eq!(
        module["sha256"],
        sha256_hex(&std::fs::read(&plain).unwrap())
    );

    // Python's zipfile: names, contents, and the unix mode it would restore.
    let py_dir = work.path().join("py");
    let python = Command::new("python3")
        .args([
            "-c",
            "import os, stat, sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             z.extractall(sys.argv[2])\n\
             for i in z.infolist():\n\
             \x20   mode = i.external_attr >> 16\n\
             \x20   path = os.path.join(sys.argv[2], i.filename)\n\
             \x20   os.chmod(path, stat.S_IMODE(mode))\n\
             \x20   print(i.filename, oct(mode))\n",
            path_str(&zip_path),
            path_str(&py_dir),
        ])
        .output()
        .expect("python3");
    assert!(python.status.success(), "{}", stderr(&python));
    let listing = stdout(&python);
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        [
            "module.json 0o100644".to_string(),
            format!("{so_name} 0o100755")
        ]
    );
    assert_eq!(dir_listing(&py_dir), ["module.json", so_name]);

    // unzip restores the modes itself.
    let unzip_dir = work.path().join("unzipped");
    let unzip = Command::new("unzip")
        .arg("-q")
        .arg(&zip_path)
        .arg("-d")
        .arg(&unzip_dir)
        .output()
        .expect("unzip");
    assert!(unzip.status.success(), "{}", stderr(&unzip));
    assert_eq!(dir_listing(&unzip_dir), ["module.json", so_name]);
    for dir in [&py_dir, &unzip_dir] {
        use std::os::unix::fs::PermissionsExt;
        let so = dir.join(so_name);
        let mode = std::fs::metadata(&so).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{}", so.display());
        let json_mode = std::fs::metadata(dir.join("module.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(json_mode & 0o777, 0o644);
        assert_eq!(std::fs::read(&so).unwrap(), std::fs::read(&plain).unwrap());
    }
}

#[test]
fn the_aarch64_module_packs_from_a_manifest_and_fails_without_one() {
    let module = common::prebuilt_aarch64();
    let manifest = common::manifest("plain-aarch64.toml");
    let work = tempfile::tempdir().unwrap();
    let (zip_path, _) = pack_ok(
        work.path(),
        &[path_str(&module), "--manifest", path_str(&manifest)],
        &[],
    );
    assert_eq!(
        zip_path.file_name().unwrap(),
        "plain.Linux-rhel8-aarch64.1.2.3.zip"
    );
    let json = module_json(&zip_path);
    assert_eq!(json["architecture"], "aarch64");
    assert_eq!(json["module_name"], "plain");
    assert_eq!(json["commands"].as_array().unwrap().len(), 4);

    // The manifest does not set the architecture: it comes from the ELF header. One that
    // disagrees with the header is refused.
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(!text.contains("architecture"));
    let wrong = work.path().join("wrong-arch.toml");
    std::fs::write(&wrong, format!("architecture = \"x86_64\"\n{text}")).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let output = pack_in(
        empty.path(),
        &[path_str(&module), "--manifest", path_str(&wrong)],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("x86_64") && message.contains("aarch64"),
        "{message}"
    );

    // Without a manifest there is nothing to take the commands from.
    let output = pack_in(empty.path(), &[path_str(&module)], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("aarch64"), "{message}");
    assert!(message.contains("--no-discover"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(dir_listing(empty.path()).is_empty());
}

#[test]
fn bad_inputs_fail_with_one_clear_paragraph_and_leave_nothing() {
    let plain = common::fixture("plain");
    let plain = path_str(&plain);
    let not_elf = common::not_an_elf();
    let truncated = common::truncated("plain", 100);
    let failload = common::fixture("failload");
    let notmodule = common::fixture("notmodule");
    let debug_only = common::debug_only("plain");
    let unknown_cap = common::manifest("unknown-capability.toml");
    let mismatch = common::manifest("version-mismatch.toml");
    let cases: Vec<(&str, Vec<&str>, &[&str])> = vec![
        ("not an ELF", vec![path_str(&not_elf)], &["not an ELF"]),
        ("truncated ELF", vec![path_str(&truncated)], &["truncated"]),
        ("a debug-only file", vec![path_str(&debug_only)], &["debug"]),
        (
            "a library that is not a module",
            vec![path_str(&notmodule)],
            &["RedisModule_OnLoad"],
        ),
        (
            "a module that fails to load",
            vec![path_str(&failload)],
            &["could not load", "refusing to load"],
        ),
        (
            "a missing redis-server",
            vec![plain, "--redis-server", "/nonexistent/redis-server"],
            &["redis-server", "/nonexistent/redis-server"],
        ),
        (
            "a bad capability name (flag)",
            vec![plain, "--capabilities", "replica_of,time_travel"],
            &["time_travel", "--allow-unknown-capability"],
        ),
        (
            "a bad capability name (manifest)",
            vec![plain, "--manifest", path_str(&unknown_cap)],
            &["time_travel"],
        ),
        (
            "a version/semantic version mismatch",
            vec![plain, "--manifest", path_str(&mismatch)],
            &["1.2.3", "1.2.4"],
        ),
        (
            "a version/semantic version mismatch (flags)",
            vec![
                plain,
                "--module-version",
                "10203",
                "--semantic-version",
                "2.0.0",
            ],
            &["1.2.3", "2.0.0"],
        ),
        (
            "a bad dependency sha256",
            vec![plain, "--dep", "lib=https://example.com/lib.tgz#abc123"],
            &["lib", "abc123", "64 hex"],
        ),
        (
            "a remote dependency without sha256",
            vec![plain, "--optional-dep", "lib=https://example.com/lib.tgz"],
            &["lib", "sha256"],
        ),
        (
            "an unknown operating system",
            vec![plain, "--os", "windows11"],
            &["windows11"],
        ),
        (
            "an unknown output template field",
            vec![plain, "--output", "{name}.zip"],
            &["{name}"],
        ),
        (
            "a missing dependency folder",
            vec![plain, "--dep", "lib=/nonexistent/lib"],
            &["/nonexistent/lib"],
        ),
        (
            "--no-discover without name and version",
            vec![plain, "--no-discover"],
            &["module_name"],
        ),
    ];
    for (what, args, needles) in cases {
        let out_dir = tempfile::tempdir().unwrap();
        let mut all = args.clone();
        let out_arg = format!("{}/", out_dir.path().display());
        if !all.contains(&"--output") {
            all.extend(["--output", out_arg.as_str()]);
        }
        let output = pack_in(out_dir.path(), &all, &[]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{what}: {message}");
        assert!(!message.contains("panicked"), "{what}: {message}");
        // Status lines may come first; the error is the last paragraph, and the only one.
        let error = &message[message.find("error: ").expect("an error line")..];
        assert!(
            !error.trim_end().contains("\n\n"),
            "{what}: one paragraph expected: {message}"
        );
        for needle in needles {
            assert!(
                message.contains(needle),
                "{what}: no `{needle}` in: {message}"
            );
        }
        assert!(stdout(&output).is_empty(), "{what}");
        assert!(
            dir_listing(out_dir.path()).is_empty(),
            "{what}: left {:?}",
            dir_listing(out_dir.path())
        );
    }

    // The same unknown capability is kept when allowed.
    let work = tempfile::tempdir().unwrap();
    let (zip_path, _) = pack_ok(
        work.path(),
        &[
            plain,
            "--capabilities",
            "time_travel",
            "--allow-unknown-capability",
        ],
        &[],
    );
    assert_eq!(
        module_json(&zip_path)["capabilities"],
        serde_json::json!(["time_travel"])
    );
}

#[test]
fn other_machines_and_non_shared_objects_are_refused_before_loading() {
    let original = std::fs::read(common::fixture("plain")).unwrap();
    let work = tempfile::tempdir().unwrap();
    // e_type is at offset 16 and e_machine at 18, both little-endian u16 in this image.
    let cases: [(&str, usize, u16, &[&str]); 3] = [
        ("arm.so", 18, 40, &["ARM", "x86_64 and aarch64"]),
        ("ppc.so", 18, 21, &["PowerPC"]),
        ("exec.so", 16, 2, &["executable", "shared object"]),
    ];
    for (name, offset, value, needles) in cases {
        let mut bytes = original.clone();
        bytes[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
        let path = work.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = tempfile::tempdir().unwrap();
        // A redis-server that cannot exist: the file must be refused before any load.
        let output = pack_in(
            out.path(),
            &[
                path_str(&path),
                "--redis-server",
                "/nonexistent/redis-server",
            ],
            &[],
        );
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{name}: {message}");
        for needle in needles {
            assert!(
                message.contains(needle),
                "{name}: no `{needle}` in {message}"
            );
        }
        assert!(!message.contains("redis-server"), "{name}: {message}");
        assert!(dir_listing(out.path()).is_empty());
    }
}

#[test]
fn flags_override_the_manifest_and_discovery_fills_the_rest() {
    let plain = common::fixture("plain");
    let manifest = common::manifest("plain.toml");
    let work = tempfile::tempdir().unwrap();
    let (result, output) = pack_json(
        work.path(),
        &[
            path_str(&plain),
            "--manifest",
            path_str(&manifest),
            "--author",
            "Flag Author",
            "--os",
            "rhel9,ubuntu20.04",
            "--module-arg",
            "unused",
            "--compatible-redis-version",
            "7.4",
        ],
    );
    let json = &result["module_json"];
    // Flags beat the manifest ...
    assert_eq!(json["author"], "Flag Author");
    assert_eq!(
        json["operating_systems"],
        serde_json::json!(["rhel9", "ubuntu20"]),
        "written as RAMP and RS write them: distro id + major version"
    );
    assert_eq!(json["command_line_args"], "unused");
    assert_eq!(json["compatible_redis_version"], "7.4");
    // ... the manifest fills what the flags do not give ...
    assert_eq!(json["license"], "MIT");
    assert_eq!(json["display_name"], "Plain fixture module");
    assert_eq!(json["min_redis_version"], "7.0");
    assert_eq!(json["min_redis_pack_version"], "7.2");
    // ... and discovery fills what neither gives.
    assert_eq!(json["module_name"], "plain");
    assert_eq!(json["version"], 10203);
    let names: Vec<&str> = json["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["plain.get", "plain.mget", "plain.ping", "plain.set"]
    );
    let path = PathBuf::from(result["path"].as_str().unwrap());
    assert_eq!(
        path.file_name().unwrap(),
        "plain.Linux-rhel9-x86_64.1.2.3.zip"
    );
    let zip_bytes = std::fs::read(work.path().join(&path)).unwrap();
    assert_eq!(result["size"], zip_bytes.len());
    assert_eq!(result["sha256"], sha256_hex(&zip_bytes));
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));

    // A given name or version that differs from what the module registers wins, with a warning.
    let other = tempfile::tempdir().unwrap();
    let (result, output) = pack_json(
        other.path(),
        &[
            path_str(&plain),
            "--module-name",
            "renamed",
            "--semantic-version",
            "1.2.4",
        ],
    );
    assert_eq!(result["module_json"]["module_name"], "renamed");
    assert_eq!(result["module_json"]["version"], 10204);
    assert_eq!(result["module_json"]["display_name"], "renamed");
    let warnings = stderr(&output);
    assert!(
        warnings.contains("warning:") && warnings.contains("`plain`"),
        "{warnings}"
    );
    assert!(warnings.contains("10203"), "{warnings}");
}

#[test]
fn a_ramp_manifest_is_read_and_its_command_edits_applied() {
    let plain = common::fixture("plain");
    let work = tempfile::tempdir().unwrap();
    // RAMP users keep their ramp.yml as it is; one beside the working folder is found by default.
    let text = std::fs::read_to_string(common::manifest("ramp.yml")).unwrap();
    std::fs::write(
        work.path().join("ramp.yml"),
        format!("{text}frobnicate: 1\n"),
    )
    .unwrap();
    let add = r#"{"command_name": "plain.extra", "command_arity": 2, "flags": ["readonly"], "first_key": 1, "last_key": 1, "step": 1}"#;
    let (result, output) = pack_json(work.path(), &[path_str(&plain), "--add-command", add]);
    let json = &result["module_json"];
    assert_eq!(json["author"], "rmpack");
    assert_eq!(json["min_redis_pack_version"], "7.2");
    let commands = json["commands"].as_array().unwrap();
    let names: Vec<&str> = commands
        .iter()
        .map(|c| c["command_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["plain.extra", "plain.get", "plain.mget", "plain.set"]
    );
    let mget = &commands[2];
    assert_eq!(mget["command_arity"], -2, "overide_command replaced it");
    assert_eq!(json["exclude_commands"], serde_json::json!(["plain.ping"]));
    assert_eq!(json["overide_command"][0]["command_name"], "plain.mget");
    assert_eq!(json["add_command"][0]["command_name"], "plain.extra");
    let warnings = stderr(&output);
    assert!(warnings.contains("frobnicate"), "{warnings}");
}

#[test]
fn local_dependencies_become_reproducible_tarballs_with_recorded_checksums() {
    let aarch64 = common::prebuilt_aarch64();
    let manifest = common::manifest("plain-aarch64.toml");
    let make_dep = |root: &Path| {
        let dep = root.join("libdir");
        std::fs::create_dir_all(dep.join("lib")).unwrap();
        std::fs::write(dep.join("lib/libfoo.so.1"), b"not really a library").unwrap();
        std::fs::write(dep.join("README"), b"readme").unwrap();
        let single = root.join("data.bin");
        std::fs::write(&single, b"data").unwrap();
        (dep, single)
    };
    let remote_sha = "AB".repeat(32);
    let remote = format!("remote=https://example.com/r.tgz#{remote_sha}");
    let mut zips = Vec::new();
    for _ in 0..2 {
        let work = tempfile::tempdir().unwrap();
        let (dep, single) = make_dep(work.path());
        let dep_arg = format!("lib={}", dep.display());
        let single_arg = format!("data={}", single.display());
        let (zip_path, _) = pack_ok(
            work.path(),
            &[
                path_str(&aarch64),
                "--manifest",
                path_str(&manifest),
                "--dep",
                &dep_arg,
                "--optional-dep",
                &single_arg,
                "--dep",
                &remote,
                // Recorded, not downloaded: tests/pack_deps.rs covers downloads.
                "--keep-url-dependencies",
            ],
            &[],
        );
        assert_eq!(
            entry_names(&zip_path),
            [
                "module.json",
                "plain.aarch64.so",
                "deps/data.tgz",
                "deps/lib.tgz"
            ]
        );
        let json = module_json(&zip_path);
        let lib = entry_bytes(&zip_path, "deps/lib.tgz");
        assert_eq!(json["dependencies"]["lib"]["sha256"], sha256_hex(&lib));
        assert!(json["dependencies"]["lib"].get("url").is_none());
        let data = entry_bytes(&zip_path, "deps/data.tgz");
        assert_eq!(
            json["optional-dependencies"]["data"]["sha256"],
            sha256_hex(&data)
        );
        assert_eq!(
            json["dependencies"]["remote"],
            serde_json::json!({"url": "https://example.com/r.tgz", "sha256": remote_sha.to_ascii_lowercase()})
        );
        let listing = Command::new("tar")
            .args(["-tvzf", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(&lib)?;
                child.wait_with_output()
            })
            .expect("tar");
        let listing = stdout(&listing);
        assert!(
            listing.contains("lib/libfoo.so.1") && listing.contains("README"),
            "{listing}"
        );
        assert!(listing.contains("0/0"), "owner and group 0: {listing}");
        zips.push(std::fs::read(&zip_path).unwrap());
    }
    assert_eq!(zips[0], zips[1], "same dependency files, same zip");
}

#[test]
fn output_templates_and_compression_levels() {
    let aarch64 = common::prebuilt_aarch64();
    let manifest = common::manifest("plain-aarch64.toml");
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("dist")).unwrap();
    let (zip_path, _) = pack_ok(
        work.path(),
        &[
            path_str(&aarch64),
            "--manifest",
            path_str(&manifest),
            "--no-discover",
            "--output",
            "dist/{module_name}-{version}-{arch}.zip",
            "--compression",
            "0",
        ],
        &[],
    );
    assert_eq!(zip_path, work.path().join("dist/plain-10203-aarch64.zip"));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    assert_eq!(
        archive.by_index(1).unwrap().compression(),
        zip::CompressionMethod::Stored
    );
    let output = pack_in(
        work.path(),
        &[path_str(&aarch64), "--compression", "10"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_name_takes_the_first_os_given_and_a_version_flag_replaces_the_manifests() {
    let plain = common::fixture("plain");
    let work = tempfile::tempdir().unwrap();
    let manifest = work.path().join("rmpack.toml");
    std::fs::write(&manifest, "semantic_version = \"1.2.3\"\n").unwrap();
    let (result, _) = pack_json(
        work.path(),
        &[
            path_str(&plain),
            "--manifest",
            path_str(&manifest),
            "--module-version",
            "10300",
            "--os",
            "ubuntu22.04,rhel9",
        ],
    );
    let json = &result["module_json"];
    assert_eq!(json["version"], 10300);
    assert_eq!(json["semantic_version"], "1.3.0");
    assert_eq!(
        json["operating_systems"],
        serde_json::json!(["rhel9", "ubuntu22"]),
        "module.json lists them sorted, as distro id + major version"
    );
    let path = PathBuf::from(result["path"].as_str().unwrap());
    assert_eq!(
        path.file_name().unwrap(),
        "plain.Linux-ubuntu22.04-x86_64.1.3.0.zip"
    );
}

/// The quick start in the README prints what `rmpack pack` prints for the prebuilt module: the
/// same bytes on every machine.
#[test]
fn the_readme_quick_start_shows_the_zip_pack_makes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let module = root.join("testdata/prebuilt/plain.aarch64.so");
    let manifest = root.join("testdata/manifests/plain-aarch64.toml");
    let output = pack_in(
        work.path(),
        &[path_str(&module), "--manifest", path_str(&manifest)],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(printed.trim_end()),
        "README's quick start should show:\n{printed}"
    );
}

#[test]
fn every_spelling_of_an_os_is_written_as_ramp_and_rs_name_it_and_the_zip_keeps_redis_naming() {
    let plain = common::fixture("plain");
    let work = tempfile::tempdir().unwrap();
    for (given, written, file_os) in [
        ("ubuntu22", "ubuntu22", "ubuntu22.04"),
        ("jammy", "ubuntu22", "ubuntu22.04"),
        ("ubuntu22.04", "ubuntu22", "ubuntu22.04"),
        ("rocky9", "rhel9", "rhel9"),
        ("alma8", "rhel8", "rhel8"),
    ] {
        let (result, _) = pack_json(
            work.path(),
            &[
                path_str(&plain),
                "--no-discover",
                "--module-name",
                "plain",
                "--module-version",
                "10203",
                "--os",
                given,
                "-o",
                path_str(work.path()),
            ],
        );
        assert_eq!(
            result["module_json"]["operating_systems"],
            serde_json::json!([written]),
            "{given}"
        );
        let path = PathBuf::from(result["path"].as_str().unwrap());
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            format!("plain.Linux-{file_os}-x86_64.1.2.3.zip"),
            "{given}"
        );
    }
}

#[test]
fn an_os_rs_cannot_split_and_a_placeholder_redis_version_are_refused_before_anything_is_written() {
    let plain = common::fixture("plain");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let base = [
        path_str(&plain),
        "--no-discover",
        "--module-name",
        "plain",
        "--module-version",
        "10203",
        "-o",
        path_str(&out),
    ];
    let output = pack_in(work.path(), &[&base[..], &["--os", "ubuntu"]].concat(), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("`ubuntu` is not a distro id followed by its version")
            && stderr(&output).contains("module_os_list_invalid"),
        "{}",
        stderr(&output)
    );
    let output = pack_in(
        work.path(),
        &[&base[..], &["--compatible-redis-version", "99.99"]].concat(),
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("compatible_redis_version 99.99 is not a Redis feature set"),
        "{}",
        stderr(&output)
    );
    assert!(common::dir_listing(&out).is_empty(), "nothing written");
    let output = pack_in(
        work.path(),
        &[&base[..], &["--compatible-redis-version", "8.8"]].concat(),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("newer than every Redis release rmpack knows"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_output_folder_that_does_not_exist_yet_is_made() {
    // `rmpack pack … -o dist/` in a fresh CI job.
    let plain = common::fixture("plain");
    let work = tempfile::tempdir().unwrap();
    let (zip, _) = pack_ok(
        work.path(),
        &[
            path_str(&plain),
            "--no-discover",
            "--module-name",
            "plain",
            "--module-version",
            "10203",
            "-o",
            "dist/",
        ],
        &[],
    );
    assert_eq!(zip.parent().unwrap(), work.path().join("dist"));
    assert!(zip.is_file(), "{}", zip.display());
    assert_eq!(common::dir_listing(&work.path().join("dist")).len(), 1);
}
