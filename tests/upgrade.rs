//! `rmpack upgrade` against the emulated RS cluster, through the real binary: the Redis version
//! kept, the pre-flight before anything is sent, the database read back, several databases in
//! turn, and the plan `--dry-run` prints.

mod common;
mod support;

use common::Run;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::{bdb, bdb_module, module_json, ActionOutcome, Emulator, EmulatorSpec};

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
        .args([
            "--cluster",
            &emulator.url(),
            "--ca-cert",
            &emulator.ca_cert_path().to_string_lossy(),
            "--poll-interval",
            "0.05",
        ])
        .output()
        .expect("rmpack runs");
    Run::from(output)
}

/// Registers `hello` at `version` with uid `hello-VERSION`, built for Redis `compatible`
/// (`None`: no compatible_redis_version), edited by `edit`.
fn add_hello(
    emulator: &Emulator,
    version: &str,
    compatible: Option<&str>,
    edit: &dyn Fn(&mut Value),
) {
    let mut module = module_json("hello", version);
    module["uid"] = json!(format!("hello-{version}"));
    match compatible {
        Some(c) => module["compatible_redis_version"] = json!(c),
        None => {
            module
                .as_object_mut()
                .unwrap()
                .remove("compatible_redis_version");
        }
    }
    edit(&mut module);
    emulator.add_module(module);
}

fn database(uid: u64, redis: &str, hello: &str) -> Value {
    let mut db = bdb(
        uid,
        &format!("db{uid}"),
        vec![bdb_module(&format!("hello-{hello}"), "hello", hello)],
    );
    db["redis_version"] = json!(redis);
    db
}

/// An RS 8.2 cluster (offering Redis 6.2 … 8.2) with hello 1.2.2 and 1.2.3 built for Redis 7.2
/// and database 1 on Redis 7.2 running 1.2.2.
fn redis_7_2_cluster(spec: EmulatorSpec) -> (Emulator, tempfile::TempDir) {
    let emulator = Emulator::start(spec.rs_version("8.2.0-40")).expect("emulator starts");
    add_hello(&emulator, "1.2.2", Some("7.2"), &|_| {});
    add_hello(&emulator, "1.2.3", Some("7.2"), &|_| {});
    emulator.put_bdb(database(1, "7.2", "1.2.2"));
    (emulator, tempfile::tempdir().expect("temp dir"))
}

fn upgrade_posts(emulator: &Emulator) -> Vec<support::RequestRecord> {
    emulator
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.contains("upgrade"))
        .collect()
}

#[test]
fn a_module_upgrade_keeps_the_databases_redis_version_and_says_so_in_the_request() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(2));
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello", "--to", "1.2.3"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    let db = emulator.bdb(1).expect("db1");
    assert_eq!(db["redis_version"], "7.2", "{db}");
    assert_eq!(db["module_list"][0]["semantic_version"], "1.2.3");
    let posts = upgrade_posts(&emulator);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/v1/bdbs/1/upgrade");
    let body = posts[0].json_body.clone().expect("a JSON body");
    assert_eq!(body["redis_version"], "7.2", "{body}");
    assert_eq!(body["modules"][0]["current_module"], "hello-1.2.2");
    assert_eq!(body["modules"][0]["new_module"], "hello-1.2.3");
    assert_eq!(body["modules"][0]["new_module_args"], "");
    assert!(run.stdout.contains("upgraded"), "{}", run.stdout);
    assert!(run.stderr.contains("7.2 (kept)"), "{}", run.stderr);
}

#[test]
fn redis_version_moves_only_when_asked_and_only_to_a_version_every_node_offers() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(1));
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--redis-version",
            "9.9",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("not offered"), "{}", run.stderr);
    assert!(upgrade_posts(&emulator).is_empty());
}

