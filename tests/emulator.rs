//! Tests of the RS REST API emulator itself, through a plain HTTPS client (ureq) that trusts only
//! the emulator's CA: authentication, per-node addresses, artifacts, custom-module configuration,
//! bundled uploads, the upload switch of RS 8.2, actions, module upgrades, and every fault.

mod support;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use support::{
    bdb, bdb_module, module_json, module_zip, module_zip_with_deps, multipart_body,
    user_defined_config, zip_of, ActionOutcome, Emulator, EmulatorSpec, Fault, NodePlatform,
    RequestMatch,
};

const ARTIFACTS: &str = "/v2/local/modules/user-defined/artifacts";

/// A client trusting only the emulator's CA, answering every status instead of failing on it.
fn client(emulator: &Emulator) -> ureq::Agent {
    let ca = ureq::tls::Certificate::from_pem(emulator.ca_cert_pem().as_bytes())
        .expect("the CA is valid PEM");
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Status and JSON body (`Null` when empty) of an answer.
fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut response = result.expect("the request gets an answer");
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .expect("the body is text");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("the body is JSON")
    };
    (status, body)
}

struct Session {
    emulator: Emulator,
    agent: ureq::Agent,
}

impl Session {
    fn start(spec: EmulatorSpec) -> Self {
        let emulator = Emulator::start(spec).expect("the emulator starts");
        let agent = client(&emulator);
        Self { emulator, agent }
    }

    fn url(&self, node: usize, path: &str) -> String {
        format!("{}{path}", self.emulator.node_url(node))
    }

    fn get(&self, node: usize, path: &str) -> (u16, Value) {
        answer(
            self.agent
                .get(self.url(node, path))
                .header("Authorization", self.emulator.authorization())
                .call(),
        )
    }

    fn delete(&self, node: usize, path: &str) -> (u16, Value) {
        answer(
            self.agent
                .delete(self.url(node, path))
                .header("Authorization", self.emulator.authorization())
                .call(),
        )
    }

    fn post_json(&self, node: usize, path: &str, body: &Value) -> (u16, Value) {
        answer(
            self.agent
                .post(self.url(node, path))
                .header("Authorization", self.emulator.authorization())
                .send_json(body),
        )
    }

    fn put_json(&self, node: usize, path: &str, body: &Value) -> (u16, Value) {
        answer(
            self.agent
                .put(self.url(node, path))
                .header("Authorization", self.emulator.authorization())
                .send_json(body),
        )
    }

    fn upload_raw(
        &self,
        node: usize,
        path: &str,
        file_name: &str,
        zip: &[u8],
    ) -> Result<(u16, Value), ureq::Error> {
        let (content_type, body) = multipart_body("module", file_name, zip);
        self.agent
            .post(self.url(node, path))
            .header("Authorization", self.emulator.authorization())
            .content_type(content_type)
            .send(&body[..])
            .map(|r| answer(Ok(r)))
    }

    fn upload(&self, node: usize, path: &str, zip: &[u8]) -> (u16, Value) {
        self.upload_raw(node, path, "module.zip", zip)
            .expect("the upload gets an answer")
    }

    /// Polls an action until it reaches a terminal state; returns every answer.
    fn follow_action(&self, uid: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        for _ in 0..20 {
            let (status, action) = self.get(1, &format!("/v1/actions/{uid}"));
            assert_eq!(status, 200, "{action}");
            let terminal = matches!(
                action["status"].as_str(),
                Some("completed" | "failed" | "aborted" | "cancelled")
            );
            seen.push(action);
            if terminal {
                return seen;
            }
        }
        panic!("action {uid} never finished: {seen:?}");
    }
}

fn statuses(actions: &[Value]) -> Vec<&str> {
    actions
        .iter()
        .map(|a| a["status"].as_str().unwrap_or("?"))
        .collect()
}

#[test]
fn requests_without_the_right_credentials_get_401_with_an_error_body() {
    let session = Session::start(EmulatorSpec::nodes(1).credentials("ops@example.com", "s3cret"));
    let url = session.url(1, "/v1/nodes");

    let (status, body) = answer(session.agent.get(&url).call());
    assert_eq!(status, 401);
    assert_eq!(body["error_code"], "unauthorized");

    let wrong = support::basic_authorization("ops@example.com", "guess");
    let (status, body) = answer(
        session
            .agent
            .get(&url)
            .header("Authorization", wrong)
            .call(),
    );
    assert_eq!(status, 401);
    assert_eq!(body["error_code"], "unauthorized");

    let (status, _) = session.get(1, "/v1/nodes");
    assert_eq!(status, 200);

    let log = session.emulator.requests();
    let seen: Vec<(bool, Option<u16>)> = log.iter().map(|r| (r.authorization, r.status)).collect();
    assert_eq!(
        seen,
        vec![(false, Some(401)), (true, Some(401)), (true, Some(200))]
    );
}

