//! `rmpack pack`: build a module zip from a `.so`, a manifest, flags and discovered commands.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use rmpack::manifest::{DottedVersion, ManifestInput, ModuleVersion};
use rmpack::pack::{self, OutputSpec, PackOptions};
use rmpack::report;

use super::ui::TermListener;
use super::Status;

/// Arguments of `rmpack pack` (boxed: they are many, and the subcommand enum holds one of each).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    inner: Box<PackArgs>,
}

/// The flags of `rmpack pack`.
#[derive(Debug, clap::Args)]
pub struct PackArgs {
    /// The module's shared object (.so).
    pub module: PathBuf,

    /// Manifest to read first: rmpack.toml, or RAMP's ramp.yml / ramp.yaml. Default: one of
    /// those beside the .so, else in the current folder.
    #[arg(long, short = 'm', value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Do not look for a manifest when --manifest is not given.
    #[arg(long, conflicts_with = "manifest")]
    pub no_manifest: bool,

    /// Module name (default: the name the module registers).
    #[arg(long, value_name = "NAME")]
    pub module_name: Option<String>,
    /// Integer module version, e.g. 10203 (default: the version the module registers).
    #[arg(long, value_name = "N")]
    pub module_version: Option<u64>,
    /// Semantic version major.minor.patch; must agree with the integer version.
    #[arg(long, value_name = "X.Y.Z")]
    pub semantic_version: Option<String>,
    /// Name shown in the RS UI (default: the module name).
    #[arg(long, value_name = "TEXT")]
    pub display_name: Option<String>,
    /// Author's name.
    #[arg(long, value_name = "TEXT")]
    pub author: Option<String>,
    /// Author's e-mail.
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,
    /// One-line description.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Project home page.
    #[arg(long, value_name = "URL")]
    pub homepage: Option<String>,
    /// License name.
    #[arg(long, value_name = "NAME")]
    pub license: Option<String>,
    /// Capabilities (comma list or repeated), e.g. replica_of,backup_restore.
    #[arg(
        long = "capabilities",
        alias = "capability",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub capabilities: Vec<String>,
    /// Name shown for the module's capability set.
    #[arg(long, value_name = "TEXT")]
    pub capability_name: Option<String>,
    /// Keep capability names RS does not know instead of refusing them.
    #[arg(long)]
    pub allow_unknown_capability: bool,
    /// Oldest Redis version the module runs on (default 4.0).
    #[arg(long, value_name = "VERSION")]
    pub min_redis_version: Option<DottedVersion>,
    /// The Redis version (major.minor) of the databases this build is for; RS selects builds
    /// for Redis 7.4+ by it. Default: the Redis discovery loaded the module into.
    #[arg(long, value_name = "VERSION")]
    pub compatible_redis_version: Option<DottedVersion>,
    /// Oldest RS version the module runs on (default 5.2).
    #[arg(long, alias = "min-redis-pack-version", value_name = "VERSION")]
    pub min_rs_version: Option<DottedVersion>,
    /// Operating systems the build targets (comma list or repeated), e.g. rhel9,ubuntu22.04.
    #[arg(
        long = "os",
        alias = "operating-systems",
        value_delimiter = ',',
        value_name = "NICK"
    )]
    pub operating_systems: Vec<String>,
    /// A module load argument (repeat for each); stored as command_line_args and passed to the
    /// discovery load as a list, never evaluated.
    #[arg(long = "module-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub module_args: Vec<String>,
    /// The module's configuration command, e.g. json.config.
    #[arg(long, value_name = "COMMAND")]
    pub config_command: Option<String>,
    /// Commit of the module source.
    #[arg(long, value_name = "SHA")]
    pub git_sha: Option<String>,
    /// Commands to drop from the discovered list (comma list or repeated).
    #[arg(long = "exclude-command", value_delimiter = ',', value_name = "NAME")]
    pub exclude_commands: Vec<String>,
    /// A command to replace: a JSON object or array, or a file holding one.
    #[arg(long = "override-command", value_name = "JSON|FILE")]
    pub override_commands: Vec<String>,
    /// A command to add: a JSON object or array, or a file holding one.
    #[arg(long = "add-command", value_name = "JSON|FILE")]
    pub add_commands: Vec<String>,
    /// A dependency: NAME=PATH (a file or folder, archived as deps/NAME.tgz) or NAME=URL#SHA256
    /// (downloaded, checked against its sha256, and embedded as deps/NAME.tgz as it is).
    #[arg(long = "dep", value_name = "NAME=PATH|NAME=URL#SHA256")]
    pub deps: Vec<String>,
    /// An optional dependency, in the same forms as --dep.
    #[arg(long = "optional-dep", value_name = "NAME=PATH|NAME=URL#SHA256")]
    pub optional_deps: Vec<String>,
    /// Record URL dependencies in module.json without downloading them. RS reads dependencies
    /// only from inside the zip, so it refuses such a zip ("Missing dependency").
    #[arg(long)]
    pub keep_url_dependencies: bool,
    /// Download dependencies from plain http:// URLs too (refused by default).
    #[arg(long)]
    pub allow_http_dependencies: bool,
    /// CA certificates (PEM) trusted for dependency downloads besides the public roots, e.g. a
    /// private mirror's.
    #[arg(long, env = "RMPACK_DOWNLOAD_CA_CERT", value_name = "PEM")]
    pub download_ca_cert: Option<PathBuf>,
    /// Seconds one dependency's download may take in all.
    #[arg(long, default_value_t = pack::download::DEFAULT_DOWNLOAD_TIMEOUT.as_secs(), value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub download_timeout: u64,
    /// The largest dependency archive downloaded, in bytes (default and most: 500 MiB, as RS
    /// takes at most 500 MB for a whole module).
    #[arg(long, default_value_t = pack::MAX_DEPENDENCY_SIZE, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..=pack::MAX_DEPENDENCY_SIZE))]
    pub max_dependency_size: u64,
    /// Download nothing: take URL dependencies from the download cache only.
    #[arg(long, conflicts_with = "no_download_cache")]
    pub offline: bool,
    /// Neither read nor keep verified downloads in the cache ($XDG_CACHE_HOME/rmpack/deps, else
    /// ~/.cache/rmpack/deps).
    #[arg(long)]
    pub no_download_cache: bool,

    /// redis-server to load the module into for discovery.
    #[arg(long, env = "RMPACK_REDIS_SERVER", value_name = "PATH")]
    pub redis_server: Option<PathBuf>,
    /// Pack from the manifest and flags alone; do not load the module.
    #[arg(long)]
    pub no_discover: bool,
    /// Seconds to wait for redis-server during discovery.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub discover_timeout: u64,

    /// Output: a file, a folder, or a template using {module_name}, {os}, {arch},
    /// {semantic_version}, {version}. Default: {module_name}.Linux-{os}-{arch}.{semantic_version}.zip
    #[arg(long, short = 'o', value_name = "PATH|TEMPLATE")]
    pub output: Option<PathBuf>,
    /// Deflate level, 0 (store) to 9.
    #[arg(long, default_value_t = pack::DEFAULT_COMPRESSION, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compression: u32,
    /// Compression threads (default: every core); the zip is the same whatever the number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Print the result (path, size, sha256, module.json) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print only warnings and the result.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Runs `rmpack pack`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let args = *args.inner;
    let options = options_from_args(&args)?;
    let listener = TermListener::new(args.quiet || args.json);
    let packed = pack::pack(&options, &listener)
        .with_context(|| format!("cannot pack {}", args.module.display()))?;
    if args.json {
        print!("{}", report::json_pretty(&report::packed_json(&packed)));
    } else {
        print!("{}", report::packed_human(&packed));
    }
    Ok(Status::Success)
}

