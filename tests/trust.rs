//! What a hostile or broken cluster cannot make rmpack do: print a command that runs more than
//! it says, print the password in any form, flood the terminal, reach it with raw control
//! characters (in text or `--json`), report a delete or a registration that did not happen, or
//! count one node twice. Against the emulator (with faults) and a scripted hostile server.

mod common;
mod hostile_server;
mod support;

use common::Run;

use std::path::{Path, PathBuf};
use std::process::Command;

use hostile_server::{
    json_escape, leaks, password_forms, start_cluster, unsafe_chars, Answer, Cluster, HostileServer,
};
use serde_json::{json, Value};
use support::RequestMatch;
use support::{bdb, bdb_module, module_json, ActionOutcome, Emulator, EmulatorSpec, Fault};

const USER: &str = "admin@rmpack.test";
/// A password with every character JSON encoders escape differently: a quote, a backslash, a
/// slash, a tab, non-ASCII and a character outside the BMP.
const PASSWORD: &str = "p\u{e4}ss\"w/o\\rd\t\u{1F511}-trust";
const INJECTION: &str = "1;touch${IFS}pwned";

/// `rmpack ARGS --cluster URL --ca-cert CA` with `password` in the environment.
fn rmpack_at(url: &str, ca: &Path, password: &str, dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RMPACK_USER", USER)
        .env("RMPACK_PASSWORD", password)
        .env("RMPACK_PROFILES", dir.join("no-profiles.toml"))
        .stdin(std::process::Stdio::null())
        .current_dir(dir)
        .args(args)
        .args(["--cluster", url, "--ca-cert"])
        .arg(ca)
        .args(["--timeout", "20", "--retries", "1"])
        .output()
        .expect("rmpack runs");
    Run::from(output)
}

fn on_server(server: &HostileServer, dir: &Path, args: &[&str]) -> Run {
    rmpack_at(&server.url(), server.ca_cert_path(), PASSWORD, dir, args)
}

fn on_emulator(emulator: &Emulator, dir: &Path, args: &[&str]) -> Run {
    rmpack_at(
        &emulator.url(),
        emulator.ca_cert_path(),
        emulator.password(),
        dir,
        args,
    )
}

fn start(nodes: usize) -> (Emulator, tempfile::TempDir) {
    let emulator = Emulator::start(EmulatorSpec::nodes(nodes)).expect("emulator starts");
    (emulator, tempfile::tempdir().expect("temp dir"))
}

fn module_zip(dir: &Path, name: &str, version: &str) -> PathBuf {
    common::plain_module_zip(dir, name, version, module_json(name, version))
}

fn assert_terminal_safe(run: &Run, what: &str) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let raw = unsafe_chars(text);
        assert!(raw.is_empty(), "{what}: raw {raw:?} on {stream}:\n{text}");
    }
}

fn assert_no_password(run: &Run, what: &str) {
    let forms = password_forms(USER, PASSWORD);
    let found = leaks(&run.text(), &forms);
    assert!(
        found.is_empty(),
        "{what}: the password leaked as {found:?}:\n{}",
        run.text()
    );
}

/// Runs each of `commands` in `shell` with `rmpack` replaced by a function that prints its
/// words, each ended by a NUL; returns the words of each command, and checks no command made a file.
fn words_as_the_shell_reads_them(shell: &str, commands: &[String]) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().expect("temp dir");
    commands
        .iter()
        .map(|command| {
            let script = format!("rmpack() {{ printf '%s\\0' \"$@\"; }}\n{command}\n");
            let output = Command::new(shell)
                .arg("-c")
                .arg(&script)
                .current_dir(dir.path())
                .output()
                .expect("the shell runs");
            assert!(output.status.success(), "{shell} refused {command:?}");
            let made: Vec<_> = std::fs::read_dir(dir.path())
                .expect("dir")
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert!(made.is_empty(), "{command:?} created {made:?}");
            String::from_utf8_lossy(&output.stdout)
                .split_terminator('\0')
                .map(str::to_string)
                .collect()
        })
        .collect()
}

