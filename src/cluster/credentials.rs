//! Where the cluster URL, user and password come from, and how the password is kept out of logs.
//!
//! Sources, first match wins for each value: command-line flags; a profile named with `--profile`;
//! the environment (`RMPACK_URL`, `RMPACK_USER`, `RMPACK_PASSWORD`, then the Redis Enterprise
//! tools' `REDIS_ENTERPRISE_URL`, `REDIS_ENTERPRISE_USER`, `REDIS_ENTERPRISE_PASSWORD`,
//! `REDIS_ENTERPRISE_INSECURE`, `REDIS_ENTERPRISE_CA_CERT`); the `default` profile; and, for the
//! password only, a prompt supplied by the caller.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::ClusterError;
use crate::listener::Listener;

/// A password: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Password(password.into())
    }

    /// The password itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A user and a password for HTTP basic auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The RS user (an e-mail address, usually).
    pub user: String,
    /// The password.
    pub password: Password,
}

impl Credentials {
    /// The value of the `Authorization` header.
    pub fn basic_auth_header(&self) -> String {
        format!("Basic {}", self.basic_auth_token())
    }

    fn basic_auth_token(&self) -> String {
        let raw = format!("{}:{}", self.user, self.password.expose());
        base64(raw.as_bytes(), STANDARD_ALPHABET)
    }

    /// `text` (a server's answer) with the password in every form listed by [`Redactor`]
    /// replaced by `<redacted>`: a server or proxy that echoes them back does not get them
    /// printed.
    pub fn redact(&self, text: &str) -> String {
        self.redactor().redact(text).into_owned()
    }

    /// What hides this password in server text; build it once per client.
    pub fn redactor(&self) -> Redactor {
        Redactor::new(self.password.expose(), &self.basic_auth_token())
    }
}

/// Hides a password in text from a server, in every form an echo can take:
///
/// * the password itself, and the basic-auth token (`base64(user:password)`);
/// * the password as JSON encoders write it inside a string: `\"`, `\\`, `\t`, `\uXXXX` for
///   control and (ASCII-only encoders) non-ASCII characters, `\/`, lower- or upper-case hex;
/// * base64 of the password, standard and URL-safe, padded, and at each of the three byte
///   alignments it can have inside a longer base64 string (the characters that depend on the
///   password alone);
/// * percent-encoded (upper- and lower-case hex), and as [`crate::text::sanitize`] shows it.
///
/// Text from a JSON answer is redacted after decoding (every string, keys included), so an
/// escaped echo is caught in its decoded form as well.
#[derive(Clone)]
pub struct Redactor {
    /// Every form, longest first, so a longer form goes as a whole before its parts.
    secrets: Vec<String>,
    /// The replacement: `<redacted>`, or another word when that one holds a secret.
    marker: &'static str,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} forms)", self.secrets.len())
    }
}

/// Base64 of the password at an alignment is ambiguous below this many characters (it would
/// match ordinary text), so shorter ones are not looked for.
const MIN_BASE64_FORM: usize = 4;

impl Redactor {
    /// The forms of `password` (and of the whole `basic_auth_token`) to hide.
    pub fn new(password: &str, basic_auth_token: &str) -> Redactor {
        let mut secrets: Vec<String> = Vec::new();
        if !password.is_empty() {
            secrets.push(password.to_string());
            secrets.push(basic_auth_token.to_string());
            secrets.extend(json_escaped_forms(password));
            for alphabet in [STANDARD_ALPHABET, URL_SAFE_ALPHABET] {
                secrets.push(base64(password.as_bytes(), alphabet));
                secrets.extend(
                    (0..3)
                        .map(|alignment| base64_core(password.as_bytes(), alignment, alphabet))
                        .filter(|core| core.len() >= MIN_BASE64_FORM),
                );
            }
            secrets.push(percent_encoded(password, false));
            secrets.push(percent_encoded(password, true));
            secrets.push(crate::text::sanitize(password).into_owned());
        }
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        let marker = ["<redacted>", "<hidden>", "[redacted]", "***", "#"]
            .into_iter()
            .find(|marker| !secrets.iter().any(|s| marker.contains(s.as_str())))
            .unwrap_or("<redacted>");
        Redactor { secrets, marker }
    }

