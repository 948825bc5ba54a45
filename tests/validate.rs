//! `rmpack validate`: every rule has a case that triggers it (asserting rule id and RS error code)
//! and passes on a good module; plus platform checks on real fixtures, RAMP-made zips, the JSON
//! schema, a golden human rendering and the CLI's exit codes.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use rmpack::manifest::{Arch, DottedVersion, ModuleVersion, OsNick};
use rmpack::validate::{
    check_path, rules, CheckOptions, ClusterFacts, NodeFacts, Report, Severity, Target,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn rmpack() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmpack"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Everything that goes into a test zip; each case edits a good one.
#[derive(Clone)]
struct Spec {
    json: Value,
    raw_json: Option<Vec<u8>>,
    so_name: String,
    so: Vec<u8>,
    so_mode: Option<u32>,
    extra: Vec<(String, Vec<u8>)>,
    with_json: bool,
    with_so: bool,
}

impl Spec {
    /// A good zip of fixture `name` (module.json as `rmpack pack` would write it).
    fn of(fixture: &Path, module_name: &str, version: u64) -> Spec {
        let so = std::fs::read(fixture).unwrap();
        let arch = if fixture.to_string_lossy().contains("aarch64") {
            "aarch64"
        } else {
            "x86_64"
        };
        let so_name = format!("{module_name}.so");
        let semantic = format!(
            "{}.{}.{}",
            version / 10000,
            (version % 10000) / 100,
            version % 100
        );
        let json = json!({
            "module_name": module_name,
            "module_file": so_name,
            "version": version,
            "semantic_version": semantic,
            "display_name": module_name,
            "commands": [
                {"command_name": format!("{module_name}.get"), "command_arity": 2, "flags": ["readonly"], "first_key": 1, "last_key": 1, "step": 1},
                {"command_name": format!("{module_name}.ping"), "command_arity": 1, "flags": ["readonly"], "first_key": 0, "last_key": 0, "step": 0}
            ],
            "command_line_args": "",
            "capabilities": ["types", "persistence_rdb"],
            "min_redis_version": "6.0",
            "min_redis_pack_version": "6.2.4",
            "compatible_redis_version": "7.4",
            "architecture": arch,
            "os": "Linux",
            "operating_systems": [],
            "sha256": sha256_hex(&so),
            "dependencies": {},
            "optional-dependencies": {},
            "ramp_format_version": 1
        });
        Spec {
            json,
            raw_json: None,
            so_name,
            so,
            so_mode: Some(0o755),
            extra: Vec::new(),
            with_json: true,
            with_so: true,
        }
    }

    fn plain() -> Spec {
        Spec::of(&common::fixture("plain"), "plain", 10203)
    }

    fn set(mut self, key: &str, value: Value) -> Spec {
        self.json[key] = value;
        self
    }

    fn remove(mut self, key: &str) -> Spec {
        self.json.as_object_mut().unwrap().remove(key);
        self
    }

    fn with_so_bytes(mut self, bytes: Vec<u8>) -> Spec {
        self.json["sha256"] = json!(sha256_hex(&bytes));
        self.so = bytes;
        self
    }

    fn write(&self, dir: &Path, file_name: &str) -> PathBuf {
        let path = dir.join(file_name);
        let file = std::fs::File::create(&path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let options = |mode: Option<u32>| {
            let o = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            match mode {
                Some(m) => o.unix_permissions(m),
                None => o,
            }
        };
        if self.with_json {
            zip.start_file("module.json", options(Some(0o644))).unwrap();
            let bytes = self
                .raw_json
                .clone()
                .unwrap_or_else(|| serde_json::to_vec_pretty(&self.json).unwrap());
            zip.write_all(&bytes).unwrap();
        }
        if self.with_so {
            zip.start_file(&self.so_name, options(self.so_mode))
                .unwrap();
            zip.write_all(&self.so).unwrap();
        }
        for (name, bytes) in &self.extra {
            zip.start_file(name, options(Some(0o644))).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        path
    }
}

fn target() -> Target {
    Target::default()
}

fn os(names: &[&str]) -> Target {
    Target {
        operating_systems: names.iter().map(|n| n.parse::<OsNick>().unwrap()).collect(),
        ..Target::default()
    }
}

fn version(text: &str) -> DottedVersion {
    text.parse().unwrap()
}

fn node_facts(uid: &str, os: &str, arch: Arch) -> NodeFacts {
    NodeFacts {
        uid: uid.into(),
        os: Some(OsNick::parse(os, true).unwrap()),
        os_reported: os.into(),
        arch: Some(arch),
    }
}

fn check(path: &Path, target: &Target) -> Report {
    check_path(path, target, &CheckOptions::default()).unwrap()
}

fn check_spec(spec: &Spec, target: &Target) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let path = spec.write(dir.path(), "module.zip");
    check(&path, target)
}

fn errors(report: &Report) -> Vec<String> {
    report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}: {}", d.rule, d.message))
        .collect()
}

/// Asserts the report has a finding of `rule` predicting `code`, and returns its message.
fn assert_finding(report: &Report, rule: &str, code: Option<&str>) -> String {
    let found: Vec<_> = report.of_rule(rule).collect();
    assert!(
        !found.is_empty(),
        "expected a `{rule}` finding, got: {:#?}",
        report.diagnostics
    );
    assert_eq!(found[0].code, code, "RS error code of {rule}");
    let catalogued = rules::ALL.iter().find(|r| r.id == rule).unwrap();
    assert_eq!(catalogued.code, code, "catalogue entry of {rule}");
    found[0].message.clone()
}

/// One rule: a spec and target that trigger it; the good plain zip with the same target must not.
struct Case {
    rule: &'static str,
    code: Option<&'static str>,
    spec: Spec,
    target: Target,
    /// A module and target that satisfy the rule: the good module, with the same target unless
    /// the target itself is what triggers the rule.
    passing: Option<(Spec, Target)>,
}

fn case(rule: &'static str, code: Option<&'static str>, spec: Spec, target: Target) -> Case {
    Case {
        rule,
        code,
        spec,
        target,
        passing: None,
    }
}

impl Case {
    fn passes_with(mut self, spec: Spec, target: Target) -> Case {
        self.passing = Some((spec, target));
        self
    }
}

#[test]
fn every_rule_triggers_on_its_case_and_passes_on_a_good_module() {
    let good = Spec::plain();
    let plain_so = good.so.clone();
    let notmodule = std::fs::read(common::fixture("notmodule")).unwrap();
    let aarch64 = std::fs::read(common::prebuilt_aarch64()).unwrap();
    let mut exe_bytes = plain_so.clone();
    exe_bytes[16] = 2; // e_type ET_EXEC
    let mut elf32 = plain_so.clone();
    elf32[4] = 1; // EI_CLASS ELFCLASS32 (headers no longer fit: unreadable or not 64-bit)
    let mut freebsd = plain_so.clone();
    freebsd[7] = 9; // EI_OSABI FreeBSD
    let mut arm32 = plain_so.clone();
    arm32[18] = 40; // e_machine EM_ARM
    arm32[19] = 0;
    let db = |config: Value| Target {
        database: Some(config),
        ..Target::default()
    };
    let cluster = |facts: ClusterFacts| Target {
        cluster: Some(facts),
        ..Target::default()
    };
    let tgz = b"not really a tarball".to_vec();
    let all_caps = good.clone().set(
        "capabilities",
        json!(rmpack::manifest::Capability::ALL
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()),
    );

    let cases = vec![
        case("zip-module-json-missing", Some("invalid_module"), Spec { with_json: false, ..good.clone() }, target()),
        case("zip-module-missing", Some("invalid_module"), Spec { with_so: false, ..good.clone() }, target()),
        case("zip-several-modules", Some("invalid_number_of_files"), Spec { extra: vec![("other.so".into(), plain_so.clone())], ..good.clone() }, target()),
        case("zip-unexpected-entry", Some("invalid_number_of_files"), Spec { extra: vec![("README.md".into(), b"hi".to_vec())], ..good.clone() }, target()),
        case("zip-unexpected-entry", Some("invalid_number_of_files"), Spec { extra: vec![("lib/module.json".into(), b"{}".to_vec())], ..good.clone() }, target()),
        case("zip-duplicate", Some("invalid_module"), Spec { extra: vec![("MODULE.JSON".into(), b"{}".to_vec())], ..good.clone() }, target()),
        case("zip-module-not-executable", Some("invalid_module"), Spec { so_mode: Some(0o644), ..good.clone() }, target()),
        case("zip-module-file-mismatch", Some("invalid_module"), good.clone().set("module_file", json!("other.so")), target()),
        case("zip-module-sha256-mismatch", Some("invalid_module"), good.clone().set("sha256", json!("0".repeat(64))), target()),
        case("zip-dependency-sha256-mismatch", Some("invalid_dependency_data"), Spec { extra: vec![("deps/gears.tgz".into(), tgz.clone())], ..good.clone().set("dependencies", json!({"gears": {"sha256": "1".repeat(64)}})) }, target()),
        case("zip-dependency-missing", Some("invalid_dependency_data"), good.clone().set("dependencies", json!({"gears": {"sha256": "1".repeat(64)}})), target()),
        case("zip-dependency-missing", Some("invalid_dependency_data"), good.clone().set("dependencies", json!({"gears": {"url": "https://x.example/g.tgz", "sha256": "1".repeat(64)}})), target()),
        case("zip-optional-dependency-missing", None, good.clone().set("optional-dependencies", json!({"gears": {"url": "https://x.example/g.tgz", "sha256": "1".repeat(64)}})), target()),
        case("zip-dependency-unlisted", None, Spec { extra: vec![("deps/gears.tgz".into(), tgz.clone())], ..good.clone() }, target()),
        case("json-syntax", Some("invalid_module"), Spec { raw_json: Some(b"{\"module_name\": ".to_vec()), ..good.clone() }, target()),
        case("json-syntax", Some("invalid_module"), Spec { raw_json: Some(b"[1, 2]".to_vec()), ..good.clone() }, target()),
        case("json-missing-field", Some("invalid_module"), good.clone().remove("display_name"), target()),
        case("json-missing-field", Some("invalid_module"), good.clone().remove("command_line_args"), target()),
        case("json-missing-recommended", None, good.clone().remove("module_file"), target()),
        case("json-field-type", Some("invalid_module"), good.clone().set("capabilities", json!("types")), target()),
        case("json-field-type", Some("invalid_module"), good.clone().set("command_line_args", Value::Null), target()),
        case("json-module-name", Some("invalid_module"), good.clone().set("module_name", json!("my module")), target()),
        case("json-version-invalid", Some("invalid_module"), good.clone().set("version", json!(102.5)), target()),
        case("json-version-invalid", Some("invalid_module"), good.clone().set("version", json!("10203")), target()),
        case("json-version-float", None, good.clone().set("version", json!(10203.0)), target()),
        case("json-version-mismatch", Some("invalid_module"), good.clone().set("semantic_version", json!("1.2.4")), target()),
        case("json-version-syntax", Some("invalid_module"), good.clone().set("min_redis_version", json!("seven")), target()),
        case("json-version-syntax", Some("invalid_module"), good.clone().set("semantic_version", json!("1.2")), target()),
        case("json-versions-inconsistent", None, good.clone().set("min_redis_version", json!("7.6")), target()),
        case("json-capability-unknown", Some("invalid_module"), good.clone().set("capabilities", json!(["types", "multi_exec"])), target()),
        case("json-os-not-linux", Some("os_not_supported"), good.clone().set("os", json!("Windows")), target()),
        case("json-os-invalid", Some("module_os_list_invalid"), good.clone().set("operating_systems", json!(["rhel9", "ubuntu"])), target()),
        case("json-os-invalid", Some("module_os_list_invalid"), good.clone().set("os_list", json!(["22.04"])), target()),
        case("json-os-unknown", None, good.clone().set("operating_systems", json!(["rhel9", "windows11"])), target())
            .passes_with(good.clone().set("operating_systems", json!(["rhel9", "ubuntu22", "ubuntu22.04", "jammy", "rocky8", "amzn2023"])), target()),
        case("json-architecture-invalid", Some("invalid_module"), good.clone().set("architecture", json!("armv7l")), target()),
        case("json-sha256-format", Some("invalid_module"), good.clone().set("sha256", json!("abc")), target()),
        case("json-dependency-invalid", Some("invalid_dependency_data"), good.clone().set("dependencies", json!({"gears": {"url": "ftp://x.example/g.tgz", "sha256": "1".repeat(64)}})), target()),
        case("json-dependency-invalid", Some("invalid_dependency_data"), good.clone().set("dependencies", json!({"gears": {"url": "https://x.example/g.tgz", "sha256": "zz"}})), target()),
        case("json-command-invalid", Some("invalid_module"), good.clone().set("commands", json!([{"command_arity": 2}])), target()),
        case("json-command-invalid", Some("invalid_module"), good.clone().set("commands", json!([{"command_name": "a.b", "first_key": "one"}])), target()),
        case("json-command-arity", None, good.clone().set("commands", json!([{"command_name": "a.b", "command_arity": 0, "first_key": 0, "last_key": 0, "step": 0}])), target()),
        case("json-command-keys", None, good.clone().set("commands", json!([{"command_name": "a.b", "command_arity": 3, "first_key": 2, "last_key": 1, "step": 1}])), target()),
        case("json-command-duplicate", None, good.clone().set("commands", json!([{"command_name": "a.b", "command_arity": 1}, {"command_name": "A.B", "command_arity": 1}])), target()),
        case("json-commands-empty", None, good.clone().set("commands", json!([])), target()),
        case("elf-unreadable", Some("invalid_module"), good.clone().with_so_bytes(b"#!/bin/sh\necho not a module\n".to_vec()), target()),
        case("elf-unreadable", Some("invalid_module"), good.clone().with_so_bytes(plain_so[..200].to_vec()), target()),
        case("elf-not-shared-object", Some("invalid_module"), good.clone().with_so_bytes(exe_bytes), target()),
        case("elf-architecture-unsupported", Some("os_not_supported"), good.clone().with_so_bytes(arm32), target()),
        case("elf-architecture-mismatch", Some("invalid_module"), good.clone().with_so_bytes(aarch64.clone()), target()),
        case("target-architecture-mismatch", Some("os_not_supported"), good.clone(), Target { architectures: vec![Arch::Aarch64], ..Target::default() })
            .passes_with(good.clone(), Target { architectures: vec![Arch::X86_64], ..Target::default() }),
        case("elf-os-abi", Some("os_not_supported"), good.clone().with_so_bytes(freebsd), target()),
        case("elf-no-onload", Some("invalid_module"), good.clone().with_so_bytes(notmodule), target()),
        case("target-os-not-listed", Some("os_not_supported"), good.clone().set("operating_systems", json!(["rhel9"])), os(&["ubuntu22.04"]))
            .passes_with(good.clone().set("operating_systems", json!(["ubuntu22"])), os(&["ubuntu22.04"])),
        case("target-os-not-listed", Some("os_not_supported"), good.clone().set("operating_systems", json!(["ubuntu20"])), os(&["jammy"]))
            .passes_with(good.clone().set("operating_systems", json!(["ubuntu22.04"])), os(&["ubuntu22"])),
        case("redis-version-too-old", Some("redis_incompatible_version"), good.clone().set("min_redis_version", json!("7.6")), Target { redis_version: Some(version("7.4.2")), ..Target::default() }),
        case("compatible-redis-version-missing", None, good.clone().remove("compatible_redis_version"), Target::default()),
        case("compatible-redis-version-impossible", None, good.clone().set("compatible_redis_version", json!("99.99")), target()),
        case("compatible-redis-version-impossible", None, good.clone().set("compatible_redis_version", json!("7.1")), target()),
        case("compatible-redis-version-unreleased", None, good.clone().set("compatible_redis_version", json!("8.8")), target()),
        case("cluster-node-build-missing", Some("os_not_supported"), good.clone().set("operating_systems", json!(["rhel8"])), cluster(ClusterFacts { nodes: vec![node_facts("3", "rhel9", Arch::X86_64)], ..ClusterFacts::default() }))
            .passes_with(good.clone().set("operating_systems", json!(["rhel8", "rocky9"])), cluster(ClusterFacts { nodes: vec![node_facts("3", "rhel9", Arch::X86_64)], ..ClusterFacts::default() })),
        case("cluster-node-build-missing", Some("os_not_supported"), good.clone(), cluster(ClusterFacts { nodes: vec![node_facts("2", "ubuntu22", Arch::Aarch64)], ..ClusterFacts::default() }))
            .passes_with(good.clone(), cluster(ClusterFacts { nodes: vec![node_facts("2", "ubuntu22", Arch::X86_64)], ..ClusterFacts::default() })),
        case("cluster-newer-version-registered", None, good.clone(), cluster(ClusterFacts { modules: vec![("plain".into(), ModuleVersion(10300))], ..ClusterFacts::default() }))
            .passes_with(good.clone(), cluster(ClusterFacts { modules: vec![("plain".into(), ModuleVersion(10100))], ..ClusterFacts::default() })),
        case("redis-version-not-compatible", Some("upgrade_bdb_failed"), good.clone(), Target { redis_version: Some(version("7.2.4")), ..Target::default() })
            .passes_with(good.clone(), Target { redis_version: Some(version("7.4.2")), ..Target::default() }),
        case("redis-version-not-compatible", Some("upgrade_bdb_failed"), good.clone(), Target { redis_version: Some(version("8.4")), ..Target::default() })
            .passes_with(good.clone().set("compatible_redis_version", json!("8.4")), Target { redis_version: Some(version("8.4.1")), ..Target::default() }),
        // Without compatible_redis_version: min_redis_version's major version decides.
        case("redis-version-not-compatible", Some("upgrade_bdb_failed"), good.clone().remove("compatible_redis_version"), Target { redis_version: Some(version("7.4")), ..Target::default() })
            .passes_with(good.clone().remove("compatible_redis_version"), Target { redis_version: Some(version("6.2.14")), ..Target::default() }),
        case("rs-version-too-old", Some("min_redis_pack_version"), good.clone().set("min_redis_pack_version", json!("7.8.2")), Target { rs_version: Some(version("7.4.2-54")), ..Target::default() }),
        case("rs-version-too-old-for-upgrade", Some("redis_pack_incompatible_version"), good.clone().set("min_redis_pack_version", json!("7.8.2")), Target { rs_version: Some(version("7.4.2")), current_version: Some(ModuleVersion(10000)), ..Target::default() }),
        case("capability-missing", Some("unsupported_module_capabilities"), good.clone(), db(json!({"name": "db1", "data_persistence": "aof"})))
            .passes_with(all_caps.clone(), db(json!({"name": "db1", "data_persistence": "aof"}))),
        case("capability-missing", Some("unsupported_module_capabilities"), good.clone(), db(json!({"crdt": true})))
            .passes_with(all_caps.clone(), db(json!({"crdt": true}))),
        case("capability-missing", Some("unsupported_module_capabilities"), good.clone(), db(json!({"sharding": true, "shards_count": 3})))
            .passes_with(all_caps.clone(), db(json!({"sharding": true, "shards_count": 3}))),
        case("capability-missing", Some("unsupported_module_capabilities"), good.clone(), db(json!({"replica_sources": [{"uri": "redis://x:1"}]})))
            .passes_with(all_caps.clone(), db(json!({"replica_sources": [{"uri": "redis://x:1"}]}))),
        case("capability-missing", Some("unsupported_module_capabilities"), good.clone(), db(json!({"eviction_policy": "allkeys-lru"})))
            .passes_with(all_caps.clone(), db(json!({"eviction_policy": "allkeys-lru"}))),
        case("capability-missing", Some("unsupported_module_capabilities"), good.clone(), db(json!({"bigstore": true})))
            .passes_with(all_caps.clone(), db(json!({"bigstore": true}))),
        case("capability-missing", Some("unsupported_module_capabilities"), good.clone(), db(json!({"sharding": true, "shard_key_regex": [{"regex": "(?<tag>.*):"}]})))
            .passes_with(all_caps.clone(), db(json!({"sharding": true, "shard_key_regex": [{"regex": "(?<tag>.*):"}]}))),
        case("upgrade-downgrade", Some("module_downgrade_unsupported"), good.clone(), Target { current_version: Some(ModuleVersion(10300)), ..Target::default() })
            .passes_with(good.clone(), Target { current_version: Some(ModuleVersion(10202)), ..Target::default() }),
        case("upgrade-same-version", Some("module_exists"), good.clone(), Target { current_version: Some(ModuleVersion(10203)), ..Target::default() })
            .passes_with(good.clone(), Target { current_version: Some(ModuleVersion(10202)), ..Target::default() }),
        case("cluster-capability-unknown", Some("unsupported_module_capabilities"), good.clone(), cluster(ClusterFacts { known_capabilities: vec!["types".into()], ..ClusterFacts::default() }))
            .passes_with(good.clone(), cluster(ClusterFacts { known_capabilities: vec!["types".into(), "persistence_rdb".into()], ..ClusterFacts::default() })),
        case("cluster-module-exists", Some("module_exists"), good.clone(), cluster(ClusterFacts { modules: vec![("plain".into(), ModuleVersion(10203))], ..ClusterFacts::default() }))
            .passes_with(good.clone(), cluster(ClusterFacts { modules: vec![("plain".into(), ModuleVersion(10202)), ("other".into(), ModuleVersion(10203))], ..ClusterFacts::default() })),
        case("cluster-upload-disabled", Some("modules_upload_disabled"), good.clone(), cluster(ClusterFacts { source: "https://127.0.0.1:9443".into(), modules_upload_allowed: Some(false), ..ClusterFacts::default() }))
            .passes_with(good.clone(), cluster(ClusterFacts { modules_upload_allowed: Some(true), ..ClusterFacts::default() })),
    ];

    let mut covered = std::collections::BTreeSet::new();
    for case in &cases {
        let report = check_spec(&case.spec, &case.target);
        assert_finding(&report, case.rule, case.code);
        let passing = match &case.passing {
            Some((spec, target)) => check_spec(spec, target),
            None => check_spec(&good, &case.target),
        };
        assert!(
            !passing.has(case.rule),
            "{} fires on the good module: {:#?}",
            case.rule,
            passing.diagnostics
        );
        covered.insert(case.rule);
    }
    // Rules whose cases live in dedicated tests below.
    for rule in [
        "zip-unsafe-name",
        "zip-link",
        "zip-damaged",
        "zip-too-large",
        "zip-module-mode-unknown",
        "elf-not-64-bit",
        "elf-glibc-too-new",
        "elf-glibcxx-too-new",
        "elf-openssl-too-new",
        "elf-library-missing",
        "elf-library-unknown",
        "target-os-unknown",
        // tests/hostile.rs: one hostile tarball per rule, refused by validate and unpack alike.
        "dependency-not-gzip",
        "dependency-damaged",
        "dependency-unsafe-path",
        "dependency-link",
        "dependency-special-file",
        "dependency-duplicate",
        "dependency-too-large",
        // The database-upgrade pre-flight runs on stored module objects, not zips; its cases
        // are the unit tests of validate::check_module_object.
        "upgrade-redis-version-not-compatible",
        "upgrade-platform-missing",
        // tests/upgrade.rs and validate::upgrade's unit tests: facts of a live cluster.
        "upgrade-nodes-on-different-rs",
        "upgrade-redis-downgrade",
        "upgrade-redis-policy",
        "upgrade-moves-other-modules",
        "upgrade-node-lacks-artifact",
        // tests/delete.rs: a module version a database runs, refused before any delete.
        "cluster-module-in-use",
        // the_zip_rs_takes_at_most_500_mb, below: a sparse zip of that size.
        "zip-over-rs-limit",
        // tests/release_set.rs: the rules between the zips of a release; the node rule in
        // tests/upload.rs (a set uploaded to a cluster with a node no zip is built for).
        "set-zip-unreadable",
        "set-file-ignored",
        "set-module-names",
        "set-version-config-differs",
        "set-duplicate-build",
        "set-same-zip-twice",
        "set-file-name-mismatch",
        "set-platform-hole",
        "set-feature-set-twice",
        "set-target-not-covered",
        "set-node-build-missing",
        "set-checksum-mismatch",
        "set-checksum-missing",
        "set-checksum-unlisted",
        // tests/load.rs: `validate --load`, one fixture module per way a load fails.
        "load-missing-library",
        "load-redis-too-old",
        "load-crash",
        "load-hang",
        "load-failed",
        "load-command-not-registered",
        "load-command-not-listed",
        "load-skipped",
        "load-ok",
    ] {
        covered.insert(rule);
    }
    for rule in rules::ALL {
        assert!(covered.contains(rule.id), "no case for rule {}", rule.id);
    }
    // Silence the unused-variable lint for the byte patch kept for documentation.
    let _ = elf32;
}

#[test]
fn the_zip_rs_takes_at_most_500_mb() {
    let good = Spec::plain();
    let json = serde_json::to_vec_pretty(&good.json).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let limit = 500 * 1024 * 1024;
    let zip_of_size = |padding: u64| {
        let path = dir.path().join(format!("plain-{padding}.zip"));
        common::zip_with_sparse_padding(
            &path,
            &[("module.json", &json, 0o644), ("plain.so", &good.so, 0o755)],
            padding,
        );
        path
    };
    let over = zip_of_size(limit);
    assert!(std::fs::metadata(&over).unwrap().len() > limit);
    let report = check(&over, &target());
    let message = assert_finding(&report, "zip-over-rs-limit", None);
    assert!(message.contains("524288000"), "{message}");
    let under = zip_of_size(limit - 100_000);
    assert!(std::fs::metadata(&under).unwrap().len() <= limit);
    assert!(!check(&under, &target()).has("zip-over-rs-limit"));
}

#[test]
fn the_good_module_is_clean_against_a_full_target() {
    let spec = Spec::plain().set("operating_systems", json!(["rhel8", "rhel9"]));
    let target = Target {
        operating_systems: vec!["rhel8".parse().unwrap(), "rhel9".parse().unwrap()],
        architectures: vec![Arch::X86_64],
        redis_version: Some(version("7.4.2")),
        rs_version: Some(version("7.8.2")),
        database: Some(json!({"name": "db", "data_persistence": "snapshot", "replication": false})),
        current_version: Some(ModuleVersion(10100)),
        cluster: Some(ClusterFacts {
            known_capabilities: vec!["types".into(), "persistence_rdb".into()],
            modules: vec![("plain".into(), ModuleVersion(10100))],
            modules_upload_allowed: Some(true),
            ..ClusterFacts::default()
        }),
    };
    let report = check_spec(&spec, &target);
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
}

#[test]
fn capability_findings_name_the_feature_and_the_capability() {
    let target = Target {
        database: Some(json!({"name": "orders", "data_persistence": "aof", "replication": true})),
        ..Target::default()
    };
    let report = check_spec(&Spec::plain(), &target);
    let messages: Vec<&str> = report
        .of_rule("capability-missing")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("AOF persistence")
        && m.contains("persistence_aof")
        && m.contains("orders")));
    assert!(messages
        .iter()
        .any(|m| m.contains("replication") && m.contains("failover_migrate")));
}