#[test]
fn a_cluster_that_picks_another_build_than_asked_fails_the_read_back_naming_it() {
    // Reported of RS 7.8.2 and later: `new_module` ignored, the newest fitting build taken.
    let emulator =
        Emulator::start(EmulatorSpec::nodes(1).ignoring_new_module()).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    for version in ["1.2.2", "1.2.3", "1.2.4"] {
        add_hello(&emulator, version, Some("7.4"), &|_| {});
    }
    emulator.put_bdb(database(1, "7.4", "1.2.2"));
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello", "--to", "1.2.3"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stdout.contains("completed"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("the database runs hello 1.2.4, not 1.2.3"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_downgrade_and_a_module_for_a_newer_redis_are_refused_before_any_upgrade_request() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(1));
    add_hello(&emulator, "1.2.1", Some("7.2"), &|_| {});
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello", "--to", "1.2.1"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("upgrade-downgrade"), "{}", run.stderr);
    assert!(
        run.stderr.contains("1.2.1") && run.stderr.contains("1.2.2"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("module_downgrade_unsupported"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was sent"), "{}", run.stderr);

    add_hello(&emulator, "1.3.0", Some("7.2"), &|m| {
        m["min_redis_version"] = json!("7.4")
    });
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello", "--to", "1.3.0"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("needs Redis 7.4"), "{}", run.stderr);
    assert!(run.stderr.contains("runs Redis 7.2"), "{}", run.stderr);
    assert!(
        run.stderr.contains("redis_incompatible_version"),
        "{}",
        run.stderr
    );
    assert!(
        upgrade_posts(&emulator).is_empty(),
        "{:?}",
        upgrade_posts(&emulator)
    );
    assert!(emulator.only_gets());
}

#[test]
fn all_upgrades_databases_in_turn_stops_at_a_failure_and_prints_the_resume_command() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(1));
    emulator.put_bdb(database(2, "7.2", "1.2.2"));
    emulator.put_bdb(database(3, "7.2", "1.2.2"));
    emulator.script_next_action(ActionOutcome::Completed);
    emulator.script_next_action(ActionOutcome::failed(
        "shard_restart_failed",
        "shard 2 did not come back",
    ));
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--all", "--module", "hello"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    let posts: Vec<String> = upgrade_posts(&emulator)
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        posts,
        ["/v1/bdbs/1/upgrade", "/v1/bdbs/2/upgrade"],
        "one at a time, then stop"
    );
    let row = |uid: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("database {uid} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row("1").contains("upgraded"), "{}", run.stdout);
    assert!(row("2").contains("FAILED"), "{}", run.stdout);
    assert!(row("3").contains("not started"), "{}", run.stdout);
    assert!(
        run.stdout.contains("shard_restart_failed"),
        "{}",
        run.stdout
    );
    let resume = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("resume with:"))
        .nth(1)
        .expect("a resume command")
        .trim()
        .to_string();
    assert!(
        resume.starts_with("rmpack upgrade --db 2,3 --module hello"),
        "{resume}"
    );
    assert!(!resume.contains(emulator.password()));

    // The printed command finishes the job.
    let words: Vec<String> = resume
        .split_whitespace()
        .skip(1)
        .take_while(|w| *w != "--cluster")
        .map(str::to_string)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let resumed = rmpack(&emulator, dir.path(), &words);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    for uid in 1..=3 {
        assert_eq!(
            emulator.bdb(uid).expect("db")["module_list"][0]["semantic_version"],
            "1.2.3"
        );
    }
}

#[test]
fn json_rows_name_each_database_and_the_resume_command() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(1));
    emulator.script_next_action(ActionOutcome::Aborted);
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello", "--json"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    let value: Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(value["complete"], false);
    assert_eq!(value["operation"], "upgrade");
    assert_eq!(value["steps"][0]["target"], "database 1 (db1)");
    assert_eq!(value["steps"][0]["state"], "failed");
    assert!(value["resume_command"]
        .as_str()
        .unwrap_or_default()
        .contains("--db 1"));
}

#[test]
fn an_unreadable_rs_version_is_an_error_not_a_guess() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(1));
    emulator.set_node_software_version(1, Some("unknown"));
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("cannot tell the cluster's RS version"),
        "{}",
        run.stderr
    );
    assert!(upgrade_posts(&emulator).is_empty());
}

