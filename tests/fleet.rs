//! Fleets: one release rolled out over several emulated RS clusters in waves, each cluster
//! reached through its own profile (URL, user, password from its own variable, CA); the
//! pre-flight of every cluster before anything is sent, a wave after the whole previous one is
//! in place, the first failure stopping the fleet with the command that resumes it, `status
//! --fleet` comparing the clusters, and Active-Active databases upgraded only when every cluster
//! holds the new build.

mod common;
mod support;

use common::Run;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::{bdb, bdb_module, module_json, Emulator, EmulatorSpec, Fault, NodePlatform};

impl Run {
    /// The fleet table's row of `cluster`.
    fn row(&self, cluster: &str) -> String {
        self.stdout
            .lines()
            .find(|l| {
                let mut words = l.split_whitespace();
                words.next().is_some_and(|w| w.parse::<usize>().is_ok())
                    && words.next() == Some(cluster)
            })
            .unwrap_or_default()
            .to_string()
    }

    fn resume_words(&self) -> Vec<String> {
        self.stdout
            .lines()
            .skip_while(|l| !l.starts_with("resume with:"))
            .nth(1)
            .unwrap_or_else(|| panic!("no resume command:\n{}", self.text()))
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect()
    }
}

/// The clusters of a test, by profile name, and the profile file naming them.
struct Estate {
    dir: tempfile::TempDir,
    clusters: Vec<(String, Emulator)>,
}

impl Estate {
    /// Clusters `names` (each with its spec), in a profile file with fleet `prod` of `waves`.
    fn new(clusters: Vec<(&str, EmulatorSpec)>, waves: &[&[&str]]) -> Estate {
        let dir = tempfile::tempdir().expect("temp dir");
        let clusters: Vec<(String, Emulator)> = clusters
            .into_iter()
            .map(|(name, spec)| {
                let password = format!("pw-{name}-Zq9");
                let spec = spec.credentials(&format!("ops@{name}.example"), &password);
                (
                    name.to_string(),
                    Emulator::start(spec).expect("emulator starts"),
                )
            })
            .collect();
        let estate = Estate { dir, clusters };
        estate.write_profiles(waves, &|_, text| text);
        estate
    }

    fn emulator(&self, name: &str) -> &Emulator {
        &self
            .clusters
            .iter()
            .find(|(n, _)| n == name)
            .expect("a cluster of the test")
            .1
    }

    fn password_var(name: &str) -> String {
        format!(
            "RMPACK_TEST_PW_{}",
            name.to_ascii_uppercase().replace('-', "_")
        )
    }

