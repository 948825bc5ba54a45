//! `pack`: a module `.so`, a manifest, flags and discovered facts become a reproducible module zip.
//!
//! The `.so` is read once: its ELF header is checked, its bytes hashed, and the same bytes are
//! compressed into the zip (on a second thread, while the module is loaded for discovery). The
//! zip is hashed as it is written to a temporary file beside the destination, which is renamed
//! into place only when complete. Dependencies are embedded as `deps/<name>.tgz`: local ones
//! archived ([`deps`]), remote ones downloaded and checked against their sha256 ([`download`]).
//! What a command line gives as text (command JSON, dependency specs, the manifest to read) is
//! read by [`flags`].

mod assemble;
pub mod deflate;
mod dep_cache;
pub mod deps;
pub mod download;
pub mod flags;
pub mod naming;
pub mod zip_writer;

use std::collections::BTreeMap;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::discover::{discover, DiscoverError, DiscoverOptions};
use crate::elf::{ElfError, ElfFacts, FileType};
use crate::listener::Listener;
use crate::manifest::{Arch, Dependency, DependencySpec, ManifestError, ManifestInput, ModuleJson};

pub use assemble::{check_input, reconcile_version, CheckedInput, ModuleFacts, ModuleFile};
pub use deps::{archive_dependency, DepArchive, DepsError};
pub use download::{default_cache_dir, DownloadError, DownloadOptions, MAX_DEPENDENCY_SIZE};
pub use flags::{
    commands_from_flags, dependencies_from_flags, manifest_to_read, CommandOrigin, FlagError,
};
pub use naming::{NameFields, NamingError, OutputSpec, DEFAULT_TEMPLATE, GENERIC_OS};
pub use zip_writer::{
    ZipStyle, ZipWriteError, DATA_MODE, DEFAULT_COMPRESSION, MODULE_MODE, ZIP_EPOCH,
};

/// Manifest file names looked for when none is given, in order of preference.
pub const MANIFEST_NAMES: &[&str] = &["rmpack.toml", "ramp.yml", "ramp.yaml"];

/// Everything `pack` needs.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// The module `.so`.
    pub module: PathBuf,
    /// A manifest (`rmpack.toml`, `ramp.yml`, `ramp.yaml`) to read first.
    pub manifest: Option<PathBuf>,
    /// Values given on the command line; they override the manifest's. Dependencies are merged
    /// by name instead, a flag's entry replacing the manifest's of the same name.
    pub flags: ManifestInput,
    /// Load the module into a redis-server to read its name, version and commands.
    pub discover: bool,
    /// The redis-server used for discovery (else `RMPACK_REDIS_SERVER`, else `PATH`).
    pub redis_server: Option<PathBuf>,
    /// How long discovery may wait for the server.
    pub discover_timeout: Duration,
    /// Keep capability names RS does not know instead of refusing them.
    pub allow_unknown_capability: bool,
    /// Where the zip goes.
    pub output: OutputSpec,
    /// Deflate level 0–9 (0 stores).
    pub compression: u32,
    /// The time stamped on every entry, seconds since 1970; `None` means 1980-01-01.
    pub timestamp: Option<u64>,
    /// Compression threads; `None` uses every core. The zip's bytes do not depend on it.
    pub threads: Option<usize>,
    /// How dependencies given by `url` and `sha256` are fetched (or kept as URLs).
    pub downloads: DownloadOptions,
}

impl PackOptions {
    /// Options for packing `module` with discovery, the default name and compression.
    pub fn new(module: impl Into<PathBuf>) -> Self {
        PackOptions {
            module: module.into(),
            manifest: None,
            flags: ManifestInput::default(),
            discover: true,
            redis_server: None,
            discover_timeout: Duration::from_secs(10),
            allow_unknown_capability: false,
            output: OutputSpec::Default,
            compression: DEFAULT_COMPRESSION,
            timestamp: None,
            threads: None,
            downloads: DownloadOptions::default(),
        }
    }
}

/// The zip `pack` wrote.
#[derive(Debug, Clone)]
pub struct Packed {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the whole zip.
    pub sha256: String,
    /// The `module.json` inside it.
    pub module_json: ModuleJson,
    /// The version of the redis-server discovery loaded the module into, when it did.
    pub redis_version: Option<String>,
}

