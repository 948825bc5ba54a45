//! `rmpack upload`, `modules`, `artifacts` and `upgrade` against the emulated RS cluster, through
//! the real binary over real HTTPS (trusting only the emulator's CA).

mod common;
mod support;

use common::Run;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{
    bdb, bdb_module, module_json, ActionOutcome, Emulator, EmulatorSpec, Fault, NodePlatform,
    RequestMatch,
};

const ARTIFACTS: &str = "/v2/local/modules/user-defined/artifacts";
const USER_DEFINED: &str = "/v2/modules/user-defined";

/// `rmpack` with credentials in the environment and no profile file or terminal.
fn rmpack_command(emulator: &Emulator, dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rmpack"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RMPACK_USER", emulator.user())
        .env("RMPACK_PASSWORD", emulator.password())
        .env("RMPACK_PROFILES", dir.join("no-profiles.toml"))
        .stdin(std::process::Stdio::null())
        .current_dir(dir);
    command
}

fn rmpack(emulator: &Emulator, dir: &Path, args: &[&str]) -> Run {
    rmpack_command(emulator, dir)
        .args(args)
        .output()
        .expect("rmpack runs")
        .into()
}

/// `rmpack upload ZIP --cluster URL --ca-cert CA` plus `extra`.
fn upload(emulator: &Emulator, dir: &Path, zip: &Path, extra: &[&str]) -> Run {
    let url = emulator.url();
    let ca = emulator.ca_cert_path().to_string_lossy().into_owned();
    let zip = zip.to_string_lossy().into_owned();
    let mut args = vec!["upload", &zip, "--cluster", &url, "--ca-cert", &ca];
    args.extend_from_slice(extra);
    rmpack(emulator, dir, &args)
}

fn cluster_args(emulator: &Emulator) -> Vec<String> {
    vec![
        "--cluster".into(),
        emulator.url(),
        "--ca-cert".into(),
        emulator.ca_cert_path().to_string_lossy().into_owned(),
    ]
}

/// A module zip around the gcc-built `plain` fixture that passes the pre-flight.
fn module_zip(dir: &Path, name: &str, version: &str) -> PathBuf {
    common::plain_module_zip(dir, name, version, module_json(name, version))
}

fn start(nodes: usize) -> (Emulator, tempfile::TempDir) {
    let emulator = Emulator::start(EmulatorSpec::nodes(nodes)).expect("emulator starts");
    (emulator, tempfile::tempdir().expect("temp dir"))
}

fn uploads_to(emulator: &Emulator, node: usize) -> usize {
    emulator
        .requests_to(node)
        .iter()
        .filter(|r| r.method == "POST" && r.path == ARTIFACTS)
        .count()
}

fn registrations(emulator: &Emulator) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == USER_DEFINED)
        .count()
}

fn assert_no_secret(emulator: &Emulator, run: &Run) {
    assert!(
        !run.text().contains(emulator.password()),
        "the password leaked into the output:\n{}",
        run.text()
    );
    assert!(emulator.credentials_over_plain_http().is_empty());
}

#[test]
fn three_node_rollout_registers_once_and_a_second_run_changes_nothing() {
    let (emulator, dir) = start(3);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");

    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(run.stdout.contains("complete: 3 of 3"), "{}", run.stdout);
    for node in 1..=3 {
        let held = emulator.artifacts(node);
        assert!(
            held.iter()
                .any(|a| a.module_name == "Hello" && a.version == 10203),
            "node {node} holds {held:?}"
        );
        assert_eq!(uploads_to(&emulator, node), 1, "node {node}");
    }
    assert_eq!(registrations(&emulator), 1);
    assert_eq!(emulator.user_defined_modules().len(), 1);
    assert_no_secret(&emulator, &run);

    emulator.clear_requests();
    let again = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
    assert!(emulator.only_gets(), "{:?}", emulator.requests());
    assert_eq!(emulator.user_defined_modules().len(), 1);
}