/// Turns the command line into [`PackOptions`].
pub fn options_from_args(args: &PackArgs) -> anyhow::Result<PackOptions> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let manifest = pack::manifest_to_read(
        args.manifest.as_deref(),
        !args.no_manifest,
        &args.module,
        &cwd,
    )
    .context("--manifest")?;
    let non_empty = |list: &Vec<String>| (!list.is_empty()).then(|| list.clone());
    let flags = ManifestInput {
        module_name: args.module_name.clone(),
        version: args.module_version.map(ModuleVersion),
        semantic_version: args.semantic_version.clone(),
        display_name: args.display_name.clone(),
        author: args.author.clone(),
        email: args.email.clone(),
        description: args.description.clone(),
        homepage: args.homepage.clone(),
        license: args.license.clone(),
        capabilities: non_empty(&args.capabilities),
        capability_name: args.capability_name.clone(),
        min_redis_version: args.min_redis_version.clone(),
        min_redis_pack_version: args.min_rs_version.clone(),
        compatible_redis_version: args.compatible_redis_version.clone(),
        operating_systems: non_empty(&args.operating_systems),
        module_args: non_empty(&args.module_args),
        config_command: args.config_command.clone(),
        git_sha: args.git_sha.clone(),
        exclude_commands: non_empty(&args.exclude_commands),
        overide_command: pack::commands_from_flags(&args.override_commands, "--override-command")?,
        add_command: pack::commands_from_flags(&args.add_commands, "--add-command")?,
        dependencies: pack::dependencies_from_flags(&args.deps, "--dep")?,
        optional_dependencies: pack::dependencies_from_flags(
            &args.optional_deps,
            "--optional-dep",
        )?,
        ..ManifestInput::default()
    };
    let output = OutputSpec::parse(args.output.as_deref()).context("invalid --output")?;
    Ok(PackOptions {
        module: args.module.clone(),
        manifest,
        flags,
        discover: !args.no_discover,
        redis_server: args.redis_server.clone(),
        discover_timeout: Duration::from_secs(args.discover_timeout),
        allow_unknown_capability: args.allow_unknown_capability,
        output,
        compression: args.compression,
        timestamp: pack::timestamp_from_env()?,
        threads: args.threads.map(usize::from),
        downloads: pack::DownloadOptions {
            keep_urls: args.keep_url_dependencies,
            allow_http: args.allow_http_dependencies,
            extra_ca_cert: args.download_ca_cert.clone(),
            timeout: Duration::from_secs(args.download_timeout),
            max_size: args.max_dependency_size,
            cache_dir: if args.no_download_cache {
                None
            } else {
                pack::default_cache_dir()
            },
            offline: args.offline,
            ..pack::DownloadOptions::default()
        },
    })
}