#[test]
fn every_node_answers_on_its_own_address_and_lists_the_cluster() {
    let mut spec = EmulatorSpec::nodes(3);
    spec.external_addresses = true;
    let session = Session::start(spec);
    let emulator = &session.emulator;
    assert_eq!(
        emulator.url(),
        format!("https://127.0.0.1:{}", emulator.port())
    );

    for node in 1..=3 {
        let (status, nodes) = session.get(node, "/v1/nodes");
        assert_eq!(status, 200);
        let listed: Vec<(u64, &str, &str)> = nodes
            .as_array()
            .expect("a list of nodes")
            .iter()
            .map(|n| {
                (
                    n["uid"].as_u64().expect("numeric uid"),
                    n["addr"].as_str().expect("addr"),
                    n["external_addr"][0].as_str().expect("external_addr"),
                )
            })
            .collect();
        assert_eq!(
            listed,
            vec![
                (1, "127.0.0.1", "127.1.0.1"),
                (2, "127.0.0.2", "127.1.0.2"),
                (3, "127.0.0.3", "127.1.0.3")
            ]
        );
        assert_eq!(nodes[0]["architecture"], "x86_64");
        assert_eq!(nodes[0]["os_name"], "ubuntu");
        assert_eq!(nodes[0]["software_version"], "8.0.2-17");
    }
    let served_by: Vec<(usize, String)> = emulator
        .requests()
        .iter()
        .map(|r| (r.node, r.local_ip.to_string()))
        .collect();
    assert_eq!(
        served_by,
        vec![
            (1, "127.0.0.1".into()),
            (2, "127.0.0.2".into()),
            (3, "127.0.0.3".into())
        ]
    );

    // The external address reaches the same node.
    let external = format!(
        "https://{}:{}/v1/cluster",
        emulator.node_external_ip(2).expect("external"),
        emulator.port()
    );
    let (status, _) = answer(
        session
            .agent
            .get(external)
            .header("Authorization", emulator.authorization())
            .call(),
    );
    assert_eq!(status, 200);
    assert_eq!(emulator.requests().last().map(|r| r.node), Some(2));

    emulator.set_node_uid_as_string(true);
    emulator.set_node_platform(3, NodePlatform::rhel("9.4").with_architecture("aarch64"));
    let (_, nodes) = session.get(1, "/v1/nodes");
    assert_eq!(nodes[0]["uid"], "1");
    assert_eq!(nodes[2]["architecture"], "aarch64");
    assert_eq!(nodes[2]["os_name"], "rhel");

    let (status, body) = session.get(1, "/v1/cluster/module-capabilities");
    assert_eq!(status, 200);
    assert_eq!(body["all_capabilities"].as_array().map(Vec::len), Some(16));
    assert!(body["all_capabilities"][0]["desc"].is_string());

    let (status, _) = session.get(1, "/v1/no-such-thing");
    assert_eq!(status, 404);
}

#[test]
fn artifacts_are_stored_listed_and_deleted_per_node() {
    let session = Session::start(EmulatorSpec::nodes(3));
    let mut metadata = module_json("hello", "1.2.3");
    metadata["dependencies"] =
        json!({"libfoo": {"url": "https://example.com/libfoo.tgz", "sha256": "ab"}});
    // Big enough to arrive in many frames, so the streaming parser is exercised.
    let so: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    // RS reads dependencies only from the zip: a url alone is a missing dependency.
    let (status, body) = session
        .upload_raw(1, ARTIFACTS, "hello.zip", &module_zip(&metadata, &so))
        .expect("an answer");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["description"], "Missing dependency libfoo.tgz");
    let zip = module_zip_with_deps(&metadata, &so, &[("libfoo", b"libfoo archive")]);

    for node in [1, 2] {
        let (status, body) = session
            .upload_raw(
                node,
                ARTIFACTS,
                "hello.Linux-ubuntu22.04-x86_64.1.2.3.zip",
                &zip,
            )
            .expect("an answer");
        assert_eq!((status, &body), (200, &Value::Null));
    }
    let stored = session.emulator.artifacts(1);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].module_name, "hello");
    assert_eq!(stored[0].version, 10203);
    assert_eq!(stored[0].dependencies, vec!["libfoo".to_owned()]);
    assert_eq!(stored[0].size, zip.len() as u64);
    assert_eq!(stored[0].sha256, hex::encode(Sha256::digest(&zip)));
    assert_eq!(std::fs::read(&stored[0].path).expect("stored zip"), zip);
    assert!(session.emulator.artifacts(3).is_empty());

    let (status, listed) = session.get(2, ARTIFACTS);
    assert_eq!(status, 200);
    assert_eq!(
        listed,
        json!([{"module_name": "hello", "version": 10203, "dependencies": ["libfoo"]}])
    );
    let (_, listed) = session.get(3, ARTIFACTS);
    assert_eq!(listed, json!([]));

    let (status, _) = session.delete(1, &format!("{ARTIFACTS}/hello/10203"));
    assert_eq!(status, 200);
    assert!(!stored[0].path.exists());
    let (status, body) = session.delete(1, &format!("{ARTIFACTS}/hello/10203"));
    assert_eq!(status, 404, "{body}");
    let (status, _) = session.delete(1, &format!("{ARTIFACTS}/hello/latest"));
    assert_eq!(status, 406);
    assert_eq!(
        session.emulator.artifacts(2).len(),
        1,
        "deleting on node 1 leaves node 2 alone"
    );

    let upload = session
        .emulator
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("an upload");
    assert!(upload.body_bytes > zip.len() as u64);
}

#[test]
fn bad_artifacts_are_refused_with_400_and_bad_metadata_with_406() {
    let session = Session::start(EmulatorSpec::nodes(1));
    let metadata = module_json("hello", "1.0.0");
    let json_bytes = serde_json::to_vec(&metadata).expect("json");

    let refused = |zip: &[u8]| session.upload(1, ARTIFACTS, zip);
    assert_eq!(refused(b"not a zip at all").0, 400);
    assert_eq!(
        refused(&zip_of(&[("hello.so", b"\x7fELF")])).0,
        400,
        "no module.json"
    );
    assert_eq!(
        refused(&zip_of(&[("module.json", &json_bytes)])).0,
        400,
        "no .so"
    );
    assert_eq!(
        refused(&zip_of(&[
            ("module.json", &json_bytes),
            ("hello.so", b"1"),
            ("other.so", b"2")
        ]))
        .0,
        400,
        "two .so files"
    );
    assert_eq!(
        refused(&zip_of(&[
            ("module.json", &json_bytes),
            ("hello.so", b"1"),
            ("README.md", b"hi")
        ]))
        .0,
        400,
        "a stray file"
    );
    let (status, body) = refused(&zip_of(&[
        ("module.json", b"{not json"),
        ("hello.so", b"1"),
    ]));
    assert_eq!(status, 406, "{body}");

    let mut no_version = metadata.clone();
    no_version
        .as_object_mut()
        .expect("object")
        .remove("version");
    let (status, body) = refused(&module_zip(&no_version, b"so"));
    assert_eq!(
        (status, body["error_code"].as_str()),
        (406, Some("invalid_schema"))
    );
    assert!(
        body["message"].as_str().unwrap_or("").contains("version"),
        "{body}"
    );

    let mut arm = metadata.clone();
    arm["architecture"] = json!("aarch64");
    let (status, body) = refused(&module_zip(&arm, b"so"));
    assert_eq!(
        (status, body["error_code"].as_str()),
        (406, Some("os_not_supported"))
    );

    let mut other_os = metadata.clone();
    other_os["operating_systems"] = json!(["rhel8"]);
    let (status, _) = refused(&module_zip(&other_os, b"so"));
    assert_eq!(status, 406);

    // No `module` field at all, and not multipart at all.
    let (content_type, body) = multipart_body("file", "x.zip", &module_zip(&metadata, b"so"));
    let (status, reply) = answer(
        session
            .agent
            .post(session.url(1, ARTIFACTS))
            .header("Authorization", session.emulator.authorization())
            .content_type(content_type)
            .send(&body[..]),
    );
    assert_eq!(
        (status, reply["error_code"].as_str()),
        (400, Some("no_module"))
    );
    let (status, _) = session.post_json(1, ARTIFACTS, &json!({}));
    assert_eq!(status, 400);

    assert!(session.emulator.artifacts(1).is_empty());
    let leftovers = std::fs::read_dir(session.emulator.data_dir().join("node-1").join("incoming"))
        .map(|dir| dir.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "refused uploads leave no files behind");
}

