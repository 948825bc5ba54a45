//! RAMP's `ramp.yml`, packed by rmpack, compared field by field with the zip RAMP 2.5.19 wrote
//! from the same manifest (`testdata/ramp/plain-full.ramp.zip`, made by `scripts/make-ramp-zip`;
//! committed, so this test needs no RAMP).

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Map, Value};

fn rmpack_pack(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .arg("pack")
        .args(args)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("RMPACK_REDIS_SERVER")
        .output()
        .expect("run rmpack")
}

fn entry(zip_path: &Path, name: &str) -> Vec<u8> {
    let file = std::fs::File::open(zip_path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut bytes = Vec::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

fn object(bytes: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice(bytes).unwrap() {
        Value::Object(map) => map,
        other => panic!("module.json is not an object: {other}"),
    }
}

/// A version as text: RAMP writes what YAML read, a string or a number (`6.2`).
fn version_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("not a version: {other}"),
    }
}

fn sorted_strings(value: &Value) -> Vec<String> {
    let mut list: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    list.sort();
    list
}

/// The six command fields RAMP writes, with flags in a fixed order (RAMP keeps Redis's order,
/// rmpack sorts them). What rmpack adds beyond them (key specs, ACL categories) is left out.
fn ramp_view(command: &Value) -> Value {
    let mut flags = sorted_strings(&command["flags"]);
    flags.dedup();
    serde_json::json!({
        "command_name": command["command_name"],
        "command_arity": command["command_arity"],
        "flags": flags,
        "first_key": command["first_key"],
        "last_key": command["last_key"],
        "step": command["step"],
    })
}

fn commands_view(value: &Value) -> Vec<Value> {
    let mut list: Vec<Value> = value.as_array().unwrap().iter().map(ramp_view).collect();
    list.sort_by(|a, b| a["command_name"].as_str().cmp(&b["command_name"].as_str()));
    list
}

