//! A no-panic, no-leak campaign over server answers, as `tests/bundle.rs` runs one over damaged
//! zips: a scripted HTTPS server on loopback answers `upgrade`, `status`, `modules` and
//! `artifacts` with JSON generated from fixed seeds — deep nesting, huge strings, wrong types,
//! control characters (ESC, CSI U+009B, the bidirectional U+202E and U+2066), the password
//! echoed as is, JSON-escaped every way an encoder may write it, base64'd inside longer strings,
//! and answers cut in the middle of an escape — and every run of the real binary must end with
//! exit code 0, 1 or 2, show no form of the password and no raw unsafe character on stdout or
//! stderr, text and `--json` alike. Bounded: a fixed number of rounds, each with a request
//! budget and per-request timeouts, and a deadline after which no further round starts.

mod hostile_server;

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fastrand::Rng;
use hostile_server::{
    base64, json_escape, leaks, password_forms, unsafe_chars, Answer, Cluster, HostileServer,
    Request, AUTO_ADDRESS,
};
use serde_json::{json, Map, Value};

const USER: &str = "admin@rmpack.test";
const PASSWORD: &str = "c\u{e4}mp\"a/i\\gn\t\u{1F511}-pw";
const SEEDS: [u64; 3] = [0x7e57_0001, 0xbad_5e7e, 0x5eed_cafe];
const ROUNDS_PER_SEED: usize = 80;
/// No round starts after this; the campaign is bounded in time whatever the machine.
const DEADLINE: Duration = Duration::from_secs(240);
/// A run that takes longer than this is a hang: killed, and the campaign fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);
const REQUESTS_PER_ROUND: usize = 300;

/// What the campaign planted and checked, for its closing line.
#[derive(Default)]
struct Tally {
    runs: AtomicUsize,
    outputs: AtomicUsize,
    output_bytes: AtomicUsize,
    password_echoes: AtomicUsize,
    unsafe_strings: AtomicUsize,
    /// Outputs that show a redaction or an escaped control character: the plants got through.
    shown_redacted: AtomicUsize,
    shown_escaped: AtomicUsize,
    exit_codes: Mutex<HashMap<i32, usize>>,
}

/// Text with control characters and bidirectional overrides a terminal would act on.
fn unsafe_text(rng: &mut Rng) -> String {
    const PIECES: [&str; 10] = [
        "\u{1b}[2K\u{1b}[1A",
        "\u{9b}31m",
        "\u{202e}",
        "\u{2066}",
        "\u{1b}]0;owned\u{7}",
        "\r",
        "\n",
        "\t",
        "\u{7f}",
        "\u{0}",
    ];
    let mut out = String::from("x");
    for _ in 0..rng.usize(1..5) {
        out.push_str(PIECES[rng.usize(..PIECES.len())]);
        out.push_str("OK: 0 errors");
    }
    out
}

/// A string holding the password in one of the forms a server may echo it in (the JSON escaping
/// happens when the answer is written).
fn password_echo(rng: &mut Rng) -> String {
    match rng.u8(..5) {
        0 => PASSWORD.to_string(),
        1 => format!("wrong password {PASSWORD} for {USER}"),
        2 => {
            let prefix = &"abc"[..rng.usize(..3)];
            let inside = format!("{prefix}{PASSWORD}{}", "tail".repeat(rng.usize(..3)));
            format!("token={}", base64(inside.as_bytes(), rng.bool()))
        }
        3 => format!(
            "Authorization: Basic {}",
            base64(format!("{USER}:{PASSWORD}").as_bytes(), false)
        ),
        _ => format!("{}{PASSWORD}{}", unsafe_text(rng), unsafe_text(rng)),
    }
}