#[test]
fn user_defined_configurations_are_checked_and_registered_once() {
    let session = Session::start(EmulatorSpec::nodes(2));
    let config = user_defined_config(&module_json("hello", "1.2.3"));
    let path = "/v2/modules/user-defined";

    for field in [
        "module_name",
        "version",
        "semantic_version",
        "display_name",
        "commands",
        "command_line_args",
        "capabilities",
        "min_redis_version",
    ] {
        let mut missing = config.clone();
        missing.as_object_mut().expect("object").remove(field);
        let (status, body) = session.post_json(1, path, &missing);
        assert_eq!(status, 406, "without {field}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(field),
            "{body}"
        );
        assert!(body["error_code"].is_string());
    }
    for (field, wrong) in [
        ("version", json!(10203.0)),
        ("version", json!("10203")),
        ("capabilities", json!("types")),
        ("semantic_version", json!("1.2")),
    ] {
        let mut mistyped = config.clone();
        mistyped[field] = wrong.clone();
        let (status, body) = session.post_json(1, path, &mistyped);
        assert_eq!(status, 406, "{field} = {wrong}: {body}");
    }
    assert!(session.emulator.user_defined_modules().is_empty());

    let (status, created) = session.post_json(2, path, &config);
    assert_eq!(status, 200, "{created}");
    let uid = created["uid"].as_str().expect("a uid").to_owned();
    assert_eq!(created["module_name"], "hello");
    assert_eq!(session.emulator.user_defined_modules().len(), 1);

    let (status, body) = session.post_json(1, path, &config);
    assert_eq!(
        (status, body["error_code"].as_str()),
        (406, Some("module_exists"))
    );

    let (_, listed) = session.get(1, "/v1/modules");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let (status, module) = session.get(1, &format!("/v1/modules/{uid}"));
    assert_eq!((status, module["uid"].as_str()), (200, Some(uid.as_str())));

    let (status, _) = session.delete(1, &format!("{path}/{uid}"));
    assert_eq!(status, 200);
    let (status, _) = session.delete(1, &format!("{path}/{uid}"));
    assert_eq!(status, 404);
    let (status, _) = session.get(1, &format!("/v1/modules/{uid}"));
    assert_eq!(status, 404);
}

#[test]
fn rs_8_2_refuses_uploads_until_they_are_allowed() {
    let session = Session::start(EmulatorSpec::nodes(2).rs_version("8.2.0-10"));
    let metadata = module_json("hello", "1.0.0");
    let zip = module_zip(&metadata, b"so");

    let (_, cluster) = session.get(1, "/v1/cluster");
    assert_eq!(cluster["allow_modules_upload"], false);
    let (status, body) = session.post_json(
        1,
        "/v2/modules/user-defined",
        &user_defined_config(&metadata),
    );
    assert_eq!(
        (status, body["error_code"].as_str()),
        (403, Some("modules_upload_disabled"))
    );
    let (status, body) = session.upload(2, ARTIFACTS, &zip);
    assert_eq!(
        (status, body["error_code"].as_str()),
        (403, Some("modules_upload_disabled"))
    );
    let (status, body) = session.upload(1, "/v2/modules", &zip);
    assert_eq!(
        (status, body["error_code"].as_str()),
        (403, Some("modules_upload_disabled"))
    );

    let (status, cluster) =
        session.put_json(1, "/v1/cluster", &json!({"allow_modules_upload": true}));
    assert_eq!(
        (status, &cluster["allow_modules_upload"]),
        (200, &json!(true))
    );
    assert!(session.emulator.modules_upload_allowed());
    let (status, _) = session.post_json(
        1,
        "/v2/modules/user-defined",
        &user_defined_config(&metadata),
    );
    assert_eq!(status, 200);
    let (status, _) = session.upload(2, ARTIFACTS, &zip);
    assert_eq!(status, 200);

    // Before 8.2 there is no such switch.
    session.emulator.set_rs_version("8.0.2-17");
    let (_, cluster) = session.get(1, "/v1/cluster");
    assert!(cluster.get("allow_modules_upload").is_none());
    let (status, _) = session.put_json(1, "/v1/cluster", &json!({"allow_modules_upload": true}));
    assert_eq!(status, 400);
}

