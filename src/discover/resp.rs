//! The Redis protocol (RESP2 and RESP3) as discovery reads it: one [`Reply`] per request, with
//! bounded nesting and bulk sizes so a hostile or broken server cannot take memory or stack.

use std::fmt;
use std::io::{self, BufRead, ErrorKind};

/// Nesting deeper than this in a reply is refused rather than followed.
pub(crate) const MAX_REPLY_DEPTH: usize = 32;

/// A bulk string longer than this is refused rather than allocated.
const MAX_BULK_LEN: usize = 64 * 1024 * 1024;

/// One reply in the Redis protocol (RESP2 or RESP3).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A simple string (`+OK`).
    Status(String),
    /// An error reply (`-ERR …`), without the leading `-`.
    Error(String),
    /// An integer.
    Integer(i64),
    /// A bulk string (RESP3 verbatim strings arrive here without their format prefix).
    Bulk(Vec<u8>),
    /// A null bulk string, null array or RESP3 null.
    Null,
    /// A RESP3 double.
    Double(f64),
    /// A RESP3 boolean.
    Boolean(bool),
    /// A RESP3 big number, as its decimal digits.
    BigNumber(String),
    /// An array (or a RESP3 push message).
    Array(Vec<Reply>),
    /// A RESP3 set.
    Set(Vec<Reply>),
    /// A RESP3 map, in the order the server sent it.
    Map(Vec<(Reply, Reply)>),
}

impl Reply {
    /// The text of a status, bulk or big-number reply.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Status(s) | Reply::BigNumber(s) => Some(s.clone()),
            Reply::Bulk(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }

    /// The value of an integer reply, or of a text reply that holds an integer.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Reply::Integer(n) => Some(*n),
            other => other.as_text().and_then(|s| s.trim().parse().ok()),
        }
    }

    /// The elements of an array, set or push reply.
    pub fn as_list(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(items) | Reply::Set(items) => Some(items),
            _ => None,
        }
    }

    /// The key/value pairs of a RESP3 map, or of a RESP2 array of alternating keys and values.
    pub fn as_pairs(&self) -> Option<Vec<(&Reply, &Reply)>> {
        match self {
            Reply::Map(pairs) => Some(pairs.iter().map(|(k, v)| (k, v)).collect()),
            Reply::Array(items) if items.len() % 2 == 0 => {
                Some(items.chunks(2).map(|pair| (&pair[0], &pair[1])).collect())
            }
            _ => None,
        }
    }

    /// The value under `key` in a map reply (see [`Reply::as_pairs`]).
    pub fn get(&self, key: &str) -> Option<&Reply> {
        self.as_pairs()?
            .into_iter()
            .find(|(k, _)| k.as_text().as_deref() == Some(key))
            .map(|(_, v)| v)
    }

    /// The reply as JSON: maps become objects (keys as text), sets and arrays become arrays.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Reply::Status(s) | Reply::Error(s) => Value::String(s.clone()),
            Reply::BigNumber(s) => s
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or_else(|_| Value::String(s.clone())),
            Reply::Integer(n) => Value::from(*n),
            Reply::Bulk(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
            Reply::Null => Value::Null,
            Reply::Double(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(f.to_string())),
            Reply::Boolean(b) => Value::Bool(*b),
            Reply::Array(items) | Reply::Set(items) => {
                Value::Array(items.iter().map(Reply::to_json).collect())
            }
            Reply::Map(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (json_key(k), v.to_json()))
                    .collect(),
            ),
        }
    }
}

