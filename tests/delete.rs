//! `rmpack modules delete` and `rmpack artifacts delete` as rollouts, against the emulated RS
//! cluster through the real binary: the plan `--dry-run` prints (GET requests only), the
//! configuration then every node's artifact, each read back; a node that answers 200 without
//! deleting, a node that is down, a lost answer, a version a database runs, and a signal in the
//! middle — each reported as it is, with the command that deletes what is left.

mod common;
mod support;

use common::Run;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{bdb, bdb_module, module_json, Emulator, EmulatorSpec, Fault, RequestMatch};

const ARTIFACTS: &str = "/v2/local/modules/user-defined/artifacts";
const USER_DEFINED: &str = "/v2/modules/user-defined/";

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("--json prints only JSON ({e}):\n{}", self.stdout))
    }

    /// The command printed under `resume with:`.
    fn resume(&self) -> String {
        let mut lines = self.stdout.lines();
        lines
            .by_ref()
            .find(|l| l.starts_with("resume with:"))
            .unwrap_or_else(|| panic!("no resume command:\n{}", self.stdout));
        lines.next().expect("the command").trim().to_string()
    }

    /// The table row of `target` (`cluster`, `node 2`).
    fn row(&self, target: &str) -> String {
        self.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{target} ")))
            .unwrap_or_else(|| panic!("no row for {target}:\n{}", self.stdout))
            .to_string()
    }
}

/// `program` with the emulator's credentials in the environment (never on the command line) and
/// `path` as PATH.
fn with_credentials(program: &Path, emulator: &Emulator, dir: &Path, path: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", path)
        .env("RMPACK_USER", emulator.user())
        .env("RMPACK_PASSWORD", emulator.password())
        .env("RMPACK_PROFILES", dir.join("no-profiles.toml"))
        .stdin(Stdio::null())
        .current_dir(dir);
    command
}

fn command(emulator: &Emulator, dir: &Path) -> Command {
    let path = std::env::var("PATH").unwrap_or_default();
    with_credentials(
        Path::new(env!("CARGO_BIN_EXE_rmpack")),
        emulator,
        dir,
        &path,
    )
}

fn cluster_args(emulator: &Emulator) -> Vec<String> {
    vec![
        "--cluster".into(),
        emulator.url(),
        "--ca-cert".into(),
        emulator.ca_cert_path().to_string_lossy().into_owned(),
    ]
}

fn rmpack(emulator: &Emulator, dir: &Path, args: &[&str]) -> Run {
    Run::from(
        command(emulator, dir)
            .args(args)
            .args(cluster_args(emulator))
            .output()
            .expect("rmpack runs"),
    )
}

/// Runs a command rmpack printed, as printed, in `sh`, with `rmpack` on the PATH.
fn run_printed(emulator: &Emulator, dir: &Path, line: &str) -> Run {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("rmpack");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_rmpack"), &link).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Run::from(
        with_credentials(Path::new("sh"), emulator, dir, &path)
            .arg("-c")
            .arg(line)
            .output()
            .expect("sh runs"),
    )
}

fn module_zip(dir: &Path) -> PathBuf {
    common::plain_module_zip(dir, "hello", "1.2.3", module_json("hello", "1.2.3"))
}

/// A cluster of `nodes` nodes holding hello 1.2.3, registered and put on `on` (all when empty)
/// by `rmpack upload`; the request log starts empty. Returns the module's uid.
fn cluster_with_hello(nodes: usize, on: &[&str]) -> (Emulator, tempfile::TempDir, String) {
    let emulator = Emulator::start(EmulatorSpec::nodes(nodes)).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = module_zip(dir.path()).to_string_lossy().into_owned();
    let selection = on.join(",");
    let mut args = vec!["upload", zip.as_str()];
    if !on.is_empty() {
        args.extend(["--nodes", selection.as_str()]);
    }
    let run = rmpack(&emulator, dir.path(), &args);
    assert_eq!(run.code, 0, "{}", run.text());
    let uid = emulator.user_defined_modules()[0]["uid"]
        .as_str()
        .expect("a uid")
        .to_string();
    emulator.clear_requests();
    (emulator, dir, uid)
}

fn holding(emulator: &Emulator) -> Vec<usize> {
    (1..=emulator.node_count())
        .filter(|n| !emulator.artifacts(*n).is_empty())
        .collect()
}