#[test]
fn newglibc_fails_rhel8_naming_the_symbols_and_passes_ubuntu24_04() {
    let spec = Spec::of(&common::fixture("newglibc"), "newglibc", 10000);
    let report = check_spec(&spec, &os(&["rhel8"]));
    let message = assert_finding(&report, "elf-glibc-too-new", None);
    assert!(message.contains("GLIBC_2.36"), "{message}");
    assert!(message.contains("arc4random"), "{message}");
    assert!(
        message.contains("rhel8") && message.contains("2.28"),
        "{message}"
    );
    let report = check_spec(&spec, &os(&["ubuntu24.04"]));
    assert!(errors(&report).is_empty(), "{:#?}", report.diagnostics);
}

#[test]
fn needs_ssl11_fails_where_only_openssl3_ships_and_passes_ubuntu20_04() {
    let spec = Spec::of(&common::fixture("needs_ssl11"), "needsssl", 10100);
    for (spelling, nick) in [
        ("rhel9", "rhel9"),
        ("ubuntu22.04", "ubuntu22"),
        ("jammy", "ubuntu22"),
    ] {
        let report = check_spec(&spec, &os(&[spelling]));
        let message = assert_finding(&report, "elf-library-missing", None);
        assert!(
            message.contains("libssl.so.1.1") && message.contains(nick),
            "{message}"
        );
        assert!(
            message.contains("libssl.so.3"),
            "names what the OS ships: {message}"
        );
    }
    let report = check_spec(&spec, &os(&["ubuntu20.04"]));
    assert!(errors(&report).is_empty(), "{:#?}", report.diagnostics);
}