#[test]
fn json_output_lists_every_node_without_the_password() {
    let (emulator, dir) = start(2);
    let zip = module_zip(dir.path(), "Hello", "1.0.0");
    let run = upload(&emulator, dir.path(), &zip, &["--json"]);
    assert_eq!(run.code, 0, "{}", run.text());
    let value: Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_eq!(value["complete"], Value::Bool(true));
    assert_eq!(value["operation"], "upload");
    let steps = value["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3, "a registration and two nodes: {value}");
    assert_eq!(steps[0]["kind"], "register");
    assert_eq!(steps[0]["state"], "done");
    assert_eq!(steps[1]["kind"], "artifact");
    assert_eq!(steps[1]["target"], "node 1");
    assert_eq!(steps[1]["state"], "done");
    assert_no_secret(&emulator, &run);
}

#[test]
fn dry_run_sends_only_gets_and_prints_the_plan() {
    let (emulator, dir) = start(3);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &zip, &["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(emulator.only_gets(), "{:?}", emulator.requests());
    assert!(!emulator.requests().is_empty());
    assert!(run.stdout.contains("POST"), "{}", run.stdout);
    assert!(run.stdout.contains(USER_DEFINED), "{}", run.stdout);
    assert_eq!(run.stdout.matches(ARTIFACTS).count(), 3, "{}", run.stdout);
    for node in 1..=3 {
        assert!(emulator.artifacts(node).is_empty());
    }
}

#[test]
fn a_node_down_gives_a_partial_rollout_that_the_printed_command_resumes() {
    let (emulator, dir) = start(3);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    emulator.set_fault(2, Fault::Down);

    let run = upload(&emulator, dir.path(), &zip, &["--retries", "2"]);
    assert_eq!(run.code, 1, "{}", run.text());
    let failed_line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("node 2 "))
        .unwrap_or_default();
    assert!(failed_line.contains("FAILED"), "{}", run.stdout);
    assert!(run.stdout.contains("refused"), "{}", run.stdout);
    let resume = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("resume with:"))
        .nth(1)
        .expect("a resume command is printed")
        .trim()
        .to_string();
    assert!(resume.starts_with("rmpack upload --nodes 2 "), "{resume}");
    assert!(!resume.contains(emulator.password()));
    assert_eq!(uploads_to(&emulator, 1), 1);
    assert_eq!(uploads_to(&emulator, 3), 1);

    emulator.clear_faults(2);
    emulator.clear_requests();
    let words: Vec<&str> = resume.split_whitespace().skip(1).collect();
    let resumed = rmpack(&emulator, dir.path(), &words);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_eq!(uploads_to(&emulator, 1), 0, "node 1 got the artifact twice");
    assert_eq!(uploads_to(&emulator, 3), 0, "node 3 got the artifact twice");
    assert_eq!(uploads_to(&emulator, 2), 1);
    assert!(emulator
        .requests()
        .iter()
        .all(|r| r.node == 2 || r.method == "GET"));
    for node in 1..=3 {
        assert_eq!(emulator.artifacts(node).len(), 1, "node {node}");
    }
    assert_eq!(registrations(&emulator), 0);
}

#[test]
fn a_connection_dropped_mid_upload_is_retried() {
    let (emulator, dir) = start(3);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    emulator.set_fault(3, Fault::DropMidUpload { times: 1 });
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert_eq!(uploads_to(&emulator, 3), 2);
    assert_eq!(emulator.artifacts(3).len(), 1);
}

