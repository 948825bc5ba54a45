//! `rmpack diff OLD NEW`, run as the real binary on the fixture releases in `testdata/diff/`
//! (release 1.2.3 and 1.3.0 of the plain module), as module.json files, zips and folders.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `rmpack ARGS` in the crate root (so fixture paths stay relative), returning the exit
/// code, stdout and stderr.
fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .args(args)
        .current_dir(root())
        .env_remove("NO_COLOR")
        .output()
        .expect("run rmpack");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const OLD: &str = "testdata/diff/old.json";
const NEW: &str = "testdata/diff/new.json";

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root().join(name)).unwrap()).unwrap()
}

/// A module zip holding `module` as module.json and a stand-in `.so`.
fn zip_of(dir: &Path, name: &str, module: &Value) -> PathBuf {
    let path = dir.join(name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("plain.so", options.unix_permissions(0o755))
        .unwrap();
    zip.write_all(b"\x7fELF stand-in").unwrap();
    zip.start_file("module.json", options).unwrap();
    zip.write_all(&serde_json::to_vec_pretty(module).unwrap())
        .unwrap();
    zip.finish().unwrap();
    path
}

fn write_json(dir: &Path, name: &str, module: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(module).unwrap()).unwrap();
    path
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn each_added_removed_and_changed_command_and_capability_is_named() {
    let (code, out, err) = run(&["diff", OLD, NEW]);
    assert_eq!(code, 0, "without --fail-on-breaking a diff succeeds: {err}");
    for line in [
        "  - plain.ping  BREAKING: clients calling this command will get an unknown-command error",
        "  - plain.cfg|set  BREAKING: clients calling this subcommand will get an error",
        "  + plain.extra",
        "  ~ plain.get: command_arity 2 → -2; flags +fast; keys [1,1,1] → [1,-1,1]; acl_categories +@fast",
        "  - backup_restore  BREAKING: databases whose configuration needs it cannot upgrade: RS answers unsupported_module_capabilities",
        "  + flash",
        "  ~ min_redis_version: 7.0 → 7.2",
        "  - rhel8  BREAKING: nodes running it get no build of NEW",
        "version: 1.2.3 → 1.3.0 (minor step up)",
    ] {
        assert!(out.lines().any(|l| l == line), "missing `{line}` in:\n{out}");
    }
    // PLAIN.MGET in NEW is plain.mget of OLD: Redis command names are case-insensitive.
    assert!(!out.to_lowercase().contains("plain.mget"), "{out}");
}

#[test]
fn golden_human_output_of_the_fixture_releases() {
    let (_, out, _) = run(&["diff", OLD, NEW]);
    common::assert_golden("diff-fixtures.txt", &out);
}

#[test]
fn a_golden_mismatch_shows_the_diff_and_how_to_refresh() {
    let golden = "release\n  one\n  two\n  three\n  four\n  five\n";
    let actual = "release\n  one\n  two\n  three\n  FOUR\n  five\n";
    assert_eq!(common::golden_failure("x.txt", Ok(golden), golden), None);
    let failure = common::golden_failure("x.txt", Ok(golden), actual).unwrap();
    assert!(failure.contains("tests/golden/x.txt"), "{failure}");
    assert!(failure.contains("UPDATE_GOLDEN=1"), "{failure}");
    assert!(
        failure
            .ends_with("@@ line 2 @@\n    one\n    two\n    three\n-   four\n+   FOUR\n    five\n"),
        "{failure}"
    );
    let endings = common::golden_failure("x.txt", Ok("a\nb\n"), "a\nb").unwrap();
    assert!(endings.contains("line endings differ"), "{endings}");
    let missing = common::golden_failure("new.txt", Err("No such file"), actual).unwrap();
    assert!(
        missing.contains("UPDATE_GOLDEN=1 to create it") && missing.ends_with(actual),
        "{missing}"
    );
}

#[test]
fn fail_on_breaking_exits_1_on_a_removal_and_0_on_additions_only() {
    let (code, _, _) = run(&["diff", OLD, NEW, "--fail-on-breaking"]);
    assert_eq!(code, 1, "a removed command and capability break");

    let dir = tempfile::tempdir().unwrap();
    let mut grown = fixture(OLD);
    grown["version"] = 10204.into();
    grown["semantic_version"] = "1.2.4".into();
    grown["capabilities"]
        .as_array_mut()
        .unwrap()
        .push("flash".into());
    grown["commands"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "command_name": "plain.new", "command_arity": 2, "flags": ["readonly"],
            "first_key": 1, "last_key": 1, "step": 1
        }));
    let grown = write_json(dir.path(), "grown.json", &grown);
    let (code, out, _) = run(&["diff", OLD, s(&grown), "--fail-on-breaking"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("  + plain.new") && out.contains("  + flash"),
        "{out}"
    );
    assert!(out.contains("2 changes, none breaking"), "{out}");

    // A removed capability alone is breaking too.
    let mut shrunk = fixture(OLD);
    shrunk["capabilities"] = serde_json::json!(["replica_of", "types"]);
    shrunk["version"] = 10204.into();
    let shrunk = write_json(dir.path(), "shrunk.json", &shrunk);
    let (code, out, _) = run(&["diff", OLD, s(&shrunk), "--fail-on-breaking"]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn the_same_release_twice_says_no_changes_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let zip = zip_of(dir.path(), "old.zip", &fixture(OLD));
    for (a, b) in [(OLD, OLD), (OLD, s(&zip))] {
        let (code, out, err) = run(&["diff", a, b, "--fail-on-breaking"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("\nno changes"), "{out}");
        assert!(!out.contains("warning"), "{out}");
        let (code, out, _) = run(&["diff", a, b, "--json"]);
        assert_eq!(code, 0);
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["changes"], serde_json::json!([]));
        assert_eq!(value["summary"]["changes"], 0);
    }
}

#[test]
fn zips_module_json_files_and_folders_give_the_same_diff() {
    let dir = tempfile::tempdir().unwrap();
    let old_zip = zip_of(dir.path(), "old.zip", &fixture(OLD));
    let folder = dir.path().join("new-release");
    std::fs::create_dir(&folder).unwrap();
    write_json(&folder, "module.json", &fixture(NEW));
    let changes = |a: &str, b: &str| {
        let (code, out, err) = run(&["diff", a, b, "--json"]);
        assert_eq!(code, 0, "{err}");
        let value: Value = serde_json::from_str(&out).unwrap();
        value["changes"].clone()
    };
    let reference = changes(OLD, NEW);
    assert!(reference.as_array().unwrap().len() >= 10);
    assert_eq!(changes(s(&old_zip), NEW), reference);
    assert_eq!(changes(OLD, s(&folder)), reference);
    assert_eq!(changes(s(&old_zip), s(&folder)), reference);
}

#[test]
fn json_output_matches_its_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/diff.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for (a, b) in [(OLD, NEW), (NEW, OLD), (OLD, OLD)] {
        let (_, out, _) = run(&["diff", a, b, "--json"]);
        let value: Value = serde_json::from_str(&out).unwrap();
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(problems.is_empty(), "{problems:?}\n{out}");
        assert_eq!(value["version"], 1);
    }
    let (_, out, _) = run(&["diff", OLD, NEW, "--json"]);
    let value: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["summary"]["breaking"], 4);
    assert_eq!(value["version_step"]["part"], "minor");
    let ping = value["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "plain.ping")
        .unwrap();
    assert_eq!(ping["kind"], "command");
    assert_eq!(ping["action"], "removed");
    assert_eq!(ping["breaking"], true);
    // The schema is not a rubber stamp.
    let mut bad = value.clone();
    bad["changes"][0]["action"] = "renamed".into();
    assert!(!validator.is_valid(&bad));
    let mut bad = value;
    bad["summary"]["breaking"] = (-1).into();
    assert!(!validator.is_valid(&bad));
}