#[test]
fn openssl_and_libstdcxx_versions_and_unknown_libraries_are_checked() {
    // A module linked against OpenSSL 3 on a 1.1 system: the soname is shipped (amzn2 ships
    // libssl.so.1.1), but symbol versions above 1.1.1 are not.
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libssl.so.1.1");
    let map = dir.path().join("ssl.map");
    std::fs::write(
        &map,
        "OPENSSL_3.0.0 { global: OPENSSL_init_ssl; local: *; };\n",
    )
    .unwrap();
    let src = dir.path().join("ssl.c");
    std::fs::write(&src, "int OPENSSL_init_ssl(void){return 1;}\n").unwrap();
    gcc(&[
        "-shared",
        "-fPIC",
        "-Wl,-soname,libssl.so.1.1",
        &format!("-Wl,--version-script={}", map.display()),
        src.to_str().unwrap(),
        "-o",
        lib.to_str().unwrap(),
    ]);
    // And a private library the OS does not ship.
    let private = dir.path().join("libprivate.so.1");
    let psrc = dir.path().join("p.c");
    std::fs::write(&psrc, "int private_fn(void){return 2;}\n").unwrap();
    gcc(&[
        "-shared",
        "-fPIC",
        "-Wl,-soname,libprivate.so.1",
        psrc.to_str().unwrap(),
        "-o",
        private.to_str().unwrap(),
    ]);
    let module_src = dir.path().join("m.c");
    std::fs::write(
        &module_src,
        "#include \"redismodule.h\"\nint OPENSSL_init_ssl(void);\nint private_fn(void);\n\
         int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {\n\
         (void)argv; (void)argc; (void)ctx; return OPENSSL_init_ssl() + private_fn() > 100; }\n",
    )
    .unwrap();
    let module = dir.path().join("m.so");
    gcc(&[
        "-shared",
        "-fPIC",
        &format!("-I{}", common::testdata().join("include").display()),
        module_src.to_str().unwrap(),
        &format!("-L{}", dir.path().display()),
        "-l:libssl.so.1.1",
        "-l:libprivate.so.1",
        "-o",
        module.to_str().unwrap(),
    ]);
    let spec = Spec::of(&module, "m", 100);
    let report = check_spec(&spec, &os(&["amzn2"]));
    let message = assert_finding(&report, "elf-openssl-too-new", None);
    assert!(
        message.contains("OPENSSL_3.0.0") && message.contains("OPENSSL_init_ssl"),
        "{message}"
    );
    let message = assert_finding(&report, "elf-library-unknown", None);
    assert!(message.contains("libprivate.so.1"), "{message}");
    assert!(!check_spec(&Spec::plain(), &os(&["amzn2"])).has("elf-openssl-too-new"));
    // Where the soname itself is missing, that is the finding, not the symbol version.
    let report = check_spec(&spec, &os(&["rhel9"]));
    assert_finding(&report, "elf-library-missing", None);
    assert!(
        !report.has("elf-openssl-too-new"),
        "{:#?}",
        report.diagnostics
    );

    // libstdc++: a symbol version newer than rhel7's GLIBCXX_3.4.19 (std::string's C++11 ABI).
    let cxx_src = dir.path().join("c.cc");
    std::fs::write(
        &cxx_src,
        "#include <string>\n#include \"redismodule.h\"\nextern \"C\" int RedisModule_OnLoad(RedisModuleCtx *c, RedisModuleString **v, int n) {\n\
         (void)c; (void)v; std::string s(\"x\"); s += std::to_string(n); return (int)s.size() > 100; }\n",
    )
    .unwrap();
    let cxx = dir.path().join("c.so");
    let status = Command::new("g++")
        .args(["-shared", "-fPIC", "-O2"])
        .arg(format!(
            "-I{}",
            common::testdata().join("include").display()
        ))
        .arg(&cxx_src)
        .arg("-o")
        .arg(&cxx)
        .status();
    if matches!(status, Ok(s) if s.success()) {
        let report = check_spec(&Spec::of(&cxx, "c", 100), &os(&["rhel7"]));
        let message = assert_finding(&report, "elf-glibcxx-too-new", None);
        assert!(message.contains("GLIBCXX_"), "{message}");
        let report = check_spec(&Spec::of(&cxx, "c", 100), &os(&["ubuntu24.04"]));
        assert!(
            !report.has("elf-glibcxx-too-new"),
            "{:#?}",
            report.diagnostics
        );
    }
}

