//! Building blocks for tests that talk to the emulator: module.json values, module zips (small in
//! memory, large on disk), multipart bodies, database objects.

use serde_json::{json, Value};
use std::fs::File;
use std::io::{self, BufWriter, Cursor, Write};
use std::path::Path;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// A complete module.json for `name` at `semantic_version` (e.g. `1.2.3` → version 10203),
/// x86_64, for ubuntu22.04 and rhel9, with one command and the common capabilities.
pub fn module_json(name: &str, semantic_version: &str) -> Value {
    let parts: Vec<i64> = semantic_version
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .chain(std::iter::repeat(0))
        .take(3)
        .collect();
    let version = parts[0] * 10_000 + parts[1] * 100 + parts[2];
    json!({
        "module_name": name,
        "module_file": format!("{name}.so"),
        "display_name": name,
        "version": version,
        "semantic_version": semantic_version,
        "architecture": "x86_64",
        "os": "Linux",
        "operating_systems": ["ubuntu22", "rhel9"],
        "min_redis_version": "7.0",
        "min_redis_pack_version": "7.2",
        "compatible_redis_version": "7.4",
        "commands": [{
            "command_name": format!("{}.hello", name.to_ascii_lowercase()),
            "command_arity": -1,
            "flags": ["readonly"],
            "first_key": 0,
            "last_key": 0,
            "step": 0
        }],
        "command_line_args": "",
        "capabilities": ["types", "replica_of", "backup_restore", "eviction_expiry", "failover_migrate",
                         "persistence_aof", "persistence_rdb", "clustering", "reshard_rebalance"],
        "dependencies": {},
        "author": "rmpack tests",
        "license": "MIT",
        "ramp_format_version": 1,
    })
}

/// The custom-module configuration for `POST /v2/modules/user-defined` derived from a module.json.
pub fn user_defined_config(module_json: &Value) -> Value {
    let mut config = json!({});
    for key in [
        "module_name",
        "version",
        "semantic_version",
        "display_name",
        "commands",
        "command_line_args",
        "capabilities",
        "min_redis_version",
        "compatible_redis_version",
        "author",
    ] {
        if let Some(value) = module_json.get(key) {
            config[key] = value.clone();
        }
    }
    config
}

/// A zip holding exactly these entries (stored, in order).
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in entries {
        let mode = if name.ends_with(".so") { 0o755 } else { 0o644 };
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .unix_permissions(mode);
        writer
            .start_file(*name, options)
            .expect("zip entry in memory");
        writer.write_all(content).expect("zip write in memory");
    }
    writer.finish().expect("zip finish in memory").into_inner()
}

/// A module zip: module.json plus the `.so` named by its `module_file` (or `<module_name>.so`).
pub fn module_zip(module_json: &Value, so_bytes: &[u8]) -> Vec<u8> {
    module_zip_with_deps(module_json, so_bytes, &[])
}

/// A module zip that also embeds `deps/<name>.tgz` archives.
pub fn module_zip_with_deps(
    module_json: &Value,
    so_bytes: &[u8],
    deps: &[(&str, &[u8])],
) -> Vec<u8> {
    let so_name = so_file_name(module_json);
    let json_bytes = serde_json::to_vec_pretty(module_json).expect("module.json serializes");
    let dep_names: Vec<String> = deps
        .iter()
        .map(|(name, _)| format!("deps/{name}.tgz"))
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![("module.json", &json_bytes), (&so_name, so_bytes)];
    for (name, (_, bytes)) in dep_names.iter().zip(deps) {
        entries.push((name, bytes));
    }
    zip_of(&entries)
}

fn so_file_name(module_json: &Value) -> String {
    module_json
        .get("module_file")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let name = module_json
                .get("module_name")
                .and_then(Value::as_str)
                .unwrap_or("module");
            format!("{name}.so")
        })
}

/// Writes a module zip whose `.so` is `so_size` bytes of pseudo-random data, streaming, so
/// benchmarks can build a zip of hundreds of megabytes without holding it; returns the zip size.
pub fn write_module_zip(path: &Path, module_json: &Value, so_size: u64) -> io::Result<u64> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut writer = ZipWriter::new(file);
    let to_io = |e: zip::result::ZipError| io::Error::other(e.to_string());
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(so_size >= u64::from(u32::MAX));
    writer
        .start_file("module.json", options.unix_permissions(0o644))
        .map_err(to_io)?;
    writer.write_all(&serde_json::to_vec_pretty(module_json).map_err(io::Error::other)?)?;
    writer
        .start_file(so_file_name(module_json), options.unix_permissions(0o755))
        .map_err(to_io)?;
    let mut block = vec![0u8; 1 << 20];
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    rng.fill(&mut block);
    let mut left = so_size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        writer.write_all(&block[..n])?;
        left -= n as u64;
    }
    writer.finish().map_err(to_io)?.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// A `multipart/form-data` body with one file field; returns (Content-Type, body).
pub fn multipart_body(field: &str, file_name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "------------------------rmpack-emulator-7d3f1c";
    let mut body = Vec::with_capacity(content.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!("Content-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(b"Content-Type: application/zip\r\n\r\n");
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A database object with these modules (see [`bdb_module`]); add configuration fields such as
/// `data_persistence` or `crdt` to it to require module capabilities.
pub fn bdb(uid: u64, name: &str, modules: Vec<Value>) -> Value {
    json!({
        "uid": uid,
        "name": name,
        "type": "redis",
        "status": "active",
        "memory_size": 1_073_741_824u64,
        "redis_version": "7.4",
        "shards_count": 1,
        "module_list": modules,
    })
}

/// One entry of a database's `module_list`.
pub fn bdb_module(module_uid: &str, module_name: &str, semantic_version: &str) -> Value {
    json!({
        "module_id": module_uid,
        "module_name": module_name,
        "semantic_version": semantic_version,
        "module_args": "",
    })
}