/// Why packing failed. Every variant names the offending input and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A manifest or flag value is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The module file cannot be read.
    #[error("cannot read module {path}")]
    ReadModule {
        /// The module path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The module file is not a readable ELF image.
    #[error("the file is not a module rmpack can pack")]
    Elf {
        /// The module path.
        path: PathBuf,
        /// What is wrong with it.
        source: ElfError,
    },
    /// An ELF image of an architecture RS does not run.
    #[error("{path} is built for {arch}; RS runs only x86_64 and aarch64 modules (64-bit, little-endian), so build the module for one of those")]
    UnsupportedArch {
        /// The module path.
        path: PathBuf,
        /// The architecture, as a person would name it (e.g. "32-bit ARM").
        arch: String,
    },
    /// An ELF image that is not a shared object.
    #[error(
        "{path} is a {kind}, not a shared object; a Redis module is built with -shared (and -fPIC)"
    )]
    NotSharedObject {
        /// The module path.
        path: PathBuf,
        /// What it is instead.
        kind: String,
    },
    /// A shared object that is not a Redis module.
    #[error("{path} does not export RedisModule_OnLoad, so it is not a Redis module; give the module's .so")]
    NoOnLoad {
        /// The module path.
        path: PathBuf,
    },
    /// The module's file name cannot be a zip entry.
    #[error("module file name {0} is not valid UTF-8 or is empty; rename the .so")]
    BadModuleFileName(PathBuf),
    /// The manifest names another architecture than the ELF header.
    #[error("the manifest says architecture {given} but {path} is built for {elf} (from its ELF header); remove `architecture` from the manifest or pack the {given} build")]
    ArchMismatch {
        /// The module path.
        path: PathBuf,
        /// What the manifest or flags say.
        given: Arch,
        /// What the ELF header says.
        elf: Arch,
    },
    /// A module of another architecture, with too little given to pack it without loading it.
    #[error("{path} is built for {arch} and this machine is {host}, so it cannot be loaded to discover its {missing}; give module_name, version and commands in a manifest (rmpack.toml or ramp.yml) or use --no-discover")]
    ForeignArch {
        /// The module path.
        path: PathBuf,
        /// The module's architecture.
        arch: Arch,
        /// The host's architecture.
        host: String,
        /// What would have to be discovered.
        missing: String,
    },
    /// A field neither given nor discovered.
    #[error("`{0}` is neither given nor discovered; give it in the manifest or as a flag, or let rmpack load the module (drop --no-discover)")]
    Missing(&'static str),
    /// Loading the module for discovery failed.
    #[error("discovering the module's name, version and commands failed")]
    Discover(#[from] DiscoverError),
    /// A local dependency could not be archived.
    #[error(transparent)]
    Deps(#[from] DepsError),
    /// A remote dependency could not be downloaded and embedded.
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// `--output` is unusable.
    #[error(transparent)]
    Naming(#[from] NamingError),
    /// `SOURCE_DATE_EPOCH` is not a number of seconds.
    #[error(
        "SOURCE_DATE_EPOCH is `{0}`, not a whole number of seconds since 1970; unset it or fix it"
    )]
    BadSourceDateEpoch(String),
    /// The zip could not be built.
    #[error(transparent)]
    Zip(#[from] ZipWriteError),
    /// The module is not a regular file, or cannot be opened.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The output would replace one of the inputs.
    #[error("the output {output} is the input {input}; writing it would destroy the input, so give --output another path")]
    OutputIsInput {
        /// The output path.
        output: PathBuf,
        /// The input it names.
        input: PathBuf,
    },
    /// module.json would be larger than validate and RS-side readers accept.
    #[error("module.json would be {size} bytes, over the {cap} bytes a module zip's module.json may hold; shorten the command list or the text fields")]
    ModuleJsonTooLarge {
        /// Its size.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// The output could not be written.
    #[error("cannot write {path}")]
    Output {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The entry time from `SOURCE_DATE_EPOCH` (reproducible-builds.org), if set.
pub fn timestamp_from_env() -> Result<Option<u64>, PackError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| PackError::BadSourceDateEpoch(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(value)) => Err(PackError::BadSourceDateEpoch(
            value.to_string_lossy().into_owned(),
        )),
    }
}

/// The manifest to use when none is given: the first of [`MANIFEST_NAMES`] beside the module,
/// else in `cwd`.
pub fn default_manifest(module: &Path, cwd: &Path) -> Option<PathBuf> {
    let beside = module.parent().filter(|p| !p.as_os_str().is_empty());
    [beside, Some(cwd)]
        .into_iter()
        .flatten()
        .flat_map(|dir| MANIFEST_NAMES.iter().map(move |name| dir.join(name)))
        .find(|path| path.is_file())
}

/// Packs a module into a zip as `options` say; see the module docs.
pub fn pack(options: &PackOptions, listener: &dyn Listener) -> Result<Packed, PackError> {
    let style = ZipStyle {
        compression: options.compression,
        timestamp: options.timestamp.unwrap_or(ZIP_EPOCH),
    };
    // Refuse a bad level or time before doing any work.
    style.check()?;
    let started = std::time::SystemTime::now();

    let input = merged_input(options, listener)?;
    let checked = check_input(input, options.allow_unknown_capability)?;

    let module_path = &options.module;
    let module_file = module_path
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| PackError::BadModuleFileName(module_path.clone()))?
        .to_string();
    let inputs = input_paths(options, &checked.input);
    if let OutputSpec::File(output) = &options.output {
        refuse_output_over_input(output, &inputs)?;
    }
    let (file, len) = open_module(module_path)?;
    let workers = options.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let spill_dir = spill_dir(&options.output);
    // Set when the module is refused, so the compression started beside the checks stops.
    let cancelled = AtomicBool::new(false);
    // The deflate of the .so is the long pole: it streams the file through every core while
    // the reading thread hashes it. The ELF checks, discovery and the dependency archives run
    // beside it.
    let (compressed, arch, facts, deps) = std::thread::scope(|scope| -> Result<_, PackError> {
        listener.on_status(&format!("compressing {module_file}"));
        let compressing = scope.spawn(|| {
            let mut hasher = Sha256::new();
            let entry = style.compress_stream(
                &module_file,
                MODULE_MODE,
                CancellableRead {
                    inner: &file,
                    cancelled: &cancelled,
                },
                len,
                workers,
                &spill_dir,
                &mut |block| hasher.update(block),
            );
            entry.map(|entry| (entry, hex::encode(hasher.finalize())))
        });
        let checked_module = check_module_file(options, &checked, &file, len, listener);
        let (arch, load_here) = match checked_module {
            Ok(found) => found,
            Err(error) => {
                cancelled.store(true, Ordering::Relaxed);
                let _ = compressing.join();
                return Err(error);
            }
        };
        let facts = if load_here {
            listener.on_status(&format!("loading {module_file} into redis-server"));
            let discover_options = DiscoverOptions {
                redis_server: options.redis_server.clone(),
                module_args: checked.module_args.clone(),
                timeout: options.discover_timeout,
            };
            discover(module_path, &discover_options, listener).map(|found| ModuleFacts {
                module_name: Some(found.module_name),
                version: Some(found.version),
                commands: Some(found.commands),
                redis_version: Some(found.redis_version),
            })
        } else {
            Ok(ModuleFacts::default())
        };
        let deps = facts.is_ok().then(|| {
            archive_dependencies(
                &checked.input,
                style.timestamp,
                &options.downloads,
                &spill_dir,
                listener,
            )
        });
        if matches!(deps, Some(Err(_))) {
            // No zip will be written: stop compressing the module.
            cancelled.store(true, Ordering::Relaxed);
        }
        let compressed = compressing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok((compressed, arch, facts, deps))
    })?;
    let facts = facts?;
    let (dependencies, optional_dependencies, archives) = match deps {
        Some(result) => result?,
        None => (BTreeMap::new(), BTreeMap::new(), Vec::new()),
    };
    let (module_entry, module_sha256) = compressed.map_err(|error| match error {
        ZipWriteError::Entry { source, .. } => PackError::ReadModule {
            path: module_path.clone(),
            source,
        },
        other => PackError::Zip(other),
    })?;

    let module_json = assemble::assemble(
        &checked,
        &ModuleFile {
            architecture: arch,
            file_name: module_file.clone(),
            sha256: module_sha256,
        },
        &facts,
        dependencies,
        optional_dependencies,
        listener,
    )?;
    let json_bytes = module_json.to_canonical_json();
    if json_bytes.len() as u64 > crate::bundle::MAX_MODULE_JSON {
        return Err(PackError::ModuleJsonTooLarge {
            size: json_bytes.len() as u64,
            cap: crate::bundle::MAX_MODULE_JSON,
        });
    }

    let fields = NameFields {
        module_name: module_json.module_name.clone(),
        // The first OS as given (module.json's list is sorted), spelled as Redis's zip names
        // spell it (`ubuntu22.04`; module.json says `ubuntu22`).
        os: checked.operating_systems.first().map_or_else(
            || GENERIC_OS.to_string(),
            |os| os.file_name_spelling().to_string(),
        ),
        arch: arch.to_string(),
        semantic_version: module_json.semantic_version.clone(),
        version: module_json.version.to_string(),
    };
    let path = options.output.resolve(&fields)?;
    refuse_output_over_input(&path, &inputs)?;

    let mut entries = vec![
        style.compress_bytes(MODULE_JSON_NAME, DATA_MODE, &json_bytes)?,
        module_entry,
    ];
    for archive in &archives {
        let name = archive.entry_name();
        listener.on_status(&format!("compressing {name}"));
        entries.push(style.compress_stream(
            &name,
            DATA_MODE,
            &archive.file,
            archive.size,
            workers,
            &spill_dir,
            &mut |_| {},
        )?);
    }
    listener.on_status(&format!("writing {}", path.display()));
    let (size, sha256) = write_atomically(&path, &style, entries, started, listener)?;
    Ok(Packed {
        path,
        size,
        sha256,
        module_json,
        redis_version: facts.redis_version,
    })
}

/// The name of the metadata entry at the zip's root.
const MODULE_JSON_NAME: &str = crate::bundle::MODULE_JSON;

/// The ELF checks of the module: its architecture (which must match one given), and whether
/// this machine can load it for discovery (when it cannot, the manifest must give what
/// discovery would have).
fn check_module_file(
    options: &PackOptions,
    checked: &CheckedInput,
    file: &std::fs::File,
    len: u64,
    listener: &dyn Listener,
) -> Result<(Arch, bool), PackError> {
    let module_path = &options.module;
    let facts = ElfFacts::read_file(file, len).map_err(|source| PackError::Elf {
        path: module_path.clone(),
        source,
    })?;
    let arch = check_facts(module_path, &facts)?;
    if let Some(given) = checked.input.architecture {
        if given != arch {
            return Err(PackError::ArchMismatch {
                path: module_path.clone(),
                given,
                elf: arch,
            });
        }
    }
    let load_here = options.discover && arch.name() == std::env::consts::ARCH;
    if options.discover && !load_here {
        let missing: Vec<&str> = [
            ("module_name", checked.input.module_name.is_none()),
            ("version", checked.version.is_none()),
            ("commands", checked.input.commands.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        if !missing.is_empty() {
            return Err(PackError::ForeignArch {
                path: module_path.clone(),
                arch,
                host: std::env::consts::ARCH.to_string(),
                missing: missing.join(", "),
            });
        }
        let module_file = module_path.file_name().map_or_else(
            || module_path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        listener.on_status(&format!(
            "{module_file} is built for {arch}; taking its name, version and commands from the manifest"
        ));
    }
    Ok((arch, load_here))
}

/// A reader that fails once `cancelled` is set: the compression of a refused module stops at
/// its next block instead of reading the whole file.
struct CancellableRead<'a, R> {
    inner: R,
    cancelled: &'a AtomicBool,
}

impl<R: std::io::Read> std::io::Read for CancellableRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("the module was refused"));
        }
        self.inner.read(buf)
    }
}