fn gcc(args: &[&str]) {
    let output = Command::new("gcc").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "gcc {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_unknown_target_os_is_reported_not_guessed() {
    let target = Target {
        operating_systems: vec![OsNick::parse("sles15", true).unwrap()],
        ..Target::default()
    };
    let report = check_spec(&Spec::plain(), &target);
    assert_finding(&report, "target-os-unknown", None);
    assert!(!check_spec(&Spec::plain(), &os(&["rhel9"])).has("target-os-unknown"));
}

#[test]
fn a_32_bit_module_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m32.c");
    std::fs::write(
        &src,
        "int RedisModule_OnLoad(void *c, void **v, int n){(void)c;(void)v;return n;}\n",
    )
    .unwrap();
    let so = dir.path().join("m32.so");
    let built = Command::new("gcc")
        .args(["-m32", "-shared", "-fPIC"])
        .arg(&src)
        .arg("-o")
        .arg(&so)
        .output()
        .is_ok_and(|o| o.status.success());
    let bytes = if built {
        std::fs::read(&so).unwrap()
    } else {
        // No 32-bit toolchain: the aarch64 toolchain builds 32-bit ARM only with multilib, so
        // make a minimal 32-bit ELF header by hand (class 1, little-endian, ET_DYN, EM_386).
        let mut header = vec![0u8; 52];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = 1;
        header[5] = 1;
        header[6] = 1;
        header[16] = 3;
        header[18] = 3;
        header[20] = 1;
        header[40] = 52;
        header
    };
    let report = check_spec(&Spec::plain().with_so_bytes(bytes), &target());
    assert!(
        report.has("elf-not-64-bit") || report.has("elf-unreadable"),
        "{:#?}",
        report.diagnostics
    );
    if built {
        assert_finding(&report, "elf-not-64-bit", Some("invalid_module"));
    }
    assert!(!check_spec(&Spec::plain(), &target()).has("elf-not-64-bit"));
}