// ---- 1. every printed command is quoted; values that cannot be uids are refused ----

#[test]
fn a_uid_from_the_server_that_is_not_a_plain_token_is_a_bad_response_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    // The node list names a node by a shell command.
    let mut cluster = Cluster::plausible(2);
    cluster.nodes[1]["uid"] = json!(INJECTION);
    let server = start_cluster(cluster, 200);
    for args in [
        vec!["status"],
        vec!["artifacts", "list"],
        vec!["status", "--json"],
    ] {
        let run = on_server(&server, dir.path(), &args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.text());
        assert!(run.stderr.contains("`[1].uid`"), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("a uid holds only letters, digits"),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.method == "GET" && !r.path.contains("artifacts")),
        "nothing goes to the nodes of a list that does not parse"
    );
    assert!(!dir.path().join("pwned").exists());

    // A database uid likewise.
    let mut cluster = Cluster::plausible(2);
    cluster.bdbs[0]["uid"] = json!("1$(reboot)");
    let server = start_cluster(cluster, 200);
    let run = on_server(
        &server,
        dir.path(),
        &["upgrade", "--all", "--module", "hello", "--dry-run"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("`uid`"), "{}", run.stderr);
}

#[test]
fn a_node_uid_holding_a_command_never_reaches_an_upload_or_its_resume_command() {
    let (emulator, dir) = start(2);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let zip_arg = zip.to_string_lossy().into_owned();
    emulator.set_node_reported_uid(2, json!(INJECTION));
    emulator.set_fault(2, Fault::Down);
    let run = on_emulator(&emulator, dir.path(), &["upload", &zip_arg]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(!run.stdout.contains("resume with:"), "{}", run.stdout);
    assert!(run.stderr.contains("`[1].uid`"), "{}", run.stderr);
    assert!(emulator.only_gets(), "{:?}", emulator.requests());
    let printed: Vec<String> = run
        .text()
        .lines()
        .filter(|l| l.trim_start().starts_with("rmpack "))
        .map(|l| l.trim().to_string())
        .collect();
    words_as_the_shell_reads_them("sh", &printed);
}

#[test]
fn uids_on_the_command_line_must_be_plain_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let server = HostileServer::start(1, 100, |_| Answer::not_found());
    let bad_db = format!("{INJECTION},2,3");
    for args in [
        vec!["upgrade", "--db", bad_db.as_str(), "--module", "hello"],
        vec!["artifacts", "list", "--nodes", "1,$(id)"],
        vec!["modules", "get", "a b"],
        vec!["modules", "delete", "x;y", "--user-defined"],
        vec!["upload", "missing.zip", "--nodes", "2;reboot"],
    ] {
        let run = on_server(&server, dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.text());
        assert!(run.stderr.contains("uid"), "{args:?}: {}", run.stderr);
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn heal_commands_quote_names_for_the_shell_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let orphan = INJECTION;
    let missing = "y'$(touch${IFS}pwned3)\"`id`";
    let mut cluster = Cluster::plausible(2);
    let mut registered = hostile_server::hello("m3", "1.2.3");
    registered["module_name"] = json!(missing);
    cluster.modules.as_array_mut().unwrap().push(registered);
    cluster.artifacts[0].as_array_mut().unwrap().extend([
        json!({"module_name": orphan, "version": 10203}),
        json!({"module_name": missing, "version": 10203}),
    ]);
    let server = start_cluster(cluster, 400);

    let text = on_server(&server, dir.path(), &["status"]);
    assert_eq!(text.code, 1, "{}", text.text());
    let heals: Vec<String> = text
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("heal: "))
        .map(str::to_string)
        .collect();
    let json_run = on_server(&server, dir.path(), &["status", "--json"]);
    let status: Value = serde_json::from_str(&json_run.stdout).expect("JSON");
    let json_heals: Vec<String> = status["drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["heal"].as_array())
        .flatten()
        .filter_map(|h| h.as_str().map(str::to_string))
        .collect();
    assert_eq!(heals.len(), 2, "{}", text.stdout);
    assert_eq!(heals, json_heals, "text and JSON give the same commands");
    let words = words_as_the_shell_reads_them("sh", &heals);
    let all: Vec<&String> = words.iter().flatten().collect();
    assert!(all.iter().any(|w| w.as_str() == orphan), "{words:?}");
    let delete = words
        .iter()
        .find(|w| w.get(1).map(String::as_str) == Some("delete"))
        .expect("the orphan's delete");
    assert_eq!(delete[..4], ["artifacts", "delete", orphan, "1.2.3"]);
    let upload = words
        .iter()
        .find(|w| w.first().map(String::as_str) == Some("upload"))
        .expect("the upload heal");
    assert_eq!(upload.last().map(String::as_str), Some("2"), "{upload:?}");
    // The comment naming the zip stays on its line: the shell ignores it whole.
    assert!(
        heals
            .iter()
            .any(|h| h.contains("   # ") && !h.contains('\n')),
        "{heals:?}"
    );
    assert!(!dir.path().join("pwned").exists() && !dir.path().join("pwned3").exists());
}

#[test]
fn a_control_character_in_a_heal_word_is_quoted_as_bytes_for_bash() {
    let dir = tempfile::tempdir().unwrap();
    let name = "n\nrm -rf x\u{1b}[2J\u{202e}";
    let mut cluster = Cluster::plausible(1);
    cluster.artifacts[0]
        .as_array_mut()
        .unwrap()
        .push(json!({"module_name": name, "version": 10203}));
    let server = start_cluster(cluster, 400);
    for args in [vec!["status"], vec!["status", "--json"]] {
        let run = on_server(&server, dir.path(), &args);
        assert_eq!(run.code, 1, "{}", run.text());
        assert_terminal_safe(&run, "status");
    }
    let run = on_server(&server, dir.path(), &["status", "--json"]);
    let status: Value = serde_json::from_str(&run.stdout).unwrap();
    let heal = status["drift"][0]["heal"][0].as_str().unwrap().to_string();
    assert!(!heal.contains('\n'), "{heal:?}");
    if Command::new("bash").arg("--version").output().is_ok() {
        let words = words_as_the_shell_reads_them("bash", &[heal]);
        assert_eq!(words[0][2], name, "bash reads the name back exactly");
    }
}

#[test]
fn resume_commands_of_upload_and_upgrade_quote_every_word() {
    let (emulator, dir) = start(3);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let hostile = dir.path().join("it's $(touch pwned) `id`.zip");
    std::fs::rename(&zip, &hostile).unwrap();
    emulator.set_fault(2, Fault::Down);
    let hostile_arg = hostile.to_string_lossy().into_owned();
    let run = on_emulator(&emulator, dir.path(), &["upload", &hostile_arg]);
    assert_eq!(run.code, 1, "{}", run.text());
    let resume = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("resume with:"))
        .nth(1)
        .expect("a resume command")
        .trim()
        .to_string();
    let words = words_as_the_shell_reads_them("sh", std::slice::from_ref(&resume));
    assert_eq!(words[0][0], "upload");
    assert_eq!(words[0][1..3], ["--nodes", "2"]);
    assert_eq!(words[0][3], hostile_arg);
    assert!(!dir.path().join("pwned").exists());

    // upgrade: module arguments with a command substitution stay one word.
    let (emulator, dir) = start(1);
    let mut module = module_json("hello", "1.2.3");
    module["uid"] = json!("hello-1.2.3");
    emulator.add_module(module);
    let mut old = module_json("hello", "1.2.2");
    old["uid"] = json!("hello-1.2.2");
    emulator.add_module(old);
    emulator.put_bdb(bdb(
        1,
        "db1",
        vec![bdb_module("hello-1.2.2", "hello", "1.2.2")],
    ));
    emulator.script_next_action(ActionOutcome::failed("e", "no"));
    let args = "$(touch pwned) 'x'";
    let run = on_emulator(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--module-args",
            args,
            "--poll-interval",
            "0.05",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    let resume = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("resume with:"))
        .nth(1)
        .expect("a resume command")
        .trim()
        .to_string();
    let words = words_as_the_shell_reads_them("sh", &[resume]);
    let at = words[0].iter().position(|w| w == "--module-args").unwrap();
    assert_eq!(words[0][at + 1], args);
}

