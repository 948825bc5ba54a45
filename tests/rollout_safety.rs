//! A rollout that does not go as planned still ends with the truth: a signal mid-upgrade or
//! mid-upload, an answer lost after the cluster did the work, a database changed between the
//! plan and its turn, another run working on the same cluster. Each test runs the real binary
//! against the emulated cluster, which carries out each fault as RS would.

mod common;
mod support;

use common::Run;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{
    bdb, bdb_module, module_json, ActionOutcome, Emulator, EmulatorSpec, Fault, RequestMatch,
    StoredArtifact,
};

const ARTIFACTS: &str = "/v2/local/modules/user-defined/artifacts";
const USER_DEFINED: &str = "/v2/modules/user-defined";

impl Run {
    /// The line of the table that starts with `start`.
    fn row(&self, start: &str) -> String {
        self.stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_default()
            .to_string()
    }

    /// The command printed under "resume with:", without the cluster connection words.
    fn resume_words(&self) -> Vec<String> {
        let line = self
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with("resume with:"))
            .nth(1)
            .unwrap_or_else(|| panic!("no resume command:\n{}", self.text()))
            .trim()
            .to_string();
        line.split_whitespace()
            .skip(1)
            .take_while(|w| *w != "--cluster")
            .map(str::to_string)
            .collect()
    }
}

fn command(emulator: &Emulator, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rmpack"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RMPACK_USER", emulator.user())
        .env("RMPACK_PASSWORD", emulator.password())
        .env("RMPACK_PROFILES", dir.join("no-profiles.toml"))
        .stdin(Stdio::null())
        .current_dir(dir)
        .args(args)
        .args(["--cluster", &emulator.url(), "--ca-cert"])
        .arg(emulator.ca_cert_path());
    if args.first() == Some(&"upgrade") {
        command.args(["--poll-interval", "0.05"]);
    }
    command
}

fn rmpack(emulator: &Emulator, dir: &Path, args: &[&str]) -> Run {
    let output = command(emulator, dir, args).output().expect("rmpack runs");
    let run = Run::from(output);
    assert!(!run.text().contains(emulator.password()), "{}", run.text());
    run
}

/// Starts rmpack, waits until the cluster has seen a request `seen` accepts, sends `signal`
/// (twice when `twice`), and collects the run. Bounded: the run is killed after 60 s.
fn interrupt_when(
    emulator: &Emulator,
    dir: &Path,
    args: &[&str],
    seen: &dyn Fn(&support::RequestRecord) -> bool,
    signal: i32,
    twice: bool,
) -> Run {
    let mut child = command(emulator, dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rmpack starts");
    let started = Instant::now();
    while !emulator.requests().iter().any(seen) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the request never came"
        );
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: a signal to the child this test spawned.
    unsafe { libc::kill(child.id() as i32, signal) };
    if twice {
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: as above.
        unsafe { libc::kill(child.id() as i32, signal) };
    }
    finish(&mut child, emulator)
}

fn finish(child: &mut Child, emulator: &Emulator) -> Run {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("rmpack did not end after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let run = Run {
        code: status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
        }),
        stdout,
        stderr,
    };
    assert!(!run.text().contains(emulator.password()), "{}", run.text());
    run
}

/// hello 1.2.2 and 1.2.3 for Redis 7.2 on an RS 8.2 cluster, databases `dbs` on Redis 7.2
/// running 1.2.2.
fn upgrade_cluster(dbs: &[u64]) -> (Emulator, tempfile::TempDir) {
    let emulator =
        Emulator::start(EmulatorSpec::nodes(1).rs_version("8.2.0-40")).expect("emulator starts");
    for version in ["1.2.2", "1.2.3"] {
        let mut module = module_json("hello", version);
        module["uid"] = json!(format!("hello-{version}"));
        module["compatible_redis_version"] = json!("7.2");
        emulator.add_module(module);
    }
    for &uid in dbs {
        emulator.put_bdb(database(uid, "1.2.2"));
    }
    (emulator, tempfile::tempdir().expect("temp dir"))
}

