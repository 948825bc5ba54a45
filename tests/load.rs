//! `rmpack validate --load`: each way a module fails to load is its own finding (rule id), a good
//! module passes, a foreign module is skipped with an info, and `--load` composes with the other
//! options and output formats.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn rmpack() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmpack"))
}

/// `rmpack validate PATH --load --format json EXTRA…`: (exit code, report).
fn validate_load(path: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let output = rmpack()
        .arg("validate")
        .arg(path)
        .args(["--load", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    (output.status.code(), report_of(&output))
}

fn report_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The findings of `rule` in `report`.
fn findings<'a>(report: &'a Value, rule: &str) -> Vec<&'a Value> {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule"] == rule)
        .collect()
}

fn load_rules(report: &Value) -> Vec<String> {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["rule"].as_str())
        .filter(|r| r.starts_with("load-"))
        .map(str::to_string)
        .collect()
}

/// A folder holding fixture `name`'s .so and a module.json listing `commands`.
fn folder_with(dir: &Path, name: &str, commands: &[&str]) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let so = std::fs::read(common::fixture(name)).unwrap();
    std::fs::write(folder.join(format!("{name}.so")), &so).unwrap();
    let commands: Vec<Value> = commands
        .iter()
        .map(|c| serde_json::json!({"command_name": c, "command_arity": -1, "flags": [], "first_key": 0, "last_key": 0, "step": 0}))
        .collect();
    let json = serde_json::json!({
        "module_name": name, "module_file": format!("{name}.so"), "version": 10203,
        "semantic_version": "1.2.3", "display_name": name, "commands": commands,
        "command_line_args": "", "capabilities": [], "min_redis_version": "6.0",
        "min_redis_pack_version": "6.0", "compatible_redis_version": "7.0",
        "architecture": "x86_64", "os": "Linux", "operating_systems": [],
        "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&so)),
    });
    std::fs::write(
        folder.join("module.json"),
        serde_json::to_vec_pretty(&json).unwrap(),
    )
    .unwrap();
    folder
}

#[test]
fn a_good_module_passes_the_load_check() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("plain.zip");
    let packed = rmpack()
        .arg("pack")
        .arg(common::fixture("plain"))
        .arg("-o")
        .arg(&zip)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(packed.status.success(), "{packed:?}");
    let (code, report) = validate_load(&zip, &[]);
    assert_eq!(load_rules(&report), ["load-ok"], "{report:#}");
    assert_eq!(code, Some(0), "{report:#}");
    let ok = &findings(&report, "load-ok")[0];
    assert!(
        ok["message"]
            .as_str()
            .unwrap()
            .contains("registers 4 commands"),
        "{ok}"
    );
}

#[test]
fn a_library_the_host_lacks_is_quoted() {
    let (code, report) = validate_load(&common::fixture("needs_absent"), &[]);
    let found = findings(&report, "load-missing-library");
    assert_eq!(found.len(), 1, "{report:#}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("librmpack_absent.so.1"),
        "{report:#}"
    );
    assert_eq!(code, Some(1));
}

#[test]
fn a_module_refusing_the_redis_version_quotes_the_version_it_asks_for() {
    let (code, report) = validate_load(&common::fixture("newredis"), &[]);
    let found = findings(&report, "load-redis-too-old");
    assert_eq!(found.len(), 1, "{report:#}");
    assert!(
        found[0]["message"].as_str().unwrap().contains("99.1.0"),
        "{report:#}"
    );
    assert_eq!(code, Some(1));
}

#[test]
fn a_module_whose_onload_fails_quotes_its_log_line() {
    let (code, report) = validate_load(&common::fixture("failload"), &[]);
    let found = findings(&report, "load-failed");
    assert_eq!(found.len(), 1, "{report:#}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("required setting 'license-key' is missing"),
        "{report:#}"
    );
    assert_eq!(code, Some(1));
}

#[test]
fn a_module_that_crashes_at_load_is_a_crash() {
    let (code, report) = validate_load(&common::fixture("crash"), &[]);
    assert_eq!(findings(&report, "load-crash").len(), 1, "{report:#}");
    assert_eq!(code, Some(1));
}

#[test]
fn a_module_that_hangs_at_load_times_out() {
    let (code, report) = validate_load(&common::fixture("hang"), &["--load-timeout", "1"]);
    assert_eq!(findings(&report, "load-hang").len(), 1, "{report:#}");
    assert_eq!(code, Some(1));
}

#[test]
fn commands_listed_but_not_registered_and_registered_but_not_listed_are_findings() {
    let dir = tempfile::tempdir().unwrap();
    let folder = folder_with(
        dir.path(),
        "plain",
        &["plain.get", "PLAIN.SET", "plain.ping", "plain.gone"],
    );
    let (code, report) = validate_load(&folder, &[]);
    let missing = findings(&report, "load-command-not-registered");
    assert_eq!(missing.len(), 1, "{report:#}");
    assert!(missing[0]["message"]
        .as_str()
        .unwrap()
        .contains("plain.gone"));
    let unlisted = findings(&report, "load-command-not-listed");
    assert_eq!(
        unlisted.len(),
        1,
        "names match case-insensitively: {report:#}"
    );
    assert!(unlisted[0]["message"]
        .as_str()
        .unwrap()
        .contains("plain.mget"));
    assert_eq!(code, Some(1));
}

#[test]
fn a_module_of_another_architecture_is_skipped_with_an_info() {
    let (code, report) = validate_load(&common::prebuilt_aarch64(), &[]);
    let skipped = findings(&report, "load-skipped");
    assert_eq!(skipped.len(), 1, "{report:#}");
    assert_eq!(skipped[0]["severity"], "info");
    assert!(skipped[0]["message"].as_str().unwrap().contains("aarch64"));
    assert_eq!(load_rules(&report), ["load-skipped"]);
    // The other rules still ran; only the load was skipped.
    assert!(code.is_some());
}

#[test]
fn load_composes_with_targets_strict_and_every_format() {
    let module = common::fixture("newredis");
    for format in ["human", "github", "sarif"] {
        let output = rmpack()
            .arg("validate")
            .arg(&module)
            .args(["--load", "--os", "rhel9", "--strict", "--format", format])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("load-redis-too-old"), "{format}: {stdout}");
        assert_eq!(output.status.code(), Some(1), "{format}: {stdout}");
    }
}

#[test]
fn a_missing_redis_server_is_a_usage_error_not_a_finding() {
    let output = rmpack()
        .arg("validate")
        .arg(common::fixture("plain"))
        .args(["--load", "--redis-server", "/nonexistent/redis-server"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/redis-server"), "{stderr}");
}

#[test]
fn without_load_nothing_is_loaded() {
    let output = rmpack()
        .arg("validate")
        .arg(common::fixture("crash"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(load_rules(&report_of(&output)).is_empty());
}
