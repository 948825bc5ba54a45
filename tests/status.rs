//! `rmpack status` and `modules delete` against the emulated RS cluster: the drift between what
//! the cluster registers, what each node holds and what each database runs, and its healing.

mod common;
mod support;

use common::Run;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{bdb, bdb_module, module_json, Emulator, EmulatorSpec};

fn cluster_args(emulator: &Emulator) -> Vec<String> {
    vec![
        "--cluster".into(),
        emulator.url(),
        "--ca-cert".into(),
        emulator.ca_cert_path().to_string_lossy().into_owned(),
    ]
}

fn rmpack(emulator: &Emulator, dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RMPACK_USER", emulator.user())
        .env("RMPACK_PASSWORD", emulator.password())
        .env("RMPACK_PROFILES", dir.join("no-profiles.toml"))
        .stdin(std::process::Stdio::null())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("rmpack runs");
    Run::from(output)
}

fn with_cluster(emulator: &Emulator, dir: &Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(cluster_args(emulator));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    rmpack(emulator, dir, &all)
}

/// A module zip around the gcc-built `plain` fixture that passes the pre-flight.
fn module_zip(dir: &Path, name: &str, version: &str) -> PathBuf {
    common::plain_module_zip(dir, name, version, module_json(name, version))
}

fn stable(text: &str, emulator: &Emulator) -> String {
    text.replace(&format!(":{}", emulator.port()), ":PORT")
        .replace(&*emulator.ca_cert_path().to_string_lossy(), "CA.pem")
}

fn uid_of(emulator: &Emulator, name: &str, version: &str) -> String {
    emulator
        .modules()
        .iter()
        .find(|m| m["module_name"] == name && m["semantic_version"] == version)
        .and_then(|m| m["uid"].as_str())
        .expect("registered")
        .to_string()
}

#[test]
fn a_node_lacking_an_artifact_is_drift_with_the_command_that_heals_it() {
    let emulator = Emulator::start(EmulatorSpec::nodes(3)).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = module_zip(dir.path(), "hello", "1.2.3");
    // Node 3 stands for a node that joined after the rollout.
    let run = with_cluster(
        &emulator,
        dir.path(),
        &["upload", &zip.to_string_lossy(), "--nodes", "1,2"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    let uid = uid_of(&emulator, "hello", "1.2.3");
    emulator.put_bdb(bdb(1, "db1", vec![bdb_module(&uid, "hello", "1.2.3")]));

    let run = with_cluster(&emulator, dir.path(), &["status"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stdout.contains("node(s) 3 lack its artifact"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("database 1 runs hello 1.2.3"),
        "{}",
        run.stdout
    );
    common::assert_golden("status-drift.txt", &stable(&run.stdout, &emulator));
    // Given the release, the healing command names its zip, ready to run.
    let run = with_cluster(&emulator, dir.path(), &["status", &zip.to_string_lossy()]);
    assert_eq!(run.code, 1, "{}", run.text());
    let heal = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("heal: "))
        .expect("a healing command")
        .to_string();
    assert!(
        heal.starts_with(&format!("rmpack upload {}", zip.display())),
        "{heal}"
    );
    assert!(heal.ends_with("--nodes 3"), "{heal}");
    let words: Vec<&str> = heal.split_whitespace().skip(1).collect();
    let healed = rmpack(&emulator, dir.path(), &words);
    assert_eq!(healed.code, 0, "{}", healed.text());

    let run = with_cluster(&emulator, dir.path(), &["status"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(run.stdout.contains("consistent"), "{}", run.stdout);
    common::assert_golden("status-consistent.txt", &stable(&run.stdout, &emulator));
}

#[test]
fn an_artifact_without_a_configuration_is_an_orphan() {
    let emulator = Emulator::start(EmulatorSpec::nodes(2)).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = module_zip(dir.path(), "hello", "1.2.3");
    let run = with_cluster(&emulator, dir.path(), &["upload", &zip.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.text());
    let uid = uid_of(&emulator, "hello", "1.2.3");
    let run = with_cluster(
        &emulator,
        dir.path(),
        &["modules", "delete", &uid, "--user-defined"],
    );
    assert_eq!(run.code, 0, "{}", run.text());

    let run = with_cluster(&emulator, dir.path(), &["status", "--json"]);
    assert_eq!(run.code, 1, "{}", run.text());
    let value: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/status.schema.json"),
        )
        .expect("schema"),
    )
    .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(problems.is_empty(), "{problems:?}\n{}", run.stdout);
    assert_eq!(
        value["drift"][0]["kind"], "orphan_artifact",
        "{}",
        run.stdout
    );
    assert_eq!(value["drift"][0]["nodes"], serde_json::json!(["1", "2"]));
    let heal = value["drift"][0]["heal"][0]
        .as_str()
        .expect("heal")
        .to_string();
    assert!(
        heal.starts_with("rmpack artifacts delete hello 1.2.3"),
        "{heal}"
    );
    let words: Vec<&str> = heal.split_whitespace().skip(1).collect();
    let healed = rmpack(&emulator, dir.path(), &words);
    assert_eq!(healed.code, 0, "{}", healed.text());
    let run = with_cluster(&emulator, dir.path(), &["status"]);
    assert_eq!(run.code, 0, "{}", run.text());
}

#[test]
fn modules_delete_refuses_a_version_a_database_runs_unless_forced() {
    let emulator = Emulator::start(EmulatorSpec::nodes(1)).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = module_zip(dir.path(), "hello", "1.2.3");
    let run = with_cluster(&emulator, dir.path(), &["upload", &zip.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.text());
    let uid = uid_of(&emulator, "hello", "1.2.3");
    emulator.put_bdb(bdb(4, "cache", vec![bdb_module(&uid, "hello", "1.2.3")]));
    let run = with_cluster(
        &emulator,
        dir.path(),
        &["modules", "delete", &uid, "--user-defined"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("database(s) 4 run hello 1.2.3"),
        "{}",
        run.stderr
    );
    assert!(emulator.requests().iter().all(|r| r.method != "DELETE"));
    // Forced, the cluster itself refuses: a database runs it.
    let run = with_cluster(
        &emulator,
        dir.path(),
        &["modules", "delete", &uid, "--user-defined", "--force"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stdout.contains("module_in_use"), "{}", run.stdout);
}

#[test]
fn names_from_the_cluster_reach_the_terminal_escaped() {
    let emulator = Emulator::start(EmulatorSpec::nodes(1)).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut module = module_json("evil\u{1b}[2J", "1.0.0");
    module["uid"] = serde_json::json!("evil");
    module["is_bundled"] = serde_json::json!(true);
    emulator.add_module(module);
    let run = with_cluster(&emulator, dir.path(), &["status"]);
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    assert!(run.stdout.contains("evil\\x1b[2J"), "{}", run.stdout);
}