/// Runs python3 with `script`, which writes a zip to the path given as argv[1].
fn python_zip(dir: &Path, name: &str, script: &str) -> PathBuf {
    let path = dir.join(name);
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 is needed for these tests");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    path
}

#[test]
fn hostile_entries_are_reported_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let so = common::fixture("plain");
    let spec = Spec::plain();
    let json_path = dir.path().join("module.json");
    std::fs::write(&json_path, serde_json::to_vec(&spec.json).unwrap()).unwrap();
    let script = |extra: &str| {
        format!(
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n\
             z.write({json:?}, 'module.json')\n\
             i = zipfile.ZipInfo('plain.so'); i.external_attr = 0o100755 << 16; i.create_system = 3\n\
             z.writestr(i, open({so:?}, 'rb').read())\n\
             {extra}\n\
             z.close()\n",
            json = json_path.display().to_string(),
            so = so.display().to_string()
        )
    };
    let cases = [
        ("zip-unsafe-name", "z.writestr('../evil.txt', b'x')"),
        ("zip-unsafe-name", "z.writestr('/etc/evil', b'x')"),
        ("zip-unsafe-name", "z.writestr('deps\\\\x.tgz', b'x')"),
        ("zip-link", "i = zipfile.ZipInfo('link.so'); i.create_system = 3; i.external_attr = 0o120777 << 16; z.writestr(i, 'plain.so')"),
        ("zip-duplicate", "import warnings; warnings.simplefilter('ignore'); z.writestr('module.json', b'{}')"),
    ];
    for (i, (rule, extra)) in cases.iter().enumerate() {
        let zip = python_zip(dir.path(), &format!("hostile{i}.zip"), &script(extra));
        let report = check(&zip, &target());
        assert_finding(&report, rule, Some("invalid_module"));
    }
    // No Unix mode recorded (as zipped on Windows): a warning, not an error.
    let zip = python_zip(
        dir.path(),
        "nomode.zip",
        &script("").replace(
            "i.create_system = 3",
            "i.create_system = 0; i.external_attr = 0",
        ),
    );
    let report = check(&zip, &target());
    assert_finding(&report, "zip-module-mode-unknown", None);
    assert!(errors(&report).is_empty(), "{:#?}", report.diagnostics);
    let clean = python_zip(dir.path(), "clean.zip", &script(""));
    let report = check(&clean, &target());
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
}