/// Output with the emulator's port and action uids made stable.
fn stable(text: &str, emulator: &Emulator) -> String {
    let mut text = text
        .replace(&format!(":{}", emulator.port()), ":PORT")
        .replace(&*emulator.ca_cert_path().to_string_lossy(), "CA.pem");
    // Durations (the table's last column) differ from run to run.
    let timed = |t: &str| {
        t.len() > 1
            && t.ends_with('s')
            && t.contains('.')
            && t[..t.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
    };
    text = text
        .lines()
        .map(|line| match line.rsplit_once(' ') {
            Some((head, last)) if timed(last) => format!("{head} T.TTs"),
            _ => line.to_string(),
        })
        .map(|line| line + "\n")
        .collect();
    for action in emulator.actions() {
        text = text.replace(&action.uid, "ACTION");
    }
    text
}

#[test]
fn dry_run_sends_get_requests_only_and_prints_the_plan() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(1));
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello", "--dry-run"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    common::assert_golden("upgrade-plan.txt", &stable(&run.stdout, &emulator));
    assert!(emulator.only_gets(), "{:?}", emulator.requests());
    assert!(emulator.actions().is_empty());
    assert_eq!(
        emulator.bdb(1).expect("db1")["module_list"][0]["semantic_version"],
        "1.2.2"
    );
}

#[test]
fn the_clusters_own_preview_is_opt_in_and_shown_when_asked() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(1));
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--dry-run",
            "--cluster-preview",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(
        run.stdout
            .contains("the cluster's dry run answers:\n    hello 1.2.2 → 1.2.3"),
        "{}",
        run.stdout
    );
    let posts: Vec<_> = emulator
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].query.as_deref(), Some("dry_run=true"));
    assert!(emulator.actions().is_empty());
    // The flag's help says what it risks.
    let help = rmpack(&emulator, dir.path(), &["upgrade", "--help"]);
    let help = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("a cluster that does not know it EXECUTES the upgrade"),
        "{help}"
    );
    let alone = rmpack(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--cluster-preview",
        ],
    );
    assert_eq!(
        alone.code,
        2,
        "--cluster-preview needs --dry-run: {}",
        alone.text()
    );
}

#[test]
fn executed_rows_are_pinned() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(1));
    emulator.put_bdb(database(2, "7.2", "1.2.2"));
    emulator.script_next_action(ActionOutcome::Completed);
    emulator.script_next_action(ActionOutcome::Aborted);
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1,2", "--module", "hello"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    common::assert_golden("upgrade-rows.txt", &stable(&run.stdout, &emulator));
}

#[test]
fn other_modules_rs_moves_are_planned_and_sent_only_when_accepted() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(1));
    for (uid, version) in [("bloom-1.0.0", "1.0.0"), ("bloom-1.1.0", "1.1.0")] {
        let mut module = module_json("bloom", version);
        module["uid"] = json!(uid);
        module["compatible_redis_version"] = json!("7.2");
        emulator.add_module(module);
    }
    let mut db = database(1, "7.2", "1.2.2");
    db["module_list"]
        .as_array_mut()
        .unwrap()
        .push(bdb_module("bloom-1.0.0", "bloom", "1.0.0"));
    emulator.put_bdb(db);
    let args = ["upgrade", "--db", "1", "--module", "hello", "--to", "1.2.3"];
    let run = rmpack(&emulator, dir.path(), &args);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("upgrade-moves-other-modules")
            && run.stderr.contains("also moves bloom 1.0.0 → 1.1.0")
            && run.stderr.contains("--accept-other-modules"),
        "{}",
        run.stderr
    );
    assert!(upgrade_posts(&emulator).is_empty(), "nothing is sent");
    let dry = rmpack(&emulator, dir.path(), &[&args[..], &["--dry-run"]].concat());
    assert_eq!(dry.code, 1, "the plan as it stands would be refused");
    common::assert_golden("upgrade-plan-moves.txt", &stable(&dry.stdout, &emulator));

    let run = rmpack(
        &emulator,
        dir.path(),
        &[&args[..], &["--accept-other-modules"]].concat(),
    );
    assert_eq!(run.code, 0, "{}", run.text());
    let db = emulator.bdb(1).expect("db1");
    assert_eq!(db["module_list"][1]["semantic_version"], "1.1.0", "{db}");
    assert!(
        run.stderr.contains("accepted with --accept-other-modules"),
        "{}",
        run.stderr
    );
}

