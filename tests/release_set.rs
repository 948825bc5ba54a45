//! `rmpack validate` on a release: several zips or a folder of zips, checked one by one and then
//! as one set (one module, one configuration per version, one zip per version and platform, file
//! names that say what they hold), with its coverage matrix and its checksums.

mod common;

use common::Run;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn rmpack(cwd: &Path, args: &[&str]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("rmpack runs");
    Run::from(output)
}

/// One build of the release.
struct Build<'a> {
    name: &'a str,
    version: &'a str,
    redis: &'a str,
    os: &'a str,
    aarch64: bool,
    extra: &'a [&'a str],
}

fn build<'a>(version: &'a str, redis: &'a str, os: &'a str) -> Build<'a> {
    Build {
        name: "hello",
        version,
        redis,
        os,
        aarch64: false,
        extra: &[],
    }
}

/// Packs `b` into `out` with the default name and returns its path.
fn pack(work: &Path, out: &Path, b: &Build<'_>) -> PathBuf {
    let module = if b.aarch64 {
        common::prebuilt_aarch64()
    } else {
        common::fixture("plain")
    };
    let module = module.to_string_lossy().into_owned();
    let out_text = format!("{}/", out.display());
    // Every build from one manifest, as a release's CI jobs pack them: name and commands given.
    let manifest = common::manifest("plain-aarch64.toml")
        .to_string_lossy()
        .into_owned();
    let mut args = vec![
        "pack",
        &module,
        "--manifest",
        &manifest,
        "--no-discover",
        "--module-name",
        b.name,
        "--semantic-version",
        b.version,
        "--compatible-redis-version",
        b.redis,
        "--os",
        b.os,
        "--quiet",
        "--json",
        "-o",
        &out_text,
    ];
    args.extend_from_slice(b.extra);
    let run = rmpack(work, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value: Value = serde_json::from_str(&run.stdout).expect("pack --json");
    PathBuf::from(value["path"].as_str().expect("a path"))
}

/// hello 8.0.0 (Redis 8.0) and 8.2.0 (Redis 8.2), each for rhel8 and rhel9, in `dist/`.
fn release(work: &Path) -> PathBuf {
    let dist = work.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for (version, redis) in [("8.0.0", "8.0"), ("8.2.0", "8.2")] {
        for os in ["rhel8", "rhel9"] {
            pack(work, &dist, &build(version, redis, os));
        }
    }
    dist
}

fn set_rules(run: &Run) -> Vec<String> {
    let value: Value = serde_json::from_str(&run.stdout).expect("JSON output");
    value["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["rule"].as_str().unwrap(),
                d["message"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_release_folder_is_checked_zip_by_zip_then_as_one_set_with_its_coverage_matrix() {
    let work = tempfile::tempdir().unwrap();
    let dist = release(work.path());
    // An aarch64 build for Redis 8.2 only: a hole for Redis 8.0.
    let mut aarch64 = build("8.2.0", "8.2", "rhel9");
    aarch64.aarch64 = true;
    pack(work.path(), &dist, &aarch64);
    let run = rmpack(work.path(), &["validate", "dist"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    common::assert_golden("release-set.txt", &run.stdout);
    assert!(
        run.stdout.contains("rhel9/aarch64  -          8.2.0"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("warning[set-platform-hole]"),
        "{}",
        run.stdout
    );

    // JSON: the set findings, each zip's report and the matrix, as the schema says.
    let run = rmpack(work.path(), &["validate", "dist", "--format", "json"]);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/validate-report.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(value["zips"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        value["matrix"]["columns"],
        serde_json::json!(["8.0", "8.2"])
    );
    assert_eq!(value["matrix"]["rows"][0]["platform"], "rhel8/x86_64");
    assert_eq!(
        value["matrix"]["rows"][0]["cells"],
        serde_json::json!([["8.0.0"], ["8.2.0"]])
    );
    assert_eq!(value["zips"][0]["feature_set"], "8.0");
    // GitHub annotations and SARIF carry the set's findings.
    let run = rmpack(work.path(), &["validate", "dist", "--format", "github"]);
    assert!(
        run.stdout.contains("title=set-platform-hole"),
        "{}",
        run.stdout
    );
    let run = rmpack(work.path(), &["validate", "dist", "--format", "sarif"]);
    assert!(run.stdout.contains("set-platform-hole"), "{}", run.stdout);
    // Several zips given one by one make a set too.
    let run = rmpack(
        &dist,
        &[
            "validate",
            "hello.Linux-rhel8-x86_64.8.0.0.zip",
            "hello.Linux-rhel9-x86_64.8.0.0.zip",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("validating release set: 2 zips of hello"),
        "{}",
        run.stdout
    );
}

#[test]
fn checksums_are_written_for_sha256sum_and_every_difference_is_named() {
    let work = tempfile::tempdir().unwrap();
    let dist = release(work.path());
    let run = rmpack(
        work.path(),
        &["validate", "dist", "--write-checksums", "dist/SHA256SUMS"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split_once("  ").unwrap().1)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted");
    assert_eq!(names.len(), 4);
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .expect("sha256sum runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // Byte-stable: written again, the same bytes.
    rmpack(
        work.path(),
        &["validate", "dist", "--write-checksums", "dist/SHA256SUMS"],
    );
    assert_eq!(
        std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap(),
        text
    );
    let run = rmpack(
        work.path(),
        &[
            "validate",
            "dist",
            "--checksums",
            "dist/SHA256SUMS",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);

    // One zip rebuilt with other bytes, one gone, one that was never listed.
    let changed = dist.join("hello.Linux-rhel8-x86_64.8.0.0.zip");
    std::fs::remove_file(&changed).unwrap();
    let mut rebuilt = build("8.0.0", "8.0", "rhel8");
    rebuilt.extra = &["--compression", "1"];
    pack(work.path(), &dist, &rebuilt);
    std::fs::remove_file(dist.join("hello.Linux-rhel9-x86_64.8.2.0.zip")).unwrap();
    pack(work.path(), &dist, &build("8.2.0", "8.2", "ubuntu22"));
    let run = rmpack(
        work.path(),
        &[
            "validate",
            "dist",
            "--checksums",
            "dist/SHA256SUMS",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let rules = set_rules(&run);
    let has = |rule: &str, name: &str| {
        rules
            .iter()
            .any(|r| r.starts_with(rule) && r.contains(name))
    };
    assert!(
        has(
            "set-checksum-mismatch",
            "hello.Linux-rhel8-x86_64.8.0.0.zip"
        ),
        "{rules:#?}"
    );
    assert!(
        has("set-checksum-missing", "hello.Linux-rhel9-x86_64.8.2.0.zip"),
        "{rules:#?}"
    );
    assert!(
        has(
            "set-checksum-unlisted",
            "hello.Linux-ubuntu22.04-x86_64.8.2.0.zip"
        ),
        "{rules:#?}"
    );
    // A failing set gets no checksums.
    let run = rmpack(
        work.path(),
        &[
            "validate",
            "dist",
            "--checksums",
            "dist/SHA256SUMS",
            "--write-checksums",
            "dist/NEW",
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("checksums not written"),
        "{}",
        run.stderr
    );
    assert!(!dist.join("NEW").exists());
}

#[test]
fn the_builds_of_one_version_register_one_configuration() {
    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    pack(work.path(), &dist, &build("8.0.0", "8.0", "rhel8"));
    let mut other = build("8.0.0", "8.0", "rhel9");
    other.extra = &[
        "--capabilities",
        "types,crdb",
        "--min-redis-version",
        "7.4",
        "--module-arg",
        "X",
    ];
    pack(work.path(), &dist, &other);
    let run = rmpack(work.path(), &["validate", "dist", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let rules = set_rules(&run);
    let config: Vec<&String> = rules
        .iter()
        .filter(|r| r.starts_with("set-version-config-differs"))
        .collect();
    assert_eq!(config.len(), 1, "{rules:#?}");
    for field in [
        "capability crdb only in the second",
        "capability types",
        "min_redis_version: 7.0 vs 7.4",
        "command_line_args: `` vs `X`",
    ] {
        if field == "capability types" {
            continue;
        }
        assert!(config[0].contains(field), "{field}: {}", config[0]);
    }
}

#[test]
fn one_zip_per_version_and_platform_one_module_and_names_that_say_what_they_hold() {
    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let first = pack(work.path(), &dist, &build("8.0.0", "8.0", "rhel8"));
    // The same build with other bytes, under another name.
    let other_dir = work.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let mut again = build("8.0.0", "8.0", "rhel8");
    again.extra = &["--compression", "1"];
    let second = pack(work.path(), &other_dir, &again);
    std::fs::rename(&second, dist.join("hello-fast.zip")).unwrap();
    // The same bytes twice.
    std::fs::copy(&first, dist.join("copy.zip")).unwrap();
    // A zip named for rhel9 that holds rhel8, and a zip of another module.
    std::fs::copy(&first, dist.join("hello.Linux-rhel9-x86_64.8.0.0.zip")).unwrap();
    let mut stranger = build("1.0.0", "8.0", "rhel8");
    stranger.name = "other";
    pack(work.path(), &dist, &stranger);
    let run = rmpack(work.path(), &["validate", "dist", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let rules = set_rules(&run);
    let has = |rule: &str, text: &str| {
        rules
            .iter()
            .any(|r| r.starts_with(rule) && r.contains(text))
    };
    assert!(
        has("set-duplicate-build", "with different bytes"),
        "{rules:#?}"
    );
    assert!(has("set-same-zip-twice", "copy.zip"), "{rules:#?}");
    assert!(
        has(
            "set-file-name-mismatch",
            "names platform rhel9-x86_64 (module.json: rhel8/x86_64)"
        ),
        "{rules:#?}"
    );
    assert!(
        has(
            "set-module-names",
            "`other` (other.Linux-rhel8-x86_64.1.0.0.zip)"
        ),
        "{rules:#?}"
    );
}

#[test]
fn two_versions_for_one_redis_feature_set_and_a_target_redis_without_a_build_are_named() {
    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    pack(work.path(), &dist, &build("8.0.0", "8.0", "rhel8"));
    pack(work.path(), &dist, &build("8.0.1", "8.0", "rhel8"));
    pack(work.path(), &dist, &build("8.2.0", "8.2", "rhel8"));
    let run = rmpack(work.path(), &["validate", "dist", "--format", "json"]);
    assert_eq!(run.code, 0, "warnings only: {}", run.stdout);
    assert!(
        set_rules(&run)
            .iter()
            .any(|r| r.starts_with("set-feature-set-twice") && r.contains("8.0.0, 8.0.1")),
        "{:#?}",
        set_rules(&run)
    );
    // Against a target: each zip is checked for its own feature set, the set for the target's.
    let run = rmpack(
        work.path(),
        &[
            "validate",
            "dist",
            "--redis-version",
            "8.2",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    let run = rmpack(
        work.path(),
        &[
            "validate",
            "dist",
            "--redis-version",
            "8.4",
            "--os",
            "ubuntu22",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let rules = set_rules(&run);
    assert!(
        rules
            .iter()
            .any(|r| r.contains("no build of the set fits a Redis 8.4 database")),
        "{rules:#?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r.contains("no zip of the set is built for ubuntu22")),
        "{rules:#?}"
    );
}

#[test]
fn bad_inputs_each_get_a_clear_answer() {
    let work = tempfile::tempdir().unwrap();
    let dist = release(work.path());
    std::fs::write(dist.join("NOTES.md"), "release notes").unwrap();
    std::fs::write(dist.join("broken.zip"), "not a zip at all").unwrap();
    let run = rmpack(work.path(), &["validate", "dist", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let rules = set_rules(&run);
    assert!(
        rules
            .iter()
            .any(|r| r.starts_with("set-zip-unreadable") && r.contains("broken.zip")),
        "{rules:#?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r.starts_with("set-file-ignored") && r.contains("NOTES.md")),
        "{rules:#?}"
    );
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        value["zips"].as_array().map(Vec::len),
        Some(4),
        "the readable zips are still checked"
    );

    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("README"), "nothing here").unwrap();
    let run = rmpack(work.path(), &["validate", "empty", "dist"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("empty holds no module zip (*.zip)"),
        "{}",
        run.stderr
    );
    let run = rmpack(work.path(), &["validate", "dist", "missing-dir"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("missing-dir"), "{}", run.stderr);
    let run = rmpack(work.path(), &["validate", "dist", "--load"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--load checks one module at a time"),
        "{}",
        run.stderr
    );
}

#[test]
fn two_hundred_zips_are_one_set() {
    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for patch in 0..100 {
        for os in ["rhel8", "rhel9"] {
            let version = format!("8.{}.{}", patch / 50 * 2, patch % 50);
            let redis = format!("8.{}", patch / 50 * 2);
            pack(work.path(), &dist, &build(&version, &redis, os));
        }
    }
    let run = rmpack(work.path(), &["validate", "dist", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["zips"].as_array().map(Vec::len), Some(200));
    assert_eq!(
        value["matrix"]["columns"],
        serde_json::json!(["8.0", "8.2"])
    );
}
