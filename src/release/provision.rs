//! Configurations that let nodes fetch a release themselves: the zips of a [`ReleaseSet`], served
//! from one folder URL, listed the way RS's bootstrap and the Kubernetes operator take them.
//!
//! * RS 8.0.6 and later: `user_defined_modules` in the body of `POST /v1/bootstrap/{action}`
//!   (`create_cluster`, `join_cluster`, `recover_cluster`); each node downloads and installs every
//!   entry during its own bootstrap ([`BootstrapModules`]).
//! * Kubernetes: `spec.userDefinedModules` of the RedisEnterpriseCluster (REC) resource, which
//!   the operator downloads on cluster creation, upgrade, scale-out and recovery ([`RecPatch`]).
//!
//! Both take **one URL per entry**, and neither has a field for an OS or an architecture, while a
//! release is several module versions each built per platform. So the list holds one entry per
//! zip, every entry named by the module's `module_name` (several entries may share a name: a
//! cluster holds several versions of a module side by side). A node installs the builds for its
//! own OS and architecture and refuses the others, as it refuses them on upload; bootstrap
//! records a download or install that fails as a `module_download_failed` warning and goes on.
//! A plan for the nodes' own platforms ([`ProvisionOptions::operating_systems`],
//! [`ProvisionOptions::architectures`]) lists only what they take, and names every version it
//! has no build of there: a node that lacks a build of a version a database uses fails to join
//! with `incompatible_modules`.
//!
//! Credentials are never written: the bootstrap list carries `${VAR}` references to fill in
//! right before sending ([`CredentialsEnv`]), the REC entry the name of a Kubernetes secret
//! ([`SecretName`]).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::manifest::{Arch, ModuleVersion, OsNick};

use super::fit::platform_label;
use super::set::{ReleaseSet, SetMember};

// ---------------------------------------------------------------------------------------------
// The two documented shapes. Field names as the docs spell them; `deny_unknown_fields` so a file
// read back with these types holds nothing else.
// ---------------------------------------------------------------------------------------------

/// The `user_defined_modules` part of an RS bootstrap request, to merge into the body of
/// `POST /v1/bootstrap/{action}`. Fields from the RS docs pages "user_defined_module object"
/// (REST API reference, bootstrap objects) and "Install a module on a cluster" ("Add
/// user-defined modules during bootstrapping (Redis Software v8.0.6 and later)").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapModules {
    /// One entry per zip.
    pub user_defined_modules: Vec<UserDefinedModule>,
}

/// One `user_defined_module` object: `name` is "for presentation and logging purposes".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDefinedModule {
    /// The module's `module_name`.
    pub name: String,
    /// Where the node downloads the zip from.
    pub location: ModuleLocation,
}

/// A `user_defined_module`'s `location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleLocation {
    /// `http` or `https`, the URL's scheme.
    pub location_type: Scheme,
    /// The zip's URL.
    pub url: String,
    /// Basic authentication for the download; rmpack writes only `${VAR}` references here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<DownloadCredentials>,
}

/// A `location`'s `credentials` (both optional in the docs; rmpack writes both or neither).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadCredentials {
    /// The user name, or the reference to fill it in from.
    pub username: String,
    /// The password's reference (`${VAR}`), never a password.
    pub password: String,
}

/// A merge patch for a RedisEnterpriseCluster: `spec.userDefinedModules`. Fields from the
/// operator's "RedisEnterpriseCluster API Reference" (`UserDefinedModule`, `ModuleSource`,
/// `HTTPModuleSource`, `HTTPSModuleSource`) and the "Configure modules" page of Redis Enterprise
/// for Kubernetes ("Add user-defined modules to the REC", "Module naming requirements": `name`
/// must equal the zip's `module_name` or `display_name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecPatch {
    /// The REC's `spec`.
    pub spec: RecSpec,
}

/// The part of a REC's `spec` rmpack writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecSpec {
    /// One entry per zip.
    pub user_defined_modules: Vec<RecUserDefinedModule>,
}

/// A REC `UserDefinedModule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecUserDefinedModule {
    /// The module's `module_name`.
    pub name: String,
    /// Where the operator downloads the zip from.
    pub source: ModuleSource,
}