/// A value where a string, a number or an object was expected.
fn hostile_value(rng: &mut Rng, tally: &Tally, was_string: bool) -> Value {
    let choice = if was_string && rng.u8(..10) < 6 {
        rng.u8(..4)
    } else {
        rng.u8(..10)
    };
    match choice {
        0 => {
            tally.unsafe_strings.fetch_add(1, Ordering::Relaxed);
            Value::String(unsafe_text(rng))
        }
        1 => {
            tally.password_echoes.fetch_add(1, Ordering::Relaxed);
            Value::String(password_echo(rng))
        }
        2 => {
            // Huge: mostly hundreds of kilobytes, now and then several megabytes.
            let size = if rng.u8(..8) == 0 {
                rng.usize(2_000_000..6_000_000)
            } else {
                rng.usize(600..300_000)
            };
            let mut text = "h".repeat(size);
            if rng.bool() {
                tally.password_echoes.fetch_add(1, Ordering::Relaxed);
                let at = rng.usize(..text.len());
                text.insert_str(at, PASSWORD);
            }
            Value::String(text)
        }
        3 => {
            tally.unsafe_strings.fetch_add(1, Ordering::Relaxed);
            tally.password_echoes.fetch_add(1, Ordering::Relaxed);
            Value::String(format!("{}{}", unsafe_text(rng), password_echo(rng)))
        }
        4 => {
            // Nested deeper than a JSON parser may recurse, or just deep.
            let mut value = Value::String(password_echo(rng));
            tally.password_echoes.fetch_add(1, Ordering::Relaxed);
            for level in 0..rng.usize(10..300) {
                value = if level % 2 == 0 {
                    json!([value])
                } else {
                    json!({ "n": value })
                };
            }
            value
        }
        5 => json!(rng.i64(..)),
        6 => json!(rng.f64() * 1e300),
        7 => Value::Bool(rng.bool()),
        8 => Value::Null,
        _ => {
            tally.password_echoes.fetch_add(1, Ordering::Relaxed);
            tally.unsafe_strings.fetch_add(1, Ordering::Relaxed);
            let mut map = Map::new();
            map.insert(PASSWORD.to_string(), Value::String(unsafe_text(rng)));
            map.insert(unsafe_text(rng), json!([password_echo(rng), 1, null]));
            Value::Object(map)
        }
    }
}

/// Replaces one value somewhere in `doc`, found by a random walk from the root.
fn mutate(doc: &mut Value, rng: &mut Rng, tally: &Tally) {
    let mut at = doc;
    for depth in 0.. {
        let children = match &*at {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        };
        if children == 0 || (depth >= 2 && rng.u8(..6) == 0) {
            break;
        }
        let pick = rng.usize(..children);
        at = match at {
            Value::Object(map) => map.values_mut().nth(pick).expect("a child"),
            Value::Array(items) => &mut items[pick],
            _ => unreachable!(),
        };
    }
    let was_string = at.is_string();
    *at = hostile_value(rng, tally, was_string);
}