#[test]
fn a_new_release_that_is_not_above_the_old_one_is_warned_about() {
    let (code, out, _) = run(&["diff", NEW, OLD]);
    assert_eq!(code, 0);
    assert!(
        out.contains("version: 1.3.0 → 1.2.3 (minor step DOWN)"),
        "{out}"
    );
    assert!(
        out.contains("warning: NEW's version 1.2.3 is below OLD's 1.3.0"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut same_version = fixture(OLD);
    same_version["min_redis_version"] = "7.2".into();
    let same_version = write_json(dir.path(), "same.json", &same_version);
    let (_, out, _) = run(&["diff", OLD, s(&same_version)]);
    assert!(
        out.contains("warning: NEW carries changes but the same version as OLD (1.2.3)"),
        "{out}"
    );
}

#[test]
fn inputs_that_are_not_releases_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("plain.so");
    std::fs::write(&so, b"\x7fELF\x02\x01\x01").unwrap();
    let (code, _, err) = run(&["diff", s(&so), NEW]);
    assert_eq!(code, 2);
    assert!(err.contains("holds no module.json"), "{err}");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, b"{\"module_name\": ").unwrap();
    let (code, _, err) = run(&["diff", OLD, s(&broken)]);
    assert_eq!(code, 2);
    assert!(err.contains("broken.json"), "{err}");
    let (code, _, err) = run(&["diff", OLD, s(&dir.path().join("missing.zip"))]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.zip"), "{err}");
}

#[test]
fn names_with_escape_sequences_are_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let mut hostile = fixture(NEW);
    hostile["commands"][1]["command_name"] = "plain.extra\u{1b}[2K\u{1b}[1AOK: 0 errors".into();
    hostile["module_name"] = "plain\u{9b}31m".into();
    let hostile = write_json(dir.path(), "hostile.json", &hostile);
    let (_, out, _) = run(&["diff", OLD, s(&hostile)]);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{9b}'),
        "{out:?}"
    );
    assert!(
        out.contains("  + plain.extra\\x1b[2K\\x1b[1AOK: 0 errors"),
        "{out}"
    );
    assert!(out.contains("plain\\u{9b}31m"), "{out}");
}