fn stable(text: &str, emulator: &Emulator, uid: &str) -> String {
    text.replace(&format!(":{}", emulator.port()), ":PORT")
        .replace(&*emulator.ca_cert_path().to_string_lossy(), "CA.pem")
        // Same width as the uid, so the table keeps its alignment.
        .replace(uid, &format!("{:-<width$}", "UID", width = uid.len()))
}

fn deletes(emulator: &Emulator) -> Vec<support::RequestRecord> {
    emulator
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect()
}

#[test]
fn a_dry_run_sends_only_gets_and_prints_the_plan() {
    let (emulator, dir, uid) = cluster_with_hello(3, &["1", "2"]);
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "modules",
            "delete",
            &uid,
            "--user-defined",
            "--with-artifacts",
            "--dry-run",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(emulator.only_gets(), "{:?}", emulator.requests());
    assert_eq!(emulator.user_defined_modules().len(), 1);
    assert_eq!(holding(&emulator), [1, 2]);
    common::assert_golden("delete-plan.txt", &stable(&run.stdout, &emulator, &uid));

    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "artifacts",
            "delete",
            "hello",
            "10203",
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(emulator.only_gets(), "{:?}", emulator.requests());
    let plan = run.json();
    assert_eq!(plan["operation"], "delete");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["changed"], false);
    let states: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["planned", "planned", "already_done"]);
    let urls: Vec<&str> = plan["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls.len(), 2, "{urls:?}");
    assert!(urls[1].ends_with("/v2/local/modules/user-defined/artifacts/hello/10203"));
    assert!(urls[1].contains("127.0.0.2"), "{urls:?}");
}