/// `value` as JSON text, each string (keys too) escaped one of the ways encoders do it.
fn write_json(value: &Value, rng: &mut Rng, out: &mut String) {
    let string = |text: &str, rng: &mut Rng, out: &mut String| {
        out.push('"');
        out.push_str(&json_escape(
            text,
            rng.bool(),
            rng.bool(),
            rng.bool(),
            rng.bool(),
        ));
        out.push('"');
    };
    match value {
        Value::String(text) => string(text, rng, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, rng, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(key, rng, out);
                out.push(':');
                write_json(item, rng, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// An answer's body: `value` escaped at random, now and then cut short (often right inside an
/// escape sequence), or replaced by text that is not JSON.
fn body_of(value: &Value, rng: &mut Rng, tally: &Tally) -> Vec<u8> {
    let mut text = String::new();
    write_json(value, rng, &mut text);
    match rng.u8(..14) {
        0 => {
            // Cut just after a backslash or inside `\u00…`, where a decoder stops mid-escape.
            let escapes: Vec<usize> = text.match_indices('\\').map(|(i, _)| i).collect();
            let at = if escapes.is_empty() {
                rng.usize(..=text.len())
            } else {
                (escapes[rng.usize(..escapes.len())] + rng.usize(1..4)).min(text.len())
            };
            let mut bytes = text.into_bytes();
            bytes.truncate(at);
            bytes
        }
        1 => {
            tally.password_echoes.fetch_add(1, Ordering::Relaxed);
            tally.unsafe_strings.fetch_add(1, Ordering::Relaxed);
            format!(
                "<html><body>{}: {}</body></html>",
                password_echo(rng),
                unsafe_text(rng)
            )
            .into_bytes()
        }
        _ => text.into_bytes(),
    }
}

/// An RS error object with hostile text.
fn error_value(rng: &mut Rng, tally: &Tally) -> Value {
    json!({
        "error_code": hostile_value(rng, tally, true),
        "description": hostile_value(rng, tally, true),
        "message": hostile_value(rng, tally, true),
    })
}

/// One route's answers: served in turn, the last one repeating.
type Routes = HashMap<String, Vec<Answer>>;

fn route_key(method: &str, path: &str, node: Option<usize>, dry_run: bool) -> String {
    format!(
        "{method} {path}{}{}",
        node.map(|n| format!(" @{n}")).unwrap_or_default(),
        if dry_run { " ?dry_run" } else { "" }
    )
}

/// The answers of one round: the plausible cluster's, edited by the doc's mutations, written
/// with random escaping; some routes answer an error instead.
fn routes_of(doc: &Value, addresses: &[String], rng: &mut Rng, tally: &Tally) -> Routes {
    let mut nodes = doc["nodes"].clone();
    for (node, address) in nodes.as_array_mut().into_iter().flatten().zip(addresses) {
        if node.get("addr") == Some(&json!(AUTO_ADDRESS)) {
            node["addr"] = json!(address);
        }
    }
    let bdb = doc["bdbs"].get(0).cloned().unwrap_or(Value::Null);
    let mut upgraded = bdb.clone();
    if let Some(module) = upgraded.pointer_mut("/module_list/0") {
        if module.is_object() {
            module["module_id"] = json!("new");
            module["semantic_version"] = json!("1.2.0");
        }
    }
    let mut plain: Vec<(String, Vec<Value>)> = vec![
        (route_key("GET", "/v1/nodes", None, false), vec![nodes]),
        (
            route_key("GET", "/v1/cluster", None, false),
            vec![doc["cluster"].clone()],
        ),
        (
            route_key("GET", "/v1/cluster/module-capabilities", None, false),
            vec![doc["capabilities"].clone()],
        ),
        (
            route_key("GET", "/v1/modules", None, false),
            vec![doc["modules"].clone()],
        ),
        (
            route_key("GET", "/v1/bdbs", None, false),
            vec![doc["bdbs"].clone()],
        ),
        (
            route_key("GET", "/v1/bdbs/1", None, false),
            vec![bdb, upgraded.clone()],
        ),
        (
            route_key("POST", "/v1/bdbs/1/upgrade", None, false),
            vec![doc["upgrade_answer"].clone()],
        ),
        (
            route_key("POST", "/v1/bdbs/1/upgrade", None, true),
            vec![upgraded],
        ),
        (
            route_key("GET", "/v1/actions/a1", None, false),
            doc["action_polls"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![doc["action_polls"].clone()]),
        ),
    ];
    for module in doc["modules"].as_array().into_iter().flatten() {
        if let Some(uid) = module.get("uid").and_then(Value::as_str) {
            plain.push((
                route_key("GET", &format!("/v1/modules/{uid}"), None, false),
                vec![module.clone()],
            ));
        }
    }
    for (index, list) in doc["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        plain.push((
            route_key(
                "GET",
                "/v2/local/modules/user-defined/artifacts",
                Some(index + 1),
                false,
            ),
            vec![list.clone()],
        ));
    }
    let mut routes: Routes = plain
        .into_iter()
        .map(|(key, values)| {
            let answers = values
                .iter()
                .map(|v| Answer::raw(200, body_of(v, rng, tally)))
                .collect();
            (key, answers)
        })
        .collect();
    // Some routes answer an error, with hostile text in it.
    let keys: Vec<String> = {
        let mut keys: Vec<String> = routes.keys().cloned().collect();
        keys.sort();
        keys
    };
    for _ in 0..rng.usize(..3) {
        let key = &keys[rng.usize(..keys.len())];
        let status = [400, 401, 403, 404, 406, 409, 500, 502, 503][rng.usize(..9)];
        let error = error_value(rng, tally);
        routes.insert(
            key.clone(),
            vec![Answer::raw(status, body_of(&error, rng, tally))],
        );
    }
    // Deletes answer 200, now and then with an error in the body.
    for (method, path) in [
        (
            "DELETE",
            "/v2/local/modules/user-defined/artifacts/hello/10200",
        ),
        ("DELETE", "/v2/modules/user-defined/new"),
        ("DELETE", "/v2/modules/new"),
    ] {
        let body = if rng.bool() {
            body_of(&error_value(rng, tally), rng, tally)
        } else {
            Vec::new()
        };
        for node in [None, Some(1), Some(2), Some(3)] {
            routes.insert(
                route_key(method, path, node, false),
                vec![Answer::raw(200, body.clone())],
            );
        }
    }
    routes
}

fn serve(
    routes: &OnceLock<Routes>,
    turns: &Mutex<HashMap<String, usize>>,
    request: &Request,
) -> Answer {
    let Some(routes) = routes.get() else {
        return Answer::not_found();
    };
    let dry_run = request
        .query
        .as_deref()
        .is_some_and(|q| q.contains("dry_run"));
    let keys = [
        route_key(&request.method, &request.path, Some(request.node), dry_run),
        route_key(&request.method, &request.path, None, dry_run),
    ];
    for key in keys {
        if let Some(answers) = routes.get(&key) {
            let mut turns = turns.lock().unwrap_or_else(|p| p.into_inner());
            let turn = turns.entry(key).or_insert(0);
            let answer = answers[(*turn).min(answers.len() - 1)].clone();
            *turn += 1;
            return answer;
        }
    }
    Answer::not_found()
}

/// The command of a round.
fn command_of(rng: &mut Rng, doc: &Value) -> Vec<String> {
    let module_uid = doc["modules"]
        .get(1)
        .and_then(|m| m.get("uid"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty() && u.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("new")
        .to_string();
    let mut words: Vec<String> = match rng.u8(..9) {
        0 => vec!["status".into()],
        1 => vec!["modules".into(), "list".into()],
        2 => vec!["modules".into(), "get".into(), module_uid],
        3 => {
            let mut words = vec!["modules".into(), "delete".into(), module_uid];
            if rng.bool() {
                words.push("--user-defined".into());
            }
            if rng.bool() {
                words.push("--force".into());
            }
            words
        }
        4 => vec!["artifacts".into(), "list".into()],
        5 => vec![
            "artifacts".into(),
            "delete".into(),
            "hello".into(),
            "1.2.0".into(),
        ],
        6 => vec![
            "upgrade".into(),
            "--db".into(),
            "1".into(),
            "--module".into(),
            "hello".into(),
            "--dry-run".into(),
        ],
        _ => vec![
            "upgrade".into(),
            "--db".into(),
            "1".into(),
            "--module".into(),
            "hello".into(),
            "--poll-interval".into(),
            "0.05".into(),
            "--wait".into(),
            "2".into(),
        ],
    };
    if rng.bool() {
        words.push("--json".into());
    }
    words
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

fn run(server: &HostileServer, words: &[String]) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RMPACK_USER", USER)
        .env("RMPACK_PASSWORD", PASSWORD)
        .env("RMPACK_PROFILES", dir.path().join("none.toml"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .args(words)
        .args(["--cluster", &server.url(), "--ca-cert"])
        .arg(server.ca_cert_path())
        .args(["--timeout", "10", "--retries", "2", "--busy-timeout", "1"])
        .spawn()
        .expect("rmpack starts");
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome {
        code: status.and_then(|s| s.code()),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

/// One round: a cluster with a few hostile edits, one command, every check.
fn round(seed: u64, index: usize, tally: &Tally, forms: &[String]) {
    let mut rng = Rng::with_seed(seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let plausible = Cluster::plausible(rng.usize(1..=3));
    let mut doc = json!({
        "nodes": plausible.nodes,
        "cluster": plausible.cluster,
        "capabilities": plausible.capabilities,
        "modules": plausible.modules,
        "bdbs": plausible.bdbs,
        "artifacts": plausible.artifacts,
        "action_polls": plausible.action_polls,
        "upgrade_answer": plausible.upgrade_answer,
    });
    let node_count = doc["nodes"].as_array().map_or(1, Vec::len);
    for _ in 0..rng.usize(1..6) {
        mutate(&mut doc, &mut rng, tally);
    }
    let words = command_of(&mut rng, &doc);
    let routes: Arc<OnceLock<Routes>> = Arc::new(OnceLock::new());
    let turns = Arc::new(Mutex::new(HashMap::new()));
    let (served, turned) = (routes.clone(), turns.clone());
    let server = HostileServer::start(node_count, REQUESTS_PER_ROUND, move |request| {
        serve(&served, &turned, request)
    });
    let _ = routes.set(routes_of(&doc, &server.node_addresses(), &mut rng, tally));
    let outcome = run(&server, &words);
    let what = format!("seed {seed:#x} round {index}: rmpack {}", words.join(" "));
    let code = outcome.code.unwrap_or_else(|| {
        panic!(
            "{what}: no exit code after {:?} (a signal, or a hang past {RUN_LIMIT:?})\nstderr: {}",
            outcome.elapsed,
            &outcome.stderr[..outcome.stderr.len().min(4000)]
        )
    });
    assert!(
        matches!(code, 0..=2),
        "{what}: exit {code} (a panic exits 101)\nstderr: {}",
        &outcome.stderr[..outcome.stderr.len().min(4000)]
    );
    for (stream, text) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        let found = leaks(text, forms);
        assert!(
            found.is_empty(),
            "{what}: the password leaked on {stream} as {found:?}:\n{text}"
        );
        let raw = unsafe_chars(text);
        assert!(raw.is_empty(), "{what}: raw {raw:?} on {stream}:\n{text}");
        assert!(
            text.len() < 4 << 20,
            "{what}: {} bytes on {stream}: server text is not bounded",
            text.len()
        );
        tally.outputs.fetch_add(1, Ordering::Relaxed);
        tally.output_bytes.fetch_add(text.len(), Ordering::Relaxed);
        if text.contains("<redacted>") {
            tally.shown_redacted.fetch_add(1, Ordering::Relaxed);
        }
        if text.contains("\\x1b") || text.contains("\\u{") || text.contains("\\u00") {
            tally.shown_escaped.fetch_add(1, Ordering::Relaxed);
        }
    }
    tally.runs.fetch_add(1, Ordering::Relaxed);
    *tally
        .exit_codes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(code)
        .or_default() += 1;
}

#[test]
fn hostile_answers_never_panic_leak_the_password_or_reach_the_terminal_raw() {
    let forms = password_forms(USER, PASSWORD);
    let tally = Tally::default();
    let started = Instant::now();
    let jobs: Vec<(u64, usize)> = SEEDS
        .iter()
        .flat_map(|seed| (0..ROUNDS_PER_SEED).map(move |index| (*seed, index)))
        .collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let job = next.fetch_add(1, Ordering::SeqCst);
                if job >= jobs.len() || started.elapsed() > DEADLINE {
                    break;
                }
                let (seed, index) = jobs[job];
                round(seed, index, &tally, &forms);
            });
        }
    });
    let runs = tally.runs.load(Ordering::Relaxed);
    let mut codes: Vec<(i32, usize)> = tally
        .exit_codes
        .lock()
        .unwrap()
        .iter()
        .map(|(c, n)| (*c, *n))
        .collect();
    codes.sort();
    println!(
        "campaign: {runs} of {} runs in {:.1}s (exit codes {codes:?}); {} outputs ({} bytes) checked for {} forms of the password and for raw unsafe characters; answers planted {} password echoes and {} strings with control characters; {} outputs showed a redaction, {} an escaped control character",
        jobs.len(),
        started.elapsed().as_secs_f64(),
        tally.outputs.load(Ordering::Relaxed),
        tally.output_bytes.load(Ordering::Relaxed),
        forms.len(),
        tally.password_echoes.load(Ordering::Relaxed),
        tally.unsafe_strings.load(Ordering::Relaxed),
        tally.shown_redacted.load(Ordering::Relaxed),
        tally.shown_escaped.load(Ordering::Relaxed),
    );
    assert!(runs > 0, "no round ran");
    // Every exit code is reached, so the campaign exercises successes as well as refusals.
    assert!(codes.iter().any(|(c, _)| *c == 0), "{codes:?}");
    assert!(codes.iter().any(|(c, _)| *c == 1), "{codes:?}");
}