// ---- 2. the password never leaks past the redaction ----

/// The password as a JSON string literal, written the ways encoders write it.
fn escaped_passwords() -> Vec<String> {
    let mut forms = vec![serde_json::to_string(PASSWORD).unwrap()];
    for (ascii, slash, upper, long) in [
        (true, false, false, false),
        (true, true, true, false),
        (false, true, false, true),
        (true, false, false, true),
    ] {
        forms.push(format!(
            "\"{}\"",
            json_escape(PASSWORD, ascii, slash, upper, long)
        ));
    }
    forms
}

#[test]
fn a_password_echoed_in_any_json_escaping_is_redacted_after_decoding() {
    let dir = tempfile::tempdir().unwrap();
    for literal in escaped_passwords() {
        let inner = literal[1..literal.len() - 1].to_string();
        // A module named by the password, and an error describing it.
        let modules = format!(
            r#"[{{"uid":"m1","module_name":{literal},"semantic_version":"1.0.0","version":10000,"description":"x{inner}y"}}]"#
        );
        let server = HostileServer::start(1, 50, move |request| {
            if request.path == "/v1/modules" {
                Answer::raw(200, modules.clone())
            } else {
                Answer::not_found()
            }
        });
        for args in [vec!["modules", "list"], vec!["modules", "list", "--json"]] {
            let run = on_server(&server, dir.path(), &args);
            assert_eq!(run.code, 0, "{literal}: {}", run.text());
            assert_no_password(&run, &format!("{literal} {args:?}"));
            assert!(
                run.stdout.contains("<redacted>"),
                "{literal}: {}",
                run.stdout
            );
        }
        let error = format!(r#"{{"error_code":"bad","description":"you sent {inner}"}}"#);
        let server = HostileServer::start(1, 50, move |_| Answer::raw(400, error.clone()));
        let run = on_server(&server, dir.path(), &["modules", "list"]);
        assert_eq!(run.code, 1, "{}", run.text());
        assert_no_password(&run, &format!("error {literal}"));
        assert!(run.stderr.contains("<redacted>"), "{}", run.stderr);
    }
}

#[test]
fn a_password_echoed_as_base64_or_inside_text_that_is_not_json_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let token = hostile_server::base64(format!("{USER}:{PASSWORD}").as_bytes(), false);
    let mut echoes = vec![format!("Authorization: Basic {token}")];
    for prefix in ["", "a", "ab", "abc"] {
        for url_safe in [false, true] {
            let inside = format!("{prefix}{PASSWORD} and the rest of a header");
            echoes.push(format!(
                "blob {} end",
                hostile_server::base64(inside.as_bytes(), url_safe)
            ));
        }
    }
    // JSON cut in the middle of an escape is text: redacted as text.
    let cut = format!(
        r#"{{"description":"{}\u00"#,
        json_escape(PASSWORD, true, true, false, false)
    );
    echoes.push(cut);
    echoes.push(format!("<html>{PASSWORD}</html>"));
    for echo in echoes {
        let body =
            serde_json::to_string(&json!({"error_code": "bad", "description": echo})).unwrap();
        for (what, answer) in [("json", body), ("text", echo.clone())] {
            let server = HostileServer::start(1, 20, move |_| Answer::raw(502, answer.clone()));
            let run = on_server(&server, dir.path(), &["modules", "list"]);
            assert_eq!(run.code, 1, "{}", run.text());
            assert_no_password(&run, &format!("{what} {echo:?}"));
            assert_terminal_safe(&run, "an echo");
        }
    }
}

