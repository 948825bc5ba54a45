//! `rmpack upload` of a release set against the emulated RS cluster: each version registered
//! once (lowest first), each node given the zip built for its OS and architecture, every node at
//! once; a node without a build refused before anything is sent; the bytes the pre-flight
//! checked are the bytes sent, whatever happens to the file meanwhile.

mod common;
mod support;

use common::Run;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use support::{module_json, Emulator, EmulatorSpec, NodePlatform};

const ARTIFACTS: &str = "/v2/local/modules/user-defined/artifacts";
const USER_DEFINED: &str = "/v2/modules/user-defined";

fn upload(emulator: &Emulator, dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RMPACK_USER", emulator.user())
        .env("RMPACK_PASSWORD", emulator.password())
        .env("RMPACK_PROFILES", dir.join("no-profiles.toml"))
        .stdin(std::process::Stdio::null())
        .current_dir(dir)
        .arg("upload")
        .args(args)
        .args(["--cluster", &emulator.url(), "--ca-cert"])
        .arg(emulator.ca_cert_path())
        .output()
        .expect("rmpack runs");
    Run::from(output)
}

/// `hello` VERSION built for OS, a zip named by Redis's convention in `dir`.
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

/// A cluster of 3 nodes: 1 and 2 on RHEL 8, 3 on RHEL 9 (an OS migration in progress).
fn mixed_cluster() -> (Emulator, tempfile::TempDir) {
    let emulator = Emulator::start(EmulatorSpec::nodes(3)).expect("emulator starts");
    for node in [1, 2] {
        emulator.set_node_platform(node, NodePlatform::rhel("8.9"));
    }
    emulator.set_node_platform(3, NodePlatform::rhel("9.4"));
    (emulator, tempfile::tempdir().expect("temp dir"))
}

/// hello 8.0.0 (Redis 8.0) and 8.2.0 (Redis 8.2), each for rhel8 and rhel9, in `dir/dist`.
fn release(dir: &Path) -> PathBuf {
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for (version, redis) in [("8.2.0", "8.2"), ("8.0.0", "8.0")] {
        for os in ["rhel8", "rhel9"] {
            build(&dist, version, os, redis);
        }
    }
    dist
}