#[test]
fn uploads_dropped_every_time_fail_after_bounded_attempts_and_roll_back() {
    let (emulator, dir) = start(3);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    emulator.set_fault(2, Fault::DropMidUpload { times: 100 });
    let run = upload(
        &emulator,
        dir.path(),
        &zip,
        &["--rollback-on-failure", "--retries", "3"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert_eq!(uploads_to(&emulator, 2), 3, "attempts are bounded");
    assert!(run.stdout.contains("rolled back"), "{}", run.stdout);
    for node in 1..=3 {
        assert!(
            emulator.artifacts(node).is_empty(),
            "node {node} still holds {:?}",
            emulator.artifacts(node)
        );
    }
    assert!(emulator.user_defined_modules().is_empty());
}

#[test]
fn transient_503_and_409_busy_are_retried() {
    let (emulator, dir) = start(3);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    emulator.set_fault_matching(
        1,
        RequestMatch::new("POST", USER_DEFINED),
        Fault::Busy409 { times: 2 },
    );
    emulator.set_fault_matching(
        2,
        RequestMatch::new("POST", ARTIFACTS),
        Fault::Status503 { times: 1 },
    );
    emulator.set_fault_matching(
        3,
        RequestMatch::new("POST", ARTIFACTS),
        Fault::Busy409 { times: 1 },
    );
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert_eq!(registrations(&emulator), 3);
    assert_eq!(uploads_to(&emulator, 2), 2);
    assert_eq!(uploads_to(&emulator, 3), 2);
    assert_eq!(emulator.user_defined_modules().len(), 1);
    for node in 1..=3 {
        assert_eq!(emulator.artifacts(node).len(), 1);
    }
}

#[test]
fn a_wrong_password_is_401_without_retries() {
    let (emulator, dir) = start(2);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run: Run = rmpack_command(&emulator, dir.path())
        .env("RMPACK_PASSWORD", "not-the-password")
        .args(["upload", &zip.to_string_lossy()])
        .args(cluster_args(&emulator))
        .output()
        .expect("runs")
        .into();
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(run.stderr.contains("user and password"), "{}", run.stderr);
    assert_eq!(emulator.requests().len(), 1, "{:?}", emulator.requests());
    assert!(!run.text().contains("not-the-password"));
}

#[test]
fn an_untrusted_certificate_suggests_ca_cert() {
    let (emulator, dir) = start(1);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    // No --ca-cert: the emulator's self-made CA is not among the public roots.
    let run: Run = rmpack_command(&emulator, dir.path())
        .args([
            "upload",
            &zip.to_string_lossy(),
            "--cluster",
            &emulator.url(),
        ])
        .output()
        .expect("runs")
        .into();
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("not trusted"), "{}", run.stderr);
    assert!(run.stderr.contains("--ca-cert"), "{}", run.stderr);
    assert!(emulator.requests().is_empty());
}

#[test]
fn a_node_with_a_wrong_certificate_fails_alone() {
    let (emulator, dir) = start(2);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    emulator.set_fault(2, Fault::WrongCertificate);
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stdout.contains("--ca-cert"), "{}", run.stdout);
    assert_eq!(emulator.artifacts(1).len(), 1);
}

#[test]
fn a_refused_connection_says_the_node_may_be_down() {
    let (emulator, dir) = start(1);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    emulator.set_fault(1, Fault::Down);
    let run = upload(&emulator, dir.path(), &zip, &["--retries", "3"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
    assert!(run.stderr.contains("node down"), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("retrying").count(),
        2,
        "three attempts in all:\n{}",
        run.stderr
    );
}

#[test]
fn modules_upload_disabled_is_refused_before_sending_anything() {
    let emulator =
        Emulator::start(EmulatorSpec::nodes(2).rs_version("8.2.0-10")).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr
            .contains(r#"PUT /v1/cluster {"allow_modules_upload": true}"#),
        "{}",
        run.stderr
    );
    assert!(emulator.only_gets(), "{:?}", emulator.requests());

    emulator.set_allow_modules_upload(true);
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 0, "{}", run.text());
}

#[test]
fn plain_http_is_refused_and_never_carries_credentials() {
    let emulator = Emulator::start(EmulatorSpec::nodes(1).plain_http()).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "upload",
            &zip.to_string_lossy(),
            "--cluster",
            &emulator.plain_http_url(1),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.text());
    assert!(run.stderr.contains("--allow-http"), "{}", run.stderr);
    assert!(emulator.requests().is_empty());
    assert!(emulator.credentials_over_plain_http().is_empty());
}