#[test]
fn with_artifacts_deletes_the_configuration_then_every_nodes_artifact_each_read_back() {
    let (emulator, dir, uid) = cluster_with_hello(3, &[]);
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "modules",
            "delete",
            &uid,
            "--user-defined",
            "--with-artifacts",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(emulator.user_defined_modules().is_empty());
    assert!(holding(&emulator).is_empty());
    assert!(run.row("cluster").contains("deleted"), "{}", run.stdout);
    for node in 1..=3 {
        assert!(
            run.row(&format!("node {node}")).contains("deleted"),
            "{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("complete: 4 of 4 step(s) in place"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("resume with:"), "{}", run.stdout);

    // The configuration first, read back in the module list; then each node, read back in its
    // own artifact list.
    let log = emulator.requests();
    let position = |what: &dyn Fn(&support::RequestRecord) -> bool| {
        log.iter().position(what).expect("the request was sent")
    };
    let config = position(&|r| r.method == "DELETE" && r.path.starts_with(USER_DEFINED));
    let config_read_back =
        position(&|r| r.method == "GET" && r.path == "/v1/modules" && r.seq > log[config].seq);
    for node in 1..=3 {
        let on_node: Vec<&support::RequestRecord> = log
            .iter()
            .filter(|r| r.node == node && r.path.starts_with(ARTIFACTS))
            .collect();
        let delete = on_node
            .iter()
            .position(|r| r.method == "DELETE")
            .expect("a delete on every node");
        assert!(on_node[delete].seq > log[config_read_back].seq);
        assert!(
            on_node[delete + 1..].iter().any(|r| r.method == "GET"),
            "node {node}: the delete is read back: {on_node:?}"
        );
    }
    assert_eq!(deletes(&emulator).len(), 4);

    // Run again: nothing is left, nothing is sent.
    emulator.clear_requests();
    let run = rmpack(
        &emulator,
        dir.path(),
        &["artifacts", "delete", "hello", "1.2.3"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(emulator.only_gets());
    assert!(
        run.stdout
            .contains("nothing changed: everything was already in place"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_node_answering_200_with_an_error_body_is_failed_not_deleted() {
    let (emulator, dir, uid) = cluster_with_hello(3, &[]);
    emulator.set_fault_matching(
        2,
        RequestMatch::new("DELETE", ARTIFACTS),
        Fault::OkWithErrorBody { times: 1 },
    );
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "modules",
            "delete",
            &uid,
            "--user-defined",
            "--with-artifacts",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.row("node 2").contains("FAILED"), "{}", run.stdout);
    assert!(run.row("node 1").contains("deleted"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "node 2: the node answered 200 with the error internal_error: the request was not carried out, but its artifact list still holds hello 1.2.3"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(holding(&emulator), [2]);
    let resume = run.resume();
    assert!(
        resume.starts_with("rmpack artifacts delete hello 1.2.3 --nodes 2 --cluster "),
        "{resume}"
    );
    assert!(!resume.contains(emulator.password()));
    let finished = run_printed(&emulator, dir.path(), &resume);
    assert_eq!(finished.code, 0, "{}", finished.text());
    assert!(holding(&emulator).is_empty());
}

#[test]
fn a_down_node_is_named_and_the_printed_resume_finishes_the_job() {
    let (emulator, dir, uid) = cluster_with_hello(3, &[]);
    emulator.set_fault(3, Fault::Down);
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "modules",
            "delete",
            &uid,
            "--user-defined",
            "--with-artifacts",
            "--retries",
            "1",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.row("node 3").contains("FAILED"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("node 3: its artifact list cannot be read"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("stopped: the delete is partial"),
        "{}",
        run.stdout
    );
    assert!(emulator.user_defined_modules().is_empty());
    assert!(emulator.requests_to(3).is_empty());
    let resume = run.resume();
    assert!(
        resume.starts_with("rmpack artifacts delete hello 1.2.3 --nodes 3 "),
        "{resume}"
    );
    // The JSON says the same.
    emulator.clear_all_faults();
    assert_eq!(holding(&emulator), [3]);
    let finished = run_printed(&emulator, dir.path(), &resume);
    assert_eq!(finished.code, 0, "{}", finished.text());
    assert!(holding(&emulator).is_empty());
    assert!(
        finished.row("node 3").contains("deleted"),
        "{}",
        finished.stdout
    );
}

#[test]
fn a_lost_answer_is_read_back_and_done_when_the_list_no_longer_holds_it() {
    for retries in ["1", "4"] {
        let (emulator, dir, uid) = cluster_with_hello(2, &[]);
        emulator.set_fault_matching(
            1,
            RequestMatch::new("DELETE", USER_DEFINED),
            Fault::LoseAnswer { times: 1 },
        );
        emulator.set_fault_matching(
            2,
            RequestMatch::new("DELETE", ARTIFACTS),
            Fault::LoseAnswer { times: 1 },
        );
        let run = rmpack(
            &emulator,
            dir.path(),
            &[
                "modules",
                "delete",
                &uid,
                "--user-defined",
                "--with-artifacts",
                "--retries",
                retries,
            ],
        );
        assert_eq!(run.code, 0, "--retries {retries}: {}", run.text());
        assert!(emulator.user_defined_modules().is_empty());
        assert!(holding(&emulator).is_empty());
        assert!(run.row("node 2").contains("deleted"), "{}", run.stdout);
        assert!(run.row("cluster").contains("deleted"), "{}", run.stdout);
        let expected = if retries == "1" {
            // The lost answer itself: read back.
            "the answer was lost"
        } else {
            // Sent again, the delete finds nothing: read back too.
            "answered 404 (not found) although the plan found it"
        };
        for target in ["node 2", "cluster"] {
            assert!(
                run.stdout
                    .lines()
                    .any(|l| l.starts_with(&format!("  {target}: ")) && l.contains(expected)),
                "--retries {retries}: {target}: {}",
                run.stdout
            );
        }
        assert!(!run.text().contains("FAILED"), "{}", run.text());
    }
}

#[test]
fn a_version_databases_run_is_refused_and_nothing_is_sent() {
    let (emulator, dir, uid) = cluster_with_hello(2, &[]);
    emulator.put_bdb(bdb(4, "cache", vec![bdb_module(&uid, "hello", "1.2.3")]));
    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = vec![
            "modules",
            "delete",
            &uid,
            "--user-defined",
            "--with-artifacts",
        ];
        args.extend(extra);
        let run = rmpack(&emulator, dir.path(), &args);
        assert_eq!(run.code, 1, "{}", run.text());
        assert!(
            run.stderr.contains("database(s) 4 run hello 1.2.3"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("error[cluster-module-in-use]")
                && run.stderr.contains("RS error code: module_in_use"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("nothing was sent to the cluster"),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    assert!(emulator.only_gets(), "{:?}", emulator.requests());

    // Forced, the cluster refuses it itself: the artifacts are kept, and no resume is offered
    // (the same request would be refused again).
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "modules",
            "delete",
            &uid,
            "--user-defined",
            "--with-artifacts",
            "--force",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stdout.contains("module_in_use"), "{}", run.stdout);
    assert!(run.row("cluster").contains("FAILED"), "{}", run.stdout);
    assert!(run.row("node 1").contains("not started"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("node 1: not started: the configuration was not deleted"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("resume with:"), "{}", run.stdout);
    assert_eq!(deletes(&emulator).len(), 1);
    assert_eq!(holding(&emulator), [1, 2]);
}

/// Runs `rmpack ARGS` and sends it SIGINT once `arrived` says the slow request was carried out
/// (the emulator acts on a request when it arrives, and holds a slow answer back).
fn interrupted(
    emulator: &Emulator,
    dir: &Path,
    args: &[&str],
    arrived: &dyn Fn(&Emulator) -> bool,
) -> Run {
    let child = command(emulator, dir)
        .args(args)
        .args(cluster_args(emulator))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rmpack starts");
    let started = Instant::now();
    while !arrived(emulator) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the slow request never arrived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: a signal to the child this test started.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0);
    Run::from(child.wait_with_output().expect("rmpack ends"))
}

/// Deletes hello with its artifacts while node 1 holds the configuration's answer back, and
/// sends SIGINT once the cluster has deleted the configuration.
fn interrupted_delete(json: bool) -> (Emulator, tempfile::TempDir, Run) {
    let (emulator, dir, uid) = cluster_with_hello(3, &[]);
    emulator.set_fault_matching(
        1,
        RequestMatch::new("DELETE", USER_DEFINED),
        Fault::Slow(Duration::from_secs(2)),
    );
    let mut args = vec![
        "modules",
        "delete",
        &uid,
        "--user-defined",
        "--with-artifacts",
    ];
    if json {
        args.push("--json");
    }
    let run = interrupted(&emulator, dir.path(), &args, &|e| {
        e.user_defined_modules().is_empty()
    });
    (emulator, dir, run)
}

#[test]
fn a_signal_stops_the_delete_before_the_artifacts_and_the_resume_finishes_it() {
    let (emulator, dir, run) = interrupted_delete(false);
    assert_eq!(run.code, 128 + libc::SIGINT, "{}", run.text());
    assert!(run.row("cluster").contains("deleted"), "{}", run.stdout);
    for node in 1..=3 {
        assert!(
            run.row(&format!("node {node}")).contains("not started"),
            "{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains(
            "interrupted: the delete stopped on a signal; 1 of 4 step(s) in place; 3 not started"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("node 3: not started: rmpack stopped on a signal before it"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("rmpack: stopping"), "{}", run.stderr);
    assert!(
        deletes(&emulator)
            .iter()
            .all(|r| r.path.starts_with(USER_DEFINED)),
        "nothing after the signal: {:?}",
        deletes(&emulator)
    );
    assert_eq!(holding(&emulator), [1, 2, 3]);
    let resume = run.resume();
    assert!(
        resume.starts_with("rmpack artifacts delete hello 1.2.3 --nodes 1,2,3 --cluster "),
        "{resume}"
    );
    let finished = run_printed(&emulator, dir.path(), &resume);
    assert_eq!(finished.code, 0, "{}", finished.text());
    assert!(holding(&emulator).is_empty());
}

#[test]
fn an_interrupted_delete_says_so_in_json() {
    let (_emulator, _dir, run) = interrupted_delete(true);
    assert_eq!(run.code, 128 + libc::SIGINT, "{}", run.text());
    let outcome = run.json();
    assert_eq!(outcome["interrupted"], true);
    assert_eq!(outcome["complete"], false);
    assert_eq!(outcome["changed"], true);
    let states: Vec<(&str, &str)> = outcome["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("delete_module", "done"),
            ("delete_artifact", "not_started"),
            ("delete_artifact", "not_started"),
            ("delete_artifact", "not_started"),
        ]
    );
    let resume = outcome["resume_command"]
        .as_str()
        .expect("a resume command");
    assert!(
        resume.starts_with("rmpack artifacts delete hello 1.2.3 --nodes 1,2,3 "),
        "{resume}"
    );
}

#[test]
fn a_bundled_module_delete_follows_its_action_and_reads_it_back() {
    let emulator = Emulator::start(EmulatorSpec::nodes(1)).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bundled = module_json("bun", "1.0.0");
    bundled["uid"] = serde_json::json!("bun");
    emulator.add_module(bundled);
    let run = rmpack(
        &emulator,
        dir.path(),
        &["modules", "delete", "bun", "--dry-run"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(emulator.only_gets());
    assert!(
        run.stdout.contains("DELETE https://127.0.0.1:") && run.stdout.contains("/v2/modules/bun"),
        "{}",
        run.stdout
    );
    let run = rmpack(
        &emulator,
        dir.path(),
        &["modules", "delete", "bun", "--json"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    let outcome = run.json();
    let step = &outcome["steps"][0];
    assert_eq!(step["state"], "done", "{outcome}");
    assert!(
        step["details"][0]
            .as_str()
            .is_some_and(|d| d.starts_with("action ") && d.ends_with("completed")),
        "{outcome}"
    );
    assert!(!emulator.modules().iter().any(|m| m["uid"] == "bun"));
}

#[test]
fn a_signal_lets_a_node_delete_in_flight_end_and_reads_it_back() {
    let (emulator, dir, _uid) = cluster_with_hello(3, &[]);
    emulator.set_fault_matching(
        2,
        RequestMatch::new("DELETE", ARTIFACTS),
        Fault::Slow(Duration::from_secs(2)),
    );
    let run = interrupted(
        &emulator,
        dir.path(),
        &["artifacts", "delete", "hello", "1.2.3"],
        // Node 2's delete is carried out and its answer held back; the others are answered.
        &|e| {
            e.artifacts(2).is_empty()
                && [1, 3]
                    .iter()
                    .all(|n| e.requests_to(*n).iter().any(|r| r.method == "DELETE"))
        },
    );
    assert_eq!(run.code, 128 + libc::SIGINT, "{}", run.text());
    for node in 1..=3 {
        assert!(
            run.row(&format!("node {node}")).contains("deleted"),
            "{}",
            run.stdout
        );
    }
    let on_node_2 = emulator.requests_to(2);
    let delete = on_node_2
        .iter()
        .position(|r| r.method == "DELETE")
        .expect("the delete");
    assert!(
        on_node_2[delete + 1..]
            .iter()
            .any(|r| r.method == "GET" && r.path == ARTIFACTS),
        "read back after the signal: {on_node_2:?}"
    );
    assert!(!run.stdout.contains("resume with:"), "{}", run.stdout);
    assert!(holding(&emulator).is_empty());
}

#[test]
fn a_configuration_left_in_place_resumes_with_the_same_command_without_the_password() {
    let (emulator, dir, uid) = cluster_with_hello(2, &[]);
    emulator.set_fault_matching(
        1,
        RequestMatch::new("DELETE", USER_DEFINED),
        Fault::OkWithErrorBody { times: 1 },
    );
    let password = emulator.password().to_string();
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "modules",
            "delete",
            &uid,
            "--user-defined",
            "--with-artifacts",
            "--password",
            &password,
            "--json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    let outcome = run.json();
    assert_eq!(outcome["steps"][0]["state"], "failed", "{outcome}");
    assert_eq!(outcome["steps"][1]["state"], "not_started", "{outcome}");
    assert_eq!(holding(&emulator), [1, 2]);
    let resume = outcome["resume_command"]
        .as_str()
        .expect("a resume command");
    assert!(
        resume.starts_with(&format!(
            "rmpack modules delete {uid} --user-defined --with-artifacts --cluster "
        )),
        "{resume}"
    );
    assert!(
        !resume.contains(&password) && !resume.contains("--password") && !resume.contains("--json"),
        "{resume}"
    );
    let finished = run_printed(&emulator, dir.path(), resume);
    assert_eq!(finished.code, 0, "{}", finished.text());
    assert!(emulator.user_defined_modules().is_empty());
    assert!(holding(&emulator).is_empty());
}

#[test]
fn a_resume_quotes_the_module_name_for_the_shell() {
    let emulator = Emulator::start(EmulatorSpec::nodes(2)).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    emulator.set_fault(2, Fault::Down);
    let name = "a;touch${IFS}pwned";
    let run = rmpack(
        &emulator,
        dir.path(),
        &["artifacts", "delete", name, "1.2.3", "--retries", "1"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    let resume = run.resume();
    assert!(
        resume.starts_with("rmpack artifacts delete 'a;touch${IFS}pwned' 1.2.3 --nodes 2 "),
        "{resume}"
    );
    // Run as printed (the node still down): one command, nothing else.
    let again = run_printed(&emulator, dir.path(), &resume);
    assert_eq!(again.code, 1, "{}", again.text());
    assert_eq!(again.resume(), resume);
    assert!(!dir.path().join("pwned").exists());
    assert!(emulator.only_gets());
}