fn zip_sha(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn a_release_goes_to_a_mixed_cluster_each_node_getting_its_own_build() {
    let (emulator, dir) = mixed_cluster();
    let dist = release(dir.path());
    let run = upload(&emulator, dir.path(), &["dist", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(emulator.only_gets());
    // The plan says which zip each node gets.
    let line = |node: &str, version: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{node} ")) && l.contains(version))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("node 3", "8.0.0").contains("hello.Linux-rhel9-x86_64.8.0.0.zip"),
        "{}",
        run.stdout
    );
    assert!(
        line("node 1", "8.2.0").contains("hello.Linux-rhel8-x86_64.8.2.0.zip"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches(ARTIFACTS).count(), 6, "{}", run.stdout);

    let run = upload(&emulator, dir.path(), &["dist"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(
        run.stdout
            .contains("complete: 3 of 3 node(s) hold every version uploaded"),
        "{}",
        run.stdout
    );
    // One registration per version, lowest first.
    let registrations: Vec<Value> = emulator
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == USER_DEFINED)
        .map(|r| r.json_body.expect("a JSON body"))
        .collect();
    let registered: Vec<&str> = registrations
        .iter()
        .map(|b| b["semantic_version"].as_str().unwrap())
        .collect();
    assert_eq!(registered, ["8.0.0", "8.2.0"]);
    // Each node holds its own OS's build of each version.
    for (node, os) in [(1, "rhel8"), (2, "rhel8"), (3, "rhel9")] {
        let held = emulator.artifacts(node);
        assert_eq!(held.len(), 2, "node {node}");
        for artifact in held {
            let expected = dist.join(format!(
                "hello.Linux-{os}-x86_64.{}.zip",
                artifact.semantic_version
            ));
            assert_eq!(artifact.sha256, zip_sha(&expected), "node {node} {os}");
        }
    }
    // A re-run sends nothing.
    emulator.clear_requests();
    let run = upload(&emulator, dir.path(), &["dist"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(run.stdout.contains("nothing changed"), "{}", run.stdout);
    assert!(emulator.only_gets());
}

#[test]
fn a_node_without_a_build_of_some_version_is_refused_with_nothing_sent() {
    let (emulator, dir) = mixed_cluster();
    let dist = release(dir.path());
    std::fs::remove_file(dist.join("hello.Linux-rhel9-x86_64.8.2.0.zip")).unwrap();
    let run = upload(&emulator, dir.path(), &["dist", "--json"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(emulator.only_gets(), "{:?}", emulator.requests());
    assert!(
        run.stderr.contains("set-node-build-missing")
            && run.stderr.contains("node 3 runs rhel9/x86_64 (rhel 9.4), but hello 8.2.0 is built for rhel8/x86_64 only")
            && run.stderr.contains("hello.Linux-rhel9-x86_64.8.2.0.zip"),
        "{}",
        run.stderr
    );
    assert!(!run.text().contains("resume"), "{}", run.text());
}

#[test]
fn a_set_that_breaks_a_set_rule_is_not_uploaded() {
    let (emulator, dir) = mixed_cluster();
    let dist = release(dir.path());
    // One version's builds must register one configuration.
    let mut json = module_json("hello", "8.0.0");
    json["operating_systems"] = json!(["rhel9"]);
    json["compatible_redis_version"] = json!("8.0");
    json["capabilities"] = json!(["types"]);
    let odd = common::plain_module_zip(dir.path(), "hello", "8.0.0", json);
    std::fs::rename(odd, dist.join("hello.Linux-rhel9-x86_64.8.0.0.zip")).unwrap();
    let run = upload(&emulator, dir.path(), &["dist"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("set-version-config-differs"),
        "{}",
        run.stderr
    );
    assert!(emulator.only_gets());
    // A folder with a non-zip in it says so and goes on; an empty one is refused.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = upload(&emulator, dir.path(), &["empty"]);
    assert_eq!(run.code, 2, "{}", run.text());
    assert!(run.stderr.contains("holds no module zip"), "{}", run.stderr);
}

#[test]
fn the_bundled_flow_sends_each_version_the_zip_every_node_runs() {
    let emulator =
        Emulator::start(EmulatorSpec::nodes(2).rs_version("7.22.0-28")).expect("emulator starts");
    for node in [1, 2] {
        emulator.set_node_platform(node, NodePlatform::rhel("9.4"));
    }
    let dir = tempfile::tempdir().unwrap();
    release(dir.path());
    let run = upload(&emulator, dir.path(), &["dist"]);
    assert_eq!(run.code, 0, "{}", run.text());
    let bundled: Vec<String> = emulator
        .bundled_modules()
        .iter()
        .map(|m| {
            format!(
                "{} {:?}",
                m["semantic_version"].as_str().unwrap(),
                m["operating_systems"]
            )
        })
        .collect();
    assert_eq!(bundled.len(), 2, "{bundled:?}");
    assert!(bundled.iter().all(|b| b.contains("rhel9")), "{bundled:?}");
    // A mixed cluster needs a zip per node, which the bundled flow cannot give.
    emulator.set_node_platform(1, NodePlatform::rhel("8.9"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    build(&dir.path().join("dist"), "8.4.0", "rhel8", "8.4");
    build(&dir.path().join("dist"), "8.4.0", "rhel9", "8.4");
    let run = upload(&emulator, dir.path(), &["dist"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr
            .contains("RS before 8.0 takes one zip per version for the whole cluster"),
        "{}",
        run.stderr
    );
}

/// The plan keeps the zip files it checked open: a zip replaced on disk afterwards (as `mv`
/// or a new pack does) is not what goes to the nodes, and one rewritten in place goes nowhere.
#[test]
fn the_bytes_checked_are_the_bytes_sent_whatever_happens_to_the_file() {
    let (emulator, dir) = mixed_cluster();
    let dist = release(dir.path());
    let client = client_of(&emulator);
    let inputs = rmpack::release::collect_inputs(std::slice::from_ref(&dist)).unwrap();
    let mut set = rmpack::release::open_set(&inputs, Default::default());
    let checked: Vec<(PathBuf, String)> = set
        .members
        .iter()
        .map(|m| (m.path.clone(), m.sha256.clone()))
        .collect();
    let plan =
        rmpack::rollout::plan_upload(&client, &mut set, &Default::default()).expect("the plan");
    drop(set);
    // Every zip replaced on disk by another build of the same name.
    for (path, _) in &checked {
        let other = dir.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        let mut json = module_json("hello", "9.9.9");
        json["operating_systems"] = json!(["rhel8", "rhel9"]);
        let replacement = common::plain_module_zip(&other, "hello", "9.9.9", json);
        std::fs::rename(replacement, path).unwrap();
    }
    let outcome = plan.execute(&client, &|| false);
    assert!(outcome.is_complete(), "{outcome:#?}");
    for node in 1..=3 {
        for artifact in emulator.artifacts(node) {
            assert_ne!(artifact.semantic_version, "9.9.9");
            assert!(
                checked.iter().any(|(_, sha)| *sha == artifact.sha256),
                "node {node} got bytes the pre-flight did not check"
            );
        }
    }

    // Rewritten in place (same file, other bytes): refused, and no node keeps it.
    let (emulator, dir) = mixed_cluster();
    let dist = release(dir.path());
    let client = client_of(&emulator);
    let inputs = rmpack::release::collect_inputs(std::slice::from_ref(&dist)).unwrap();
    let mut set = rmpack::release::open_set(&inputs, Default::default());
    let plan =
        rmpack::rollout::plan_upload(&client, &mut set, &Default::default()).expect("the plan");
    let victim = dist.join("hello.Linux-rhel9-x86_64.8.0.0.zip");
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 30;
    bytes[last] ^= 0xff;
    std::fs::write(&victim, &bytes).unwrap();
    drop(set);
    let outcome = plan.execute(&client, &|| false);
    assert!(!outcome.is_complete());
    let node3 = outcome
        .steps
        .iter()
        .find(|s| s.target == "node 3" && s.subject.contains("8.0.0"))
        .expect("node 3's step");
    assert!(
        node3
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("changed on disk after the pre-flight checked it"),
        "{node3:?}"
    );
    assert!(emulator.artifacts(3).is_empty(), "node 3 keeps nothing");
}

fn client_of(emulator: &Emulator) -> rmpack::cluster::Client {
    let settings = rmpack::cluster::ConnectionSettings {
        url: emulator.url(),
        credentials: rmpack::cluster::Credentials {
            user: emulator.user().into(),
            password: rmpack::cluster::Password::new(emulator.password()),
        },
        ca_cert: Some(emulator.ca_cert_path().to_path_buf()),
        insecure: false,
        allow_http: false,
    };
    rmpack::cluster::Client::new(
        &settings,
        rmpack::cluster::ClientOptions::default(),
        Arc::new(rmpack::Silent),
    )
    .expect("a client")
}