fn database(uid: u64, hello: &str) -> Value {
    let mut db = bdb(
        uid,
        &format!("db{uid}"),
        vec![bdb_module(&format!("hello-{hello}"), "hello", hello)],
    );
    db["redis_version"] = json!("7.2");
    db
}

fn upgrade_posts(emulator: &Emulator) -> Vec<String> {
    emulator
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.contains("upgrade"))
        .map(|r| r.path)
        .collect()
}

fn hello_version(emulator: &Emulator, uid: u64) -> String {
    emulator.bdb(uid).expect("the database")["module_list"][0]["semantic_version"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn is_upgrade_of(uid: u64) -> impl Fn(&support::RequestRecord) -> bool {
    move |r| r.method == "POST" && r.path == format!("/v1/bdbs/{uid}/upgrade")
}

/// Polls the emulator's running action to its end, as the cluster would carry it out.
fn let_actions_finish(emulator: &Emulator) {
    for _ in 0..100_000 {
        if emulator.actions().iter().all(|a| a.is_finished()) {
            return;
        }
        // `GET /v1/actions/UID` advances an action; the cluster's own clock in RS.
        for action in emulator.actions().iter().filter(|a| !a.is_finished()) {
            emulator.poll_action(&action.uid);
        }
    }
    panic!("the actions never finished");
}

#[test]
fn a_signal_mid_upgrade_names_the_running_action_and_the_resume_never_sends_it_twice() {
    let (emulator, dir) = upgrade_cluster(&[1, 2, 3]);
    emulator.script_next_action(ActionOutcome::RunsFor(10_000));
    let run = interrupt_when(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1,2,3", "--module", "hello"],
        &is_upgrade_of(1),
        libc::SIGINT,
        false,
    );
    assert_eq!(run.code, 130, "{}", run.text());
    let action = emulator.actions()[0].uid.clone();
    let row = run.row("database 1 ");
    assert!(row.contains("IN FLIGHT"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&action),
        "names action {action}:\n{}",
        run.stdout
    );
    assert!(
        run.row("database 2 ").contains("not started"),
        "{}",
        run.stdout
    );
    assert!(
        run.row("database 3 ").contains("not started"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("interrupted"), "{}", run.stdout);
    let resume = run.resume_words();
    assert_eq!(
        resume[..4],
        ["upgrade", "--db", "1,2,3", "--module"],
        "{resume:?}"
    );
    assert_eq!(upgrade_posts(&emulator), ["/v1/bdbs/1/upgrade"]);

    // Resumed while database 1's upgrade still runs: it is named, not sent again.
    let words: Vec<&str> = resume.iter().map(String::as_str).collect();
    let early = rmpack(&emulator, dir.path(), &words);
    assert_eq!(early.code, 1, "{}", early.text());
    assert!(early.text().contains(&action), "{}", early.text());
    assert_eq!(upgrade_posts(&emulator), ["/v1/bdbs/1/upgrade"]);

    // Once it ends, the same command finishes the job: database 1 already done, 2 and 3 sent.
    let_actions_finish(&emulator);
    let resumed = rmpack(&emulator, dir.path(), &words);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_eq!(
        upgrade_posts(&emulator),
        [
            "/v1/bdbs/1/upgrade",
            "/v1/bdbs/2/upgrade",
            "/v1/bdbs/3/upgrade"
        ]
    );
    for uid in 1..=3 {
        assert_eq!(hello_version(&emulator, uid), "1.2.3");
    }
}

#[test]
fn an_interrupted_upgrade_in_json_says_interrupted_with_each_step_and_the_resume() {
    let (emulator, dir) = upgrade_cluster(&[1, 2]);
    emulator.script_next_action(ActionOutcome::RunsFor(10_000));
    let run = interrupt_when(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1,2", "--module", "hello", "--json"],
        &is_upgrade_of(1),
        libc::SIGTERM,
        false,
    );
    assert_eq!(run.code, 143, "{}", run.text());
    let outcome: Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    common::assert_schema("schema/rollout.schema.json", &outcome);
    assert_eq!(outcome["interrupted"], true, "{outcome:#}");
    let steps = outcome["steps"].as_array().expect("steps");
    assert_eq!(steps[0]["state"], "in_flight", "{outcome:#}");
    assert_eq!(steps[0]["action"], emulator.actions()[0].uid.as_str());
    assert_eq!(steps[1]["state"], "not_started", "{outcome:#}");
    let resume = outcome["resume_command"]
        .as_str()
        .expect("a resume command");
    assert!(
        resume.starts_with("rmpack upgrade --db 1,2 --module hello"),
        "{resume}"
    );
}

#[test]
fn a_second_signal_ends_the_run_at_once() {
    let (emulator, dir) = upgrade_cluster(&[1]);
    emulator.script_next_action(ActionOutcome::RunsFor(10_000));
    // The first signal asks the run to stop while it waits for a slow answer to its poll of
    // the action; the second does not wait for that answer.
    emulator.set_fault_matching(
        1,
        RequestMatch::new("GET", "/v1/actions/"),
        Fault::Slow(Duration::from_secs(20)),
    );
    let started = Instant::now();
    let run = interrupt_when(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello"],
        &is_upgrade_of(1),
        libc::SIGINT,
        true,
    );
    assert_eq!(run.code, 130, "{}", run.text());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the second signal waited for the slow cluster"
    );
    assert!(
        run.stderr.contains("again"),
        "the first signal says how to stop at once:\n{}",
        run.stderr
    );
}

#[test]
fn a_lost_upgrade_answer_is_read_back_not_called_refused_and_never_sent_again() {
    let (emulator, dir) = upgrade_cluster(&[1, 2]);
    emulator.script_next_action(ActionOutcome::RunsFor(10_000));
    emulator.set_fault_matching(
        1,
        RequestMatch::new("POST", "/v1/bdbs/1/upgrade"),
        Fault::LoseAnswer { times: 1 },
    );
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1,2",
            "--module",
            "hello",
            "--retries",
            "3",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert_eq!(
        upgrade_posts(&emulator),
        ["/v1/bdbs/1/upgrade"],
        "never resent"
    );
    let row = run.row("database 1 ");
    assert!(!row.contains("FAILED"), "{}", run.stdout);
    assert!(!run.text().contains("refused"), "{}", run.text());
    assert!(
        run.text().contains("active-change-pending"),
        "{}",
        run.text()
    );
    assert!(
        run.row("database 2 ").contains("not started"),
        "{}",
        run.stdout
    );

    // The upgrade the cluster started finishes; the resume finds database 1 done.
    let_actions_finish(&emulator);
    let words = run.resume_words();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let resumed = rmpack(&emulator, dir.path(), &words);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_eq!(
        upgrade_posts(&emulator),
        ["/v1/bdbs/1/upgrade", "/v1/bdbs/2/upgrade"]
    );
}

#[test]
fn a_database_moved_since_the_plan_stops_its_step_naming_both_states() {
    let (emulator, dir) = upgrade_cluster(&[1, 2]);
    // While database 1 is upgraded, another operator moves database 2 to 1.2.4.
    emulator.set_fault_matching(
        1,
        RequestMatch::new("POST", "/v1/bdbs/1/upgrade"),
        Fault::PutBdbBefore {
            bdb: database(2, "1.2.4"),
            times: 1,
        },
    );
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1,2", "--module", "hello"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert_eq!(
        upgrade_posts(&emulator),
        ["/v1/bdbs/1/upgrade"],
        "no downgrade sent"
    );
    assert!(
        run.row("database 1 ").contains("upgraded"),
        "{}",
        run.stdout
    );
    assert!(run.row("database 2 ").contains("FAILED"), "{}", run.stdout);
    assert!(
        run.text().contains("hello 1.2.2 when planned, 1.2.4 now"),
        "{}",
        run.text()
    );
    assert_eq!(hello_version(&emulator, 2), "1.2.4");
}

#[test]
fn a_busy_cluster_is_named_as_another_change_in_progress() {
    let (emulator, dir) = upgrade_cluster(&[1]);
    emulator.set_fault_matching(
        1,
        RequestMatch::new("POST", "/v1/bdbs/1/upgrade"),
        Fault::Busy409 { times: 1000 },
    );
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--busy-timeout",
            "1",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.text().contains("another change (another rmpack run"),
        "{}",
        run.text()
    );
    assert_eq!(hello_version(&emulator, 1), "1.2.2");
}