/// A REC `ModuleSource`: exactly one of `http` and `https`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSource {
    /// An `http://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<UrlSource>,
    /// An `https://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<UrlSource>,
}

/// A REC `HTTPModuleSource` or `HTTPSModuleSource` (the two have the same fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UrlSource {
    /// The zip's URL.
    pub url: String,
    /// The Kubernetes secret holding the keys `username` and `password`, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
}

/// The scheme the zips are served with: RS's `location_type`, and the REC source's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain `http`: nodes download unencrypted.
    Http,
    /// `https`.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Typed inputs: each refused where it enters, without echoing a secret.
// ---------------------------------------------------------------------------------------------

/// Why no configuration is written.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A base URL that cannot serve as a folder of zips. `url` has its user information and
    /// query replaced by `<redacted>`.
    #[error("--base-url {url}: {problem}")]
    BaseUrl {
        /// The URL as given, with secrets it may hold redacted.
        url: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// `--credentials-env` that is not two variable names. The value is not quoted: it may be
    /// a user name and password given by mistake.
    #[error("--credentials-env takes USER_VAR:PASS_VAR, the names of two different environment variables (upper-case letters, digits and _, not starting with a digit), e.g. MODULES_USER:MODULES_PASSWORD; never the user name and password themselves")]
    CredentialsEnv,
    /// A Kubernetes secret name that Kubernetes would refuse.
    #[error("--k8s-secret `{0}`: a Kubernetes secret name is at most 253 lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit")]
    SecretName(String),
    /// Nothing to list.
    #[error("the set holds no module zip")]
    Empty,
    /// A zip whose module.json gives no module name and version.
    #[error(
        "{0}: its module.json gives no module name and version, so its entry could not be named"
    )]
    Unplaceable(String),
    /// Zips of several modules.
    #[error(
        "the zips carry several module names ({0}); write one module's configuration at a time"
    )]
    SeveralModules(String),
    /// A module name that cannot be written as it is.
    #[error("module name `{0}` holds control characters; it cannot be a configuration's name")]
    UnsafeName(String),
    /// Two different zips that the server would serve under one URL.
    #[error("{first} and {second} are both named {name}, with different bytes: one URL ({url}) cannot serve both; rename one or give one folder")]
    SameFileName {
        /// The file name.
        name: String,
        /// The first zip's path.
        first: String,
        /// The second zip's path.
        second: String,
        /// The URL they would share.
        url: String,
    },
    /// A platform the nodes run that the set has no build for.
    #[error("no zip of the set is built for {platform} (the set builds for {built_for}); build it, or name the platforms your nodes run with --os and --arch")]
    NoBuildFor {
        /// The node platform, e.g. `rhel8/aarch64`.
        platform: String,
        /// What the set builds for.
        built_for: String,
    },
}

impl ProvisionError {
    /// Whether the set itself falls short of what was asked (exit 1), rather than the input
    /// being unusable (exit 2).
    pub fn is_check_failure(&self) -> bool {
        matches!(
            self,
            ProvisionError::NoBuildFor { .. } | ProvisionError::SameFileName { .. }
        )
    }
}

/// The folder URL the zips are served from: `http(s)://host[:port]/path/`, ending with `/`;
/// a zip's URL is this plus its file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadBase {
    scheme: Scheme,
    url: String,
}

impl DownloadBase {
    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The folder URL, ending with `/`.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL of `file_name` in the folder, the name percent-encoded as one path segment.
    pub fn url_of(&self, file_name: &str) -> String {
        format!("{}{}", self.url, encode_path_segment(file_name))
    }
}