#[test]
fn every_field_of_a_ramp_manifest_lands_in_module_json_as_ramp_writes_it() {
    let manifest = common::manifest("ramp-full.yml");
    let ramp_zip = common::testdata().join("ramp/plain-full.ramp.zip");
    let ramp = object(&entry(&ramp_zip, "module.json"));

    let work = tempfile::tempdir().unwrap();
    // Under the name RAMP packed it as, so module_file compares too.
    let plain = work.path().join("plain.so");
    std::fs::copy(common::fixture("plain"), &plain).unwrap();
    let out = work.path().join("plain.zip");
    let output = rmpack_pack(
        work.path(),
        &[
            plain.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            // Its dependency URL is not served anywhere: record it as RAMP does.
            "--keep-url-dependencies",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "pack failed: {stderr}");
    assert!(
        !stderr
            .lines()
            .any(|line| line.contains("warning") && !line.contains("--keep-url-dependencies")),
        "every key of the manifest is one rmpack reads, none is suspicious: {stderr}"
    );
    let ours = object(&entry(&out, "module.json"));

    // Every key the manifest gives.
    let given: Value = serde_yaml::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let given = given.as_object().unwrap();
    assert!(
        given.len() >= 20,
        "the fixture gives the keys real files give"
    );
    for key in given.keys() {
        let (theirs, mine) = (&ramp[key], &ours[key]);
        match key.as_str() {
            // RAMP copies the list as given; RS reads a set: trimmed, each name once.
            "capabilities" => {
                let expected: BTreeSet<String> = theirs
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().trim().to_string())
                    .collect();
                assert!(
                    theirs.as_array().unwrap().len() > expected.len(),
                    "the fixture has duplicates and blanks"
                );
                let expected: Vec<String> = expected.into_iter().collect();
                assert_eq!(sorted_strings(mine), expected, "capabilities");
                assert_eq!(mine.as_array().unwrap().len(), expected.len());
            }
            // A version YAML read as a number is written as its text.
            "min_redis_version" | "min_redis_pack_version" | "compatible_redis_version" => {
                assert!(mine.is_string(), "{key} is a string: {mine}");
                assert_eq!(mine.as_str().unwrap(), version_text(theirs), "{key}");
            }
            // RAMP copies the list as given; rmpack writes each platform as RAMP names the host
            // it runs on and RS names a node (distro id + major version), sorted.
            "operating_systems" => {
                let platform = |name: &String| {
                    rmpack::manifest::OsNick::parse(name, false)
                        .unwrap()
                        .to_string()
                };
                let mut expected: Vec<String> =
                    sorted_strings(theirs).iter().map(platform).collect();
                expected.sort();
                assert_eq!(sorted_strings(mine), expected, "{key}");
                assert!(sorted_strings(theirs).contains(&"ubuntu22.04".to_string()));
                assert!(sorted_strings(mine).contains(&"ubuntu22".to_string()));
            }
            // Lists whose order carries no meaning: rmpack sorts them.
            "exclude_commands" => {
                assert_eq!(sorted_strings(mine), sorted_strings(theirs), "{key}");
            }
            "overide_command" | "add_command" => {
                assert_eq!(commands_view(mine), commands_view(theirs), "{key}");
            }
            _ => assert_eq!(mine, theirs, "`{key}` as RAMP writes it"),
        }
    }
    assert_eq!(ours["config_command"], "FT.CONFIG SET");
    assert_eq!(
        ours["description"], "High performance plain commands (with clustering) ",
        "strings as given"
    );
    assert_eq!(ours["min_redis_pack_version"], "6.2");
    assert_eq!(ours["command_line_args"], "PARTITIONS  AUTO");

    // The commands: RAMP's list, except that RAMP matches exclude_commands exactly and so kept
    // `plain.mget` for `PLAIN.MGET`; Redis command names are case-insensitive, and so is rmpack.
    let excluded: Vec<String> = sorted_strings(&ramp["exclude_commands"]);
    let mut expected: Vec<Value> = commands_view(&ramp["commands"])
        .into_iter()
        .filter(|c| {
            let name = c["command_name"].as_str().unwrap();
            !excluded.iter().any(|e| e.eq_ignore_ascii_case(name))
        })
        .collect();
    expected.dedup();
    assert!(
        ramp["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["command_name"] == "plain.mget"),
        "RAMP's exact match kept plain.mget"
    );
    assert_eq!(commands_view(&ours["commands"]), expected, "commands");

    // What RAMP derives rather than copies.
    for key in [
        "module_name",
        "module_file",
        "semantic_version",
        "os",
        "architecture",
    ] {
        assert_eq!(ours[key], ramp[key], "{key}");
    }
    assert_eq!(ours["version"], 10203, "an integer");
    assert_eq!(ramp["version"].as_f64(), Some(10203.0), "RAMP's float");
    assert_eq!(ours["optional-dependencies"], ramp["optional-dependencies"]);
    assert_eq!(ours["ramp_format_version"], ramp["ramp_format_version"]);
    // Each sha256 is that of the .so in its own zip (the two builds differ in debug info).
    let so_sha = |zip: &Path, map: &Map<String, Value>| {
        use sha2::Digest;
        let name = map["module_file"].as_str().unwrap();
        hex::encode(sha2::Sha256::digest(entry(zip, name)))
    };
    assert_eq!(ours["sha256"], so_sha(&out, &ours));
    assert_eq!(ramp["sha256"], so_sha(&ramp_zip, &ramp));

    // Nothing RAMP writes is missing but its own build-tool field.
    let missing: Vec<&String> = ramp.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert_eq!(
        missing,
        ["speedb_git_sha"],
        "keys RAMP writes that rmpack does not"
    );
}

#[test]
fn commands_added_by_the_manifest_alone_need_no_warning() {
    let plain = common::fixture("plain");
    let work = tempfile::tempdir().unwrap();
    let manifest = work.path().join("ramp.yml");
    let head = "module_name: plain\nversion: 10203\n";
    let add = "add_command:\n    - {\"command_name\": \"plain.get\", \"command_arity\": 2, \"flags\": [\"readonly\"], \"first_key\": 1, \"last_key\": 1, \"step\": 1}\n";
    let run = |text: &str| {
        std::fs::write(&manifest, text).unwrap();
        let out = work.path().join("out.zip");
        let output = rmpack_pack(
            work.path(),
            &[
                plain.to_str().unwrap(),
                "--no-discover",
                "--manifest",
                manifest.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        (object(&entry(&out, "module.json")), stderr)
    };
    let (json, stderr) = run(&format!("{head}{add}"));
    assert_eq!(json["commands"][0]["command_name"], "plain.get");
    assert!(!stderr.contains("no commands"), "{stderr}");
    // Without the addition the module.json lists no command, and the warning says so.
    let (json, stderr) = run(head);
    assert_eq!(json["commands"], serde_json::json!([]));
    assert!(
        stderr.contains("no commands were given or discovered"),
        "{stderr}"
    );
}