/// Opens the module, refusing at once (without blocking on a FIFO) anything that is not a
/// regular file; returns it with its length.
fn open_module(path: &Path) -> Result<(std::fs::File, u64), PackError> {
    Ok(crate::input::open_file(
        path,
        crate::input::InputKind::Module,
    )?)
}

/// Every file pack reads, which the output must not replace.
fn input_paths(options: &PackOptions, input: &ManifestInput) -> Vec<PathBuf> {
    let mut paths = vec![options.module.clone()];
    paths.extend(options.manifest.clone());
    for specs in [&input.dependencies, &input.optional_dependencies]
        .into_iter()
        .flatten()
    {
        paths.extend(specs.values().filter_map(|spec| spec.path.clone()));
    }
    paths
}

/// Refuses an output path that names one of `inputs` (the same file, by any path).
fn refuse_output_over_input(output: &Path, inputs: &[PathBuf]) -> Result<(), PackError> {
    let same = |input: &Path| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if let (Ok(a), Ok(b)) = (std::fs::metadata(output), std::fs::metadata(input)) {
                return a.dev() == b.dev() && a.ino() == b.ino();
            }
        }
        match (absolute(output), absolute(input)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    };
    match inputs.iter().find(|input| same(input)) {
        Some(input) => Err(PackError::OutputIsInput {
            output: output.to_path_buf(),
            input: input.clone(),
        }),
        None => Ok(()),
    }
}

