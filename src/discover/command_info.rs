//! `COMMAND INFO` replies as [`Command`]s: arity, flags, key positions, ACL categories, key specs
//! and subcommands, with names kept exactly as the module registered them.

use super::resp::{json_key, Reply};
use super::{protocol, DiscoverError};
use crate::manifest::Command;

/// Converts one `COMMAND INFO` entry (Redis 7 layout: name, arity, flags, first key, last key,
/// step, ACL categories, tips, key specs, subcommands; older servers send a prefix of it).
pub(crate) fn command_from_info(entry: &Reply, resp3: bool) -> Result<Command, DiscoverError> {
    let fields = entry
        .as_list()
        .ok_or_else(|| protocol(format!("COMMAND INFO entry {entry} is not an array")))?;
    let name = fields
        .first()
        .and_then(Reply::as_text)
        .ok_or_else(|| protocol(format!("COMMAND INFO entry {entry} has no name")))?;
    let integer = |index: usize, what: &str| -> Result<i64, DiscoverError> {
        match fields.get(index) {
            None => Ok(0),
            Some(value) => value.as_integer().ok_or_else(|| {
                protocol(format!(
                    "COMMAND INFO {name}: {what} {value} is not an integer"
                ))
            }),
        }
    };
    let texts = |index: usize, what: &str| -> Result<Vec<String>, DiscoverError> {
        match fields.get(index) {
            None => Ok(Vec::new()),
            Some(value) => value
                .as_list()
                .ok_or_else(|| {
                    protocol(format!("COMMAND INFO {name}: {what} {value} is not a list"))
                })?
                .iter()
                .map(|item| {
                    item.as_text().ok_or_else(|| {
                        protocol(format!(
                            "COMMAND INFO {name}: {what} holds {item}, not text"
                        ))
                    })
                })
                .collect(),
        }
    };
    let mut command = Command::new(name.clone(), integer(1, "arity")?);
    command.flags = texts(2, "flags")?;
    command.first_key = integer(3, "first key")?;
    command.last_key = integer(4, "last key")?;
    command.step = integer(5, "step")?;
    command.acl_categories = texts(6, "ACL categories")?;
    if let Some(specs) = fields.get(8) {
        command.key_specs = specs
            .as_list()
            .ok_or_else(|| {
                protocol(format!(
                    "COMMAND INFO {name}: key specs {specs} are not a list"
                ))
            })?
            .iter()
            .map(|spec| key_spec_json(spec, resp3))
            .collect();
    }
    if let Some(subcommands) = fields.get(9) {
        command.subcommands = subcommands
            .as_list()
            .ok_or_else(|| {
                protocol(format!(
                    "COMMAND INFO {name}: subcommands {subcommands} are not a list"
                ))
            })?
            .iter()
            .map(|sub| command_from_info(sub, resp3))
            .collect::<Result<_, _>>()?;
    }
    Ok(command)
}

/// A key spec as a JSON object. RESP3 sends maps; RESP2 flattens every map into an array of
/// alternating keys and values, so there the documented map fields are rebuilt by name.
fn key_spec_json(spec: &Reply, resp3: bool) -> serde_json::Value {
    if resp3 {
        spec.to_json()
    } else {
        resp2_map_json(spec, &["begin_search", "find_keys", "spec"])
    }
}

fn resp2_map_json(value: &Reply, map_fields: &[&str]) -> serde_json::Value {
    match value.as_pairs() {
        Some(pairs) if pairs.iter().all(|(k, _)| k.as_text().is_some()) => {
            serde_json::Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        let key = json_key(k);
                        let value = if map_fields.contains(&key.as_str()) {
                            resp2_map_json(v, map_fields)
                        } else {
                            v.to_json()
                        };
                        (key, value)
                    })
                    .collect(),
            )
        }
        _ => value.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_key_specs_become_objects() {
        let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let spec = Reply::Array(vec![
            bulk("flags"),
            Reply::Array(vec![Reply::Status("RO".into())]),
            bulk("begin_search"),
            Reply::Array(vec![
                bulk("type"),
                bulk("index"),
                bulk("spec"),
                Reply::Array(vec![bulk("index"), Reply::Integer(1)]),
            ]),
            bulk("find_keys"),
            Reply::Array(vec![
                bulk("type"),
                bulk("unknown"),
                bulk("spec"),
                Reply::Array(vec![]),
            ]),
        ]);
        assert_eq!(
            key_spec_json(&spec, false),
            serde_json::json!({
                "flags": ["RO"],
                "begin_search": {"type": "index", "spec": {"index": 1}},
                "find_keys": {"type": "unknown", "spec": {}},
            })
        );
    }
}