// ---- upload ----

fn module_zip(dir: &Path) -> PathBuf {
    common::plain_module_zip(dir, "hello", "1.2.3", module_json("hello", "1.2.3"))
}

fn uploads_to(emulator: &Emulator, node: usize) -> usize {
    emulator
        .requests_to(node)
        .iter()
        .filter(|r| r.method == "POST" && r.path == ARTIFACTS)
        .count()
}

/// The module zip with a 16 MiB dependency archive (random bytes, not compressed): larger than
/// any socket buffer, so a slow link holds its transfer mid-body.
fn big_module_zip(dir: &Path) -> PathBuf {
    use sha2::Digest;
    use std::io::Write;
    let mut rng = fastrand::Rng::with_seed(7);
    let mut padding = vec![0u8; 16 << 20];
    rng.fill(&mut padding);
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(padding.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "padding.bin", padding.as_slice())
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    let tgz = gz.finish().unwrap();

    let mut json = module_json("hello", "1.2.3");
    json["dependencies"] =
        json!({ "padding": { "sha256": hex::encode(sha2::Sha256::digest(&tgz)) } });
    let small = common::plain_module_zip(dir, "hello", "1.2.3", json);
    let mut source = zip::ZipArchive::new(std::fs::File::open(&small).unwrap()).unwrap();
    let path = dir.join("big").join("hello.Linux-x86_64.1.2.3.zip");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..source.len() {
        zip.raw_copy_file(source.by_index_raw(i).unwrap()).unwrap();
    }
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    zip.start_file("deps/padding.tgz", options).unwrap();
    zip.write_all(&tgz).unwrap();
    zip.finish().unwrap();
    std::fs::remove_file(small).unwrap();
    path
}