#[test]
fn a_damaged_entry_and_a_size_cap_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let zip = Spec::plain().write(dir.path(), "m.zip");
    // Flip a byte inside the deflated .so data: the CRC no longer matches.
    let mut bytes = std::fs::read(&zip).unwrap();
    let so_header = bytes.windows(8).position(|w| w == b"plain.so").unwrap();
    let target_byte = so_header + 8 + 2000;
    bytes[target_byte] ^= 0xff;
    let damaged = dir.path().join("damaged.zip");
    std::fs::write(&damaged, &bytes).unwrap();
    let report = check(&damaged, &target());
    assert_finding(&report, "zip-damaged", Some("invalid_module"));

    let options = CheckOptions {
        limits: rmpack::bundle::Limits {
            max_total_size: 4096,
            ..Default::default()
        },
    };
    let report = check_path(&zip, &target(), &options).unwrap();
    assert_finding(&report, "zip-too-large", Some("invalid_module"));
    assert!(!check(&zip, &target()).has("zip-too-large"));
}

#[test]
fn a_ramp_made_zip_validates_without_false_errors() {
    let dir = tempfile::tempdir().unwrap();
    let so = common::fixture("plain");
    let sha = sha256_hex(&std::fs::read(&so).unwrap());
    // What RAMP 2.5 writes: a float version, its extra keys, null optional fields.
    let script = format!(
        r#"import sys, json, zipfile
meta = {{
  "architecture": "x86_64", "author": "RedisLabs", "bigstore_version_2_support": False,
  "capabilities": ["types", "crdb", "failover_migrate", "persistence_aof", "persistence_rdb", "clustering", "backup_restore"],
  "capability_name": "Plain", "command_line_args": "", "commands": [
    {{"command_arity": 3, "command_name": "plain.set", "first_key": 1, "flags": ["write", "denyoom"], "last_key": 1, "step": 1}},
    {{"command_arity": -1, "command_name": "plain.mget", "first_key": 1, "flags": ["readonly"], "last_key": -1, "step": 1}}],
  "compatible_redis_version": "7.4", "config_command": "", "crdb": {{}}, "dependencies": {{}},
  "description": "plain", "display_name": "Plain", "email": "", "exclude_commands": [],
  "homepage": "", "license": "", "min_redis_pack_version": "6.0.12", "min_redis_version": "6.0",
  "module_file": "plain.so", "module_name": "plain", "operating_systems": ["ubuntu20.04"],
  "optional-dependencies": {{}}, "os": "Linux", "overide_command": [], "add_command": [],
  "ramp_format_version": 1, "redis_args": {{}}, "run_command_line_args": None,
  "semantic_version": "1.2.3", "sha256": "{sha}", "version": 10203.0, "git_sha": "0123abc"
}}
z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED)
z.writestr("module.json", json.dumps(meta, indent=4))
z.write("{so}", "plain.so")
z.close()
"#,
        so = so.display()
    );
    let zip = python_zip(
        dir.path(),
        "plain.Linux-ubuntu20.04-x86_64.1.2.3.zip",
        &script,
    );
    let target = Target {
        operating_systems: vec!["ubuntu20.04".parse().unwrap()],
        architectures: vec![Arch::X86_64],
        redis_version: Some(version("7.4.1")),
        rs_version: Some(version("7.8.2")),
        ..Target::default()
    };
    let report = check(&zip, &target);
    assert!(errors(&report).is_empty(), "{:#?}", report.diagnostics);
    assert!(
        !report.failed(true),
        "no warnings either: {:#?}",
        report.diagnostics
    );
    assert!(report.has("json-version-float"));

    // The zip the RAMP packer itself made (committed under testdata/ramp/).
    let committed = common::testdata().join("ramp/plain.ramp.zip");
    let report = check(&committed, &os(&["debian12"]));
    assert!(errors(&report).is_empty(), "{:#?}", report.diagnostics);
}