#[test]
fn a_password_on_the_command_line_works_but_warns() {
    let (emulator, dir) = start(1);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run: Run = rmpack_command(&emulator, dir.path())
        .env_remove("RMPACK_PASSWORD")
        .args([
            "upload",
            &zip.to_string_lossy(),
            "--password",
            emulator.password(),
        ])
        .args(cluster_args(&emulator))
        .output()
        .expect("runs")
        .into();
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(run.stderr.contains("process list"), "{}", run.stderr);
    assert_no_secret(&emulator, &run);
}

#[test]
fn bundled_upload_follows_its_action() {
    let (emulator, dir) = start(2);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &zip, &["--bundled"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert_eq!(
        emulator
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v2/modules")
            .count(),
        1
    );
    assert!(emulator
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/v1/actions/")));
    assert!(emulator
        .modules()
        .iter()
        .any(|m| m["module_name"] == "Hello"));
}

#[test]
fn modules_and_artifacts_are_listed_and_deleted() {
    let (emulator, dir) = start(2);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    assert_eq!(upload(&emulator, dir.path(), &zip, &[]).code, 0);
    let cluster = cluster_args(&emulator);
    let with = |words: &[&str]| {
        let mut args: Vec<&str> = words.to_vec();
        args.extend(cluster.iter().map(String::as_str));
        rmpack(&emulator, dir.path(), &args)
    };

    let list = with(&["modules", "list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.text());
    let modules: Value = serde_json::from_str(&list.stdout).expect("JSON");
    let uid = modules
        .as_array()
        .and_then(|l| l.iter().find(|m| m["module_name"] == "Hello"))
        .and_then(|m| m["uid"].as_str())
        .expect("the module is listed")
        .to_string();
    let get = with(&["modules", "get", &uid]);
    assert_eq!(get.code, 0, "{}", get.text());
    assert!(get.stdout.contains("Hello"));
    let missing = with(&["modules", "get", "no-such-uid"]);
    assert_eq!(missing.code, 1, "{}", missing.text());
    assert!(missing.stderr.contains("404"), "{}", missing.stderr);

    let artifacts = with(&["artifacts", "list"]);
    assert_eq!(artifacts.code, 0, "{}", artifacts.text());
    assert_eq!(
        artifacts.stdout.matches("Hello").count(),
        2,
        "{}",
        artifacts.stdout
    );

    let deleted = with(&["artifacts", "delete", "Hello", "1.2.3"]);
    assert_eq!(deleted.code, 0, "{}", deleted.text());
    assert_eq!(
        deleted.stdout.matches("deleted").count(),
        2,
        "{}",
        deleted.stdout
    );
    assert!(emulator.artifacts(1).is_empty() && emulator.artifacts(2).is_empty());

    let removed = with(&["modules", "delete", &uid, "--user-defined", "--json"]);
    assert_eq!(removed.code, 0, "{}", removed.text());
    let outcome: Value = serde_json::from_str(&removed.stdout).expect("--json prints only JSON");
    assert_eq!(outcome["operation"], "delete", "{outcome}");
    assert_eq!(outcome["steps"][0]["kind"], "delete_module", "{outcome}");
    assert_eq!(outcome["steps"][0]["state"], "done", "{outcome}");
    assert!(
        outcome["steps"][0]["subject"]
            .as_str()
            .is_some_and(|s| s.contains(uid.as_str())),
        "{outcome}"
    );
    assert!(emulator.user_defined_modules().is_empty());
}

#[test]
fn a_bad_poll_interval_is_refused_before_anything_is_sent() {
    let (emulator, dir) = start(1);
    let mut args = vec![
        "upgrade",
        "--db",
        "1",
        "--module",
        "Hello",
        "--poll-interval",
        "nan",
    ];
    let cluster = cluster_args(&emulator);
    args.extend(cluster.iter().map(String::as_str));
    let run = rmpack(&emulator, dir.path(), &args);
    assert_eq!(run.code, 2, "{}", run.text());
    assert!(run.stderr.contains("0.05 to 60"), "{}", run.stderr);
    assert!(emulator.requests().is_empty());
}

fn upgrade_setup(outcome: Option<ActionOutcome>) -> (Emulator, tempfile::TempDir, Run) {
    let (emulator, dir) = start(1);
    let old = emulator.add_module(serde_json::json!({
        "uid": "old-hello", "module_name": "Hello", "semantic_version": "1.0.0", "version": 10000,
    }));
    emulator.add_module(serde_json::json!({
        "uid": "new-hello", "module_name": "Hello", "semantic_version": "1.2.0", "version": 10200,
    }));
    emulator.put_bdb(bdb(1, "db1", vec![bdb_module(&old, "Hello", "1.0.0")]));
    if let Some(outcome) = outcome {
        emulator.script_next_action(outcome);
    }
    let mut args = vec![
        "upgrade".to_string(),
        "--db".into(),
        "1".into(),
        "--module".into(),
        "Hello".into(),
        "--poll-interval".into(),
        "0.05".into(),
        "--preserve-roles".into(),
    ];
    args.extend(cluster_args(&emulator));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = rmpack(&emulator, dir.path(), &args);
    (emulator, dir, run)
}

#[test]
fn upgrade_follows_the_action_to_completed() {
    let (emulator, _dir, run) = upgrade_setup(None);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(run.stdout.contains("queued"), "{}", run.stdout);
    assert!(run.stdout.contains("running"), "{}", run.stdout);
    assert!(run.stdout.contains("completed"), "{}", run.stdout);
    let db = emulator.bdb(1).expect("the database exists");
    assert_eq!(db["module_list"][0]["semantic_version"], "1.2.0", "{db}");
}

#[test]
fn upgrade_reports_a_failed_action_with_its_error_code() {
    let (_emulator, _dir, run) = upgrade_setup(Some(ActionOutcome::failed(
        "redis_incompatible_version",
        "Module min_redis_version is bigger than the current Redis version",
    )));
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("failed"), "{}", run.stderr);
    assert!(
        run.stderr.contains("redis_incompatible_version"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("min_redis_version is bigger"),
        "{}",
        run.stderr
    );
}

#[test]
fn upgrade_reports_an_aborted_action() {
    let (_emulator, _dir, run) = upgrade_setup(Some(ActionOutcome::Aborted));
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("aborted"), "{}", run.stderr);
}

#[test]
fn upgrade_reports_an_unknown_action() {
    let (_emulator, _dir, run) = upgrade_setup(Some(ActionOutcome::Unknown));
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("unknown action"), "{}", run.stderr);
}

#[test]
fn upgrade_takes_the_module_route_on_clusters_older_than_the_general_route() {
    let emulator =
        Emulator::start(EmulatorSpec::nodes(1).rs_version("7.2.4-92")).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let old = emulator.add_module(serde_json::json!({
        "uid": "old-hello", "module_name": "Hello", "semantic_version": "1.0.0", "version": 10000,
    }));
    emulator.add_module(serde_json::json!({
        "uid": "new-hello", "module_name": "Hello", "semantic_version": "1.2.0", "version": 10200,
    }));
    emulator.put_bdb(bdb(1, "db1", vec![bdb_module(&old, "Hello", "1.0.0")]));
    let mut args = vec!["upgrade", "--db", "1", "--module", "Hello", "--to", "1.2.0"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    args.extend(["--poll-interval".into(), "0.05".into()]);
    args.extend(cluster_args(&emulator));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = rmpack(&emulator, dir.path(), &args);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(emulator
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.path == "/v1/bdbs/1/modules/upgrade"));
    assert!(!emulator
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.path == "/v1/bdbs/1/upgrade"));
}

#[test]
fn the_pre_flight_refuses_a_module_for_a_newer_rs_before_sending() {
    let emulator =
        Emulator::start(EmulatorSpec::nodes(2).rs_version("6.2.4-1")).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    // The module asks for RS 7.2 (min_redis_pack_version).
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("min_redis_pack_version"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was sent"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("redis_pack_incompatible_version"),
        "an upload predicts the upload's code: {}",
        run.stderr
    );
    assert!(emulator.only_gets(), "{:?}", emulator.requests());
}

#[test]
fn validate_takes_the_live_cluster_and_a_database_as_its_target_and_changes_nothing() {
    let (emulator, dir) = start(3);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let mut database = bdb(1, "db1", vec![]);
    // An Active-Active database needs `crdb`, which the module lacks.
    database["crdt"] = true.into();
    emulator.put_bdb(database);
    let zip_arg = zip.to_string_lossy().into_owned();
    let validate = |extra: &[&str]| {
        let mut args: Vec<String> = vec!["validate".into(), zip_arg.clone()];
        args.extend(cluster_args(&emulator));
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rmpack(&emulator, dir.path(), &args)
    };

    let plain = validate(&[]);
    assert_eq!(plain.code, 0, "{}", plain.text());

    let with_db = validate(&["--db", "1", "--format", "json"]);
    assert_eq!(with_db.code, 1, "{}", with_db.text());
    let report: Value = serde_json::from_str(&with_db.stdout).expect("a JSON report");
    let finding = report["diagnostics"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["rule"] == "capability-missing"))
        .unwrap_or_else(|| panic!("capability-missing is reported: {report}"));
    assert_eq!(finding["code"], "unsupported_module_capabilities");
    assert!(
        finding["message"]
            .as_str()
            .is_some_and(|m| m.contains("crdb")),
        "{finding}"
    );
    assert!(emulator.only_gets(), "validate sent more than GETs");
    assert_no_secret(&emulator, &with_db);
}