    /// Writes the profile file; `edit` may change each profile's text.
    fn write_profiles(&self, waves: &[&[&str]], edit: &dyn Fn(&str, String) -> String) {
        let mut text = String::new();
        for (name, emulator) in &self.clusters {
            let profile = format!(
                "[{name}]\nurl = \"{}\"\nuser = \"{}\"\npassword_env = \"{}\"\nca_cert = \"{}\"\n\n",
                emulator.url(),
                emulator.user(),
                Self::password_var(name),
                emulator.ca_cert_path().display()
            );
            text.push_str(&edit(name, profile));
        }
        let waves: Vec<String> = waves
            .iter()
            .map(|wave| {
                format!(
                    "[{}]",
                    wave.iter()
                        .map(|c| format!("\"{c}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        text.push_str(&format!("[fleet.prod]\nwaves = [{}]\n", waves.join(", ")));
        std::fs::write(self.dir.path().join("profiles.toml"), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rmpack"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RMPACK_PROFILES", self.dir.path().join("profiles.toml"))
            .stdin(std::process::Stdio::null())
            .current_dir(self.dir.path())
            .args(args);
        for (name, emulator) in &self.clusters {
            command.env(Self::password_var(name), emulator.password());
        }
        command
    }

    fn rmpack(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("rmpack runs");
        self.checked(Run::from(output))
    }

    /// Runs rmpack, sends SIGINT once `seen` holds, and collects the run (bounded: 60 s).
    fn interrupted(&self, args: &[&str], seen: &dyn Fn() -> bool) -> Run {
        let child = self
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("rmpack starts");
        let started = std::time::Instant::now();
        while !seen() {
            assert!(started.elapsed().as_secs() < 30, "the moment never came");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // SAFETY: a signal to the child this test spawned.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let output = child.wait_with_output().expect("rmpack ends");
        self.checked(Run::from(output))
    }

    fn checked(&self, run: Run) -> Run {
        for (_, emulator) in &self.clusters {
            assert!(
                !run.text().contains(emulator.password()),
                "a password leaked:\n{}",
                run.text()
            );
        }
        run
    }

    /// `text` with each cluster's URL replaced by its name, for golden files.
    fn stable(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (name, emulator) in &self.clusters {
            text = text.replace(&emulator.url(), &format!("https://{name}.example:9443"));
            let port = emulator.port().to_string();
            text = text.replace(&format!(":{port}"), ":9443");
        }
        text
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn changing_requests(&self, name: &str) -> usize {
        self.emulator(name)
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .count()
    }
}

fn zip(dir: &Path, version: &str) -> PathBuf {
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    common::plain_module_zip(&dist, "hello", version, module_json("hello", version))
}

fn three_clusters(waves: &[&[&str]]) -> Estate {
    Estate::new(
        vec![
            ("stage", EmulatorSpec::nodes(1)),
            ("prod-eu", EmulatorSpec::nodes(2)),
            (
                "prod-us",
                EmulatorSpec::nodes(2)
                    .rs_version("8.2.0-40")
                    .allow_modules_upload(true),
            ),
        ],
        waves,
    )
}

const TWO_WAVES: &[&[&str]] = &[&["stage"], &["prod-eu", "prod-us"]];

#[test]
fn a_release_goes_over_the_fleet_wave_by_wave_and_a_dry_run_changes_nothing() {
    let estate = three_clusters(TWO_WAVES);
    zip(estate.path(), "1.2.3");

    let plan = estate.rmpack(&["upload", "dist", "--fleet", "prod", "--dry-run"]);
    assert_eq!(plan.code, 0, "{}", plan.text());
    for (name, emulator) in &estate.clusters {
        assert!(emulator.only_gets(), "{name} got more than GETs");
        assert!(plan.row(name).contains("planned"), "{}", plan.stdout);
    }
    // Each cluster's RS version is in its row: the clusters need not run the same.
    assert!(plan.row("prod-us").contains("8.2.0-40"), "{}", plan.stdout);
    assert!(plan.row("stage").contains("8.0.2"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("== wave 2: cluster prod-eu =="),
        "{}",
        plan.stdout
    );
    common::assert_golden("fleet-upload-plan.txt", &estate.stable(&plan.stdout));

    let run = estate.rmpack(&["upload", "dist", "--fleet", "prod", "--json"]);
    assert_eq!(run.code, 0, "{}", run.text());
    let outcome: Value = serde_json::from_str(&run.stdout).expect("JSON");
    common::assert_schema("schema/fleet.schema.json", &outcome);
    assert_eq!(outcome["complete"], true);
    for (name, emulator) in &estate.clusters {
        assert_eq!(emulator.user_defined_modules().len(), 1, "{name}");
        for node in 1..=emulator.node_count() {
            assert_eq!(emulator.artifacts(node).len(), 1, "{name} node {node}");
        }
    }
    // Wave 2 began after wave 1 had ended.
    let last_stage = estate
        .emulator("stage")
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.at)
        .max()
        .unwrap();
    for name in ["prod-eu", "prod-us"] {
        let first = estate
            .emulator(name)
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.at)
            .min()
            .unwrap();
        assert!(first > last_stage, "{name} started before stage ended");
    }

    // Run again: nothing to do anywhere.
    let again = estate.rmpack(&["upload", "dist", "--fleet", "prod"]);
    assert_eq!(again.code, 0, "{}", again.text());
    assert!(
        again.stdout.contains("complete: 3 of 3 cluster(s) done"),
        "{}",
        again.stdout
    );
}

#[test]
fn a_cluster_refusing_its_pre_flight_stops_the_fleet_before_anything_is_sent() {
    let estate = three_clusters(TWO_WAVES);
    // A node of prod-us runs RHEL 9, for which the release has no build.
    estate
        .emulator("prod-us")
        .set_node_platform(2, NodePlatform::rhel("9.4"));
    let mut json = module_json("hello", "1.2.3");
    json["operating_systems"] = json!(["ubuntu22"]);
    let dist = estate.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    common::plain_module_zip(&dist, "hello", "1.2.3", json);

    let run = estate.rmpack(&["upload", "dist", "--fleet", "prod"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.row("prod-us").contains("REFUSED"), "{}", run.stdout);
    assert!(run.row("stage").contains("not started"), "{}", run.stdout);
    assert!(
        run.stdout.contains("nothing was sent to any cluster"),
        "{}",
        run.stdout
    );
    for (name, emulator) in &estate.clusters {
        assert!(emulator.only_gets(), "{name} was sent a change");
    }
}

#[test]
fn a_failure_in_wave_one_leaves_wave_two_untouched_and_the_resume_finishes_it() {
    let estate = three_clusters(&[&["stage"], &["prod-eu"], &["prod-us"]]);
    zip(estate.path(), "1.2.3");
    estate
        .emulator("stage")
        .set_fault(1, Fault::DropMidUpload { times: 100 });
    let run = estate.rmpack(&["upload", "dist", "--fleet", "prod", "--retries", "2"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.row("stage").contains("FAILED"), "{}", run.stdout);
    assert!(run.row("prod-eu").contains("not started"), "{}", run.stdout);
    assert!(run.row("prod-us").contains("not started"), "{}", run.stdout);
    assert_eq!(estate.changing_requests("prod-eu"), 0);
    assert_eq!(estate.changing_requests("prod-us"), 0);
    let resume = run.resume_words();
    assert!(
        resume
            .windows(2)
            .any(|w| w == ["--clusters", "stage,prod-eu,prod-us"]),
        "{resume:?}"
    );

    estate.emulator("stage").clear_all_faults();
    let words: Vec<&str> = resume.iter().map(String::as_str).collect();
    let resumed = estate.rmpack(&words);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    for (name, emulator) in &estate.clusters {
        assert_eq!(emulator.user_defined_modules().len(), 1, "{name}");
    }
}

#[test]
fn a_failure_mid_wave_stops_the_fleet_and_the_resume_skips_the_clusters_done() {
    let estate = Estate::new(
        vec![
            ("stage", EmulatorSpec::nodes(1)),
            ("prod-eu", EmulatorSpec::nodes(2)),
            ("prod-us", EmulatorSpec::nodes(2)),
            ("prod-ap", EmulatorSpec::nodes(1)),
        ],
        &[&["stage"], &["prod-eu", "prod-us"], &["prod-ap"]],
    );
    zip(estate.path(), "1.2.3");
    estate
        .emulator("prod-eu")
        .set_fault(2, Fault::DropMidUpload { times: 100 });
    let run = estate.rmpack(&["upload", "dist", "--fleet", "prod", "--retries", "2"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.row("stage").contains("done"), "{}", run.stdout);
    assert!(run.row("prod-eu").contains("FAILED"), "{}", run.stdout);
    // The same wave's other cluster goes on; the next wave does not start.
    assert!(run.row("prod-us").contains("done"), "{}", run.stdout);
    assert!(run.row("prod-ap").contains("not started"), "{}", run.stdout);
    assert_eq!(estate.changing_requests("prod-ap"), 0);
    let resume = run.resume_words();
    assert!(
        resume
            .windows(2)
            .any(|w| w == ["--clusters", "prod-eu,prod-ap"]),
        "{resume:?}"
    );

    estate.emulator("prod-eu").clear_all_faults();
    let stage_before = estate.emulator("stage").requests().len();
    let words: Vec<&str> = resume.iter().map(String::as_str).collect();
    let resumed = estate.rmpack(&words);
    assert_eq!(resumed.code, 0, "{}", resumed.text());
    assert_eq!(
        estate.emulator("stage").requests().len(),
        stage_before,
        "a cluster done is not read again"
    );
    assert_eq!(estate.emulator("prod-eu").artifacts(2).len(), 1);
    assert_eq!(estate.emulator("prod-ap").artifacts(1).len(), 1);
}

#[test]
fn status_of_the_fleet_names_the_cluster_lacking_a_version() {
    let estate = three_clusters(TWO_WAVES);
    let zip = zip(estate.path(), "1.2.3");
    let run = estate.rmpack(&[
        "upload",
        "dist",
        "--fleet",
        "prod",
        "--clusters",
        "stage,prod-eu",
    ]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(!run.stdout.contains("prod-us"), "{}", run.stdout);

    let status = estate.rmpack(&["status", "--fleet", "prod"]);
    assert_eq!(status.code, 1, "{}", status.text());
    assert!(
        status
            .stdout
            .contains("hello 1.2.3 is registered on stage, prod-eu but not on prod-us"),
        "{}",
        status.stdout
    );
    common::assert_golden("fleet-status.txt", &estate.stable(&status.stdout));
    let json = estate.rmpack(&["status", "--fleet", "prod", "--json", "dist"]);
    assert_eq!(json.code, 1, "{}", json.text());
    let value: Value = serde_json::from_str(&json.stdout).expect("JSON");
    common::assert_schema("schema/fleet-status.schema.json", &value);
    let between = value["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "between_clusters")
        .expect("drift between clusters")
        .clone();
    assert_eq!(between["lacking"], json!(["prod-us"]));
    let heal = between["heal"][0].as_str().unwrap();
    assert_eq!(heal, "rmpack upload dist --fleet prod --clusters prod-us");

    let words: Vec<&str> = heal.split_whitespace().skip(1).collect();
    assert_eq!(estate.rmpack(&words).code, 0);
    let status = estate.rmpack(&["status", "--fleet", "prod"]);
    assert_eq!(status.code, 0, "{}", status.text());
    assert!(status.stdout.contains("consistent"), "{}", status.stdout);
    drop(zip);
}

#[test]
fn an_active_active_database_is_upgraded_only_when_every_cluster_holds_the_build() {
    let estate = Estate::new(
        vec![
            ("prod-eu", EmulatorSpec::nodes(1).rs_version("8.2.0-40")),
            ("prod-us", EmulatorSpec::nodes(1).rs_version("8.2.0-40")),
        ],
        &[&["prod-eu", "prod-us"]],
    );
    for (name, emulator) in &estate.clusters {
        let versions: &[&str] = if name == "prod-eu" {
            &["1.2.2", "1.2.3"]
        } else {
            &["1.2.2"]
        };
        for version in versions {
            let mut module = module_json("hello", version);
            module["uid"] = json!(format!("hello-{version}"));
            module["compatible_redis_version"] = json!("7.2");
            module["capabilities"] = json!(["crdb"]);
            emulator.add_module(module);
        }
        let mut db = bdb(1, "cart", vec![bdb_module("hello-1.2.2", "hello", "1.2.2")]);
        db["redis_version"] = json!("7.2");
        db["crdt"] = json!(true);
        emulator.put_bdb(db);
    }
    let run = estate.rmpack(&[
        "upgrade", "--all", "--module", "hello", "--fleet", "prod", "--to", "1.2.3",
    ]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(
        run.text()
            .contains("RS wants hello 1.2.3 on every participating cluster")
            && run.text().contains("cluster(s) prod-us lack it"),
        "{}",
        run.text()
    );
    for (name, emulator) in &estate.clusters {
        assert!(emulator.only_gets(), "{name} was sent a change");
    }

    // Once prod-us holds 1.2.3 too, both instances are upgraded.
    let mut module = module_json("hello", "1.2.3");
    module["uid"] = json!("hello-1.2.3");
    module["compatible_redis_version"] = json!("7.2");
    module["capabilities"] = json!(["crdb"]);
    estate.emulator("prod-us").add_module(module);
    let run = estate.rmpack(&[
        "upgrade",
        "--all",
        "--module",
        "hello",
        "--fleet",
        "prod",
        "--to",
        "1.2.3",
        "--poll-interval",
        "0.05",
    ]);
    assert_eq!(run.code, 0, "{}", run.text());
    for (name, emulator) in &estate.clusters {
        assert_eq!(
            emulator.bdb(1).unwrap()["module_list"][0]["semantic_version"],
            "1.2.3",
            "{name}"
        );
    }
}

#[test]
fn an_unreachable_cluster_or_a_wrong_password_is_named_and_nothing_is_sent() {
    let estate = three_clusters(TWO_WAVES);
    zip(estate.path(), "1.2.3");
    // prod-eu's password variable holds a wrong password; prod-us is down.
    estate.write_profiles(TWO_WAVES, &|name, text| {
        if name == "prod-eu" {
            text.replace("RMPACK_TEST_PW_PROD_EU", "RMPACK_TEST_PW_STAGE")
        } else {
            text
        }
    });
    for node in 1..=2 {
        estate.emulator("prod-us").set_fault(node, Fault::Down);
    }
    let run = estate.rmpack(&["upload", "dist", "--fleet", "prod"]);
    assert_eq!(run.code, 1, "{}", run.text());
    let eu = run.row("prod-eu");
    assert!(
        eu.contains("REFUSED") && eu.contains("401"),
        "{}",
        run.stdout
    );
    let us = run.row("prod-us");
    assert!(us.contains("REFUSED"), "{}", run.stdout);
    assert!(
        run.stdout.contains("== wave 2: cluster prod-us =="),
        "{}",
        run.stdout
    );
    assert!(run.row("stage").contains("not started"), "{}", run.stdout);
    for (name, emulator) in &estate.clusters {
        assert!(emulator.only_gets(), "{name} was sent a change");
    }
    // The table says which profile failed without any password in it (checked by `rmpack`).
    let status = estate.rmpack(&["status", "--fleet", "prod"]);
    assert_eq!(status.code, 1, "{}", status.text());
    assert!(
        status.stdout.contains("error: cluster prod-eu"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("error: cluster prod-us"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_fleet_that_cannot_be_used_as_written_is_a_clear_error() {
    let estate = three_clusters(TWO_WAVES);
    zip(estate.path(), "1.2.3");
    let cases: Vec<(&[&[&str]], &str)> = vec![
        (
            &[&["stage"], &["prod-ap"]],
            "wave 2 names `prod-ap`, which is no profile",
        ),
        (
            &[&["stage"], &["stage", "prod-eu"]],
            "`stage` is listed twice",
        ),
    ];
    for (waves, expected) in cases {
        estate.write_profiles(waves, &|_, text| text);
        let run = estate.rmpack(&["upload", "dist", "--fleet", "prod"]);
        assert_eq!(run.code, 2, "{}", run.text());
        assert!(run.stderr.contains(expected), "{expected}: {}", run.stderr);
    }
    // Two profiles reaching one cluster.
    let stage_url = estate.emulator("stage").url();
    estate.write_profiles(TWO_WAVES, &|name, text| {
        if name == "prod-eu" {
            let url = text
                .lines()
                .find(|l| l.starts_with("url"))
                .unwrap()
                .to_string();
            text.replace(&url, &format!("url = \"{stage_url}/\""))
        } else {
            text
        }
    });
    let run = estate.rmpack(&["upload", "dist", "--fleet", "prod"]);
    assert_eq!(run.code, 2, "{}", run.text());
    assert!(
        run.stderr.contains("reach the same cluster"),
        "{}",
        run.stderr
    );
    // A profile named `fleet`.
    estate.write_profiles(TWO_WAVES, &|name, text| {
        if name == "stage" {
            format!("[fleet]\nurl = \"https://x.example:9443\"\n\n{text}")
        } else {
            text
        }
    });
    let run = estate.rmpack(&["upload", "dist", "--fleet", "prod"]);
    assert_eq!(run.code, 2, "{}", run.text());
    assert!(
        run.stderr.contains("a profile cannot be named `fleet`"),
        "{}",
        run.stderr
    );
    for (name, emulator) in &estate.clusters {
        assert!(emulator.requests().is_empty(), "{name} was reached");
    }
}

#[test]
fn validate_checks_the_release_against_every_cluster_of_the_fleet() {
    let estate = three_clusters(TWO_WAVES);
    estate
        .emulator("prod-us")
        .set_node_platform(2, NodePlatform::rhel("9.4"));
    let mut json = module_json("hello", "1.2.3");
    json["operating_systems"] = json!(["ubuntu22"]);
    let dist = estate.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    common::plain_module_zip(&dist, "hello", "1.2.3", json);

    for input in ["dist", "dist/hello.Linux-x86_64.1.2.3.zip"] {
        let run = estate.rmpack(&["validate", input, "--fleet", "prod"]);
        assert_eq!(run.code, 1, "{}", run.text());
        let us = run
            .stdout
            .split("== cluster ")
            .find(|part| part.starts_with("prod-us =="))
            .expect("prod-us's report");
        assert!(us.contains("rhel9"), "{us}");
        let stage = run
            .stdout
            .split("== cluster ")
            .find(|part| part.starts_with("stage =="))
            .expect("stage's report");
        assert!(!stage.contains("error["), "{stage}");
        assert!(run.stdout.contains("FAILED on prod-us"), "{}", run.stdout);
    }
    let run = estate.rmpack(&["validate", "dist", "--fleet", "prod", "--format", "json"]);
    let value: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let names: Vec<&str> = value["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["stage", "prod-eu", "prod-us"]);
    for (name, emulator) in &estate.clusters {
        assert!(emulator.only_gets(), "{name} was sent a change");
    }
}

#[test]
fn a_signal_mid_fleet_stops_it_with_each_clusters_truth_and_the_resume() {
    let estate = Estate::new(
        vec![
            ("stage", EmulatorSpec::nodes(1).rs_version("8.2.0-40")),
            ("prod-eu", EmulatorSpec::nodes(1).rs_version("8.2.0-40")),
        ],
        &[&["stage"], &["prod-eu"]],
    );
    for (_, emulator) in &estate.clusters {
        for version in ["1.2.2", "1.2.3"] {
            let mut module = module_json("hello", version);
            module["uid"] = json!(format!("hello-{version}"));
            module["compatible_redis_version"] = json!("7.2");
            emulator.add_module(module);
        }
        let mut db = bdb(1, "cart", vec![bdb_module("hello-1.2.2", "hello", "1.2.2")]);
        db["redis_version"] = json!("7.2");
        emulator.put_bdb(db);
    }
    estate
        .emulator("stage")
        .script_next_action(support::ActionOutcome::RunsFor(10_000));
    let stage = estate.emulator("stage");
    let run = estate.interrupted(
        &[
            "upgrade",
            "--all",
            "--module",
            "hello",
            "--fleet",
            "prod",
            "--poll-interval",
            "0.05",
        ],
        &|| stage.requests().iter().any(|r| r.method == "POST"),
    );
    assert_eq!(run.code, 130, "{}", run.text());
    assert!(run.row("stage").contains("interrupted"), "{}", run.stdout);
    assert!(run.row("prod-eu").contains("not started"), "{}", run.stdout);
    assert!(run.stdout.contains("IN FLIGHT"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&stage.actions()[0].uid),
        "the running action is named:\n{}",
        run.stdout
    );
    assert_eq!(estate.changing_requests("prod-eu"), 0);
    let resume = run.resume_words();
    assert!(
        resume
            .windows(2)
            .any(|w| w == ["--clusters", "stage,prod-eu"]),
        "{resume:?}"
    );
    assert!(resume.iter().any(|w| w == "--all"), "{resume:?}");
}

#[test]
fn clusters_on_different_rs_releases_each_take_their_own_flow() {
    let estate = Estate::new(
        vec![
            ("legacy", EmulatorSpec::nodes(2).rs_version("7.8.2-34")),
            (
                "current",
                EmulatorSpec::nodes(2)
                    .rs_version("8.2.0-40")
                    .allow_modules_upload(true),
            ),
        ],
        &[&["legacy", "current"]],
    );
    zip(estate.path(), "1.2.3");
    let run = estate.rmpack(&["upload", "dist", "--fleet", "prod"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(run.row("legacy").contains("7.8.2-34"), "{}", run.stdout);
    assert!(run.row("current").contains("8.2.0-40"), "{}", run.stdout);
    // RS before 8.0 takes the bundled upload once; 8.0 and later a registration and the zip
    // on every node.
    assert_eq!(estate.emulator("legacy").bundled_modules().len(), 1);
    assert!(estate.emulator("legacy").user_defined_modules().is_empty());
    assert_eq!(estate.emulator("current").user_defined_modules().len(), 1);
    for node in 1..=2 {
        assert_eq!(estate.emulator("current").artifacts(node).len(), 1);
    }
}