/// Packs `module` with `rmpack pack` into `dir`, returning the zip.
fn pack(dir: &Path, module: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join(format!(
        "{}.zip",
        module.file_stem().unwrap().to_string_lossy()
    ));
    let output = rmpack()
        .arg("pack")
        .arg(module)
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pack {}: {}",
        module.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

#[test]
fn zips_made_by_rmpack_pack_validate_clean_where_their_glibc_allows() {
    let dir = tempfile::tempdir().unwrap();
    for (fixture, allowed, refused) in [
        ("plain", "rhel8,rhel9,ubuntu20.04,ubuntu22.04", None),
        ("subcmds", "rhel8,ubuntu24.04", None),
        (
            "newglibc",
            "ubuntu24.04,debian12",
            Some(("rhel8", "elf-glibc-too-new")),
        ),
        (
            "needs_ssl11",
            "ubuntu20.04,rhel8",
            Some(("rhel9", "elf-library-missing")),
        ),
    ] {
        let module = common::fixture(fixture);
        let zip = pack(dir.path(), &module, &["--no-manifest", "--os", allowed]);
        let (code, out, err) = run(
            dir.path(),
            &[
                "validate",
                zip.to_str().unwrap(),
                "--os",
                allowed,
                "--arch",
                "x86_64",
            ],
        );
        assert_eq!(code, 0, "{fixture}: {out}{err}");
        if let Some((nick, rule)) = refused {
            let (code, out, _) = run(
                dir.path(),
                &["validate", zip.to_str().unwrap(), "--os", nick],
            );
            assert_eq!(code, 1, "{fixture} on {nick}: {out}");
            assert!(out.contains(rule), "{fixture} on {nick}: {out}");
        }
    }
    // The aarch64 build packs from its manifest; validating it for x86_64 fails with the code
    // RS answers for a module of the wrong platform.
    let zip = pack(
        dir.path(),
        &common::prebuilt_aarch64(),
        &[
            "--manifest",
            common::manifest("plain-aarch64.toml").to_str().unwrap(),
        ],
    );
    let (code, out, _) = run(
        dir.path(),
        &["validate", zip.to_str().unwrap(), "--arch", "x86_64"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("target-architecture-mismatch") && out.contains("os_not_supported"),
        "{out}"
    );
    assert_eq!(
        run(
            dir.path(),
            &["validate", zip.to_str().unwrap(), "--arch", "aarch64"]
        )
        .0,
        0
    );
}

#[test]
fn bare_files_and_folders_are_validated_too() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::plain();
    // A bare .so: ELF checks only.
    let report = check(&common::fixture("plain"), &target());
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
    let report = check(&common::fixture("notmodule"), &target());
    assert_finding(&report, "elf-no-onload", Some("invalid_module"));
    // A bare module.json.
    let json_path = dir.path().join("module.json");
    std::fs::write(
        &json_path,
        serde_json::to_vec(&spec.clone().remove("display_name").json).unwrap(),
    )
    .unwrap();
    let report = check(&json_path, &target());
    assert_finding(&report, "json-missing-field", Some("invalid_module"));
    // A folder holding both, with a stale checksum.
    let folder = dir.path().join("unpacked");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("plain.so"), &spec.so).unwrap();
    std::fs::write(
        folder.join("module.json"),
        serde_json::to_vec(&spec.clone().set("sha256", json!("a".repeat(64))).json).unwrap(),
    )
    .unwrap();
    let report = check(&folder, &target());
    assert_finding(
        &report,
        "zip-module-sha256-mismatch",
        Some("invalid_module"),
    );
    std::fs::write(
        folder.join("module.json"),
        serde_json::to_vec(&spec.json).unwrap(),
    )
    .unwrap();
    assert!(check(&folder, &target()).diagnostics.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The command line.
// ---------------------------------------------------------------------------------------------

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = rmpack()
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn cli_exit_codes_follow_the_findings() {
    let dir = tempfile::tempdir().unwrap();
    Spec::plain().write(dir.path(), "good.zip");
    Spec::plain()
        .set("semantic_version", json!("9.9.9"))
        .write(dir.path(), "bad.zip");
    Spec::plain()
        .set("commands", json!([]))
        .write(dir.path(), "warn.zip");
    std::fs::write(dir.path().join("garbage.zip"), b"PK\x03\x04 but not really").unwrap();
    assert_eq!(run(dir.path(), &["validate", "good.zip"]).0, 0);
    let (code, out, _) = run(dir.path(), &["validate", "bad.zip"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("json-version-mismatch") && out.contains("invalid_module"),
        "{out}"
    );
    assert_eq!(run(dir.path(), &["validate", "warn.zip"]).0, 0);
    assert_eq!(run(dir.path(), &["validate", "warn.zip", "--strict"]).0, 1);
    let (code, _, err) = run(dir.path(), &["validate", "garbage.zip"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a readable zip"), "{err}");
    assert_eq!(run(dir.path(), &["validate", "missing.zip"]).0, 2);
    assert_eq!(
        run(dir.path(), &["validate", "good.zip", "--os", "windows11"]).0,
        2
    );
    // The aarch64 build against an x86_64 target fails with the architecture's error code.
    let aarch64 = Spec::of(&common::prebuilt_aarch64(), "plain", 10203);
    aarch64.write(dir.path(), "arm.zip");
    let (code, out, _) = run(
        dir.path(),
        &[
            "validate", "arm.zip", "--arch", "x86_64", "--format", "json",
        ],
    );
    assert_eq!(code, 1);
    let value: Value = serde_json::from_str(&out).unwrap();
    let finding = value["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == "target-architecture-mismatch")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(finding["code"], "os_not_supported");
    assert_eq!(
        run(dir.path(), &["validate", "arm.zip", "--arch", "aarch64"]).0,
        0
    );
}

#[test]
fn cli_reads_db_config_and_current_version() {
    let dir = tempfile::tempdir().unwrap();
    Spec::plain().write(dir.path(), "m.zip");
    std::fs::write(
        dir.path().join("bdb.json"),
        r#"{"uid": 1, "name": "db1", "crdt": true}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("list.json"), r#"[{"uid": 1}]"#).unwrap();
    let (code, out, _) = run(
        dir.path(),
        &["validate", "m.zip", "--db-config", "bdb.json"],
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("capability-missing") && out.contains("crdb"),
        "{out}"
    );
    assert_eq!(
        run(
            dir.path(),
            &["validate", "m.zip", "--db-config", "list.json"]
        )
        .0,
        2
    );
    let (code, out, _) = run(
        dir.path(),
        &["validate", "m.zip", "--current-version", "1.3.0"],
    );
    assert_eq!(code, 1);
    assert!(out.contains("module_downgrade_unsupported"), "{out}");
    assert_eq!(
        run(
            dir.path(),
            &["validate", "m.zip", "--current-version", "10100"]
        )
        .0,
        0
    );
    let (code, out, _) = run(
        dir.path(),
        &[
            "validate",
            "m.zip",
            "--redis-version",
            "6.0.1",
            "--rs-version",
            "6.0",
        ],
    );
    assert_eq!(code, 1);
    assert!(out.contains("min_redis_pack_version"), "{out}");
}

#[test]
fn json_output_matches_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    Spec::plain()
        .set("capabilities", json!(["types", "warp_drive"]))
        .set("commands", json!([]))
        .set("version", json!(10203.0))
        .write(dir.path(), "m.zip");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/validate-report.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for args in [
        vec!["validate", "m.zip", "--format", "json"],
        vec!["validate", "m.zip", "--format", "json", "--strict"],
    ] {
        let (_, out, _) = run(dir.path(), &args);
        let value: Value = serde_json::from_str(&out).unwrap();
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(problems.is_empty(), "{problems:?}\n{out}");
        assert_eq!(value["version"], 1);
        assert!(value["summary"]["errors"].as_u64().unwrap() >= 1);
        assert!(value["summary"]["warnings"].as_u64().is_some());
    }
    // The schema is not a rubber stamp.
    let bad = json!({"version": 1, "subject": "x", "summary": {"errors": 0, "warnings": 0, "infos": 0},
                     "diagnostics": [{"rule": "Bad Rule", "code": null, "severity": "fatal", "message": "m", "help": "h", "location": null}]});
    assert!(!validator.is_valid(&bad));
}

#[test]
fn github_and_sarif_formats() {
    let dir = tempfile::tempdir().unwrap();
    Spec::plain()
        .set("semantic_version", json!("1.2.4"))
        .write(dir.path(), "m.zip");
    let (code, out, _) = run(dir.path(), &["validate", "m.zip", "--format", "github"]);
    assert_eq!(code, 1);
    let line = out.lines().next().unwrap();
    assert!(
        line.starts_with("::error file=m.zip,title=json-version-mismatch (invalid_module)::"),
        "{line}"
    );
    assert!(line.contains("%0Afix: "), "{line}");
    let (_, out, _) = run(dir.path(), &["validate", "m.zip", "--format", "sarif"]);
    let sarif: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"][0]["ruleId"],
        "json-version-mismatch"
    );
    assert_eq!(sarif["runs"][0]["results"][0]["level"], "error");
}

#[test]
fn golden_human_output_of_a_failing_module() {
    let dir = tempfile::tempdir().unwrap();
    Spec::plain()
        .set("semantic_version", json!("1.2.4"))
        .set("capabilities", json!(["types"]))
        .set("commands", json!([]))
        .set("min_redis_version", json!("7.2"))
        .write(dir.path(), "plain.zip");
    std::fs::write(
        dir.path().join("bdb.json"),
        r#"{"name": "cache", "eviction_policy": "allkeys-lru"}"#,
    )
    .unwrap();
    let (code, out, _) = run(
        dir.path(),
        &[
            "validate",
            "plain.zip",
            "--redis-version",
            "7.0.15",
            "--db-config",
            "bdb.json",
            "--current-version",
            "10203",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    // The .so's hash depends on the compiler; keep the golden file independent of it.
    assert!(!out.contains("/tmp"), "golden output holds no temp paths");
    common::assert_golden("validate-failing.txt", &out);
}

#[test]
fn list_rules_prints_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(dir.path(), &["validate", "--list-rules"]);
    assert_eq!(code, 0);
    for rule in rules::ALL {
        assert!(out.contains(&format!("`{}`", rule.id)), "{}", rule.id);
    }
}

#[test]
fn readme_rule_table_is_the_catalogue() {
    let output = rmpack()
        .args(["validate", "--list-rules"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    let readme = std::fs::read_to_string(common::testdata().join("../README.md")).unwrap();
    assert!(
        readme.contains(table.trim()),
        "README.md's rule table differs from `rmpack validate --list-rules`; paste the latter into the README"
    );
}

#[test]
fn a_cluster_mixing_architectures_refuses_a_single_architecture_module() {
    let mixed = Target {
        architectures: vec![Arch::X86_64, Arch::Aarch64],
        ..Target::default()
    };
    let report = check_spec(&Spec::plain(), &mixed);
    let message = assert_finding(
        &report,
        "target-architecture-mismatch",
        Some("os_not_supported"),
    );
    assert!(message.contains("aarch64"), "{message}");
}