#[test]
fn a_cluster_with_an_aarch64_node_refuses_an_x86_64_module_before_sending() {
    let (emulator, dir) = start(3);
    emulator.set_node_platform(
        2,
        support::NodePlatform::ubuntu("22.04").with_architecture("aarch64"),
    );
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("set-node-build-missing")
            && run.stderr.contains("node 2 runs ubuntu22/aarch64"),
        "{}",
        run.stderr
    );
    assert!(
        emulator.only_gets(),
        "something was sent before the refusal"
    );
}

#[test]
fn the_redis_enterprise_variables_suffice_and_insecure_warns() {
    let (emulator, dir) = start(1);
    let mut command = Command::new(env!("CARGO_BIN_EXE_rmpack"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RMPACK_PROFILES", dir.path().join("no-profiles.toml"))
        .env("REDIS_ENTERPRISE_URL", emulator.url())
        .env("REDIS_ENTERPRISE_USER", emulator.user())
        .env("REDIS_ENTERPRISE_PASSWORD", emulator.password())
        .stdin(std::process::Stdio::null())
        .current_dir(dir.path());

    let trusted = command
        .env("REDIS_ENTERPRISE_CA_CERT", emulator.ca_cert_path())
        .args(["modules", "list"])
        .output()
        .expect("rmpack runs");
    let trusted: Run = trusted.into();
    assert_eq!(trusted.code, 0, "{}", trusted.text());
    assert!(!trusted.stderr.contains("verification is off"));

    let insecure: Run = command
        .env_remove("REDIS_ENTERPRISE_CA_CERT")
        .env("REDIS_ENTERPRISE_INSECURE", "true")
        .output()
        .expect("rmpack runs")
        .into();
    assert_eq!(insecure.code, 0, "{}", insecure.text());
    assert!(
        insecure.stderr.contains("certificate verification is off"),
        "{}",
        insecure.stderr
    );
    assert_no_secret(&emulator, &insecure);
}

#[test]
fn a_lower_version_beside_a_registered_higher_one_is_a_normal_upload() {
    let (emulator, dir) = start(3);
    let newer = module_zip(dir.path(), "Hello", "1.2.4");
    let run = upload(&emulator, dir.path(), &newer, &[]);
    assert_eq!(run.code, 0, "{}", run.text());
    let older = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &older, &[]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(
        !run.text().contains("module_downgrade_unsupported"),
        "{}",
        run.text()
    );
    assert!(
        run.stdout.contains("1.2.4"),
        "the info note names it: {}",
        run.stdout
    );
    let versions: Vec<String> = emulator
        .user_defined_modules()
        .iter()
        .map(|m| m["semantic_version"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        versions.contains(&"1.2.3".to_string()) && versions.contains(&"1.2.4".to_string()),
        "{versions:?}"
    );
    for node in 1..=3 {
        assert_eq!(emulator.artifacts(node).len(), 2, "node {node}");
    }
}

#[test]
fn the_flow_follows_the_rs_version_unless_forced() {
    let emulator =
        Emulator::start(EmulatorSpec::nodes(2).rs_version("7.22.0-28")).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 0, "{}", run.text());
    let bundled = |e: &Emulator| {
        e.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v2/modules")
            .count()
    };
    assert_eq!(bundled(&emulator), 1, "RS 7.22 takes the bundled upload");
    assert_eq!(registrations(&emulator), 0);

    let (emulator, dir) = start(2);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert_eq!(bundled(&emulator), 0, "RS 8.0 takes the custom-module flow");
    assert_eq!(registrations(&emulator), 1);

    emulator.set_node_software_version(1, Some("unknown"));
    emulator.set_node_software_version(2, Some("unknown"));
    let zip = module_zip(dir.path(), "Other", "1.0.0");
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("--user-defined"), "{}", run.stderr);
    assert!(run.stderr.contains("--bundled"), "{}", run.stderr);
    let run = upload(&emulator, dir.path(), &zip, &["--user-defined"]);
    assert_eq!(run.code, 0, "{}", run.text());
}

#[test]
fn an_artifact_a_node_refuses_is_removed_everywhere_and_the_registration_undone() {
    let (emulator, dir) = start(3);
    // Nodes that do not say which OS they run: the pre-flight cannot tell, and the first node
    // answers 406 os_not_supported for a build for rhel9.
    for node in 1..=3 {
        emulator.set_node_platform(
            node,
            NodePlatform {
                os_name: String::new(),
                os_family: String::new(),
                os_version: String::new(),
                ..NodePlatform::ubuntu("22.04")
            },
        );
    }
    let mut json = module_json("Hello", "1.2.3");
    json["operating_systems"] = serde_json::json!(["rhel9"]);
    let path = common::plain_module_zip(dir.path(), "Hello", "1.2.3", json);

    let run = upload(&emulator, dir.path(), &path, &[]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.text().contains("os_not_supported"), "{}", run.text());
    // Every node at once; the first refusal stops the others, and what this run placed goes.
    for node in 1..=3 {
        assert!(emulator.artifacts(node).is_empty(), "node {node}");
    }
    assert!(
        emulator.user_defined_modules().is_empty(),
        "the registration was undone"
    );
    assert!(run.stdout.contains("rolled back"), "{}", run.stdout);
}

#[test]
fn a_node_of_another_os_is_refused_before_anything_is_sent_and_no_resume_is_offered() {
    let (emulator, dir) = start(3);
    emulator.set_node_platform(3, NodePlatform::rhel("9.4"));
    let mut json = module_json("Hello", "1.2.3");
    json["operating_systems"] = serde_json::json!(["ubuntu22.04"]);
    let path = common::plain_module_zip(dir.path(), "Hello", "1.2.3", json);
    let run = upload(&emulator, dir.path(), &path, &[]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(emulator.only_gets(), "{:?}", emulator.requests());
    assert!(
        run.stderr.contains("set-node-build-missing") && run.stderr.contains("os_not_supported"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("node 3 runs rhel9/x86_64 (rhel 9.4)")
            && run.stderr.contains("built for ubuntu22/x86_64 only"),
        "names the node, its OS and the build: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("Build Hello 1.2.3 for rhel9/x86_64 (Hello.Linux-rhel9-x86_64.1.2.3.zip)"),
        "names the zip to build: {}",
        run.stderr
    );
    assert!(
        !run.text().contains("resume") && !run.text().contains("--nodes"),
        "no command that cannot succeed: {}",
        run.text()
    );
    // The nodes that can take it can be served on their own.
    let run = upload(&emulator, dir.path(), &path, &["--nodes", "1,2"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert_eq!(uploads_to(&emulator, 3), 0);
}

#[test]
fn multipart_uploads_ask_for_100_continue() {
    let (emulator, dir) = start(1);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 0, "{}", run.text());
    let uploads: Vec<_> = emulator
        .requests()
        .into_iter()
        .filter(|r| r.path == ARTIFACTS && r.method == "POST")
        .collect();
    assert_eq!(uploads.len(), 1);
    assert!(uploads[0].expect_continue, "{:?}", uploads[0]);
}

#[test]
fn a_node_address_that_is_not_host_and_port_is_refused_before_credentials_go_anywhere() {
    let (emulator, dir) = start(2);
    emulator.set_node_reported_addr(2, "127.0.0.1/../../v1/bdbs#");
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("not host[:port]"), "{}", run.stderr);
    assert!(run.stderr.contains("node 2"), "{}", run.stderr);
    assert!(emulator.only_gets(), "{:?}", emulator.requests());
    assert!(
        emulator
            .requests()
            .iter()
            .all(|r| !r.path.contains("..") && !r.path.starts_with("/v1/bdbs")),
        "{:?}",
        emulator.requests()
    );
    assert_no_secret(&emulator, &run);
}

#[test]
fn a_module_already_on_the_cluster_is_one_finding_not_two() {
    let (emulator, dir) = start(1);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let run = upload(&emulator, dir.path(), &zip, &[]);
    assert_eq!(run.code, 0, "{}", run.text());
    let mut args = vec!["validate".to_string(), zip.to_string_lossy().into_owned()];
    args.extend(cluster_args(&emulator));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = rmpack(&emulator, dir.path(), &args);
    assert_eq!(run.code, 1, "{}", run.text());
    assert_eq!(
        run.text().matches("RS error code: module_exists").count(),
        1,
        "{}",
        run.text()
    );
    assert!(
        !run.text().contains("upgrade-"),
        "an upload is not an upgrade: {}",
        run.text()
    );
}

#[test]
fn a_uid_or_name_of_dot_dot_never_becomes_a_rest_path() {
    let (emulator, dir) = start(2);
    for args in [
        vec!["modules", "delete", "..", "--user-defined"],
        vec!["modules", "get", ".."],
        vec!["artifacts", "delete", "..", "1.2.3"],
        vec!["upgrade", "--db", "..", "--module", "hello"],
    ] {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(cluster_args(&emulator));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let run = rmpack(&emulator, dir.path(), &all);
        assert_eq!(run.code, 2, "bad input: {args:?}: {}", run.text());
        assert!(run.stderr.contains("refusing"), "{args:?}: {}", run.stderr);
    }
    assert!(
        emulator
            .requests()
            .iter()
            .all(|r| r.method == "GET" && !r.path.contains("..")),
        "{:?}",
        emulator.requests()
    );
}