#[test]
fn an_interrupted_upload_says_which_nodes_hold_it_and_resumes_the_rest() {
    let emulator = Emulator::start(EmulatorSpec::nodes(3)).expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let zip = big_module_zip(dir.path());
    let zip = zip.to_string_lossy().into_owned();
    // Node 3's link is slow: the signal arrives mid-transfer, nodes 1 and 2 done.
    emulator.set_fault_matching(
        3,
        RequestMatch::new("POST", ARTIFACTS),
        Fault::SlowLink(256 * 1024),
    );
    let run = interrupt_when(
        &emulator,
        dir.path(),
        &["upload", &zip],
        &|_| emulator.artifacts(1).len() == 1 && emulator.artifacts(2).len() == 1,
        libc::SIGINT,
        false,
    );
    assert_eq!(run.code, 130, "{}", run.text());
    assert!(run.row("cluster ").contains("registered"), "{}", run.stdout);
    assert!(run.row("node 1 ").contains("uploaded"), "{}", run.stdout);
    assert!(run.row("node 2 ").contains("uploaded"), "{}", run.stdout);
    assert!(!run.row("node 3 ").contains("uploaded"), "{}", run.stdout);
    let resume = run.resume_words();
    assert!(
        resume.windows(2).any(|w| w == ["--nodes", "3"]),
        "{resume:?}"
    );

    emulator.clear_all_faults();
    let words: Vec<&str> = resume.iter().map(String::as_str).collect();
    let resumed = rmpack(&emulator, dir.path(), &words);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_eq!(
        uploads_to(&emulator, 1),
        1,
        "node 1 is not sent the zip again"
    );
    for node in 1..=3 {
        assert_eq!(emulator.artifacts(node).len(), 1, "node {node}");
    }
}

#[test]
fn a_lost_registration_answer_is_read_back_and_the_upload_goes_on() {
    let emulator = Emulator::start(EmulatorSpec::nodes(2)).expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let zip = module_zip(dir.path());
    emulator.set_fault_matching(
        1,
        RequestMatch::new("POST", USER_DEFINED),
        Fault::LoseAnswer { times: 1 },
    );
    let run = rmpack(&emulator, dir.path(), &["upload", &zip.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.text());
    let registrations = emulator
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == USER_DEFINED)
        .count();
    assert_eq!(registrations, 1, "never registered twice");
    assert!(run.text().contains("the answer was lost"), "{}", run.text());
    assert_eq!(emulator.user_defined_modules().len(), 1);
}