#[test]
fn server_text_echoing_the_password_through_an_upgrade_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::plausible(2);
    cluster.bdbs[0]["name"] = json!(PASSWORD);
    cluster.cluster["name"] = json!(PASSWORD);
    cluster.nodes[0]["os_version"] = json!(PASSWORD);
    cluster.nodes[1]["os_name"] = json!(format!("sles {PASSWORD}"));
    cluster.modules[1]["description"] = json!(PASSWORD);
    cluster.action_polls = vec![json!({
        "action_uid": "a1", "status": "failed", "error_code": "boom",
        "error_message": format!("cannot load: {PASSWORD}"),
    })];
    let upgrade = ["upgrade", "--db", "1", "--module", "hello"];
    for extra in [
        vec!["--dry-run"],
        vec!["--dry-run", "--json"],
        vec!["--poll-interval", "0.05"],
        vec!["--poll-interval", "0.05", "--json"],
    ] {
        let args: Vec<&str> = upgrade.iter().chain(&extra).copied().collect();
        // Each run on a fresh server: an executed upgrade changes what it serves.
        let server = start_cluster(cluster.clone(), 400);
        let run = on_server(&server, dir.path(), &args);
        assert_no_password(&run, &format!("{args:?}"));
        assert_terminal_safe(&run, "upgrade");
        if extra.contains(&"--dry-run") {
            assert_eq!(run.code, 0, "{}", run.text());
            assert!(run.text().contains("<redacted>"), "{}", run.text());
        } else {
            assert_eq!(run.code, 1, "{}", run.text());
            assert!(
                run.text().contains("cannot load: <redacted>"),
                "{}",
                run.text()
            );
        }
    }
}

