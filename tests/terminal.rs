//! Terminal safety: text from a zip, a module.json or a server reaches the terminal with its
//! control characters shown as visible escapes, so it cannot move the cursor, erase lines or
//! print a fake verdict over the real one.

mod common;
mod support;

use common::Run;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{bdb, bdb_module, module_json, ActionOutcome, Emulator, EmulatorSpec};

/// Erase the line, move up one, print a verdict: what a hostile zip would like to show.
const FAKE_VERDICT: &str = "\u{1b}[2K\u{1b}[1AOK: 0 errors";
/// The same, as it must appear.
const FAKE_VERDICT_SHOWN: &str = "\\x1b[2K\\x1b[1AOK: 0 errors";

fn run_in(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .expect("run rmpack");
    Run::from(output)
}

/// No raw control character but the line ends.
fn assert_no_raw_controls(text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(raw.is_empty(), "raw control characters {raw:?} in:\n{text}");
}

/// A zip around the plain fixture whose module.json fields and one entry name carry escape
/// sequences.
fn hostile_zip(dir: &Path) -> PathBuf {
    let so = std::fs::read(common::fixture("plain")).unwrap();
    let mut json = module_json("plain", "1.2.3");
    json["module_file"] = "plain.so".into();
    json["sha256"] = hex::encode(Sha256::digest(&so)).into();
    json["display_name"] = format!("Plain{FAKE_VERDICT}").into();
    json["module_name"] = format!("plain\u{9b}2J{FAKE_VERDICT}").into();
    json["commands"] = serde_json::json!([{
        "command_name": format!("plain.get{FAKE_VERDICT}"), "command_arity": 2,
        "flags": ["readonly"], "first_key": 1, "last_key": 1, "step": 1
    }]);
    let path = dir.join("hostile.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = |mode| zip::write::SimpleFileOptions::default().unix_permissions(mode);
    zip.start_file("module.json", options(0o644)).unwrap();
    zip.write_all(&serde_json::to_vec_pretty(&json).unwrap())
        .unwrap();
    zip.start_file("plain.so", options(0o755)).unwrap();
    zip.write_all(&so).unwrap();
    zip.start_file(format!("notes{FAKE_VERDICT}.txt"), options(0o644))
        .unwrap();
    zip.write_all(b"extra").unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn escape_sequences_in_a_zip_are_shown_escaped_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    hostile_zip(dir.path());
    let run = run_in(dir.path(), &["validate", "hostile.zip"]);
    assert_eq!(
        run.code, 1,
        "the extra entry fails validation: {}",
        run.stdout
    );
    assert_no_raw_controls(&run.stdout);
    assert_no_raw_controls(&run.stderr);
    assert!(
        run.stdout
            .contains(&format!("notes{FAKE_VERDICT_SHOWN}.txt")),
        "{}",
        run.stdout
    );
    // The real verdict is the last line, and only one line says OK or FAILED.
    let verdicts: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("OK:") || l.starts_with("FAILED:"))
        .collect();
    assert_eq!(verdicts.len(), 1, "{}", run.stdout);
    assert!(verdicts[0].starts_with("FAILED:"), "{}", run.stdout);
}

#[test]
fn escape_sequences_in_module_json_fields_are_shown_escaped_by_inspect() {
    let dir = tempfile::tempdir().unwrap();
    hostile_zip(dir.path());
    let run = run_in(dir.path(), &["inspect", "hostile.zip"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_no_raw_controls(&run.stdout);
    for shown in [
        format!("Plain{FAKE_VERDICT_SHOWN}"),
        format!("plain\\u{{9b}}2J{FAKE_VERDICT_SHOWN}"),
        format!("plain.get{FAKE_VERDICT_SHOWN}"),
        format!("notes{FAKE_VERDICT_SHOWN}.txt"),
    ] {
        assert!(
            run.stdout.contains(&shown),
            "missing {shown} in:\n{}",
            run.stdout
        );
    }
    // JSON carries the text itself, escaped the JSON way.
    let run = run_in(dir.path(), &["inspect", "hostile.zip", "--json"]);
    assert_no_raw_controls(&run.stdout);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        value["module_json"]["display_name"],
        format!("Plain{FAKE_VERDICT}")
    );
}

#[test]
fn an_escape_sequence_in_a_server_error_is_shown_escaped() {
    let emulator = Emulator::start(EmulatorSpec::nodes(1)).expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let old = emulator.add_module(serde_json::json!({
        "uid": "old-hello", "module_name": "Hello", "semantic_version": "1.0.0", "version": 10000,
    }));
    emulator.add_module(serde_json::json!({
        "uid": "new-hello", "module_name": "Hello", "semantic_version": "1.2.0", "version": 10200,
    }));
    emulator.put_bdb(bdb(1, "db1", vec![bdb_module(&old, "Hello", "1.0.0")]));
    emulator.script_next_action(ActionOutcome::failed(
        "redis_incompatible_version",
        &format!("refused{FAKE_VERDICT}"),
    ));
    let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RMPACK_USER", emulator.user())
        .env("RMPACK_PASSWORD", emulator.password())
        .env("RMPACK_PROFILES", dir.path().join("no-profiles.toml"))
        .stdin(std::process::Stdio::null())
        .current_dir(dir.path())
        .args([
            "upgrade",
            "--db",
            "1",
            "--module",
            "Hello",
            "--poll-interval",
            "0.05",
        ])
        .args(["--cluster", &emulator.url(), "--ca-cert"])
        .arg(emulator.ca_cert_path())
        .output()
        .expect("run rmpack");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_no_raw_controls(&stdout);
    assert_no_raw_controls(&stderr);
    assert!(
        stderr.contains(&format!("refused{FAKE_VERDICT_SHOWN}")),
        "{stderr}"
    );
}