#[test]
fn all_gives_each_database_the_newest_build_for_its_own_redis() {
    let emulator = Emulator::start(EmulatorSpec {
        redis_versions: Some(vec!["7.4".into(), "8.0".into(), "8.2".into(), "8.4".into()]),
        ..EmulatorSpec::nodes(2).rs_version("8.2.0-40")
    })
    .expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    for (version, compatible) in [
        ("8.0.0", "8.0"),
        ("8.0.1", "8.0"),
        ("8.2.0", "8.2"),
        ("8.2.1", "8.2"),
        ("8.4.0", "8.4"),
    ] {
        add_hello(&emulator, version, Some(compatible), &|m| {
            m["min_redis_version"] = json!("8.0")
        });
    }
    emulator.put_bdb(database(1, "8.0", "8.0.0"));
    emulator.put_bdb(database(2, "8.2", "8.2.0"));
    // A build that does not fit is refused, naming the one that would.
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello", "--to", "8.4.0"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr
            .contains("The build that fits Redis 8.0 is hello 8.0.1 (for Redis 8.0)"),
        "{}",
        run.stderr
    );
    assert!(upgrade_posts(&emulator).is_empty());
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--all", "--module", "hello"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    let runs = |uid: u64| {
        emulator.bdb(uid).expect("db")["module_list"][0]["semantic_version"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!((runs(1), runs(2)), ("8.0.1".into(), "8.2.1".into()));
    // Moving the Redis version picks the build for the new one.
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--all",
            "--module",
            "hello",
            "--redis-version",
            "8.4",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert_eq!((runs(1), runs(2)), ("8.4.0".into(), "8.4.0".into()));
    // Nothing newer for Redis 8.4: already current, nothing sent.
    emulator.clear_requests();
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--all", "--module", "hello"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(emulator.only_gets());
}

#[test]
fn the_cluster_wide_refusals_come_before_anything_is_sent() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(2));
    add_hello(&emulator, "1.3.0", Some("7.4"), &|_| {});
    add_hello(&emulator, "1.4.0", Some("8.2"), &|_| {});
    let upgrade = |extra: &[&str]| {
        rmpack(
            &emulator,
            dir.path(),
            &[&["upgrade", "--db", "1", "--module", "hello"][..], extra].concat(),
        )
    };
    // Nodes on different RS versions.
    emulator.set_node_software_version(2, Some("8.0.2-17"));
    let run = upgrade(&[]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("upgrade-nodes-on-different-rs")
            && run.stderr.contains("node 1: 8.2.0-40, node 2: 8.0.2-17"),
        "{}",
        run.stderr
    );
    emulator.set_node_software_version(2, None);
    // A lower Redis than the database's.
    emulator.put_bdb(database(1, "7.4", "1.3.0"));
    let run = upgrade(&["--redis-version", "7.2"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("upgrade-redis-downgrade"),
        "{}",
        run.stderr
    );
    // The cluster's upgrade policy, where it reports one.
    emulator.set_redis_upgrade_policy("major", "8.0");
    let run = upgrade(&["--redis-version", "8.2"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("upgrade-redis-policy")
            && run.stderr.contains("redis_upgrade_policy_mismatch"),
        "{}",
        run.stderr
    );
    assert!(upgrade_posts(&emulator).is_empty());
    // Without the policy the same move goes through, and the read-back expects Redis 8's modules.
    emulator.set_redis_upgrade_policy("latest", "8.2");
    let run = upgrade(&["--redis-version", "8.2"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(
        run.stderr.contains("search -") && run.stderr.contains("added: Redis 8 bundles it"),
        "{}",
        run.stderr
    );
    let db = emulator.bdb(1).expect("db1");
    let names: Vec<&str> = db["module_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello", "search", "timeseries", "bf", "ReJSON"]);
}

#[test]
fn rs_7_4_takes_the_general_route_its_docs_list() {
    let emulator =
        Emulator::start(EmulatorSpec::nodes(1).rs_version("7.4.2-54")).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    add_hello(&emulator, "1.2.2", Some("7.2"), &|_| {});
    add_hello(&emulator, "1.2.3", Some("7.2"), &|_| {});
    emulator.put_bdb(database(1, "7.2", "1.2.2"));
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    let posts: Vec<String> = upgrade_posts(&emulator)
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(posts, ["/v1/bdbs/1/upgrade"]);
    assert_eq!(emulator.bdb(1).expect("db1")["redis_version"], "7.2");
}

#[test]
fn redis_version_moves_the_database_when_asked_and_the_new_build_fits_it() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(2));
    add_hello(&emulator, "1.3.0", Some("7.4"), &|_| {});
    // The 1.3.0 build is for Redis 7.4: refused while the database stays on 7.2 …
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello", "--to", "1.3.0"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("upgrade-redis-version-not-compatible"),
        "{}",
        run.stderr
    );
    assert!(upgrade_posts(&emulator).is_empty());
    // … and taken together with the move to Redis 7.4, which every node offers.
    let run = rmpack(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--to",
            "1.3.0",
            "--redis-version",
            "7.4",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(run.stderr.contains("7.2 → 7.4"), "{}", run.stderr);
    let db = emulator.bdb(1).expect("db1");
    assert_eq!(db["redis_version"], "7.4");
    assert_eq!(db["module_list"][0]["semantic_version"], "1.3.0");
}