#[test]
fn a_password_in_the_cluster_url_is_not_quoted_back() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .env_clear()
        .env("RMPACK_USER", USER)
        .env("RMPACK_PASSWORD", PASSWORD)
        .env("RMPACK_PROFILES", dir.path().join("none.toml"))
        .stdin(std::process::Stdio::null())
        .args(["modules", "list", "--cluster"])
        .arg(format!("https://admin:{PASSWORD}@127.0.0.1:9/"))
        .output()
        .unwrap();
    let run = Run::from(output);
    assert_eq!(run.code, 2, "{}", run.text());
    assert!(
        run.stderr.contains("<redacted>@127.0.0.1"),
        "{}",
        run.stderr
    );
    assert_no_password(&run, "the URL");
}

// ---- 3. server text is cut ----

#[test]
fn a_fifty_megabyte_description_or_name_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "d".repeat(50_000_000);
    let error = serde_json::to_string(&json!({"error_code": "x", "description": huge})).unwrap();
    let server = HostileServer::start(1, 20, move |_| Answer::raw(400, error.clone()));
    let run = on_server(&server, dir.path(), &["modules", "list"]);
    assert_eq!(run.code, 1, "{}", &run.stderr[..run.stderr.len().min(2000)]);
    assert!(
        run.stderr.len() < 4096,
        "{} bytes on stderr",
        run.stderr.len()
    );
    assert!(run.stderr.contains("… (50.0 MB more)"), "{}", run.stderr);

    let modules = serde_json::to_string(&json!([{
        "uid": "m1", "module_name": "n".repeat(50_000_000), "semantic_version": "1.0.0",
        "description": "e".repeat(1_000_000),
    }]))
    .unwrap();
    let server = HostileServer::start(1, 20, move |_| Answer::raw(200, modules.clone()));
    for args in [vec!["modules", "list"], vec!["modules", "list", "--json"]] {
        let run = on_server(&server, dir.path(), &args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(
            run.stdout.len() < 4096,
            "{args:?}: {} bytes",
            run.stdout.len()
        );
        assert!(run.stdout.contains("MB more)"), "{}", run.stdout);
    }
}

// ---- 4. one escaping rule, human and JSON ----

const BIDI_AND_C1: &str = "evil\u{202e}dlrow\u{2066}x\u{9b}31m\u{1b}[2K";