pub(crate) fn json_key(key: &Reply) -> String {
    key.as_text().unwrap_or_else(|| key.to_json().to_string())
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Error(s) => write!(f, "{s}"),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

/// Why a reply could not be read.
pub(crate) enum ReadError {
    Io(io::Error),
    Malformed(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn read_line(reader: &mut impl BufRead) -> Result<String, ReadError> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(ReadError::Io(io::Error::new(
            ErrorKind::UnexpectedEof,
            "the server closed the connection",
        )));
    }
    if !line.ends_with(b"\r\n") {
        return Err(ReadError::Malformed("a line does not end in CRLF".into()));
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn parse_length(text: &str) -> Result<Option<usize>, ReadError> {
    let n: i64 = text
        .parse()
        .map_err(|_| ReadError::Malformed(format!("length `{text}` is not a number")))?;
    if n < 0 {
        return Ok(None);
    }
    usize::try_from(n)
        .map(Some)
        .map_err(|_| ReadError::Malformed(format!("length {n} is too large")))
}

fn read_bulk(reader: &mut impl BufRead, len: usize) -> Result<Vec<u8>, ReadError> {
    if len > MAX_BULK_LEN {
        return Err(ReadError::Malformed(format!(
            "a bulk string of {len} bytes is larger than {MAX_BULK_LEN}"
        )));
    }
    let mut bytes = vec![0; len + 2];
    reader.read_exact(&mut bytes)?;
    if !bytes.ends_with(b"\r\n") {
        return Err(ReadError::Malformed(
            "a bulk string does not end in CRLF".into(),
        ));
    }
    bytes.truncate(len);
    Ok(bytes)
}

fn read_items(
    reader: &mut impl BufRead,
    count: usize,
    depth: usize,
) -> Result<Vec<Reply>, ReadError> {
    // The count comes from the wire: grow as elements arrive rather than trusting it up front.
    let mut items = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        items.push(read_reply(reader, depth + 1)?);
    }
    Ok(items)
}

pub(crate) fn read_reply(reader: &mut impl BufRead, depth: usize) -> Result<Reply, ReadError> {
    if depth > MAX_REPLY_DEPTH {
        return Err(ReadError::Malformed(format!(
            "reply nested deeper than {MAX_REPLY_DEPTH} levels"
        )));
    }
    let line = read_line(reader)?;
    let mut chars = line.chars();
    let kind = chars.next().unwrap_or(' ');
    let rest = chars.as_str();
    match kind {
        '+' => Ok(Reply::Status(rest.to_string())),
        '-' => Ok(Reply::Error(rest.to_string())),
        ':' => rest
            .parse()
            .map(Reply::Integer)
            .map_err(|_| ReadError::Malformed(format!("integer `{rest}` does not parse"))),
        '$' | '=' | '!' => match parse_length(rest)? {
            None => Ok(Reply::Null),
            Some(len) => {
                let bytes = read_bulk(reader, len)?;
                Ok(match kind {
                    // A verbatim string starts with a three-letter format and a colon.
                    '=' => Reply::Bulk(bytes.get(4..).unwrap_or_default().to_vec()),
                    '!' => Reply::Error(String::from_utf8_lossy(&bytes).into_owned()),
                    _ => Reply::Bulk(bytes),
                })
            }
        },
        '*' | '~' | '>' => match parse_length(rest)? {
            None => Ok(Reply::Null),
            Some(count) => {
                let items = read_items(reader, count, depth)?;
                Ok(if kind == '~' {
                    Reply::Set(items)
                } else {
                    Reply::Array(items)
                })
            }
        },
        '%' | '|' => {
            let count = parse_length(rest)?.unwrap_or(0);
            let flat = read_items(reader, count.saturating_mul(2), depth)?;
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let (Some(key), Some(value)) = (flat.next(), flat.next()) {
                pairs.push((key, value));
            }
            if kind == '|' {
                // Attributes describe the reply that follows; discovery has no use for them.
                return read_reply(reader, depth);
            }
            Ok(Reply::Map(pairs))
        }
        '_' => Ok(Reply::Null),
        '#' => match rest {
            "t" => Ok(Reply::Boolean(true)),
            "f" => Ok(Reply::Boolean(false)),
            _ => Err(ReadError::Malformed(format!("boolean `{rest}`"))),
        },
        ',' => {
            let value = match rest {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                _ => rest
                    .parse()
                    .map_err(|_| ReadError::Malformed(format!("double `{rest}` does not parse")))?,
            };
            Ok(Reply::Double(value))
        }
        '(' => Ok(Reply::BigNumber(rest.to_string())),
        _ => Err(ReadError::Malformed(format!(
            "reply line `{line}` has an unknown type"
        ))),
    }
}

/// One request as RESP: an array of bulk strings, each argument sent verbatim.
pub(crate) fn encode_request<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn parse(bytes: &[u8]) -> Result<Reply, ReadError> {
        read_reply(&mut BufReader::new(bytes), 0)
    }

    #[test]
    fn parses_resp3_maps_sets_and_scalars() {
        let reply = parse(
            b"%2\r\n+flags\r\n~2\r\n+RW\r\n+update\r\n$12\r\nbegin_search\r\n%1\r\n+index\r\n:2\r\n",
        )
        .ok();
        let json = reply.map(|r| r.to_json());
        assert_eq!(
            json,
            Some(serde_json::json!({"flags": ["RW", "update"], "begin_search": {"index": 2}}))
        );
        assert!(matches!(parse(b"_\r\n"), Ok(Reply::Null)));
        assert!(matches!(parse(b"#t\r\n"), Ok(Reply::Boolean(true))));
        assert!(matches!(parse(b",1.5\r\n"), Ok(Reply::Double(f)) if f == 1.5));
        assert!(matches!(parse(b"=8\r\ntxt:abcd\r\n"), Ok(Reply::Bulk(b)) if b == b"abcd"));
        assert!(matches!(parse(b"$-1\r\n"), Ok(Reply::Null)));
    }

    #[test]
    fn refuses_malformed_replies_without_panicking() {
        for bad in [
            &b""[..],
            b"?what\r\n",
            b":12x\r\n",
            b"$5\r\nab\r\n",
            b"$3\r\nabcXY",
            b"+no crlf\n",
            b"$99999999999\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "*1\r\n".repeat(MAX_REPLY_DEPTH + 2);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