/// `path` made absolute against the current folder, lexically.
fn absolute(path: &Path) -> Option<PathBuf> {
    std::path::absolute(path).ok()
}

/// Where the compressed module waits before the zip is written: the output's folder when it is
/// known now (so a large module does not fill a small /tmp), else the system's temp folder.
fn spill_dir(output: &OutputSpec) -> PathBuf {
    let dir = match output {
        OutputSpec::Default | OutputSpec::Template(_) => PathBuf::from("."),
        OutputSpec::Dir(dir) => dir.clone(),
        OutputSpec::File(path) => match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    if dir.is_dir() {
        dir
    } else {
        std::env::temp_dir()
    }
}

/// The architecture of a module `.so`, after checking that it is a Redis module RS can run.
pub fn check_module(path: &Path, bytes: &[u8]) -> Result<Arch, PackError> {
    let facts = ElfFacts::read(bytes).map_err(|source| PackError::Elf {
        path: path.to_path_buf(),
        source,
    })?;
    check_facts(path, &facts)
}

/// The architecture of a module from its ELF facts, after checking that it is a Redis module
/// RS can run.
fn check_facts(path: &Path, facts: &ElfFacts) -> Result<Arch, PackError> {
    let arch = facts
        .rs_architecture()
        .and_then(|name| name.parse::<Arch>().ok())
        .ok_or_else(|| PackError::UnsupportedArch {
            path: path.to_path_buf(),
            arch: facts.describe_architecture(),
        })?;
    if facts.file_type != FileType::SharedObject {
        return Err(PackError::NotSharedObject {
            path: path.to_path_buf(),
            kind: facts.file_type.to_string(),
        });
    }
    if !facts.has_redis_module_onload {
        return Err(PackError::NoOnLoad {
            path: path.to_path_buf(),
        });
    }
    Ok(arch)
}

/// The manifest (if any) with the flags laid over it; dependencies merge by name.
fn merged_input(
    options: &PackOptions,
    listener: &dyn Listener,
) -> Result<ManifestInput, PackError> {
    let manifest = match &options.manifest {
        Some(path) => {
            listener.on_status(&format!("reading manifest {}", path.display()));
            let (input, unknown) = ManifestInput::load(path)?;
            for key in unknown {
                listener.on_warning(&format!(
                    "{}: key `{key}` is not a RAMP manifest field rmpack knows; it is ignored",
                    path.display()
                ));
            }
            input
        }
        None => ManifestInput::default(),
    };
    let merge = |lower: &Option<BTreeMap<String, DependencySpec>>,
                 higher: &Option<BTreeMap<String, DependencySpec>>| {
        match (lower, higher) {
            (None, None) => None,
            _ => {
                let mut merged = lower.clone().unwrap_or_default();
                merged.extend(higher.clone().unwrap_or_default());
                Some(merged)
            }
        }
    };
    let dependencies = merge(&manifest.dependencies, &options.flags.dependencies);
    let optional_dependencies = merge(
        &manifest.optional_dependencies,
        &options.flags.optional_dependencies,
    );
    let mut input = manifest.overlay(options.flags.clone());
    input.dependencies = dependencies;
    input.optional_dependencies = optional_dependencies;
    Ok(input)
}

type DependencyMaps = (
    BTreeMap<String, Dependency>,
    BTreeMap<String, Dependency>,
    Vec<DepArchive>,
);

/// Archives local dependencies and downloads remote ones (or, with
/// [`DownloadOptions::keep_urls`], records their URLs only).
fn archive_dependencies(
    input: &ManifestInput,
    mtime: u64,
    downloads: &DownloadOptions,
    spill_dir: &Path,
    listener: &dyn Listener,
) -> Result<DependencyMaps, PackError> {
    let mut archives = Vec::new();
    // Made on the first download, so a pack without one never reads the CA file.
    let mut downloader = None;
    let mut record = |specs: &Option<BTreeMap<String, DependencySpec>>| {
        let mut recorded = BTreeMap::new();
        for (name, spec) in specs.iter().flatten() {
            let dependency = match (&spec.path, &spec.url, &spec.sha256) {
                (Some(path), _, _) => {
                    listener.on_status(&format!(
                        "archiving dependency {name} from {}",
                        path.display()
                    ));
                    let archive = archive_dependency(name, path, mtime)?;
                    let sha256 = archive.sha256.clone();
                    archives.push(archive);
                    Dependency { url: None, sha256 }
                }
                (None, Some(url), Some(sha256)) if downloads.keep_urls => {
                    listener.on_warning(&format!(
                        "dependency `{name}` is recorded by its URL only (--keep-url-dependencies): RS reads dependencies only from inside the zip, so uploading this zip fails with \"Missing dependency\" for {}; drop the flag to embed it",
                        crate::manifest::layout::dependency_entry(name)
                    ));
                    Dependency {
                        url: Some(url.clone()),
                        sha256: sha256.to_ascii_lowercase(),
                    }
                }
                (None, Some(url), Some(sha256)) => {
                    let downloader = match &mut downloader {
                        Some(downloader) => downloader,
                        empty => {
                            empty.insert(download::Downloader::new(downloads, spill_dir, listener)?)
                        }
                    };
                    let archive = downloader.fetch(name, url, sha256)?;
                    let sha256 = archive.sha256.clone();
                    archives.push(archive);
                    Dependency {
                        url: Some(url.clone()),
                        sha256,
                    }
                }
                // check_input refused everything else already.
                _ => {
                    return Err(PackError::Manifest(ManifestError::BadDependency {
                        name: name.clone(),
                        problem: "give `path`, or `url` and `sha256`".into(),
                    }))
                }
            };
            recorded.insert(name.clone(), dependency);
        }
        Ok::<_, PackError>(recorded)
    };
    let required = record(&input.dependencies)?;
    let optional = record(&input.optional_dependencies)?;
    archives.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((required, optional, archives))
}

/// The prefix and suffix of the temporary zip written beside the output.
const TEMP_PREFIX: &str = ".rmpack-";
const TEMP_SUFFIX: &str = ".zip.tmp";

/// Writes the zip to a temporary file beside `path` (making its folder when missing), then
/// renames it over `path`. On any
/// error, or when the process is interrupted, the temporary file is removed and `path` is
/// untouched. Leftovers of killed runs in the same folder are removed first.
fn write_atomically(
    path: &Path,
    style: &ZipStyle,
    entries: Vec<zip_writer::Entry>,
    started: std::time::SystemTime,
    listener: &dyn Listener,
) -> Result<(u64, String), PackError> {
    let output_err = |source: std::io::Error| PackError::Output {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // `-o dist/` in a fresh CI job: the output's folder is made, as the user named it.
    std::fs::create_dir_all(&dir).map_err(output_err)?;
    for removed in remove_stale_temps(&dir, started) {
        listener.on_warning(&format!(
            "removed {}, left by an interrupted rmpack pack",
            removed.display()
        ));
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let temp = builder.tempfile_in(&dir).map_err(output_err)?;
    let _on_interrupt = crate::interrupt::remove_on_interrupt(temp.path());
    let file = temp.as_file().try_clone().map_err(output_err)?;
    // Held while the file is written, so another run knows it is not a leftover.
    lock(&file);
    let (writer, size, sha256) =
        zip_writer::write_zip(BufWriter::with_capacity(256 * 1024, file), style, entries)?;
    let file = writer
        .into_inner()
        .map_err(|e| output_err(e.into_error()))?;
    file.sync_all().map_err(output_err)?;
    temp.persist(path).map_err(|e| output_err(e.error))?;
    Ok((size, sha256))
}

/// Takes an exclusive advisory lock on `file`, without waiting; true when taken.
fn lock(file: &std::fs::File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a descriptor this File owns; it only sets an advisory lock.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        true
    }
}

/// Removes temporary zips of killed runs from `dir`: files named like ours, last written
/// before this run started, and not locked by a run still writing. Returns what it removed.
fn remove_stale_temps(dir: &Path, started: std::time::SystemTime) -> Vec<PathBuf> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for item in listing.flatten() {
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(TEMP_PREFIX) || !name.ends_with(TEMP_SUFFIX) {
            continue;
        }
        let path = item.path();
        // Only regular files (never follow a link someone put there).
        let Ok(metadata) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let older = metadata.modified().is_ok_and(|time| time < started);
        if !metadata.is_file() || !older {
            continue;
        }
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        if lock(&file) && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}