#[test]
fn json_outputs_escape_bidirectional_overrides_and_c1_controls() {
    let (emulator, dir) = start(2);
    let zip = module_zip(dir.path(), "hello", "1.2.3");
    let zip_arg = zip.to_string_lossy().into_owned();
    assert_eq!(
        on_emulator(&emulator, dir.path(), &["upload", &zip_arg]).code,
        0
    );
    let mut module = module_json(BIDI_AND_C1, "1.0.0");
    module["uid"] = json!("evil");
    emulator.add_module(module);
    emulator.put_bdb(bdb(
        7,
        BIDI_AND_C1,
        vec![bdb_module("evil", BIDI_AND_C1, "1.0.0")],
    ));
    for args in [
        vec!["modules", "list", "--json"],
        vec!["modules", "get", "evil", "--json"],
        vec!["modules", "get", "evil"],
        vec!["status", "--json"],
        vec!["artifacts", "list", "--json"],
    ] {
        let run = on_emulator(&emulator, dir.path(), &args);
        assert!(run.code <= 1, "{args:?}: {}", run.text());
        assert_terminal_safe(&run, &format!("{args:?}"));
        let value: Value = serde_json::from_str(&run.stdout).expect("JSON");
        if args[0] == "artifacts" {
            continue;
        }
        assert!(
            value
                .to_string()
                .contains(&serde_json::to_string(BIDI_AND_C1).unwrap()[1..10]),
            "{args:?}: the text itself is kept: {}",
            run.stdout
        );
    }
    for args in [vec!["modules", "list"], vec!["status"]] {
        let run = on_emulator(&emulator, dir.path(), &args);
        assert_terminal_safe(&run, &format!("{args:?}"));
        assert!(run.stdout.contains("evil\\u{202e}dlrow"), "{}", run.stdout);
    }
}

#[test]
fn upgrade_and_artifact_outputs_escape_server_text_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::plausible(2);
    cluster.bdbs[0]["name"] = json!(BIDI_AND_C1);
    cluster.action_polls = vec![
        json!({"action_uid": "a1", "status": format!("queued{BIDI_AND_C1}")}),
        json!({"action_uid": "a1", "status": "completed"}),
    ];
    cluster.artifacts[1]
        .as_array_mut()
        .unwrap()
        .push(json!({"module_name": BIDI_AND_C1, "version": 10203}));
    let server = start_cluster(cluster, 400);
    for args in [
        vec!["upgrade", "--db", "1", "--module", "hello", "--dry-run"],
        vec![
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--dry-run",
            "--json",
        ],
        vec!["artifacts", "list"],
        vec!["artifacts", "list", "--json"],
    ] {
        let run = on_server(&server, dir.path(), &args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.text());
        assert_terminal_safe(&run, &format!("{args:?}"));
    }
    // Executed (this moves the served database to the new version).
    let run = on_server(
        &server,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--poll-interval",
            "0.05",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert_terminal_safe(&run, "upgrade --json");
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        value["steps"][0]["details"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("action queued{BIDI_AND_C1}")),
        "{value}"
    );
}

#[test]
fn the_upgrade_tables_action_line_escapes_the_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::plausible(1);
    cluster.action_polls = vec![
        json!({"action_uid": "a1", "status": format!("queued{BIDI_AND_C1}")}),
        json!({"action_uid": "a1", "status": "completed"}),
    ];
    let server = start_cluster(cluster, 400);
    let run = on_server(
        &server,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--poll-interval",
            "0.05",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    assert_terminal_safe(&run, "upgrade");
    assert!(
        run.stdout
            .contains("action queuedevil\\u{202e}dlrow\\u{2066}x\\u{9b}31m\\x1b[2K → completed"),
        "{}",
        run.stdout
    );
}

// ---- 5. read back before saying done ----

const ARTIFACTS: &str = "/v2/local/modules/user-defined/artifacts";