impl fmt::Display for DownloadBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl FromStr for DownloadBase {
    type Err = ProvisionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |problem: &str| ProvisionError::BaseUrl {
            url: redacted_url(text),
            problem: problem.to_string(),
        };
        let trimmed = text.trim();
        let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| {
            bad("not a URL: give http(s)://host/folder/ where the zips are served")
        })?;
        let scheme =
            match scheme.to_ascii_lowercase().as_str() {
                "https" => Scheme::Https,
                "http" => Scheme::Http,
                _ => return Err(bad(
                    "the scheme is not http or https, the only downloads RS and the operator make",
                )),
            };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(bad(
                "it carries a user name or password, which would be written into every entry; serve the zips with basic authentication and give --credentials-env (rs) or --k8s-secret (k8s)",
            ));
        }
        if path.contains(['?', '#']) {
            return Err(bad(
                "a query or fragment cannot be followed by a file name; give the folder the zips are in",
            ));
        }
        if authority.is_empty() {
            return Err(bad("it names no host"));
        }
        let mut url = format!("{}://{authority}{path}", scheme.name());
        if !url.ends_with('/') {
            url.push('/');
        }
        // The http crate's parser decides what a URL may hold (no spaces or control characters,
        // a valid authority), as the download client will.
        let parsed: ureq::http::Uri = url
            .parse()
            .map_err(|e| bad(&format!("not a valid URL ({e})")))?;
        if parsed.host().is_none_or(str::is_empty) {
            return Err(bad("it names no host"));
        }
        Ok(DownloadBase { scheme, url })
    }
}