#[test]
fn a_cluster_that_ignores_dry_run_is_named_loudly_and_a_plain_dry_run_never_reaches_it() {
    let (emulator, dir) = redis_7_2_cluster(EmulatorSpec::nodes(1));
    emulator.set_upgrade_dry_run(false);
    let args = ["upgrade", "--db", "1", "--module", "hello", "--dry-run"];
    let run = rmpack(&emulator, dir.path(), &args);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(emulator.only_gets());
    assert!(emulator.actions().is_empty(), "no upgrade started");
    let run = rmpack(
        &emulator,
        dir.path(),
        &[&args[..], &["--cluster-preview"]].concat(),
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.text()
            .contains("ignored dry_run=true and started an upgrade"),
        "{}",
        run.text()
    );
}

#[test]
fn a_custom_module_version_some_node_lacks_is_refused_naming_the_node() {
    let emulator = Emulator::start(EmulatorSpec::nodes(2)).expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let upload = |version: &str, nodes: Option<&str>| {
        let zip =
            common::plain_module_zip(dir.path(), "hello", version, module_json("hello", version));
        let mut command = Command::new(env!("CARGO_BIN_EXE_rmpack"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RMPACK_USER", emulator.user())
            .env("RMPACK_PASSWORD", emulator.password())
            .env("RMPACK_PROFILES", dir.path().join("no-profiles.toml"))
            .stdin(std::process::Stdio::null())
            .arg("upload")
            .arg(&zip)
            .args(["--cluster", &emulator.url(), "--ca-cert"])
            .arg(emulator.ca_cert_path());
        if let Some(nodes) = nodes {
            command.args(["--nodes", nodes]);
        }
        let output = command.output().expect("rmpack runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    upload("1.2.2", None);
    upload("1.2.3", Some("1"));
    let uid_of = |version: &str| {
        emulator
            .user_defined_modules()
            .into_iter()
            .find(|m| m["semantic_version"] == version)
            .and_then(|m| m["uid"].as_str().map(str::to_string))
            .expect("registered")
    };
    let mut db = bdb(
        1,
        "db1",
        vec![bdb_module(&uid_of("1.2.2"), "hello", "1.2.2")],
    );
    db["redis_version"] = json!("7.4");
    emulator.put_bdb(db);
    emulator.clear_requests();
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.stderr.contains("upgrade-node-lacks-artifact")
            && run
                .stderr
                .contains("node 2 (ubuntu22/x86_64) holds no artifact of hello 1.2.3")
            && run.stderr.contains("rmpack upload ZIP --nodes 2"),
        "{}",
        run.stderr
    );
    assert!(emulator.only_gets());
    upload("1.2.3", Some("2"));
    let run = rmpack(
        &emulator,
        dir.path(),
        &["upgrade", "--db", "1", "--module", "hello"],
    );
    assert_eq!(run.code, 0, "{}", run.text());
}