#[test]
fn bundled_uploads_answer_a_module_and_an_action_or_a_documented_error() {
    let session = Session::start(EmulatorSpec::nodes(2));
    let metadata = module_json("hello", "2.0.0");
    let zip = module_zip(&metadata, b"so");

    let (status, module) = session.upload(2, "/v2/modules", &zip);
    assert_eq!(status, 200, "{module}");
    assert_eq!(module["module_name"], "hello");
    let action_uid = module["action_uid"].as_str().expect("an action").to_owned();
    let uid = module["uid"].as_str().expect("a uid").to_owned();
    let progress = session.follow_action(&action_uid);
    assert_eq!(statuses(&progress).last(), Some(&"completed"));
    assert_eq!(session.emulator.bundled_modules().len(), 1);

    let code = |zip: &[u8], path: &str| {
        let (status, body) = session.upload(1, path, zip);
        (status, body["error_code"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(code(&zip, "/v2/modules"), (400, "module_exists".into()));
    assert_eq!(
        code(b"garbage", "/v2/modules"),
        (400, "invalid_module".into())
    );

    let mut too_new = module_json("hello", "2.1.0");
    too_new["min_redis_pack_version"] = json!("9.0");
    assert_eq!(
        code(&module_zip(&too_new, b"so"), "/v2/modules"),
        (400, "min_redis_pack_version".into())
    );

    let mut other_os = module_json("hello", "2.1.0");
    other_os["operating_systems"] = json!(["amzn2"]);
    assert_eq!(
        code(&module_zip(&other_os, b"so"), "/v2/modules"),
        (400, "os_not_supported".into())
    );

    let mut odd_capability = module_json("hello", "2.1.0");
    odd_capability["capabilities"] = json!(["types", "teleportation"]);
    assert_eq!(
        code(&module_zip(&odd_capability, b"so"), "/v2/modules"),
        (400, "unsupported_module_capabilities".into())
    );

    let mut with_dependency = module_json("hello", "2.1.0");
    with_dependency["dependencies"] =
        json!({"libfoo": {"url": "https://example.com/libfoo.tgz", "sha256": "ab"}});
    assert_eq!(
        code(&module_zip(&with_dependency, b"so"), "/v1/modules"),
        (400, "dependencies_not_supported".into())
    );
    assert_eq!(
        code(&module_zip(&with_dependency, b"so"), "/v2/modules"),
        (400, "invalid_dependency_data".into()),
        "a url alone is a missing dependency"
    );
    with_dependency["dependencies"] = json!({"libfoo": "https://example.com/libfoo.tgz"});
    assert_eq!(
        code(&module_zip(&with_dependency, b"so"), "/v2/modules"),
        (400, "invalid_dependency_data".into())
    );

    let (status, deleted) = session.delete(1, &format!("/v2/modules/{uid}"));
    assert_eq!(status, 200);
    assert!(deleted["action_uid"].is_string());
    let (status, _) = session.delete(1, &format!("/v1/modules/{uid}"));
    assert_eq!(status, 404);
}

#[test]
fn actions_progress_over_polls_and_can_fail_abort_or_vanish() {
    // The module-specific routes answer only on clusters older than the general route.
    let session = Session::start(EmulatorSpec::nodes(1).rs_version("7.2.4-92"));
    let emulator = &session.emulator;
    let mut old = module_json("hello", "1.0.0");
    old["uid"] = json!("a1");
    let mut new = module_json("hello", "1.1.0");
    new["uid"] = json!("b2");
    emulator.add_module(old);
    emulator.add_module(new);
    emulator.put_bdb(bdb(1, "db1", vec![bdb_module("a1", "hello", "1.0.0")]));
    let by_uid =
        json!({"modules": [{"current_module": "a1", "new_module": "b2"}], "preserve_roles": true});

    let (status, upgraded) = session.post_json(1, "/v1/bdbs/1/modules/upgrade", &by_uid);
    assert_eq!(status, 200, "{upgraded}");
    assert_eq!(upgraded["module_id"], "b2");
    let progress = session.follow_action(upgraded["action_uid"].as_str().expect("action"));
    assert_eq!(
        statuses(&progress),
        vec!["queued", "starting", "running", "running", "completed"]
    );
    assert!(progress.iter().any(|a| a["progress"].is_string()));
    assert!(progress.iter().any(|a| a["progress"].is_number()));
    assert_eq!(
        emulator.bdb(1).expect("db1")["module_list"][0]["module_id"],
        "b2"
    );

    // The example body's form: module name and current semantic version.
    emulator.put_bdb(bdb(1, "db1", vec![bdb_module("a1", "hello", "1.0.0")]));
    let by_name = json!({"modules": [{"module_name": "hello", "current_semantic_version": "1.0.0", "new_module": "b2"}]});
    emulator.script_next_action(ActionOutcome::failed(
        "shard_restart_failed",
        "shard 3 did not come back",
    ));
    let (status, upgraded) = session.post_json(1, "/v1/modules/upgrade/bdb/1", &by_name);
    assert_eq!(status, 200, "{upgraded}");
    let progress = session.follow_action(upgraded["action_uid"].as_str().expect("action"));
    let last = progress.last().expect("answers");
    assert_eq!(last["status"], "failed");
    assert_eq!(last["error_code"], "shard_restart_failed");
    assert_eq!(last["error_message"], "shard 3 did not come back");
    assert_eq!(
        emulator.bdb(1).expect("db1")["module_list"][0]["module_id"],
        "a1",
        "a failed upgrade changes nothing"
    );

    emulator.set_rs_version("8.0.2-17");
    emulator.script_next_action(ActionOutcome::Aborted);
    // The database keeps Redis 7.4, which the builds are for.
    let by_uid =
        json!({"redis_version": "7.4", "modules": [{"current_module": "a1", "new_module": "b2"}]});
    let (_, upgraded) = session.post_json(1, "/v1/bdbs/1/upgrade", &by_uid);
    let progress = session.follow_action(upgraded["action_uid"].as_str().expect("action"));
    assert_eq!(statuses(&progress).last(), Some(&"aborted"));

    emulator.script_next_action(ActionOutcome::Unknown);
    let (_, upgraded) = session.post_json(1, "/v1/bdbs/1/upgrade", &by_uid);
    let (status, _) = session.get(
        1,
        &format!(
            "/v2/actions/{}",
            upgraded["action_uid"].as_str().expect("action")
        ),
    );
    assert_eq!(status, 404);
    assert_eq!(emulator.actions().len(), 4);

    for deprecated in ["/v1/bdbs/1/modules/upgrade", "/v1/modules/upgrade/bdb/1"] {
        let (status, _) = session.post_json(1, deprecated, &by_uid);
        assert_eq!(status, 404, "{deprecated} does not answer on RS 8.0");
    }
    emulator.set_rs_version("7.4.2-54");
    emulator.put_bdb(bdb(1, "db1", vec![bdb_module("a1", "hello", "1.0.0")]));
    let (status, _) = session.post_json(1, "/v1/bdbs/1/upgrade", &by_uid);
    assert_eq!(status, 200, "the RS 7.4 docs list the general route");
    emulator.set_rs_version("7.2.4-92");
    let (status, _) = session.post_json(1, "/v1/bdbs/1/upgrade", &by_uid);
    assert_eq!(
        status, 404,
        "POST /v1/bdbs/{{uid}}/upgrade exists only from RS 7.4"
    );
}

#[test]
fn module_upgrades_are_refused_with_the_documented_error_codes() {
    let session = Session::start(EmulatorSpec::nodes(1).rs_version("7.2.4-92"));
    let emulator = &session.emulator;
    let add = |uid: &str, version: &str, edit: &dyn Fn(&mut Value)| {
        let mut module = module_json("hello", version);
        module["uid"] = json!(uid);
        edit(&mut module);
        emulator.add_module(module);
    };
    add("current", "1.5.0", &|_| {});
    add("older", "1.4.0", &|_| {});
    add("needs-redis-8", "1.6.0", &|m| {
        m["min_redis_version"] = json!("8.0")
    });
    add("needs-rs-9", "1.7.0", &|m| {
        m["min_redis_pack_version"] = json!("9.0")
    });
    add("no-crdb", "1.8.0", &|_| {});
    let mut database = bdb(7, "crdb-db", vec![bdb_module("current", "hello", "1.5.0")]);
    database["crdt"] = json!(true);
    emulator.put_bdb(database);

    let upgrade_to = |target: &str| {
        let body = json!({"modules": [{"current_module": "current", "new_module": target}]});
        let (status, reply) = session.post_json(1, "/v1/bdbs/7/modules/upgrade", &body);
        (
            status,
            reply["error_code"].as_str().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(upgrade_to("nowhere"), (406, "missing_module".into()));
    assert_eq!(
        upgrade_to("older"),
        (406, "module_downgrade_unsupported".into())
    );
    assert_eq!(
        upgrade_to("needs-redis-8"),
        (406, "redis_incompatible_version".into())
    );
    assert_eq!(
        upgrade_to("needs-rs-9"),
        (406, "redis_pack_incompatible_version".into())
    );
    assert_eq!(
        upgrade_to("no-crdb"),
        (406, "unsupported_module_capabilities".into())
    );

    let (status, _) = session.post_json(1, "/v1/bdbs/99/modules/upgrade", &json!({"modules": []}));
    assert_eq!(status, 404);
    let (status, _) = session.post_json(
        1,
        "/v1/bdbs/7/modules/upgrade",
        &json!({"modules": "hello"}),
    );
    assert_eq!(status, 400);
    let (status, bdbs) = session.get(1, "/v1/bdbs?fields=uid,name");
    assert_eq!(
        (status, bdbs),
        (200, json!([{"uid": 7, "name": "crdb-db"}]))
    );
    assert!(
        emulator.actions().is_empty(),
        "refused upgrades start no action"
    );
}

#[test]
fn counted_faults_answer_503_and_409_then_recover() {
    let session = Session::start(EmulatorSpec::nodes(2));
    let emulator = &session.emulator;
    emulator.set_fault_matching(
        2,
        RequestMatch::new("GET", "/v1/nodes"),
        Fault::Status503 { times: 2 },
    );
    emulator.set_fault(1, Fault::Busy409 { times: 1 });

    assert_eq!(
        session.get(2, "/v1/cluster").0,
        200,
        "the matcher spares other paths"
    );
    assert_eq!(session.get(2, "/v1/nodes").0, 503);
    assert_eq!(session.get(2, "/v1/nodes").0, 503);
    assert_eq!(session.get(2, "/v1/nodes").0, 200);
    assert!(emulator.faults(2).is_empty(), "spent faults disappear");

    let (status, body) = session.post_json(1, "/v2/modules/user-defined", &json!({}));
    assert_eq!((status, body["error_code"].as_str()), (409, Some("busy")));
    assert_eq!(session.get(1, "/v1/nodes").0, 200);

    emulator.set_fault(1, Fault::Slow(Duration::from_millis(20)));
    assert_eq!(
        session.get(1, "/v1/nodes").0,
        200,
        "a slow node still answers"
    );
    emulator.clear_all_faults();
    assert!(emulator.faults(1).is_empty());

    let recorded: Vec<(usize, Option<u16>)> = emulator
        .requests()
        .iter()
        .map(|r| (r.node, r.status))
        .collect();
    assert_eq!(
        recorded,
        vec![
            (2, Some(200)),
            (2, Some(503)),
            (2, Some(503)),
            (2, Some(200)),
            (1, Some(409)),
            (1, Some(200)),
            (1, Some(200)),
        ]
    );
}

#[test]
fn a_down_node_refuses_connections_until_it_is_back() {
    let session = Session::start(EmulatorSpec::nodes(3));
    let emulator = &session.emulator;
    assert_eq!(
        session.get(2, "/v1/nodes").0,
        200,
        "opens a keep-alive connection to node 2"
    );

    emulator.set_fault(2, Fault::Down);
    let refused = session
        .agent
        .get(session.url(2, "/v1/nodes"))
        .header("Authorization", emulator.authorization())
        .call();
    match refused {
        Err(ureq::Error::Io(error)) => {
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused)
        }
        Err(ureq::Error::ConnectionFailed) => {}
        other => panic!("expected a refused connection, got {other:?}"),
    }
    assert_eq!(
        session.get(1, "/v1/nodes").0,
        200,
        "other nodes keep serving"
    );

    emulator.clear_faults(2);
    assert_eq!(session.get(2, "/v1/nodes").0, 200);
}

#[test]
fn an_upload_dropped_midway_leaves_nothing_and_the_next_one_succeeds() {
    let session = Session::start(EmulatorSpec::nodes(2));
    let emulator = &session.emulator;
    let zip = module_zip(&module_json("hello", "1.0.0"), &vec![7u8; 4_000_000]);
    emulator.set_fault(2, Fault::DropMidUpload { times: 1 });

    assert_eq!(session.get(2, "/v1/nodes").0, 200, "only uploads are cut");
    let cut = session.upload_raw(2, ARTIFACTS, "hello.zip", &zip);
    assert!(
        cut.is_err(),
        "the client sees a broken connection, got {cut:?}"
    );
    assert!(emulator.artifacts(2).is_empty());
    let dropped = emulator
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("the upload is recorded");
    assert_eq!(dropped.status, None);
    assert!(
        dropped.body_bytes > 0 && dropped.body_bytes < zip.len() as u64,
        "{dropped:?}"
    );
    let leftovers = std::fs::read_dir(emulator.data_dir().join("node-2").join("incoming"))
        .map(|dir| dir.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0);

    assert_eq!(session.upload(2, ARTIFACTS, &zip).0, 200);
    assert_eq!(emulator.artifacts(2).len(), 1);
}

#[test]
fn a_node_with_the_wrong_certificate_fails_the_handshake() {
    let session = Session::start(EmulatorSpec::nodes(2));
    let emulator = &session.emulator;
    emulator.set_fault(1, Fault::WrongCertificate);
    let result = session
        .agent
        .get(session.url(1, "/v1/nodes"))
        .header("Authorization", emulator.authorization())
        .call();
    assert!(
        matches!(
            result,
            Err(ureq::Error::Rustls(_)) | Err(ureq::Error::Tls(_)) | Err(ureq::Error::Io(_))
        ),
        "expected a certificate error, got {result:?}"
    );
    assert!(
        emulator.requests().is_empty(),
        "nothing reaches HTTP without a handshake"
    );
    assert_eq!(session.get(2, "/v1/nodes").0, 200);
    emulator.clear_faults(1);
    assert_eq!(session.get(1, "/v1/nodes").0, 200);
}

#[test]
fn the_plain_http_recorder_notices_credentials_sent_without_tls() {
    let session = Session::start(EmulatorSpec::nodes(1).plain_http());
    let emulator = &session.emulator;
    let url = format!("{}/v1/nodes", emulator.plain_http_url(1));
    assert_eq!(session.get(1, "/v1/nodes").0, 200);
    assert_eq!(answer(session.agent.get(&url).call()).0, 401);
    assert!(
        emulator.credentials_over_plain_http().is_empty(),
        "no credentials so far"
    );

    let (status, _) = answer(
        session
            .agent
            .get(&url)
            .header("Authorization", emulator.authorization())
            .call(),
    );
    assert_eq!(status, 200);
    let leaked = emulator.credentials_over_plain_http();
    assert_eq!(leaked.len(), 1);
    assert_eq!(
        (leaked[0].tls, leaked[0].path.as_str()),
        (false, "/v1/nodes")
    );
    assert!(emulator.only_gets());
}

/// Two versions of `hello` (uids `a1` 1.0.0 and `b2` 1.1.0) and database 1 on Redis 7.2
/// running 1.0.0, on an RS 8.2 cluster that offers Redis 6.2 … 8.2.
fn redis_7_2_database(spec: EmulatorSpec) -> Session {
    let session = Session::start(spec.rs_version("8.2.0-40"));
    for (uid, version) in [("a1", "1.0.0"), ("b2", "1.1.0")] {
        let mut module = module_json("hello", version);
        module["uid"] = json!(uid);
        module["compatible_redis_version"] = json!("7.2");
        session.emulator.add_module(module);
    }
    let mut database = bdb(1, "db1", vec![bdb_module("a1", "hello", "1.0.0")]);
    database["redis_version"] = json!("7.2");
    session.emulator.put_bdb(database);
    session
}

#[test]
fn an_upgrade_without_redis_version_moves_the_database_to_the_latest_redis() {
    let session = redis_7_2_database(EmulatorSpec::nodes(1));
    let (_, nodes) = session.get(1, "/v1/nodes");
    let offered: Vec<&str> = nodes[0]["supported_database_versions"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(offered, ["6.2", "7.2", "7.4", "8.0", "8.2"]);

    let body =
        json!({"modules": [{"current_module": "a1", "new_module": "b2", "new_module_args": ""}]});
    // Without redis_version the database moves to 8.2, which the 7.2 build does not fit.
    let (status, answer) = session.post_json(1, "/v1/bdbs/1/upgrade", &body);
    assert_eq!(
        (status, answer["error_code"].as_str()),
        (406, Some("redis_incompatible_version")),
        "{answer}"
    );
    let mut for_8_2 = module_json("hello", "1.2.0");
    for_8_2["uid"] = json!("c3");
    for_8_2["compatible_redis_version"] = json!("8.2");
    session.emulator.add_module(for_8_2);
    let to_8_2 =
        json!({"modules": [{"current_module": "a1", "new_module": "c3", "new_module_args": ""}]});
    let (status, answer) = session.post_json(1, "/v1/bdbs/1/upgrade", &to_8_2);
    assert_eq!(status, 200, "{answer}");
    session.follow_action(answer["action_uid"].as_str().expect("action"));
    assert_eq!(
        session.emulator.bdb(1).expect("db1")["redis_version"],
        "8.2"
    );

    session.emulator.put_bdb({
        let mut d = bdb(1, "db1", vec![bdb_module("a1", "hello", "1.0.0")]);
        d["redis_version"] = json!("7.2");
        d
    });
    let mut keep = body.clone();
    keep["redis_version"] = json!("7.2");
    let (_, answer) = session.post_json(1, "/v1/bdbs/1/upgrade", &keep);
    session.follow_action(answer["action_uid"].as_str().expect("action"));
    let db = session.emulator.bdb(1).expect("db1");
    assert_eq!(db["redis_version"], "7.2");
    assert_eq!(db["module_list"][0]["semantic_version"], "1.1.0");
    let recorded = session
        .emulator
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/v1/bdbs/1/upgrade")
        .expect("recorded");
    assert_eq!(
        recorded.json_body.expect("a JSON body")["redis_version"],
        "7.2"
    );
}

#[test]
fn a_dry_run_upgrade_answers_the_module_list_and_changes_nothing() {
    let session = redis_7_2_database(EmulatorSpec::nodes(1));
    let body = json!({"redis_version": "7.2", "modules": [{"current_module": "a1", "new_module": "b2", "new_module_args": ""}]});
    let (status, answer) = session.post_json(1, "/v1/bdbs/1/upgrade?dry_run=true", &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["module_list"][0]["semantic_version"], "1.1.0");
    assert!(answer.get("action_uid").is_none());
    assert_eq!(
        session.emulator.bdb(1).expect("db1")["module_list"][0]["semantic_version"],
        "1.0.0"
    );
    assert!(session.emulator.actions().is_empty());
}

#[test]
fn a_cluster_that_ignores_new_module_picks_the_newest_fitting_version() {
    let session = redis_7_2_database(EmulatorSpec::nodes(1).ignoring_new_module());
    let mut newest = module_json("hello", "1.2.0");
    newest["uid"] = json!("c3");
    newest["compatible_redis_version"] = json!("7.2");
    session.emulator.add_module(newest);
    let mut other_redis = module_json("hello", "1.3.0");
    other_redis["uid"] = json!("d4");
    other_redis["compatible_redis_version"] = json!("8.2");
    session.emulator.add_module(other_redis);
    let body = json!({"redis_version": "7.2", "modules": [{"current_module": "a1", "new_module": "b2", "new_module_args": ""}]});
    let (_, answer) = session.post_json(1, "/v1/bdbs/1/upgrade", &body);
    session.follow_action(answer["action_uid"].as_str().expect("action"));
    let db = session.emulator.bdb(1).expect("db1");
    assert_eq!(db["module_list"][0]["module_id"], "c3", "{db}");
}

#[test]
fn deleting_a_module_a_database_runs_is_module_in_use() {
    let session = redis_7_2_database(EmulatorSpec::nodes(1));
    for path in [
        "/v2/modules/a1",
        "/v1/modules/a1",
        "/v2/modules/user-defined/a1",
    ] {
        let (status, answer) = session.delete(1, path);
        assert_eq!(
            (status, answer["error_code"].as_str()),
            (406, Some("module_in_use")),
            "{path}"
        );
    }
    let (status, _) = session.delete(1, "/v2/modules/b2");
    assert_eq!(status, 200, "a version no database runs goes");
}

#[test]
fn a_node_takes_an_artifact_of_its_own_os_compared_by_name_and_major_version() {
    let session = Session::start(EmulatorSpec::nodes(2));
    session
        .emulator
        .set_node_platform(2, NodePlatform::rhel("9.4"));
    let with_os = |systems: Value| {
        let mut metadata = module_json("hello", "1.2.3");
        metadata["operating_systems"] = systems;
        module_zip(&metadata, b"so")
    };
    // Node 1 runs Ubuntu 22.04: RAMP's ubuntu22 and Redis's ubuntu22.04 both name it.
    for systems in [
        json!(["ubuntu22"]),
        json!(["ubuntu22.04"]),
        json!(["rhel9", "ubuntu22"]),
    ] {
        let (status, body) = session.upload(1, ARTIFACTS, &with_os(systems.clone()));
        assert_eq!(status, 200, "{systems}: {body}");
    }
    // Node 2 runs RHEL 9: a Rocky build is the same base; an Ubuntu build is refused by name.
    let (status, _) = session.upload(2, ARTIFACTS, &with_os(json!(["rocky9"])));
    assert_eq!(status, 200);
    let (status, body) = session.upload(2, ARTIFACTS, &with_os(json!(["ubuntu22"])));
    assert_eq!(
        (status, body["error_code"].as_str()),
        (406, Some("os_not_supported"))
    );
    assert_eq!(
        body["description"],
        "Module 'hello' is not compatible with this node's OS 'rhel9'. Supported operating systems: [\"ubuntu22\"]"
    );
    let (status, _) = session.upload(2, ARTIFACTS, &with_os(json!(["rhel8"])));
    assert_eq!(status, 406, "another major version is another OS");
    // The older key is read too; an entry that is not name + version is refused as such.
    let mut old_key = module_json("hello", "1.2.4");
    old_key.as_object_mut().unwrap().remove("operating_systems");
    old_key["os_list"] = json!(["rhel9"]);
    let (status, _) = session.upload(2, ARTIFACTS, &module_zip(&old_key, b"so"));
    assert_eq!(status, 200);
    old_key["os_list"] = json!(["ubuntu22"]);
    let (status, _) = session.upload(2, ARTIFACTS, &module_zip(&old_key, b"so"));
    assert_eq!(status, 406);
    let (status, body) = session.upload(1, ARTIFACTS, &with_os(json!(["ubuntu"])));
    assert_eq!(
        (status, body["error_code"].as_str()),
        (406, Some("module_os_list_invalid")),
        "{body}"
    );
    let (_, nodes) = session.get(1, "/v1/nodes");
    assert_eq!(nodes[1]["os_name"], "rhel");
    assert_eq!(nodes[1]["os_semantic_version"], "9.4");
}

/// hello 8.0.0, 8.0.1, 8.2.0, 8.2.1 and 8.4.0, one per Redis feature set as RedisGears ships,
/// on an RS 8.2 cluster offering Redis up to 8.4.
fn feature_set_builds(spec: EmulatorSpec) -> Session {
    let session = Session::start(spec.rs_version("8.2.0-40"));
    for (version, compatible) in [
        ("8.0.0", "8.0"),
        ("8.0.1", "8.0"),
        ("8.2.0", "8.2"),
        ("8.2.1", "8.2"),
        ("8.4.0", "8.4"),
    ] {
        let mut module = module_json("hello", version);
        module["uid"] = json!(format!("hello-{version}"));
        module["compatible_redis_version"] = json!(compatible);
        module["min_redis_version"] = json!("8.0");
        module["capabilities"]
            .as_array_mut()
            .unwrap()
            .push(json!("crdb"));
        session.emulator.add_module(module);
    }
    session
}

#[test]
fn an_upgrade_that_names_no_version_gets_the_newest_build_that_fits_the_databases_redis() {
    let session = feature_set_builds(EmulatorSpec {
        redis_versions: Some(vec!["7.4".into(), "8.0".into(), "8.2".into(), "8.4".into()]),
        ..EmulatorSpec::nodes(1)
    });
    for (uid, redis) in [(1, "8.0"), (2, "8.2")] {
        let mut db = bdb(uid, "db", vec![bdb_module("hello-8.0.0", "hello", "8.0.0")]);
        db["redis_version"] = json!(redis);
        session.emulator.put_bdb(db);
    }
    for (uid, redis, expected) in [(1, "8.0", "8.0.1"), (2, "8.2", "8.2.1")] {
        let body = json!({"redis_version": redis});
        let (status, answer) = session.post_json(1, &format!("/v1/bdbs/{uid}/upgrade"), &body);
        assert_eq!(status, 200, "{answer}");
        session.follow_action(answer["action_uid"].as_str().expect("action"));
        let db = session.emulator.bdb(uid).expect("db");
        assert_eq!(db["module_list"][0]["semantic_version"], expected, "{db}");
    }
    // No build for Redis 7.4: the database cannot go there.
    let mut db = bdb(3, "db3", vec![bdb_module("hello-8.0.0", "hello", "8.0.0")]);
    db["redis_version"] = json!("8.0");
    session.emulator.put_bdb(db);
    let (status, answer) =
        session.post_json(1, "/v1/bdbs/3/upgrade", &json!({"redis_version": "7.4"}));
    assert_eq!(
        (status, answer["error_code"].as_str()),
        (400, Some("upgrade_bdb_failed")),
        "{answer}"
    );
    assert!(
        answer["description"].as_str().unwrap().contains("lower"),
        "{answer}"
    );
}

#[test]
fn an_upgrade_moves_every_module_to_its_newest_fitting_build_and_redis_8_brings_its_modules() {
    let session = feature_set_builds(EmulatorSpec::nodes(1));
    for (version, compatible) in [("1.0.0", "7.4"), ("2.0.0", "8.2")] {
        let mut other = module_json("other", version);
        other["uid"] = json!(format!("other-{version}"));
        other["compatible_redis_version"] = json!(compatible);
        other["capabilities"]
            .as_array_mut()
            .unwrap()
            .push(json!("crdb"));
        session.emulator.add_module(other);
    }
    let mut db = bdb(
        1,
        "db1",
        vec![
            bdb_module("hello-7.4", "hello", "7.4.0"),
            bdb_module("other-1.0.0", "other", "1.0.0"),
            bdb_module("sl", "searchlight", "2.6.0"),
        ],
    );
    db["redis_version"] = json!("7.4");
    session.emulator.put_bdb(db.clone());
    let body = json!({"redis_version": "8.2", "modules": [{"current_module": "hello-7.4", "new_module": "hello-8.2.1", "new_module_args": ""}]});
    let (status, answer) = session.post_json(1, "/v1/bdbs/1/upgrade?dry_run=true", &body);
    assert_eq!(status, 200, "{answer}");
    let names: Vec<(&str, &str)> = answer["module_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["module_name"].as_str().unwrap(),
                m["semantic_version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("hello", "8.2.1"),
            ("other", "2.0.0"),
            ("search", "8.2.0"),
            ("timeseries", "8.2.0"),
            ("bf", "8.2.0"),
            ("ReJSON", "8.2.0"),
        ]
    );
    // Active-Active databases do not get Redis 8's modules.
    db["crdt"] = json!(true);
    session.emulator.put_bdb(db);
    let (_, answer) = session.post_json(1, "/v1/bdbs/1/upgrade?dry_run=true", &body);
    assert_eq!(
        answer["module_list"].as_array().map(Vec::len),
        Some(3),
        "{answer}"
    );
    // A module with no build for the new Redis stops the upgrade.
    let mut stuck = bdb(
        2,
        "db2",
        vec![
            bdb_module("hello-7.4", "hello", "7.4.0"),
            bdb_module("x", "lonely", "1.0.0"),
        ],
    );
    stuck["redis_version"] = json!("7.4");
    let mut lonely = module_json("lonely", "1.0.0");
    lonely["uid"] = json!("x");
    lonely["compatible_redis_version"] = json!("7.4");
    session.emulator.add_module(lonely);
    session.emulator.put_bdb(stuck);
    let body = json!({"redis_version": "8.2", "modules": [{"current_module": "hello-7.4", "new_module": "hello-8.2.1"}]});
    let (status, answer) = session.post_json(1, "/v1/bdbs/2/upgrade", &body);
    assert_eq!(
        (status, answer["error_code"].as_str()),
        (400, Some("upgrade_bdb_failed"))
    );
    assert_eq!(
        answer["description"],
        "Unable to find a version of the module lonely that is supported by target redis version of BDB 8.2"
    );
}

#[test]
fn upgrades_are_refused_on_mixed_rs_nodes_and_against_the_upgrade_policy() {
    let session = feature_set_builds(EmulatorSpec::nodes(2));
    let mut db = bdb(1, "db1", vec![bdb_module("hello-8.0.0", "hello", "8.0.0")]);
    db["redis_version"] = json!("8.0");
    session.emulator.put_bdb(db);
    session
        .emulator
        .set_node_software_version(2, Some("8.0.2-17"));
    let body = json!({"redis_version": "8.0"});
    let (status, answer) = session.post_json(1, "/v1/bdbs/1/upgrade", &body);
    assert_eq!(status, 400);
    assert!(
        answer["description"]
            .as_str()
            .unwrap()
            .contains("not all nodes upgraded to the same version"),
        "{answer}"
    );
    session.emulator.set_node_software_version(2, None);
    session.emulator.set_redis_upgrade_policy("major", "8.0");
    let (_, cluster) = session.get(1, "/v1/cluster");
    assert_eq!(cluster["redis_upgrade_policy"], "major");
    let (status, answer) =
        session.post_json(1, "/v1/bdbs/1/upgrade", &json!({"redis_version": "8.2"}));
    assert_eq!(
        (status, answer["error_code"].as_str()),
        (400, Some("redis_upgrade_policy_mismatch"))
    );
    let (status, _) = session.post_json(1, "/v1/bdbs/1/upgrade", &body);
    assert_eq!(status, 200, "keeping the Redis version is always allowed");
}