    /// Whether `text` holds any form of the password.
    pub fn holds_secret(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// `text` with every form of the password replaced; borrowed when it holds none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.holds_secret(text) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        // A replacement can bring two pieces of a secret together: repeat, a bounded number of
        // times, and give up on the text rather than show a secret.
        for _ in 0..8 {
            for secret in &self.secrets {
                if out.contains(secret.as_str()) {
                    out = out.replace(secret.as_str(), self.marker);
                }
            }
            if !self.holds_secret(&out) {
                return Cow::Owned(out);
            }
        }
        Cow::Owned(format!(
            "{} (text holding the password left out)",
            self.marker
        ))
    }

    /// Redacts every string of `value` in place: values, object keys, and numbers whose digits
    /// hold the password (they become the marker string).
    pub fn redact_json(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if let Cow::Owned(redacted) = self.redact(text) {
                    *text = redacted;
                }
            }
            Value::Number(number) => {
                if self.holds_secret(&number.to_string()) {
                    *value = Value::String(self.marker.to_string());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_json(item)),
            Value::Object(map) => {
                if map.keys().any(|key| self.holds_secret(key)) {
                    let entries = std::mem::take(map);
                    for (key, item) in entries {
                        map.insert(self.redact(&key).into_owned(), item);
                    }
                }
                map.values_mut().for_each(|item| self.redact_json(item));
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

/// The password as JSON encoders write it inside a string, with each optional escape chosen
/// one way or the other: non-ASCII as `\uXXXX` or not, `\/` or `/`, upper- or lower-case hex,
/// `\t`-style short escapes or `\u0009`.
fn json_escaped_forms(password: &str) -> Vec<String> {
    let mut forms = Vec::new();
    for choices in 0..16u8 {
        let ascii_only = choices & 1 != 0;
        let escape_slash = choices & 2 != 0;
        let upper_hex = choices & 4 != 0;
        let short_escapes = choices & 8 != 0;
        let mut out = String::new();
        for c in password.chars() {
            let short = match c {
                '\n' => Some("\\n"),
                '\r' => Some("\\r"),
                '\t' => Some("\\t"),
                '\u{8}' => Some("\\b"),
                '\u{c}' => Some("\\f"),
                _ => None,
            };
            match (c, short) {
                ('"', _) => out.push_str("\\\""),
                ('\\', _) => out.push_str("\\\\"),
                ('/', _) if escape_slash => out.push_str("\\/"),
                (_, Some(short)) if short_escapes => out.push_str(short),
                (c, _) if (c as u32) < 0x20 || (ascii_only && !c.is_ascii()) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        if upper_hex {
                            out.push_str(&format!("\\u{unit:04X}"));
                        } else {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                }
                (c, _) => out.push(c),
            }
        }
        forms.push(out);
    }
    forms
}

fn percent_encoded(text: &str, upper_hex: bool) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else if upper_hex {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push_str(&format!("%{byte:02x}"));
        }
    }
    out
}

/// The base64 characters that depend on `bytes` alone when they start `alignment` bytes (0, 1
/// or 2) into a 3-byte group of a longer encoded string: what shows of them whatever surrounds
/// them.
fn base64_core(bytes: &[u8], alignment: usize, alphabet: &[u8; 64]) -> String {
    let mut shifted = vec![0u8; alignment];
    shifted.extend_from_slice(bytes);
    let encoded = base64(&shifted, alphabet);
    // Characters before the password's first bit hang on the bytes before it.
    let skip = [0, 2, 3][alignment % 3];
    // Characters past its last whole 6-bit group hang on the bytes after it.
    let end = shifted.len() * 8 / 6;
    encoded
        .get(skip..end.max(skip))
        .unwrap_or_default()
        .to_string()
}

const STANDARD_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64(bytes: &[u8], table: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(table[(n >> 18) as usize & 63] as char);
        out.push(table[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            table[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            table[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// What the user gave on the command line.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFlags {
    /// `--cluster URL`.
    pub url: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--password` (visible in the process list; warned about).
    pub password: Option<Password>,
    /// `--profile NAME`.
    pub profile: Option<String>,
    /// `--ca-cert PEM`.
    pub ca_cert: Option<PathBuf>,
    /// `--insecure`.
    pub insecure: bool,
    /// `--allow-http`.
    pub allow_http: bool,
}

/// Everything needed to talk to a cluster, resolved from all sources.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// Base URL of any node, e.g. `https://node1:9443`.
    pub url: String,
    /// Basic-auth credentials.
    pub credentials: Credentials,
    /// A PEM file with the cluster's CA certificate.
    pub ca_cert: Option<PathBuf>,
    /// Skip certificate verification.
    pub insecure: bool,
    /// Allow `http://` URLs.
    pub allow_http: bool,
}

/// One named profile of the profile file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Cluster URL.
    pub url: Option<String>,
    /// User.
    pub user: Option<String>,
    /// Password (the file must then be readable by its owner only).
    pub password: Option<String>,
    /// CA certificate PEM path.
    pub ca_cert: Option<PathBuf>,
    /// Skip certificate verification.
    #[serde(default)]
    pub insecure: bool,
    /// The environment variable that holds this profile's password (a CI secret per cluster).
    pub password_env: Option<String>,
}

/// A fleet of the profile file: clusters (profiles of the same file) rolled out in waves.
///
/// ```toml
/// [fleet.prod]
/// waves = [["stage"], ["prod-eu", "prod-us"]]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    /// The waves, in order; each a list of profile names rolled out together.
    pub waves: Vec<Vec<String>>,
}

impl FleetSpec {
    /// Every profile of the fleet, wave by wave.
    pub fn clusters(&self) -> impl Iterator<Item = (usize, &str)> {
        self.waves
            .iter()
            .enumerate()
            .flat_map(|(wave, names)| names.iter().map(move |name| (wave, name.as_str())))
    }
}

/// The table of the profile file that holds fleets instead of a profile.
const FLEET_TABLE: &str = "fleet";

/// The profile file: its profiles and its fleets.
#[derive(Debug, Clone, Default)]
struct ProfileFile {
    profiles: BTreeMap<String, Profile>,
    fleets: BTreeMap<String, FleetSpec>,
}

fn parse_profile_file(path: &Path, text: &str) -> Result<ProfileFile, ClusterError> {
    let parse_error = |message: String| ClusterError::ProfileParse {
        path: path.to_path_buf(),
        message,
    };
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| parse_error(e.message().to_string()))?;
    let fleets = match table.remove(FLEET_TABLE) {
        None => BTreeMap::new(),
        Some(toml::Value::Table(fleets)) => {
            // `[fleet]` with profile keys is a profile named `fleet`, which cannot be told from
            // the fleets' table: say so rather than guess.
            if let Some(key) = fleets.iter().find(|(_, v)| !v.is_table()).map(|(k, _)| k) {
                return Err(parse_error(format!(
                    "`[{FLEET_TABLE}]` holds `{key}`, but `{FLEET_TABLE}` is where fleets are defined (`[{FLEET_TABLE}.NAME]` with `waves = [[\"stage\"], [\"prod-eu\", \"prod-us\"]]`); a profile cannot be named `{FLEET_TABLE}`: rename it"
                )));
            }
            fleets
                .into_iter()
                .map(|(name, value)| {
                    value
                        .try_into::<FleetSpec>()
                        .map(|fleet| (name.clone(), fleet))
                        .map_err(|e| parse_error(format!("[{FLEET_TABLE}.{name}]: {}", e.message())))
                })
                .collect::<Result<_, _>>()?
        }
        Some(_) => {
            return Err(parse_error(format!(
                "`{FLEET_TABLE}` must be a table of fleets (`[{FLEET_TABLE}.NAME]`); a profile cannot be named `{FLEET_TABLE}`"
            )))
        }
    };
    let profiles = table
        .into_iter()
        .map(|(name, value)| {
            value
                .try_into::<Profile>()
                .map(|profile| (name.clone(), profile))
                .map_err(|e| parse_error(format!("[{name}]: {}", e.message())))
        })
        .collect::<Result<_, _>>()?;
    Ok(ProfileFile { profiles, fleets })
}

fn read_profile_file(path: &Path, required: bool) -> Result<Option<ProfileFile>, ClusterError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_profile_file(path, &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
        Err(source) => Err(ClusterError::ProfileRead {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads fleet `name` and checks it: at least one wave, no empty wave, every name a profile of
/// the file with a URL, no profile twice, no two profiles reaching the same cluster URL (one
/// cluster would be rolled out twice, counted twice).
pub fn read_fleet(path: &Path, name: &str) -> Result<FleetSpec, ClusterError> {
    let file = read_profile_file(path, true)?.unwrap_or_default();
    let invalid = |message: String| ClusterError::FleetInvalid {
        path: path.to_path_buf(),
        fleet: name.to_string(),
        message,
    };
    let Some(fleet) = file.fleets.get(name).cloned() else {
        let known: Vec<&str> = file.fleets.keys().map(String::as_str).collect();
        return Err(invalid(format!(
            "no such fleet (fleets there: {}); define it as [{FLEET_TABLE}.{name}] with waves = [[\"PROFILE\", …], …]",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        )));
    };
    if fleet.waves.is_empty() {
        return Err(invalid("it has no waves".to_string()));
    }
    if let Some(empty) = fleet.waves.iter().position(Vec::is_empty) {
        return Err(invalid(format!("wave {} is empty", empty + 1)));
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (wave, cluster) in fleet.clusters() {
        let Some(profile) = file.profiles.get(cluster) else {
            return Err(invalid(format!(
                "wave {} names `{cluster}`, which is no profile of the file (profiles there: {})",
                wave + 1,
                file.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        };
        if seen.contains_key(cluster) {
            return Err(invalid(format!("`{cluster}` is listed twice")));
        }
        let Some(url) = &profile.url else {
            return Err(invalid(format!("profile `{cluster}` has no url")));
        };
        let origin = super::BaseUrl::parse(url)
            .map(|u| u.origin())
            .unwrap_or_else(|_| url.trim_end_matches('/').to_ascii_lowercase());
        if let Some((other, _)) = seen.iter().find(|(_, o)| **o == origin) {
            return Err(invalid(format!(
                "`{other}` and `{cluster}` reach the same cluster ({origin}): it would be rolled out twice"
            )));
        }
        seen.insert(cluster.to_string(), origin);
    }
    Ok(fleet)
}

/// The profile file: `~/.config/rmpack/profiles.toml` unless `RMPACK_PROFILES` names another.
///
/// ```toml
/// [default]
/// url = "https://cluster.example.com:9443"
/// user = "admin@example.com"
/// password = "…"        # only if the file is chmod 600
/// ca_cert = "/etc/rmpack/cluster-ca.pem"
/// ```
pub fn default_profile_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(path) = env("RMPACK_PROFILES").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    if let Some(config) = env("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        return Some(Path::new(&config).join("rmpack").join("profiles.toml"));
    }
    env("HOME")
        .filter(|p| !p.is_empty())
        .map(|home| Path::new(&home).join(".config/rmpack/profiles.toml"))
}

/// Reads one profile; `Ok(None)` when the file does not exist or lacks the profile and the
/// profile was not asked for by name.
pub fn read_profile(
    path: &Path,
    name: &str,
    required: bool,
) -> Result<Option<Profile>, ClusterError> {
    let Some(file) = read_profile_file(path, required)? else {
        return Ok(None);
    };
    let mut profiles = file.profiles;
    let Some(profile) = profiles.remove(name) else {
        if required {
            return Err(ClusterError::ProfileMissing {
                path: path.to_path_buf(),
                name: name.to_string(),
                known: profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        return Ok(None);
    };
    if profile.password.is_some() {
        refuse_readable_by_others(path)?;
    }
    Ok(Some(profile))
}

#[cfg(unix)]
fn refuse_readable_by_others(path: &Path) -> Result<(), ClusterError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| ClusterError::ProfileRead {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode();
    // As ssh does for private keys: a secret that others can read is no longer a secret.
    if mode & 0o077 != 0 {
        return Err(ClusterError::ProfilePermissions {
            path: path.to_path_buf(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_readable_by_others(_path: &Path) -> Result<(), ClusterError> {
    Ok(())
}

fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Asks the user for the password; gets the question to show.
pub type PasswordPrompt<'a> = &'a dyn Fn(&str) -> std::io::Result<String>;

/// Resolves the connection from flags, profiles, the environment and, for a missing password,
/// `prompt` (pass `None` when there is no terminal to ask on).
pub fn resolve(
    flags: &ConnectionFlags,
    env: &dyn Fn(&str) -> Option<String>,
    prompt: Option<PasswordPrompt<'_>>,
    listener: &dyn Listener,
) -> Result<ConnectionSettings, ClusterError> {
    let env_var = |names: &[&str]| names.iter().find_map(|n| env(n).filter(|v| !v.is_empty()));
    let profile_path = default_profile_path(env);
    let named = flags
        .profile
        .clone()
        .or_else(|| env_var(&["RMPACK_PROFILE"]));
    let (explicit, fallback) = match (&named, &profile_path) {
        (Some(name), Some(path)) => (read_profile(path, name, true)?, None),
        (Some(name), None) => {
            return Err(ClusterError::ProfileMissing {
                path: PathBuf::from("~/.config/rmpack/profiles.toml"),
                name: name.clone(),
                known: String::new(),
            })
        }
        (None, Some(path)) => (None, read_profile(path, "default", false)?),
        (None, None) => (None, None),
    };
    let explicit = explicit.unwrap_or_default();
    let fallback = fallback.unwrap_or_default();

    let url = flags
        .url
        .clone()
        .or_else(|| explicit.url.clone())
        .or_else(|| env_var(&["RMPACK_URL", "REDIS_ENTERPRISE_URL"]))
        .or_else(|| fallback.url.clone())
        .ok_or(ClusterError::MissingUrl)?;
    let user = flags
        .user
        .clone()
        .or_else(|| explicit.user.clone())
        .or_else(|| env_var(&["RMPACK_USER", "REDIS_ENTERPRISE_USER"]))
        .or_else(|| fallback.user.clone())
        .ok_or(ClusterError::MissingUser)?;
    if flags.password.is_some() {
        listener.on_warning(
            "--password is visible to other users in the process list; prefer RMPACK_PASSWORD, a profile file (chmod 600) or the prompt",
        );
    }
    let password = match flags
        .password
        .clone()
        .or_else(|| explicit.password.clone().map(Password::new))
        .or_else(|| {
            explicit
                .password_env
                .as_deref()
                .and_then(|name| env_var(&[name]))
                .map(Password::new)
        })
        .or_else(|| env_var(&["RMPACK_PASSWORD", "REDIS_ENTERPRISE_PASSWORD"]).map(Password::new))
        .or_else(|| fallback.password.clone().map(Password::new))
    {
        Some(password) => password,
        None => match prompt {
            Some(ask) => Password::new(ask(&format!("Password for {user} at {url}: ")).map_err(
                |source| ClusterError::Prompt {
                    source: std::io::Error::new(source.kind(), source.to_string()),
                },
            )?),
            None => return Err(ClusterError::MissingPassword),
        },
    };
    let ca_cert = flags
        .ca_cert
        .clone()
        .or_else(|| explicit.ca_cert.clone())
        .or_else(|| env_var(&["RMPACK_CA_CERT", "REDIS_ENTERPRISE_CA_CERT"]).map(PathBuf::from))
        .or_else(|| fallback.ca_cert.clone());
    let insecure = flags.insecure
        || explicit.insecure
        || env_var(&["RMPACK_INSECURE", "REDIS_ENTERPRISE_INSECURE"]).is_some_and(|v| truthy(&v))
        || fallback.insecure;
    Ok(ConnectionSettings {
        url,
        credentials: Credentials { user, password },
        ca_cert,
        insecure,
        allow_http: flags.allow_http,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn a_profile_file_holds_profiles_and_fleets() {
        let path = Path::new("profiles.toml");
        let file = parse_profile_file(
            path,
            "[stage]\nurl = \"https://s:9443\"\npassword_env = \"STAGE_PW\"\n\n[fleet.prod]\nwaves = [[\"stage\"]]\n",
        )
        .unwrap();
        assert_eq!(
            file.profiles["stage"].password_env.as_deref(),
            Some("STAGE_PW")
        );
        assert_eq!(file.fleets["prod"].waves, vec![vec!["stage".to_string()]]);

        let named_fleet = parse_profile_file(path, "[fleet]\nurl = \"https://x:9443\"\n");
        assert!(named_fleet
            .unwrap_err()
            .to_string()
            .contains("a profile cannot be named `fleet`"));
        let typo = parse_profile_file(path, "[fleet.prod]\nwave = [[\"a\"]]\n").unwrap_err();
        assert!(typo.to_string().contains("[fleet.prod]"), "{typo}");
        let bad_profile = parse_profile_file(path, "[a]\nurll = \"x\"\n").unwrap_err();
        assert!(bad_profile.to_string().contains("[a]"), "{bad_profile}");
    }

    #[test]
    fn password_never_shows_in_debug() {
        let c = Credentials {
            user: "u".into(),
            password: Password::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.basic_auth_header(), "Basic dTpodW50ZXIy");
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"a", STANDARD_ALPHABET), "YQ==");
        assert_eq!(base64(b"ab", STANDARD_ALPHABET), "YWI=");
        assert_eq!(base64(b"abc", STANDARD_ALPHABET), "YWJj");
    }

    const PASSWORD: &str = "p\u{e4}ss\"w/o\\rd\t\u{1F511}-42";

    fn redactor() -> Redactor {
        Credentials {
            user: "admin@example.com".into(),
            password: Password::new(PASSWORD),
        }
        .redactor()
    }

    #[test]
    fn every_json_escaped_echo_is_redacted() {
        let redactor = redactor();
        // As serde_json, Python (ASCII-only, upper- and lower-case hex) and PHP (`\/`) write it.
        let escaped = [
            serde_json::to_string(PASSWORD).unwrap(),
            r#""p\u00e4ss\"w/o\\rd\t\ud83d\udd11-42""#.to_string(),
            r#""p\u00E4ss\"w\/o\\rd\t\uD83D\uDD11-42""#.to_string(),
            r#""p\u00e4ss\"w\/o\\rd\u0009\ud83d\udd11-42""#.to_string(),
        ];
        for form in &escaped {
            let inner = &form[1..form.len() - 1];
            let text = format!("the server says {inner}!");
            let shown = redactor.redact(&text);
            assert!(!shown.contains(inner), "{form}: {shown}");
            // And decoded, as the client sees a JSON answer's strings.
            let mut value: Value =
                serde_json::from_str(&format!(r#"{{"description": {form}, {form}: 1}}"#))
                    .unwrap_or_else(|e| panic!("{form}: {e}"));
            redactor.redact_json(&mut value);
            let text = value.to_string();
            assert!(!text.contains("ss\\\"w"), "{form}: {text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
    }

    #[test]
    fn base64_of_the_password_is_redacted_at_every_alignment() {
        let redactor = redactor();
        for prefix in ["", "x", "xy", "xyz", "user:"] {
            let encoded = base64(
                format!("{prefix}{PASSWORD} and more").as_bytes(),
                STANDARD_ALPHABET,
            );
            let shown = redactor.redact(&encoded);
            assert!(shown.contains("<redacted>"), "{prefix:?}: {shown}");
            for alignment in 0..3 {
                let core = base64_core(PASSWORD.as_bytes(), alignment, STANDARD_ALPHABET);
                assert!(!shown.contains(&core), "{prefix:?} {alignment}: {shown}");
            }
            let url_safe = base64(format!("{prefix}{PASSWORD}").as_bytes(), URL_SAFE_ALPHABET);
            assert!(
                redactor.redact(&url_safe).contains("<redacted>"),
                "{url_safe}"
            );
        }
        let token = Credentials {
            user: "admin@example.com".into(),
            password: Password::new(PASSWORD),
        }
        .basic_auth_header();
        assert_eq!(redactor.redact(&token), "Basic <redacted>");
    }

    #[test]
    fn numbers_keys_and_the_marker_itself_are_handled() {
        let digits = Redactor::new("31337", "dTozMTMzNw==");
        let mut value = serde_json::json!({"uid": 31337, "31337": [1, "x31337x"]});
        digits.redact_json(&mut value);
        assert!(!value.to_string().contains("31337"), "{value}");
        // A password that the usual marker holds gets another marker.
        let red = Redactor::new("red", "dTpyZWQ=");
        assert_eq!(red.redact("a red car"), "a <hidden> car");
        // Pieces brought together by a replacement are caught too.
        let odd = Redactor::new("x<", "dTp4PA==");
        assert!(!odd.redact("xxxx<<").contains("x<"));
    }

    #[test]
    fn flags_beat_rmpack_env_which_beats_redis_enterprise_env() {
        let env = env_of(&[
            ("RMPACK_URL", "https://a:9443"),
            ("REDIS_ENTERPRISE_URL", "https://b:9443"),
            ("REDIS_ENTERPRISE_USER", "re-user"),
            ("REDIS_ENTERPRISE_PASSWORD", "re-pass"),
            ("REDIS_ENTERPRISE_INSECURE", "true"),
            ("REDIS_ENTERPRISE_CA_CERT", "/ca.pem"),
        ]);
        let warnings = crate::listener::Recorder::default();
        let s = resolve(&ConnectionFlags::default(), &env, None, &warnings).unwrap();
        assert_eq!(s.url, "https://a:9443");
        assert_eq!(s.credentials.user, "re-user");
        assert_eq!(s.credentials.password.expose(), "re-pass");
        assert!(s.insecure);
        assert_eq!(s.ca_cert, Some(PathBuf::from("/ca.pem")));
        assert!(warnings.warnings().is_empty());

        let flags = ConnectionFlags {
            url: Some("https://c:9443".into()),
            password: Some(Password::new("flag-pass")),
            ..Default::default()
        };
        let s = resolve(&flags, &env, None, &warnings).unwrap();
        assert_eq!(s.url, "https://c:9443");
        assert_eq!(s.credentials.password.expose(), "flag-pass");
        let warned = warnings.warnings();
        assert!(warned[0].contains("process list"), "{warned:?}");
        assert!(!warned[0].contains("flag-pass"));
    }

    #[test]
    fn missing_password_prompts_or_fails() {
        let env = env_of(&[("RMPACK_URL", "https://a:9443"), ("RMPACK_USER", "u")]);
        let err = resolve(
            &ConnectionFlags::default(),
            &env,
            None,
            &crate::listener::Silent,
        )
        .unwrap_err();
        assert!(matches!(err, ClusterError::MissingPassword));
        let ask = |_: &str| Ok("typed".to_string());
        let s = resolve(
            &ConnectionFlags::default(),
            &env,
            Some(&ask),
            &crate::listener::Silent,
        )
        .unwrap();
        assert_eq!(s.credentials.password.expose(), "typed");
    }

    #[cfg(unix)]
    #[test]
    fn profiles_with_passwords_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.toml");
        std::fs::write(
            &path,
            "[prod]\nurl = \"https://p:9443\"\nuser = \"admin\"\npassword = \"s3cret\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path_text = path.to_string_lossy().to_string();
        let env = env_of(&[("RMPACK_PROFILES", &path_text)]);
        let flags = ConnectionFlags {
            profile: Some("prod".into()),
            ..Default::default()
        };
        let err = resolve(&flags, &env, None, &crate::listener::Silent).unwrap_err();
        assert!(matches!(err, ClusterError::ProfilePermissions { .. }));
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert!(!err.to_string().contains("s3cret"));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = resolve(&flags, &env, None, &crate::listener::Silent).unwrap();
        assert_eq!(s.url, "https://p:9443");
        assert_eq!(s.credentials.password.expose(), "s3cret");

        let flags = ConnectionFlags {
            profile: Some("staging".into()),
            ..Default::default()
        };
        let err = resolve(&flags, &env, None, &crate::listener::Silent).unwrap_err();
        assert!(err.to_string().contains("prod"), "{err}");
    }
}