#[test]
fn a_node_another_run_filled_meanwhile_is_not_sent_the_zip_nor_rolled_back() {
    let emulator = Emulator::start(EmulatorSpec::nodes(3)).expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let zip = module_zip(dir.path());
    // Another run places the artifact on node 2 right after this run registers the version.
    let theirs = StoredArtifact {
        module_name: "hello".into(),
        version: 10203,
        semantic_version: "1.2.3".into(),
        dependencies: Vec::new(),
        size: std::fs::metadata(&zip).unwrap().len(),
        sha256: String::new(),
        file_name: Some("hello.zip".into()),
        path: zip.clone(),
        uploads: 1,
    };
    emulator.set_fault_matching(
        1,
        RequestMatch::new("POST", USER_DEFINED),
        Fault::PutArtifactBefore {
            on_node: 2,
            artifact: Box::new(theirs),
            times: 1,
        },
    );
    // Node 3 never takes it: this run rolls back what it placed.
    emulator.set_fault(3, Fault::DropMidUpload { times: 100 });
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "upload",
            &zip.to_string_lossy(),
            "--rollback-on-failure",
            "--retries",
            "2",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert_eq!(uploads_to(&emulator, 2), 0, "node 2 already held it");
    assert!(emulator.artifacts(1).is_empty(), "this run's artifact goes");
    assert_eq!(
        emulator.artifacts(2).len(),
        1,
        "the other run's artifact stays"
    );
    assert_eq!(
        emulator.user_defined_modules().len(),
        1,
        "the registration the other run relies on stays"
    );
    assert!(run.text().contains("another run"), "{}", run.text());
}

#[test]
fn an_upgrade_answer_slower_than_the_timeout_is_not_a_refusal_and_not_sent_again() {
    let (emulator, dir) = upgrade_cluster(&[1]);
    emulator.script_next_action(ActionOutcome::RunsFor(10_000));
    emulator.set_fault_matching(
        1,
        RequestMatch::new("POST", "/v1/bdbs/1/upgrade"),
        Fault::Slow(Duration::from_secs(4)),
    );
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(!run.text().contains("refused"), "{}", run.text());
    assert!(
        run.row("database 1 ").contains("IN FLIGHT"),
        "{}",
        run.stdout
    );
    // The emulator records a request once its held answer is sent.
    let started = Instant::now();
    while upgrade_posts(&emulator).is_empty() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        upgrade_posts(&emulator),
        ["/v1/bdbs/1/upgrade"],
        "never resent"
    );
    assert_eq!(emulator.actions().len(), 1);
}

#[test]
fn a_polled_node_dying_mid_action_says_the_upgrade_may_still_run() {
    let (emulator, dir) = upgrade_cluster(&[1, 2]);
    emulator.script_next_action(ActionOutcome::RunsFor(10_000));
    let mut child = command(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1,2",
            "--module",
            "hello",
            "--retries",
            "2",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("rmpack starts");
    let started = Instant::now();
    while upgrade_posts(&emulator).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no upgrade sent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    emulator.set_fault(1, Fault::Down);
    let run = finish(&mut child, &emulator);
    assert_eq!(run.code, 1, "{}", run.text());
    let action = emulator.actions()[0].uid.clone();
    assert!(run.row("database 1 ").contains("UNKNOWN"), "{}", run.stdout);
    assert!(
        run.text().contains("may still be running"),
        "{}",
        run.text()
    );
    assert!(
        run.text().contains(&format!("GET /v1/actions/{action}")),
        "{}",
        run.text()
    );
    assert!(
        run.row("database 2 ").contains("not started"),
        "{}",
        run.stdout
    );

    // The node comes back, the upgrade ends; the resume sends only database 2.
    emulator.clear_all_faults();
    let_actions_finish(&emulator);
    let words = run.resume_words();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let resumed = rmpack(&emulator, dir.path(), &words);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_eq!(
        upgrade_posts(&emulator),
        ["/v1/bdbs/1/upgrade", "/v1/bdbs/2/upgrade"]
    );
}