/// `url` with its user information and its query (or fragment) replaced by `<redacted>`: what an
/// error may quote of a URL that may hold a password or a token.
pub fn redacted_url(url: &str) -> String {
    let url = crate::text::sanitize(url.trim()).into_owned();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url.as_str()),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("<redacted>{}", &authority[at..]),
        None => authority.to_string(),
    };
    let tail = match tail.find(['?', '#']) {
        Some(cut) => format!("{}{}<redacted>", &tail[..cut], &tail[cut..cut + 1]),
        None => tail.to_string(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

/// Percent-encodes every byte of `segment` but RFC 3986's unreserved characters, so a file name
/// stays one path segment whatever it holds.
fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Two environment variable names whose `${NAME}` references stand in the bootstrap list for the
/// download user and password, filled in right before the request is sent. Names are upper
/// case, as environment variables are by convention: a user name and password given here by
/// mistake are then more likely refused than written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsEnv {
    /// The user name's variable.
    pub username_var: String,
    /// The password's variable.
    pub password_var: String,
}

impl CredentialsEnv {
    /// The `credentials` object: `${USER_VAR}` and `${PASS_VAR}`.
    pub fn references(&self) -> DownloadCredentials {
        DownloadCredentials {
            username: format!("${{{}}}", self.username_var),
            password: format!("${{{}}}", self.password_var),
        }
    }
}

impl FromStr for CredentialsEnv {
    type Err = ProvisionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (user, password) = text.split_once(':').ok_or(ProvisionError::CredentialsEnv)?;
        if !is_variable_name(user) || !is_variable_name(password) || user == password {
            return Err(ProvisionError::CredentialsEnv);
        }
        Ok(CredentialsEnv {
            username_var: user.to_string(),
            password_var: password.to_string(),
        })
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The name of the Kubernetes secret (keys `username`, `password`) the operator downloads with:
/// a DNS subdomain name, as Kubernetes names secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretName(String);

impl SecretName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SecretName {
    type Err = ProvisionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let edge_ok =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid = !text.is_empty()
            && text.len() <= 253
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && edge_ok(text.chars().next())
            && edge_ok(text.chars().last());
        if valid {
            Ok(SecretName(text.to_string()))
        } else {
            Err(ProvisionError::SecretName(
                crate::text::sanitize(text).into_owned(),
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The plan: which zips, at which URLs, and what the user must know.
// ---------------------------------------------------------------------------------------------

/// Which configuration to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigKind {
    /// RS's bootstrap `user_defined_modules` (JSON), optionally with credential references.
    Bootstrap(Option<CredentialsEnv>),
    /// The REC's `spec.userDefinedModules` (YAML), optionally naming a credentials secret.
    Rec(Option<SecretName>),
}

/// What to write.
#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    /// Where the zips are served.
    pub base: DownloadBase,
    /// The configuration.
    pub kind: ConfigKind,
    /// The OSes the nodes run; empty: every OS the set builds for.
    pub operating_systems: Vec<OsNick>,
    /// The architectures the nodes run; empty: every architecture the set builds for.
    pub architectures: Vec<Arch>,
}

/// One zip listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvisionEntry {
    /// The zip's file name.
    pub file_name: String,
    /// Its URL.
    pub url: String,
    /// The module version.
    pub version: ModuleVersion,
    /// The Redis feature set it is for (`8.2`, or `none`).
    pub feature_set: String,
    /// The platforms it is built for (`rhel9/x86_64`).
    pub platforms: Vec<String>,
    /// The zip's SHA-256.
    pub sha256: String,
}

/// A configuration ready to write, with what the user must know about it.
#[derive(Debug, Clone)]
pub struct Provision {
    /// The module's name, every entry's `name`.
    pub module_name: String,
    /// The zips listed, lowest version first, then by platform and file name.
    pub entries: Vec<ProvisionEntry>,
    /// The node platforms the list serves (`rhel9/x86_64`).
    pub platforms: Vec<String>,
    /// The configuration.
    pub config: Config,
    /// What may go wrong with it.
    pub warnings: Vec<String>,
    /// What must be filled in or done before it is used.
    pub to_do: Vec<String>,
}

/// The configuration as a typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Config {
    /// For RS's bootstrap request.
    Bootstrap(BootstrapModules),
    /// For the REC.
    Rec(RecPatch),
}

impl Provision {
    /// The configuration's text: pretty JSON (bootstrap) or YAML (REC), ending with a newline.
    pub fn text(&self) -> String {
        let mut text = match &self.config {
            Config::Bootstrap(modules) => serde_json::to_string_pretty(modules).unwrap_or_default(),
            Config::Rec(patch) => serde_yaml::to_string(patch).unwrap_or_default(),
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }
}

/// Plans the configuration of `set` (checked by the caller with the set rules) for `options`:
/// one entry per zip the nodes need, each at the base URL plus its file name.
pub fn plan(set: &ReleaseSet, options: &ProvisionOptions) -> Result<Provision, ProvisionError> {
    if set.members.is_empty() {
        return Err(ProvisionError::Empty);
    }
    let mut names = BTreeSet::new();
    for member in &set.members {
        let build = member
            .build
            .as_ref()
            .ok_or_else(|| ProvisionError::Unplaceable(member.path.display().to_string()))?;
        names.insert(build.module_name.clone());
    }
    if names.len() > 1 {
        return Err(ProvisionError::SeveralModules(
            names.into_iter().collect::<Vec<_>>().join(", "),
        ));
    }
    let module_name = names.into_iter().next().unwrap_or_default();
    if module_name.chars().any(crate::text::is_unsafe_char) {
        return Err(ProvisionError::UnsafeName(
            crate::text::sanitize(&module_name).into_owned(),
        ));
    }

    let node_platforms = requested_platforms(options);
    let mut warnings = Vec::new();
    let wanted: Vec<&SetMember> = set
        .members
        .iter()
        .filter(|m| {
            node_platforms
                .iter()
                .any(|(os, arch)| m.runs_on(os.as_ref(), *arch))
        })
        .collect();
    if !options.operating_systems.is_empty() || !options.architectures.is_empty() {
        coverage(set, &module_name, &node_platforms, &mut warnings)?;
    }

    let mut entries: Vec<ProvisionEntry> = Vec::new();
    let mut listed: Vec<&SetMember> = Vec::new();
    for member in wanted {
        let file_name = member.file_name();
        if let Some(same) = listed.iter().find(|m| m.sha256 == member.sha256) {
            warnings.push(format!(
                "{} and {} hold the same bytes: listed once, as {}",
                same.path.display(),
                member.path.display(),
                same.file_name()
            ));
            continue;
        }
        if let Some(clash) = listed.iter().find(|m| m.file_name() == file_name) {
            return Err(ProvisionError::SameFileName {
                url: options.base.url_of(&file_name),
                name: file_name,
                first: clash.path.display().to_string(),
                second: member.path.display().to_string(),
            });
        }
        let Some(build) = member.build.as_ref() else {
            continue;
        };
        entries.push(ProvisionEntry {
            url: options.base.url_of(&file_name),
            file_name,
            version: build.version,
            feature_set: member.feature_set(),
            platforms: build
                .platforms
                .iter()
                .map(|(os, arch)| node_label(os.as_ref(), *arch))
                .collect(),
            sha256: member.sha256.clone(),
        });
        listed.push(member);
    }
    entries.sort_by(|a, b| {
        (a.version, &a.platforms, &a.file_name).cmp(&(b.version, &b.platforms, &b.file_name))
    });

    // The platforms the listed builds serve, as far as the nodes were named.
    let platforms: Vec<String> = listed
        .iter()
        .filter_map(|m| m.build.as_ref())
        .flat_map(|b| b.platforms.iter())
        .filter(|(os, arch)| wanted_platform(options, os.as_ref(), *arch))
        .map(|(os, arch)| node_label(os.as_ref(), *arch))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if platforms.len() > 1 {
        let listed = format!("{} platforms ({})", platforms.len(), platforms.join(", "));
        warnings.push(match options.kind {
            ConfigKind::Bootstrap(_) => format!(
                "the list holds builds for {listed}: each node installs the builds for its own OS and architecture and refuses the others, which bootstrap records as module_download_failed warnings; name your nodes' platforms with --os and --arch to list only theirs"
            ),
            ConfigKind::Rec(_) => format!(
                "the list holds builds for {listed}, but every pod of a REC runs the one image spec.redisEnterpriseImageSpec names, on one OS: name its OS and architecture with --os and --arch so the list holds only the builds the pods take (the operator's docs do not say how it treats a build for another platform)"
            ),
        });
    }
    if options.base.scheme() == Scheme::Http {
        warnings.push(
            "the zips are served over plain http: nodes download them unencrypted, and download credentials cross the network in clear; serve them over https".to_string(),
        );
    }

    let (config, to_do) = configuration(&module_name, &entries, options);
    Ok(Provision {
        module_name,
        entries,
        platforms,
        config,
        warnings,
        to_do,
    })
}

/// The (OS, architecture) pairs of the nodes: the product of the lists given; an empty list
/// holds nothing against a build.
fn requested_platforms(options: &ProvisionOptions) -> Vec<(Option<OsNick>, Option<Arch>)> {
    let oses: Vec<Option<OsNick>> = if options.operating_systems.is_empty() {
        vec![None]
    } else {
        options
            .operating_systems
            .iter()
            .cloned()
            .map(Some)
            .collect()
    };
    let arches: Vec<Option<Arch>> = if options.architectures.is_empty() {
        vec![None]
    } else {
        options.architectures.iter().copied().map(Some).collect()
    };
    oses.iter()
        .flat_map(|os| arches.iter().map(move |arch| (os.clone(), *arch)))
        .collect()
}

/// Whether a build's platform is one the nodes run.
fn wanted_platform(options: &ProvisionOptions, os: Option<&OsNick>, arch: Option<Arch>) -> bool {
    let os_ok = options.operating_systems.is_empty()
        || os.is_none_or(|os| {
            options
                .operating_systems
                .iter()
                .any(|o| o.distro() == os.distro() && o.major() == os.major())
        });
    let arch_ok = options.architectures.is_empty()
        || arch.is_none_or(|arch| options.architectures.contains(&arch));
    os_ok && arch_ok
}

fn node_label(os: Option<&OsNick>, arch: Option<Arch>) -> String {
    match os {
        Some(_) => platform_label(os, arch),
        None => format!("any OS/{}", arch.map_or("?".to_string(), |a| a.to_string())),
    }
}

/// Every node platform named must have a build; a version without one there is named, since a
/// node lacking it cannot join a cluster whose databases use it.
fn coverage(
    set: &ReleaseSet,
    module_name: &str,
    node_platforms: &[(Option<OsNick>, Option<Arch>)],
    warnings: &mut Vec<String>,
) -> Result<(), ProvisionError> {
    for (os, arch) in node_platforms {
        let label = node_label(os.as_ref(), *arch).replace("/?", "");
        let versions = set.versions();
        let missing: Vec<ModuleVersion> = versions
            .iter()
            .copied()
            .filter(|v| set.build_for(*v, os.as_ref(), *arch).is_none())
            .collect();
        if missing.len() == versions.len() {
            let built_for: BTreeSet<String> = set
                .members
                .iter()
                .filter_map(|m| m.build.as_ref())
                .map(|b| b.platforms_label())
                .collect();
            return Err(ProvisionError::NoBuildFor {
                platform: label,
                built_for: built_for.into_iter().collect::<Vec<_>>().join(", "),
            });
        }
        for version in missing {
            let feature_set = set
                .of_version(version)
                .next()
                .map(SetMember::feature_set)
                .unwrap_or_default();
            warnings.push(format!(
                "nodes on {label} get no build of {module_name} {} (Redis {feature_set}): such a node cannot join a cluster whose databases use it (incompatible_modules)",
                version.semantic()
            ));
        }
    }
    Ok(())
}

/// The typed configuration and what must be done before using it.
fn configuration(
    module_name: &str,
    entries: &[ProvisionEntry],
    options: &ProvisionOptions,
) -> (Config, Vec<String>) {
    let mut to_do = Vec::new();
    match &options.kind {
        ConfigKind::Bootstrap(credentials) => {
            let references = credentials.as_ref().map(CredentialsEnv::references);
            let modules = entries
                .iter()
                .map(|entry| UserDefinedModule {
                    name: module_name.to_string(),
                    location: ModuleLocation {
                        location_type: options.base.scheme(),
                        url: entry.url.clone(),
                        credentials: references.clone(),
                    },
                })
                .collect();
            to_do.push(
                "merge user_defined_modules into the body of POST /v1/bootstrap/create_cluster, join_cluster or recover_cluster (RS 8.0.6 and later), the same list for every node".to_string(),
            );
            match credentials {
                Some(env) => to_do.push(format!(
                    "fill in the download credentials: the list holds ${{{user}}} and ${{{password}}}; substitute them when sending (e.g. envsubst '${{{user}}} ${{{password}}}' < FILE) and keep the filled-in copy out of version control",
                    user = env.username_var,
                    password = env.password_var
                )),
                None => to_do.push(
                    "no download credentials are written: the server must serve the zips without authentication (for basic authentication, give --credentials-env USER_VAR:PASS_VAR)".to_string(),
                ),
            }
            (
                Config::Bootstrap(BootstrapModules {
                    user_defined_modules: modules,
                }),
                to_do,
            )
        }
        ConfigKind::Rec(secret) => {
            let modules = entries
                .iter()
                .map(|entry| {
                    let source = UrlSource {
                        url: entry.url.clone(),
                        credentials_secret: secret.as_ref().map(|s| s.as_str().to_string()),
                    };
                    let source = match options.base.scheme() {
                        Scheme::Https => ModuleSource {
                            http: None,
                            https: Some(source),
                        },
                        Scheme::Http => ModuleSource {
                            http: Some(source),
                            https: None,
                        },
                    };
                    RecUserDefinedModule {
                        name: module_name.to_string(),
                        source,
                    }
                })
                .collect();
            if let Some(secret) = secret {
                to_do.push(format!(
                    "create the secret {secret} in the REC's namespace first: kubectl create secret generic {secret} --from-literal=username=USER --from-literal=password=PASSWORD (the operator reads the keys username and password)"
                ));
            }
            to_do.push(
                "apply with: kubectl patch rec REC_NAME --type merge --patch-file FILE; a merge patch replaces the whole userDefinedModules list, so keep other modules' entries in it; the operator restarts the cluster's pods one by one".to_string(),
            );
            (
                Config::Rec(RecPatch {
                    spec: RecSpec {
                        user_defined_modules: modules,
                    },
                }),
                to_do,
            )
        }
    }
}

/// Writes `text` to `path` atomically: a temp file beside it, then a rename, so a failed run
/// leaves the old file (or none), never half a configuration.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let folder: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".rmpack-config-")
        .tempfile_in(&folder)?;
    std::io::Write::write_all(&mut temp, text.as_bytes())?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_becomes_a_folder_and_file_names_one_segment() {
        let base: DownloadBase = "https://artifacts.example.com/hello/8.4.0".parse().unwrap();
        assert_eq!(base.as_str(), "https://artifacts.example.com/hello/8.4.0/");
        assert_eq!(base.scheme(), Scheme::Https);
        assert_eq!(
            base.url_of("hello.Linux-rhel9-x86_64.8.4.0.zip"),
            "https://artifacts.example.com/hello/8.4.0/hello.Linux-rhel9-x86_64.8.4.0.zip"
        );
        assert_eq!(
            base.url_of("a b#c?/d%.zip"),
            "https://artifacts.example.com/hello/8.4.0/a%20b%23c%3F%2Fd%25.zip"
        );
        let plain: DownloadBase = "HTTP://mirror:8080/".parse().unwrap();
        assert_eq!(plain.as_str(), "http://mirror:8080/");
        assert_eq!(plain.scheme(), Scheme::Http);
    }

    #[test]
    fn a_base_url_with_a_secret_or_another_scheme_is_refused_without_quoting_the_secret() {
        for (url, words) in [
            ("https://deploy:s3cret-pw@host/x/", "user name or password"),
            ("https://host/x/?token=s3cret-pw", "query or fragment"),
            ("https://host/x/#s3cret-pw", "query or fragment"),
            ("ftp://host/x/", "not http or https"),
            ("host/x/", "not a URL"),
            ("https:///x/", "no host"),
            ("https://ho st/x/", "not a valid URL"),
        ] {
            let error = url.parse::<DownloadBase>().unwrap_err().to_string();
            assert!(error.contains(words), "{url}: {error}");
            assert!(!error.contains("s3cret-pw"), "{url}: {error}");
        }
        assert_eq!(
            redacted_url("https://u:p@host/a?b#c"),
            "https://<redacted>@host/a?<redacted>"
        );
    }

    #[test]
    fn credential_references_and_secret_names_are_checked_where_they_enter() {
        let env: CredentialsEnv = "MODULES_USER:MODULES_PASSWORD".parse().unwrap();
        assert_eq!(
            env.references(),
            DownloadCredentials {
                username: "${MODULES_USER}".into(),
                password: "${MODULES_PASSWORD}".into()
            }
        );
        for bad in [
            "USER",
            "1USER:PASS",
            "USER:PA-SS",
            "USER:USER",
            ":PASS",
            "U:",
            "deploy:hunter2",
        ] {
            let error = bad.parse::<CredentialsEnv>().unwrap_err().to_string();
            assert!(!error.contains("hunter2"), "{error}");
        }
        assert!("module-repo-creds".parse::<SecretName>().is_ok());
        assert!("a.b-1".parse::<SecretName>().is_ok());
        for bad in ["", "Module", "-a", "a-", "a_b", &"a".repeat(254)] {
            assert!(bad.parse::<SecretName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_documented_shapes_serialize_with_the_documented_names() {
        let modules = BootstrapModules {
            user_defined_modules: vec![UserDefinedModule {
                name: "hello".into(),
                location: ModuleLocation {
                    location_type: Scheme::Https,
                    url: "https://h/x.zip".into(),
                    credentials: None,
                },
            }],
        };
        assert_eq!(
            serde_json::to_value(&modules).unwrap(),
            serde_json::json!({"user_defined_modules": [
                {"name": "hello", "location": {"location_type": "https", "url": "https://h/x.zip"}}
            ]})
        );
        let patch = RecPatch {
            spec: RecSpec {
                user_defined_modules: vec![RecUserDefinedModule {
                    name: "hello".into(),
                    source: ModuleSource {
                        http: None,
                        https: Some(UrlSource {
                            url: "https://h/x.zip".into(),
                            credentials_secret: Some("creds".into()),
                        }),
                    },
                }],
            },
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            serde_json::json!({"spec": {"userDefinedModules": [
                {"name": "hello", "source": {"https": {"url": "https://h/x.zip", "credentialsSecret": "creds"}}}
            ]}})
        );
        // Read back: anything else is refused.
        let extra = r#"{"user_defined_modules": [{"name": "x", "location": {"location_type": "https", "url": "u", "sha256": "0"}}]}"#;
        assert!(serde_json::from_str::<BootstrapModules>(extra).is_err());
    }
}
