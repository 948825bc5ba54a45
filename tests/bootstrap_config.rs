//! `rmpack bootstrap-config`: a release set (zips packed by `rmpack pack`) becomes the list new
//! nodes download it from — RS bootstrap's `user_defined_modules` (JSON) or the Kubernetes REC's
//! `spec.userDefinedModules` (YAML) — read back with rmpack's own types, field names as the
//! docs spell them, every zip once at the base URL plus its file name, and no secret anywhere.

mod common;

use common::Run;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use rmpack::release::provision::{BootstrapModules, RecPatch, Scheme};
use serde_json::Value;

/// Set in every run's environment: it must never reach an output.
const PASSWORD: &str = "pw-never-written-7f3a";

fn rmpack(cwd: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("DL_USER", "deploy")
        .env("DL_PASSWORD", PASSWORD)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("rmpack runs");
    Run::from(output)
}

/// Packs one build of module `name` into `out` with its default file name (an aarch64 build from
/// the prebuilt fixture).
fn pack(work: &Path, out: &Path, name: &str, version: &str, redis: &str, os: &str, aarch64: bool) {
    let module = if aarch64 {
        common::prebuilt_aarch64()
    } else {
        common::fixture("plain")
    };
    let module = module.to_string_lossy().into_owned();
    let manifest = common::manifest("plain-aarch64.toml")
        .to_string_lossy()
        .into_owned();
    let out = format!("{}/", out.display());
    let run = rmpack(
        work,
        &[
            "pack",
            &module,
            "--manifest",
            &manifest,
            "--no-discover",
            "--module-name",
            name,
            "--semantic-version",
            version,
            "--compatible-redis-version",
            redis,
            "--os",
            os,
            "--quiet",
            "-o",
            &out,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// hello 8.0.0 (Redis 8.0) and 8.2.0 (Redis 8.2), each for rhel8/x86_64, rhel9/x86_64 and (when
/// `aarch64` lists the version) rhel9/aarch64, in `work/dist`.
fn release(work: &Path, aarch64: &[&str]) -> PathBuf {
    let dist = work.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for (version, redis) in [("8.0.0", "8.0"), ("8.2.0", "8.2")] {
        for os in ["rhel8", "rhel9"] {
            pack(work, &dist, "hello", version, redis, os, false);
        }
        if aarch64.contains(&version) {
            pack(work, &dist, "hello", version, redis, "rhel9", true);
        }
    }
    dist
}

/// Every key path of a JSON value (`a.b[].c`), to compare with the documented fields.
fn key_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                key_paths(inner, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn assert_no_secret(run: &Run) {
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn the_bootstrap_list_names_every_zip_once_at_the_base_url_and_no_secret() {
    let work = tempfile::tempdir().unwrap();
    let dist = release(work.path(), &["8.0.0", "8.2.0"]);
    let base = "https://artifacts.example.com/hello/8.2.0";
    let args = [
        "bootstrap-config",
        "dist",
        "--base-url",
        base,
        "--format",
        "rs",
        "--credentials-env",
        "DL_USER:DL_PASSWORD",
    ];
    let run = rmpack(work.path(), &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_no_secret(&run);
    common::assert_golden("bootstrap-config-rs.json", &run.stdout);
    common::assert_golden("bootstrap-config-rs.stderr.txt", &run.stderr);

    // The field names of "user_defined_module object" and "Install a module on a cluster".
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut paths = BTreeSet::new();
    key_paths(&value, "", &mut paths);
    let documented: BTreeSet<String> = [
        "user_defined_modules",
        "user_defined_modules[].name",
        "user_defined_modules[].location",
        "user_defined_modules[].location.location_type",
        "user_defined_modules[].location.url",
        "user_defined_modules[].location.credentials",
        "user_defined_modules[].location.credentials.username",
        "user_defined_modules[].location.credentials.password",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(paths, documented);

    // Read back with rmpack's own types: every zip of the folder exactly once, at base + name.
    let modules: BootstrapModules = serde_json::from_str(&run.stdout).unwrap();
    let zips = common::dir_listing(&dist);
    assert_eq!(zips.len(), 6);
    assert_eq!(modules.user_defined_modules.len(), zips.len());
    for zip in &zips {
        let url = format!("{base}/{zip}");
        let listed: Vec<_> = modules
            .user_defined_modules
            .iter()
            .filter(|m| m.location.url == url)
            .collect();
        assert_eq!(listed.len(), 1, "{zip}: {listed:?}");
    }
    for module in &modules.user_defined_modules {
        assert_eq!(module.name, "hello");
        assert_eq!(module.location.location_type, Scheme::Https);
        let credentials = module.location.credentials.as_ref().expect("references");
        assert_eq!(credentials.username, "${DL_USER}");
        assert_eq!(credentials.password, "${DL_PASSWORD}");
    }

    // To a file: the same text, written atomically (nothing else left in the folder).
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut to_file = args.to_vec();
    to_file.extend(["-o", "out/modules.json"]);
    let written = rmpack(work.path(), &to_file);
    assert_eq!(written.code, 0, "{}", written.stderr);
    assert!(written.stdout.is_empty(), "{}", written.stdout);
    assert!(
        written
            .stderr
            .contains("wrote 6 zips of hello 8.0.0, 8.2.0 for rhel8/x86_64, rhel9/aarch64, rhel9/x86_64 to out/modules.json"),
        "{}",
        written.stderr
    );
    let file = std::fs::read_to_string(out.join("modules.json")).unwrap();
    assert_eq!(file, run.stdout);
    assert!(!file.contains(PASSWORD));
    assert_eq!(common::dir_listing(&out), ["modules.json"]);

    // Without --credentials-env: no credentials object at all, and the output says so.
    let run = rmpack(
        work.path(),
        &[
            "bootstrap-config",
            "dist",
            "--base-url",
            base,
            "--format",
            "rs",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let modules: BootstrapModules = serde_json::from_str(&run.stdout).unwrap();
    assert!(modules
        .user_defined_modules
        .iter()
        .all(|m| m.location.credentials.is_none()));
    assert!(!run.stdout.contains("credentials"), "{}", run.stdout);
    assert!(
        run.stderr.contains("no download credentials are written"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_rec_patch_uses_the_operator_fields_and_names_only_the_secret() {
    let work = tempfile::tempdir().unwrap();
    let dist = release(work.path(), &["8.0.0", "8.2.0"]);
    let base = "https://artifacts.example.com/hello/8.2.0/";
    let run = rmpack(
        work.path(),
        &[
            "bootstrap-config",
            "dist",
            "--base-url",
            base,
            "--format",
            "k8s",
            "--k8s-secret",
            "module-repo-creds",
            "--os",
            "rhel9",
            "--arch",
            "x86_64",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_no_secret(&run);
    common::assert_golden("bootstrap-config-k8s.yaml", &run.stdout);
    common::assert_golden("bootstrap-config-k8s.stderr.txt", &run.stderr);

    // The field names of the "RedisEnterpriseCluster API Reference" (UserDefinedModule,
    // ModuleSource, HTTPSModuleSource).
    let yaml: serde_yaml::Value = serde_yaml::from_str(&run.stdout).unwrap();
    let value: Value = serde_json::to_value(&yaml).unwrap();
    let mut paths = BTreeSet::new();
    key_paths(&value, "", &mut paths);
    let documented: BTreeSet<String> = [
        "spec",
        "spec.userDefinedModules",
        "spec.userDefinedModules[].name",
        "spec.userDefinedModules[].source",
        "spec.userDefinedModules[].source.https",
        "spec.userDefinedModules[].source.https.url",
        "spec.userDefinedModules[].source.https.credentialsSecret",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(paths, documented);

    // Read back: the two rhel9/x86_64 zips, once each; the secret by name only.
    let patch: RecPatch = serde_yaml::from_str(&run.stdout).unwrap();
    let expected: Vec<String> = common::dir_listing(&dist)
        .into_iter()
        .filter(|zip| zip.contains("-rhel9-x86_64."))
        .map(|zip| format!("{base}{zip}"))
        .collect();
    assert_eq!(expected.len(), 2);
    let urls: Vec<String> = patch
        .spec
        .user_defined_modules
        .iter()
        .map(|m| {
            assert_eq!(m.name, "hello");
            assert!(m.source.http.is_none());
            let https = m.source.https.as_ref().expect("an https source");
            assert_eq!(
                https.credentials_secret.as_deref(),
                Some("module-repo-creds")
            );
            https.url.clone()
        })
        .collect();
    assert_eq!(urls, expected);

    // Every platform of the set, served over plain http: `source.http`, and both warnings.
    let run = rmpack(
        work.path(),
        &[
            "bootstrap-config",
            "dist",
            "--base-url",
            "http://mirror.internal:8080/hello",
            "--format",
            "k8s",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let patch: RecPatch = serde_yaml::from_str(&run.stdout).unwrap();
    assert_eq!(patch.spec.user_defined_modules.len(), 6);
    for module in &patch.spec.user_defined_modules {
        let http = module.source.http.as_ref().expect("an http source");
        assert!(module.source.https.is_none());
        assert!(http
            .url
            .starts_with("http://mirror.internal:8080/hello/hello.Linux-"));
        assert!(http.credentials_secret.is_none());
    }
    for words in [
        "every pod of a REC runs the one image spec.redisEnterpriseImageSpec names",
        "served over plain http",
    ] {
        assert!(run.stderr.contains(words), "{words}: {}", run.stderr);
    }
}

#[test]
fn the_nodes_platforms_narrow_the_list_and_each_version_they_lack_is_named() {
    let work = tempfile::tempdir().unwrap();
    // aarch64 builds of 8.2.0 only.
    release(work.path(), &["8.2.0"]);
    let run = rmpack(
        work.path(),
        &[
            "bootstrap-config",
            "dist",
            "--base-url",
            "https://a.example/h/",
            "--format",
            "rs",
            "--os",
            "rhel9",
            "--arch",
            "aarch64",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let modules: BootstrapModules = serde_json::from_str(&run.stdout).unwrap();
    let urls: Vec<&str> = modules
        .user_defined_modules
        .iter()
        .map(|m| m.location.url.as_str())
        .collect();
    assert_eq!(
        urls,
        ["https://a.example/h/hello.Linux-rhel9-aarch64.8.2.0.zip"]
    );
    assert!(
        run.stderr.contains(
            "warning: nodes on rhel9/aarch64 get no build of hello 8.0.0 (Redis 8.0): such a node cannot join a cluster whose databases use it (incompatible_modules)"
        ),
        "{}",
        run.stderr
    );
    // One platform named: no warning about builds for other platforms.
    assert!(
        !run.stderr.contains("module_download_failed"),
        "{}",
        run.stderr
    );

    // A platform with no build at all: the check fails (exit 1) and nothing is printed.
    for (os, arch, words) in [
        (
            "rhel8",
            "aarch64",
            "no zip of the set is built for rhel8/aarch64",
        ),
        (
            "ubuntu22",
            "x86_64",
            "no zip of the set is built for ubuntu22",
        ),
    ] {
        let run = rmpack(
            work.path(),
            &[
                "bootstrap-config",
                "dist",
                "--base-url",
                "https://a.example/h/",
                "--format",
                "rs",
                "--os",
                os,
                "--arch",
                arch,
            ],
        );
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert!(run.stderr.contains(words), "{words}: {}", run.stderr);
    }
}

#[test]
fn zips_that_would_share_a_url_are_refused_and_the_same_bytes_are_listed_once() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    pack(work.path(), &a, "hello", "8.0.0", "8.0", "rhel9", false);
    pack(work.path(), &b, "hello", "8.2.0", "8.2", "rhel9", false);
    // Two different zips under one file name: one URL cannot serve both.
    std::fs::rename(
        a.join("hello.Linux-rhel9-x86_64.8.0.0.zip"),
        a.join("hello.zip"),
    )
    .unwrap();
    std::fs::rename(
        b.join("hello.Linux-rhel9-x86_64.8.2.0.zip"),
        b.join("hello.zip"),
    )
    .unwrap();
    let run = rmpack(
        work.path(),
        &[
            "bootstrap-config",
            "a",
            "b",
            "--base-url",
            "https://a.example/h/",
            "--format",
            "rs",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains("a/hello.zip and b/hello.zip are both named hello.zip, with different bytes: one URL (https://a.example/h/hello.zip) cannot serve both"),
        "{}",
        run.stderr
    );

    // The same bytes twice: one entry.
    std::fs::copy(a.join("hello.zip"), a.join("copy.zip")).unwrap();
    let run = rmpack(
        work.path(),
        &[
            "bootstrap-config",
            "a",
            "--base-url",
            "https://a.example/h/",
            "--format",
            "rs",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let modules: BootstrapModules = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(modules.user_defined_modules.len(), 1);
    assert!(
        run.stderr
            .contains("a/copy.zip and a/hello.zip hold the same bytes: listed once, as copy.zip"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_input_gets_a_clear_refusal_that_quotes_no_secret_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let dist = release(work.path(), &[]);
    let base = "https://artifacts.example.com/hello/";
    let good = rmpack(
        work.path(),
        &[
            "bootstrap-config",
            "dist",
            "--base-url",
            base,
            "--format",
            "rs",
            "-o",
            "modules.json",
        ],
    );
    assert_eq!(good.code, 0, "{}", good.stderr);
    let before = std::fs::read(work.path().join("modules.json")).unwrap();

    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["--base-url", "https://deploy:hunter2@artifacts.example.com/hello/", "--format", "rs"],
            2,
            "--base-url https://<redacted>@artifacts.example.com/hello/: it carries a user name or password",
        ),
        (
            vec!["--base-url", "https://artifacts.example.com/hello/?token=hunter2", "--format", "rs"],
            2,
            "a query or fragment cannot be followed by a file name",
        ),
        (
            vec!["--base-url", "ftp://artifacts.example.com/hello/", "--format", "rs"],
            2,
            "the scheme is not http or https",
        ),
        (
            vec!["--base-url", base, "--format", "helm"],
            2,
            "invalid value 'helm' for '--format <FORMAT>'",
        ),
        (
            vec!["--base-url", base, "--format", "rs", "--credentials-env", "deploy:hunter2"],
            2,
            "--credentials-env takes USER_VAR:PASS_VAR",
        ),
        (
            vec!["--base-url", base, "--format", "rs", "--k8s-secret", "creds"],
            2,
            "--k8s-secret is for --format k8s",
        ),
        (
            vec!["--base-url", base, "--format", "k8s", "--credentials-env", "U:P"],
            2,
            "--credentials-env is for --format rs",
        ),
        (
            vec!["--base-url", base, "--format", "k8s", "--k8s-secret", "Module_Creds"],
            2,
            "--k8s-secret `Module_Creds`: a Kubernetes secret name",
        ),
    ];
    for (extra, code, words) in cases {
        let mut args = vec!["bootstrap-config", "dist", "-o", "modules.json"];
        args.extend(extra);
        let run = rmpack(work.path(), &args);
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(words), "{args:?}: {}", run.stderr);
        assert_no_secret(&run);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }

    // An empty folder.
    std::fs::create_dir(work.path().join("empty")).unwrap();
    let run = rmpack(
        work.path(),
        &[
            "bootstrap-config",
            "empty",
            "--base-url",
            base,
            "--format",
            "rs",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("empty holds no module zip (*.zip)"),
        "{}",
        run.stderr
    );

    // --output naming a zip of the set: refused, the zip untouched.
    let zip = dist.join("hello.Linux-rhel8-x86_64.8.0.0.zip");
    let zip_bytes = std::fs::read(&zip).unwrap();
    let run = rmpack(
        work.path(),
        &[
            "bootstrap-config",
            "dist",
            "--base-url",
            base,
            "--format",
            "rs",
            "-o",
            "dist/hello.Linux-rhel8-x86_64.8.0.0.zip",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is a zip of the set"), "{}", run.stderr);
    assert_eq!(std::fs::read(&zip).unwrap(), zip_bytes);

    // A set that fails its own rules (a zip of another module): refused with its findings.
    pack(work.path(), &dist, "other", "1.0.0", "8.0", "rhel8", false);
    let run = rmpack(
        work.path(),
        &[
            "bootstrap-config",
            "dist",
            "--base-url",
            base,
            "--format",
            "rs",
            "-o",
            "modules.json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    for words in [
        "error[set-module-names]",
        "`other` (other.Linux-rhel8-x86_64.1.0.0.zip)",
        "the release set fails its own rules; no configuration written",
    ] {
        assert!(run.stderr.contains(words), "{words}: {}", run.stderr);
    }

    // None of the refusals touched the file written first, nor left a temp file beside it.
    assert_eq!(
        std::fs::read(work.path().join("modules.json")).unwrap(),
        before
    );
    assert!(
        common::dir_listing(work.path())
            .iter()
            .all(|name| !name.starts_with(".rmpack-config-")),
        "{:?}",
        common::dir_listing(work.path())
    );
}

#[test]
fn the_library_refuses_on_its_own_what_the_set_rules_catch_first() {
    use rmpack::release::provision::{self, ConfigKind, ProvisionError, ProvisionOptions};
    use rmpack::release::{collect_inputs, open_set, ReleaseSet};

    let options = ProvisionOptions {
        base: "https://a.example/h/".parse().unwrap(),
        kind: ConfigKind::Bootstrap(None),
        operating_systems: Vec::new(),
        architectures: Vec::new(),
    };
    let plan = |set: &ReleaseSet| provision::plan(set, &options).map(|p| p.entries.len());
    assert!(matches!(
        plan(&ReleaseSet::default()),
        Err(ProvisionError::Empty)
    ));

    let work = tempfile::tempdir().unwrap();
    let open = |dir: &Path| {
        open_set(
            &collect_inputs(&[dir.to_path_buf()]).unwrap(),
            Default::default(),
        )
    };
    let two = work.path().join("two");
    std::fs::create_dir(&two).unwrap();
    pack(work.path(), &two, "hello", "8.0.0", "8.0", "rhel9", false);
    assert_eq!(plan(&open(&two)).unwrap(), 1);
    pack(work.path(), &two, "other", "1.0.0", "8.0", "rhel9", false);
    let error = plan(&open(&two)).unwrap_err();
    assert!(
        matches!(&error, ProvisionError::SeveralModules(names) if names == "hello, other"),
        "{error}"
    );

    // A module.json without a name, and a name with a terminal escape in it.
    let nameless = work.path().join("nameless");
    std::fs::create_dir(&nameless).unwrap();
    common::plain_module_zip(
        &nameless,
        "plain",
        "1.2.3",
        serde_json::json!({"version": 10203, "semantic_version": "1.2.3"}),
    );
    assert!(matches!(
        plan(&open(&nameless)),
        Err(ProvisionError::Unplaceable(_))
    ));
    let escaped = work.path().join("escaped");
    std::fs::create_dir(&escaped).unwrap();
    common::plain_module_zip(
        &escaped,
        "plain",
        "1.2.3",
        serde_json::json!({"module_name": "he\u{1b}[2Jllo", "version": 10203}),
    );
    let error = plan(&open(&escaped)).unwrap_err();
    assert!(matches!(error, ProvisionError::UnsafeName(_)), "{error}");
    assert!(error.to_string().contains("he\\x1b[2Jllo"), "{error}");
}