#[test]
fn an_artifact_delete_answered_200_with_an_error_body_is_a_failure() {
    let (emulator, dir) = start(2);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let zip_arg = zip.to_string_lossy().into_owned();
    assert_eq!(
        on_emulator(&emulator, dir.path(), &["upload", &zip_arg]).code,
        0
    );
    emulator.set_fault_matching(
        2,
        RequestMatch::new("DELETE", ARTIFACTS),
        Fault::OkWithErrorBody { times: 10 },
    );
    let run = on_emulator(
        &emulator,
        dir.path(),
        &["artifacts", "delete", "Hello", "1.2.3"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("node 2 "))
        .unwrap_or_default();
    assert!(row.contains("FAILED"), "{}", run.stdout);
    let why = run
        .stdout
        .lines()
        .find(|l| l.starts_with("  node 2: "))
        .unwrap_or_default();
    assert!(why.contains("still holds Hello 1.2.3"), "{}", run.stdout);
    assert!(why.contains("internal_error"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("resume with:\n  rmpack artifacts delete Hello 1.2.3 --nodes 2 --cluster"),
        "{}",
        run.stdout
    );
    assert!(emulator.artifacts(1).is_empty());
    assert_eq!(emulator.artifacts(2).len(), 1);
}

#[test]
fn a_module_delete_answered_200_with_an_error_body_is_a_failure() {
    let (emulator, dir) = start(1);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let zip_arg = zip.to_string_lossy().into_owned();
    assert_eq!(
        on_emulator(&emulator, dir.path(), &["upload", &zip_arg]).code,
        0
    );
    let uid = emulator.user_defined_modules()[0]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    emulator.set_fault_matching(
        1,
        RequestMatch::new("DELETE", "/v2/modules/user-defined/"),
        Fault::OkWithErrorBody { times: 1 },
    );
    let run = on_emulator(
        &emulator,
        dir.path(),
        &["modules", "delete", &uid, "--user-defined", "--json"],
    );
    assert_eq!(run.code, 1, "{}", run.text());
    let outcome: Value = serde_json::from_str(&run.stdout).expect("--json prints only JSON");
    let step = &outcome["steps"][0];
    assert_eq!(step["state"], "failed", "{outcome}");
    assert!(
        step["error"].as_str().is_some_and(
            |e| e.contains("200 with the error internal_error") && e.contains("still lists it")
        ),
        "{outcome}"
    );
    assert_eq!(outcome["complete"], false, "{outcome}");
    assert_eq!(emulator.user_defined_modules().len(), 1);

    // A bundled module, deleted through DELETE /v2/modules/UID.
    let mut bundled = module_json("bun", "1.0.0");
    bundled["uid"] = json!("bun");
    emulator.add_module(bundled);
    emulator.set_fault_matching(
        1,
        RequestMatch::new("DELETE", "/v2/modules/bun"),
        Fault::OkWithErrorBody { times: 1 },
    );
    let run = on_emulator(&emulator, dir.path(), &["modules", "delete", "bun"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stdout.contains("still lists it"), "{}", run.stdout);
    assert!(!run.stdout.contains("complete"), "{}", run.stdout);
    // Without the fault, it goes.
    let run = on_emulator(&emulator, dir.path(), &["modules", "delete", "bun"]);
    assert_eq!(run.code, 0, "{}", run.text());
    assert!(!emulator.modules().iter().any(|m| m["uid"] == "bun"));
}

#[test]
fn a_bundled_upload_that_registers_nothing_is_a_failure() {
    let (emulator, dir) = start(2);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let zip_arg = zip.to_string_lossy().into_owned();
    emulator.set_fault_matching(
        1,
        RequestMatch::new("POST", "/v2/modules"),
        Fault::OkWithErrorBody { times: 1 },
    );
    let run = on_emulator(&emulator, dir.path(), &["upload", &zip_arg, "--bundled"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(!run.stdout.contains("complete"), "{}", run.stdout);
    assert!(
        run.stdout.contains("does not list Hello 1.2.3"),
        "{}",
        run.stdout
    );
    assert!(emulator.modules().is_empty());
    // The cluster answering with a uid and listing the module: registered under that uid.
    let run = on_emulator(&emulator, dir.path(), &["upload", &zip_arg, "--bundled"]);
    assert_eq!(run.code, 0, "{}", run.text());
    let uid = emulator.modules()[0]["uid"].as_str().unwrap().to_string();
    assert!(
        run.stdout.contains(&format!("module uid {uid}")),
        "{}",
        run.stdout
    );
}

#[test]
fn modules_get_of_no_module_is_an_error() {
    let (emulator, dir) = start(1);
    let mut module = module_json("hello", "1.0.0");
    module["uid"] = json!("m1");
    emulator.add_module(module);
    emulator.set_fault_matching(
        1,
        RequestMatch::new("GET", "/v1/modules/"),
        Fault::OkWithErrorBody { times: 1 },
    );
    let run = on_emulator(&emulator, dir.path(), &["modules", "get", "m1"]);
    assert_eq!(run.code, 1, "{}", run.text());
    assert!(run.stderr.contains("without a module"), "{}", run.text());
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let run = on_emulator(&emulator, dir.path(), &["modules", "get", "m1"]);
    assert_eq!(run.code, 0, "{}", run.text());

    for body in ["null", "", "{}", "[]"] {
        let server = HostileServer::start(1, 10, move |_| Answer::raw(200, body));
        let run = on_server(&server, dir.path(), &["modules", "get", "m1"]);
        assert_eq!(run.code, 1, "{body:?}: {}", run.text());
        assert!(!run.stdout.contains("null"), "{body:?}: {}", run.stdout);
    }
}

// ---- 6. duplicate nodes ----

#[test]
fn two_nodes_at_one_address_are_refused_before_anything_is_sent() {
    let (emulator, dir) = start(3);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let zip_arg = zip.to_string_lossy().into_owned();
    for address in [
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{}", emulator.port()),
    ] {
        emulator.set_node_reported_addr(3, &address);
        emulator.clear_requests();
        for args in [
            vec!["upload", zip_arg.as_str()],
            vec!["artifacts", "list"],
            vec!["status"],
        ] {
            let run = on_emulator(&emulator, dir.path(), &args);
            assert_eq!(run.code, 1, "{args:?}: {}", run.text());
            assert!(
                run.stderr.contains("nodes 1 and 3 have the same address"),
                "{}",
                run.stderr
            );
        }
        assert!(emulator.only_gets());
        assert!(
            emulator
                .requests()
                .iter()
                .all(|r| !r.path.starts_with(ARTIFACTS)),
            "{:?}",
            emulator.requests()
        );
    }
}

#[test]
fn two_nodes_with_one_uid_are_refused_before_anything_is_sent() {
    let (emulator, dir) = start(3);
    let zip = module_zip(dir.path(), "Hello", "1.2.3");
    let zip_arg = zip.to_string_lossy().into_owned();
    emulator.set_node_reported_uid(3, json!("1"));
    for args in [
        vec!["upload", zip_arg.as_str()],
        vec!["artifacts", "list"],
        vec!["artifacts", "delete", "Hello", "1.2.3"],
        vec!["status"],
    ] {
        let run = on_emulator(&emulator, dir.path(), &args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.text());
        assert!(
            run.stderr.contains("two nodes have the uid `1`"),
            "{}",
            run.stderr
        );
    }
    assert!(emulator.only_gets());
    assert!(emulator
        .requests()
        .iter()
        .all(|r| !r.path.starts_with(ARTIFACTS)));
}

// ---- what the scrubbing must leave alone ----

#[test]
fn long_module_arguments_go_back_to_the_cluster_unchanged() {
    let (emulator, dir) = start(1);
    for version in ["1.2.2", "1.2.3"] {
        let mut module = module_json("hello", version);
        module["uid"] = json!(format!("hello-{version}"));
        emulator.add_module(module);
    }
    let arguments = format!("{} LAST", "ARG 1 ".repeat(200));
    let mut database = bdb(1, "db1", vec![bdb_module("hello-1.2.2", "hello", "1.2.2")]);
    database["module_list"][0]["module_args"] = json!(arguments);
    emulator.put_bdb(database);
    let run = on_emulator(
        &emulator,
        dir.path(),
        &[
            "upgrade",
            "--db",
            "1",
            "--module",
            "hello",
            "--poll-interval",
            "0.05",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.text());
    let post = emulator
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/v1/bdbs/1/upgrade")
        .expect("the upgrade request");
    let body = post.json_body.expect("a JSON body");
    assert_eq!(body["modules"][0]["new_module_args"], json!(arguments));
}
