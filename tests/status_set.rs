//! `rmpack status` with the release set: the node-join rule RS applies (a node must hold, for
//! every custom module a database uses, a build that fits each Redis version in use, else it
//! fails to join with `incompatible_modules`) checked on every node of a mixed-OS cluster, and the
//! healing command naming the release's zip for the node's OS.

mod common;
mod support;

use common::Run;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::{bdb, bdb_module, module_json, Emulator, EmulatorSpec, NodePlatform};

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
        .args(["--cluster", &emulator.url(), "--ca-cert"])
        .arg(emulator.ca_cert_path())
        .output()
        .expect("rmpack runs");
    let run = Run::from(output);
    assert!(!run.text().contains(emulator.password()), "{}", run.text());
    run
}

/// `hello` VERSION for Redis REDIS built for OS, named by Redis's convention, in `dir`.
fn build(dir: &Path, version: &str, os: &str, redis: &str) -> PathBuf {
    let mut json = module_json("hello", version);
    json["operating_systems"] = json!([os]);
    json["compatible_redis_version"] = json!(redis);
    let zip = common::plain_module_zip(dir, "hello", version, json);
    let spelling = rmpack::manifest::OsNick::parse(os, true)
        .unwrap()
        .file_name_spelling()
        .to_string();
    let named = dir.join(rmpack::manifest::layout::zip_file_name(
        "hello", &spelling, "x86_64", version,
    ));
    std::fs::rename(&zip, &named).unwrap();
    named
}

fn database(uid: u64, redis: &str, hello: &str, module_uid: &str) -> Value {
    let mut db = bdb(
        uid,
        &format!("db{uid}"),
        vec![bdb_module(module_uid, "hello", hello)],
    );
    db["redis_version"] = json!(redis);
    db
}

fn uid_of(emulator: &Emulator, version: &str) -> String {
    emulator
        .user_defined_modules()
        .iter()
        .find(|m| m["semantic_version"] == version)
        .and_then(|m| m["uid"].as_str())
        .expect("registered")
        .to_string()
}

#[test]
fn a_node_without_a_build_for_a_redis_version_in_use_is_named_with_its_oss_zip() {
    let emulator = Emulator::start(EmulatorSpec::nodes(3)).expect("emulator starts");
    for node in [1, 2] {
        emulator.set_node_platform(node, NodePlatform::rhel("8.9"));
    }
    emulator.set_node_platform(3, NodePlatform::rhel("9.4"));
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for (version, redis) in [("8.0.0", "8.0"), ("8.2.0", "8.2")] {
        for os in ["rhel8", "rhel9"] {
            build(&dist, version, os, redis);
        }
    }
    let run = rmpack(&emulator, dir.path(), &["upload", "dist"]);
    assert_eq!(run.code, 0, "{}", run.text());
    emulator.put_bdb(database(1, "8.0", "8.0.0", &uid_of(&emulator, "8.0.0")));
    emulator.put_bdb(database(2, "8.2", "8.2.0", &uid_of(&emulator, "8.2.0")));
    let run = rmpack(&emulator, dir.path(), &["status", "dist"]);
    assert_eq!(run.code, 0, "{}", run.text());

    // Node 3 is reinstalled and has lost its builds for Redis 8.0.
    let run = rmpack(
        &emulator,
        dir.path(),
        &["artifacts", "delete", "hello", "8.0.0", "--nodes", "3"],
    );
    assert_eq!(run.code, 0, "{}", run.text());

    let run = rmpack(&emulator, dir.path(), &["status", "dist"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stdout.contains(
            "node(s) 3 hold no hello build for Redis 8.0 (database(s) 1 use it): such a node fails to join with incompatible_modules"
        ),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("for Redis 8.2"),
        "Redis 8.2 is covered everywhere:\n{}",
        run.stdout
    );

    let json = rmpack(&emulator, dir.path(), &["status", "dist", "--json"]);
    let value: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/status.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(problems.is_empty(), "{problems:?}\n{}", json.stdout);
    let hole = value["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "node_join_hole")
        .expect("a node-join hole")
        .clone();
    assert_eq!(hole["nodes"], json!(["3"]));
    assert_eq!(hole["redis_version"], "8.0");
    assert_eq!(hole["databases"], json!(["1"]));
    assert_eq!(hole["fitting_versions"], json!(["8.0.0"]));
    let heal = hole["heal"][0].as_str().unwrap().to_string();
    assert!(
        heal.starts_with("rmpack upload dist/hello.Linux-rhel9-x86_64.8.0.0.zip"),
        "the rhel9 build, for node 3: {heal}"
    );

    // The printed command heals it.
    let words: Vec<&str> = heal.split_whitespace().skip(1).collect();
    assert_eq!(words[2], "--cluster", "{heal}");
    assert_eq!(words[4], "--ca-cert", "{heal}");
    let words: Vec<&str> = [&words[..2], &words[6..]].concat();
    let healed = rmpack(&emulator, dir.path(), &words);
    assert_eq!(healed.code, 0, "{}", healed.text());
    let run = rmpack(&emulator, dir.path(), &["status", "dist"]);
    assert_eq!(run.code, 0, "{}", run.text());
}

#[test]
fn without_the_release_the_heal_names_the_file_a_build_for_the_nodes_os_carries() {
    let emulator = Emulator::start(EmulatorSpec::nodes(2)).expect("emulator starts");
    emulator.set_node_platform(1, NodePlatform::rhel("8.9"));
    emulator.set_node_platform(2, NodePlatform::ubuntu("22.04"));
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for os in ["rhel8", "ubuntu22"] {
        build(&dist, "8.2.0", os, "8.2");
    }
    let run = rmpack(&emulator, dir.path(), &["upload", "dist"]);
    assert_eq!(run.code, 0, "{}", run.text());
    let run = rmpack(
        &emulator,
        dir.path(),
        &["artifacts", "delete", "hello", "8.2.0"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    let run = rmpack(&emulator, dir.path(), &["status"]);
    assert_eq!(run.code, 1, "{}", run.text());
    // One command per OS, each naming the file its build carries.
    assert!(
        run.stdout
            .contains("heal: rmpack upload hello.Linux-rhel8-x86_64.8.2.0.zip"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("heal: rmpack upload hello.Linux-ubuntu22.04-x86_64.8.2.0.zip"),
        "{}",
        run.stdout
    );
}
