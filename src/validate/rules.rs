//! The rule catalogue: every rule the validator runs, with its id, RS error code, severity, what
//! it checks and how to fix a violation. The README's rule table is generated from this list.

use super::diagnostic::{Rule, Severity};

macro_rules! rules {
    ($($name:ident = $id:literal, $code:expr, $severity:ident, $family:literal, $checks:literal, $fix:literal;)*) => {
        $(
            #[doc = concat!("`", $id, "`: ", $checks)]
            pub static $name: Rule = Rule {
                id: $id,
                code: $code,
                severity: Severity::$severity,
                family: $family,
                checks: $checks,
                fix: $fix,
            };
        )*

        /// Every rule, in the order the validator runs them.
        pub static ALL: &[&Rule] = &[$(&$name),*];
    };
}

const INVALID_MODULE: Option<&str> = Some("invalid_module");
const INVALID_NUMBER_OF_FILES: Option<&str> = Some("invalid_number_of_files");
const INVALID_DEPENDENCY_DATA: Option<&str> = Some("invalid_dependency_data");
const OS_NOT_SUPPORTED: Option<&str> = Some("os_not_supported");

rules! {
    ZIP_MODULE_JSON_MISSING = "zip-module-json-missing", INVALID_MODULE, Error, "zip",
        "module.json is at the root of the zip",
        "Put module.json at the root of the zip (not in a folder); `rmpack pack` does.";
    ZIP_MODULE_MISSING = "zip-module-missing", INVALID_MODULE, Error, "zip",
        "the zip holds a module .so at its root",
        "Add the module's .so at the root of the zip.";
    ZIP_SEVERAL_MODULES = "zip-several-modules", INVALID_NUMBER_OF_FILES, Error, "zip",
        "the zip holds exactly one .so",
        "Pack one module per zip; build one zip per module .so.";
    ZIP_UNEXPECTED_ENTRY = "zip-unexpected-entry", INVALID_NUMBER_OF_FILES, Error, "zip",
        "the zip holds only module.json, one .so and deps/<name>.tgz",
        "Remove the extra file from the zip; ship dependencies as deps/<name>.tgz listed in module.json.";
    ZIP_UNSAFE_NAME = "zip-unsafe-name", INVALID_MODULE, Error, "zip",
        "entry names are plain relative paths (no `..`, absolute paths, backslashes or drive letters)",
        "Rebuild the zip from the files themselves, with plain relative names.";
    ZIP_LINK = "zip-link", INVALID_MODULE, Error, "zip",
        "no entry is a symbolic link",
        "Replace the link by the file it points to.";
    ZIP_DUPLICATE = "zip-duplicate", INVALID_MODULE, Error, "zip",
        "no two entries share a name (also ignoring case)",
        "Rebuild the zip with each file once.";
    ZIP_DAMAGED = "zip-damaged", INVALID_MODULE, Error, "zip",
        "every entry inflates and matches its CRC",
        "The zip is corrupt: download or build it again.";
    ZIP_TOO_LARGE = "zip-too-large", INVALID_MODULE, Error, "zip",
        "the zip stays within the entry-count and inflated-size caps",
        "Check the zip is not a zip bomb; a genuine module this large needs a higher cap.";
    ZIP_MODULE_NOT_EXECUTABLE = "zip-module-not-executable", INVALID_MODULE, Error, "zip",
        "the .so entry keeps its execute bit (mode 0755)",
        "Store the .so with mode 0755 (`chmod 755 module.so` before zipping; `rmpack pack` does it); Redis refuses to load a module without execute permission.";
    ZIP_MODULE_MODE_UNKNOWN = "zip-module-mode-unknown", None, Warning, "zip",
        "the .so entry records Unix permissions",
        "Zip on a Unix system (or with `rmpack pack`) so the .so keeps mode 0755.";
    ZIP_MODULE_FILE_MISMATCH = "zip-module-file-mismatch", INVALID_MODULE, Error, "zip",
        "module.json's module_file names the .so in the zip",
        "Set module_file to the .so's file name, or rename the .so.";
    ZIP_MODULE_SHA256_MISMATCH = "zip-module-sha256-mismatch", INVALID_MODULE, Error, "zip",
        "module.json's sha256 is the SHA-256 of the .so",
        "Repack the module (`rmpack pack`) so module.json records the .so that is shipped.";
    ZIP_DEPENDENCY_SHA256_MISMATCH = "zip-dependency-sha256-mismatch", INVALID_DEPENDENCY_DATA, Error, "zip",
        "each deps/<name>.tgz has the sha256 module.json records for <name>",
        "Repack so module.json records the checksum of the shipped dependency archive.";
    ZIP_DEPENDENCY_MISSING = "zip-dependency-missing", INVALID_DEPENDENCY_DATA, Error, "zip",
        "each dependency module.json lists is embedded as deps/<name>.tgz (RS reads dependencies only from the zip, url or not)",
        "Embed the archive: `rmpack pack --dep NAME=PATH`, or `--dep NAME=URL#SHA256`, which downloads it (the -withdeps zip).";
    ZIP_OPTIONAL_DEPENDENCY_MISSING = "zip-optional-dependency-missing", None, Warning, "zip",
        "each optional dependency module.json lists is embedded as deps/<name>.tgz",
        "Embed the archive (`rmpack pack --optional-dep NAME=PATH` or `NAME=URL#SHA256`), or drop it from optional-dependencies: RS reads dependencies only from the zip.";
    ZIP_OVER_RS_LIMIT = "zip-over-rs-limit", None, Error, "zip",
        "the zip is at most 500 MB, the largest module RS accepts",
        "Shrink the module (strip debug info: `strip --strip-debug`), or ship large data as a dependency the module fetches itself.";
    ZIP_DEPENDENCY_UNLISTED = "zip-dependency-unlisted", None, Warning, "zip",
        "each deps/<name>.tgz is listed in module.json's dependencies",
        "List the archive in module.json's dependencies (with its sha256) or remove it.";

    DEPENDENCY_NOT_GZIP = "dependency-not-gzip", INVALID_DEPENDENCY_DATA, Error, "dependencies",
        "each deps/<name>.tgz is a gzip'd tarball",
        "Build the dependency archive as a .tgz (`tar czf`; `rmpack pack --dependency` does).";
    DEPENDENCY_DAMAGED = "dependency-damaged", INVALID_DEPENDENCY_DATA, Error, "dependencies",
        "each deps/<name>.tgz inflates and reads to its end",
        "The dependency archive is corrupt or cut short: build it again.";
    DEPENDENCY_UNSAFE_PATH = "dependency-unsafe-path", INVALID_DEPENDENCY_DATA, Error, "dependencies",
        "names inside each deps/<name>.tgz are plain relative paths (no `..` or absolute paths)",
        "Archive the dependency from inside its folder, with relative names.";
    DEPENDENCY_LINK = "dependency-link", INVALID_DEPENDENCY_DATA, Error, "dependencies",
        "no entry of a deps/<name>.tgz is a symbolic or hard link",
        "Replace each link by the file it points to before archiving.";
    DEPENDENCY_SPECIAL_FILE = "dependency-special-file", INVALID_DEPENDENCY_DATA, Error, "dependencies",
        "each deps/<name>.tgz holds only regular files and folders (no devices, FIFOs, sparse files)",
        "Archive only regular files and folders.";
    DEPENDENCY_DUPLICATE = "dependency-duplicate", INVALID_DEPENDENCY_DATA, Error, "dependencies",
        "no two entries of a deps/<name>.tgz share a name (also ignoring case)",
        "Archive each file once.";
    DEPENDENCY_TOO_LARGE = "dependency-too-large", INVALID_DEPENDENCY_DATA, Error, "dependencies",
        "each deps/<name>.tgz stays within the entry-count and inflated-size caps",
        "Check the archive is not a tar bomb; a genuine dependency this large needs a higher cap.";

    JSON_SYNTAX = "json-syntax", INVALID_MODULE, Error, "module.json",
        "module.json is a JSON object",
        "Fix the JSON syntax; `rmpack pack` writes a valid module.json.";
    JSON_MISSING_FIELD = "json-missing-field", INVALID_MODULE, Error, "module.json",
        "every field RS's user-defined module endpoint requires is present",
        "Add the field; required: module_name, version, semantic_version, display_name, commands, command_line_args, capabilities, min_redis_version.";
    JSON_MISSING_RECOMMENDED = "json-missing-recommended", None, Warning, "module.json",
        "module_file, sha256 and architecture are present",
        "Add the field; `rmpack pack` fills them from the .so.";
    JSON_FIELD_TYPE = "json-field-type", INVALID_MODULE, Error, "module.json",
        "each field has the JSON type RS expects",
        "Give the field the expected type (see the message).";
    JSON_MODULE_NAME = "json-module-name", INVALID_MODULE, Error, "module.json",
        "module_name is a non-empty name without white space",
        "Use the name the module passes to RedisModule_Init (MODULE LIST shows it).";
    JSON_VERSION_INVALID = "json-version-invalid", INVALID_MODULE, Error, "module.json",
        "version is a non-negative integer",
        "Write the integer version the module passes to RedisModule_Init, e.g. 10203 for 1.2.3.";
    JSON_VERSION_FLOAT = "json-version-float", None, Info, "module.json",
        "version is written as an integer, not a whole float",
        "RS reads 10203.0 as 10203; `rmpack pack` writes the integer.";
    JSON_VERSION_MISMATCH = "json-version-mismatch", INVALID_MODULE, Error, "module.json",
        "semantic_version is what version implies (major = v/10000, minor = v%10000/100, patch = v%100)",
        "Make semantic_version agree with version (or give only one to `rmpack pack`).";
    JSON_VERSION_SYNTAX = "json-version-syntax", INVALID_MODULE, Error, "module.json",
        "min_redis_version, min_redis_pack_version, compatible_redis_version and semantic_version parse",
        "Write dotted release numbers such as \"7.2\" or \"7.4.2\".";
    JSON_VERSIONS_INCONSISTENT = "json-versions-inconsistent", None, Warning, "module.json",
        "min_redis_version is not above compatible_redis_version",
        "Lower min_redis_version or raise compatible_redis_version.";
    JSON_CAPABILITY_UNKNOWN = "json-capability-unknown", INVALID_MODULE, Error, "module.json",
        "every capability is one of the 16 names RS knows",
        "Use only known capability names (types, no_multi_key, replica_of, backup_restore, eviction_expiry, reshard_rebalance, failover_migrate, persistence_aof, persistence_rdb, hash_policy, flash, crdb, clustering, intershard_tls, intershard_tls_pass, ipv6).";
    JSON_OS_NOT_LINUX = "json-os-not-linux", OS_NOT_SUPPORTED, Error, "module.json",
        "os is \"Linux\"",
        "Set os to \"Linux\".";
    JSON_OS_INVALID = "json-os-invalid", Some("module_os_list_invalid"), Error, "module.json",
        "each operating_systems entry is a distro id followed by its version, which RS's unpacker can split",
        "Write each OS as RAMP and RS do: distro id + major version (rhel8, rhel9, ubuntu20, ubuntu22, ubuntu24, amzn2, amzn2023, debian12).";
    JSON_OS_UNKNOWN = "json-os-unknown", None, Warning, "module.json",
        "operating_systems names operating systems rmpack has platform facts for",
        "Use the names RS uses (rhel8, rhel9, ubuntu20, ubuntu22, ubuntu24, amzn2, amzn2023, debian12); other spellings (ubuntu22.04, jammy, rocky9) are read as these.";
    JSON_ARCHITECTURE_INVALID = "json-architecture-invalid", INVALID_MODULE, Error, "module.json",
        "architecture is x86_64 or aarch64",
        "Set architecture to the .so's architecture (x86_64 or aarch64); `rmpack pack` reads it from the ELF header.";
    JSON_SHA256_FORMAT = "json-sha256-format", INVALID_MODULE, Error, "module.json",
        "sha256 is 64 hex digits",
        "Record the hex SHA-256 of the .so (`sha256sum module.so`).";
    JSON_DEPENDENCY_INVALID = "json-dependency-invalid", INVALID_DEPENDENCY_DATA, Error, "module.json",
        "each dependency is {\"url\": http(s) URL, \"sha256\": 64 hex} under a plain name",
        "Give each dependency a sha256 of 64 hex digits and, unless embedded, an http(s) url.";
    JSON_COMMAND_INVALID = "json-command-invalid", INVALID_MODULE, Error, "module.json",
        "each command is an object with a command_name and integer arity and key positions",
        "Write each command as COMMAND INFO reports it; `rmpack pack` discovers them.";
    JSON_COMMAND_ARITY = "json-command-arity", None, Warning, "module.json",
        "command_arity is not 0",
        "Use the command's arity: N for exactly N arguments (name included), -N for at least N.";
    JSON_COMMAND_KEYS = "json-command-keys", None, Warning, "module.json",
        "first_key, last_key and step describe a possible key range",
        "Use the key positions COMMAND INFO reports (0 0 0 for a command without keys).";
    JSON_COMMAND_DUPLICATE = "json-command-duplicate", None, Warning, "module.json",
        "no command is listed twice",
        "List each command once.";
    JSON_COMMANDS_EMPTY = "json-commands-empty", None, Warning, "module.json",
        "the module lists at least one command",
        "Discover the commands (`rmpack pack` loads the module) or list them in the manifest.";

    ELF_UNREADABLE = "elf-unreadable", INVALID_MODULE, Error, "elf",
        "the .so is a complete ELF file",
        "Ship the module's compiled .so (not a script, a truncated copy or a .debug file).";
    ELF_NOT_SHARED_OBJECT = "elf-not-shared-object", INVALID_MODULE, Error, "elf",
        "the .so is an ELF shared object",
        "Link the module with -shared (and -fPIC).";
    ELF_NOT_64_BIT = "elf-not-64-bit", INVALID_MODULE, Error, "elf",
        "the .so is a 64-bit, little-endian ELF",
        "Build the module for 64-bit x86_64 or aarch64.";
    ELF_ARCHITECTURE_UNSUPPORTED = "elf-architecture-unsupported", OS_NOT_SUPPORTED, Error, "elf",
        "the .so is built for x86_64 or aarch64",
        "Build the module for x86_64 or aarch64, the only architectures RS runs.";
    ELF_ARCHITECTURE_MISMATCH = "elf-architecture-mismatch", INVALID_MODULE, Error, "elf",
        "module.json's architecture is the .so's",
        "Set architecture in module.json to the .so's (`rmpack pack` reads it from the ELF header).";
    TARGET_ARCHITECTURE_MISMATCH = "target-architecture-mismatch", OS_NOT_SUPPORTED, Error, "elf",
        "the .so runs on the target's architecture",
        "Build the module for the target's architecture and upload that zip.";
    ELF_OS_ABI = "elf-os-abi", OS_NOT_SUPPORTED, Error, "elf",
        "the OS/ABI is System V or GNU/Linux",
        "Build the module with a Linux toolchain.";
    ELF_NO_ONLOAD = "elf-no-onload", INVALID_MODULE, Error, "elf",
        "RedisModule_OnLoad is exported and defined",
        "Define `int RedisModule_OnLoad(RedisModuleCtx *, RedisModuleString **, int)` and keep it visible (no -fvisibility=hidden on it, no version script hiding it).";
    ELF_GLIBC_TOO_NEW = "elf-glibc-too-new", None, Error, "elf",
        "the glibc symbol versions needed exist on each target OS",
        "Build on (or for) the oldest target OS, e.g. in its container, or avoid the symbols named.";
    ELF_GLIBCXX_TOO_NEW = "elf-glibcxx-too-new", None, Error, "elf",
        "the libstdc++ symbol versions needed exist on each target OS",
        "Build with the target OS's compiler, or link libstdc++ statically (-static-libstdc++).";
    ELF_OPENSSL_TOO_NEW = "elf-openssl-too-new", None, Error, "elf",
        "the OpenSSL symbol versions needed exist on each target OS",
        "Build against the target OS's OpenSSL.";
    ELF_LIBRARY_MISSING = "elf-library-missing", None, Error, "elf",
        "every NEEDED system library is shipped by each target OS",
        "Build against the libraries the target OS ships (e.g. OpenSSL 3 on rhel9/ubuntu22.04), or link that library statically.";
    ELF_LIBRARY_UNKNOWN = "elf-library-unknown", None, Warning, "elf",
        "every NEEDED library is part of the target OS's base system",
        "Make sure the library is installed on every node, or link it statically.";
    TARGET_OS_NOT_LISTED = "target-os-not-listed", OS_NOT_SUPPORTED, Warning, "elf",
        "the target OS is in module.json's operating_systems",
        "Build for that OS and add it to operating_systems, or target the OS the module was built for.";
    TARGET_OS_UNKNOWN = "target-os-unknown", None, Warning, "elf",
        "rmpack has platform facts for the target OS",
        "Check glibc and library needs on that OS yourself, or use a nickname rmpack knows.";

    REDIS_VERSION_TOO_OLD = "redis-version-too-old", Some("redis_incompatible_version"), Error, "versions",
        "min_redis_version is not above the target Redis version",
        "Upgrade the database's Redis version, or lower min_redis_version if the module really runs on older Redis.";
    RS_VERSION_TOO_OLD = "rs-version-too-old", Some("min_redis_pack_version"), Error, "versions",
        "min_redis_pack_version is not above the target RS version (upload)",
        "Upgrade the cluster, or lower min_redis_pack_version if the module really runs on older RS.";
    RS_VERSION_TOO_OLD_FOR_UPGRADE = "rs-version-too-old-for-upgrade", Some("redis_pack_incompatible_version"), Error, "versions",
        "min_redis_pack_version is not above the target RS version (database module upgrade)",
        "Upgrade the cluster before upgrading the module on the database.";
    REDIS_VERSION_NOT_COMPATIBLE = "redis-version-not-compatible", Some("upgrade_bdb_failed"), Error, "versions",
        "a database on the target Redis may use the build (RS's fit rule: compatible_redis_version equals its major.minor; without it, min_redis_version is not above it and of the same major)",
        "Build the module for that Redis (set compatible_redis_version to its major.minor), or target the Redis this build is for.";
    JSON_COMPATIBLE_REDIS_VERSION_MISSING = "compatible-redis-version-missing", None, Warning, "versions",
        "module.json states compatible_redis_version",
        "Set compatible_redis_version to the Redis major.minor this build is for (e.g. \"8.2\"); without it RS offers the build only to databases of min_redis_version's major version.";
    COMPATIBLE_REDIS_VERSION_IMPOSSIBLE = "compatible-redis-version-impossible", None, Error, "versions",
        "compatible_redis_version names a Redis feature set that exists (not a placeholder such as 99.99)",
        "Set compatible_redis_version to the Redis major.minor the build is for (e.g. \"8.2\"); RS answers \"Unable to find module … compatible with BDB redis version\" for every database otherwise.";
    COMPATIBLE_REDIS_VERSION_UNRELEASED = "compatible-redis-version-unreleased", None, Warning, "versions",
        "compatible_redis_version is a Redis feature set rmpack knows to be released",
        "Check the value: it is newer than every Redis release rmpack knows; no database runs it until that Redis ships.";

    CAPABILITY_MISSING = "capability-missing", Some("unsupported_module_capabilities"), Error, "capabilities",
        "the module declares every capability the database configuration needs",
        "Add the capability if the module supports the feature, or change the database configuration.";

    UPGRADE_DOWNGRADE = "upgrade-downgrade", Some("module_downgrade_unsupported"), Error, "upgrade",
        "the new version is not lower than the current one",
        "Upload a version above the current one; RS does not downgrade modules.";
    UPGRADE_REDIS_VERSION_NOT_COMPATIBLE = "upgrade-redis-version-not-compatible", Some("upgrade_bdb_failed"), Error, "upgrade",
        "the new version fits the database's (target) Redis by RS's fit rule",
        "Upload a build of the module for the database's Redis version, or move the database's Redis version with --redis-version.";
    UPGRADE_PLATFORM_MISSING = "upgrade-platform-missing", OS_NOT_SUPPORTED, Error, "upgrade",
        "the new version has a build for every node's OS and architecture",
        "Upload the module built for each OS and architecture the cluster's nodes run.";
    UPGRADE_NODES_ON_DIFFERENT_RS = "upgrade-nodes-on-different-rs", Some("upgrade_bdb_failed"), Error, "upgrade",
        "every node runs the same RS version (RS refuses database upgrades with \"not all nodes upgraded to the same version\")",
        "Finish upgrading RS on every node first, then upgrade the databases.";
    UPGRADE_REDIS_DOWNGRADE = "upgrade-redis-downgrade", Some("upgrade_bdb_failed"), Error, "upgrade",
        "the target Redis version is not below the database's",
        "Keep the database's Redis version (omit --redis-version) or move it up; RS does not move a database to an older Redis.";
    UPGRADE_REDIS_POLICY = "upgrade-redis-policy", Some("redis_upgrade_policy_mismatch"), Error, "upgrade",
        "the target Redis version is one the cluster's redis_upgrade_policy allows (with `major`, not above its default_redis_version)",
        "Move to a Redis version the policy allows, or change the policy: rladmin tune cluster redis_upgrade_policy latest.";
    UPGRADE_MOVES_OTHER_MODULES = "upgrade-moves-other-modules", None, Error, "upgrade",
        "the operator accepted the other modules RS moves with the upgrade (RS 7.8.2 and later move every module of the database to its newest fitting build)",
        "Review the moves the plan lists (rmpack upgrade … --dry-run) and accept them with --accept-other-modules.";
    UPGRADE_NODE_LACKS_ARTIFACT = "upgrade-node-lacks-artifact", OS_NOT_SUPPORTED, Error, "upgrade",
        "every node holds the artifact of the custom module version the database moves to",
        "Upload the zip built for that node's OS and architecture (rmpack upload ZIP…), then upgrade.";
    UPGRADE_SAME_VERSION = "upgrade-same-version", Some("module_exists"), Error, "upgrade",
        "the new version differs from the current one",
        "Raise the module version (RedisModule_Init) before uploading.";

    SET_ZIP_UNREADABLE = "set-zip-unreadable", INVALID_MODULE, Error, "set",
        "every input of the set is a readable module zip with a module name and version",
        "Remove the file from the release, or rebuild it (`rmpack pack`).";
    SET_FILE_IGNORED = "set-file-ignored", None, Info, "set",
        "notes files in the release folder that are not zips (not part of the set)",
        "Nothing to fix; keep only the release's zips in the folder to silence it.";
    SET_MODULE_NAMES = "set-module-names", None, Error, "set",
        "every zip of the set carries the same module_name",
        "Validate and upload each module's release on its own; a zip of another module does not belong to this one.";
    SET_VERSION_CONFIG_DIFFERS = "set-version-config-differs", None, Error, "set",
        "the builds of one version register the same commands, capabilities, min_redis_version, min_redis_pack_version, compatible_redis_version, command_line_args and dependency names (RS registers one configuration per version and serves it to every node)",
        "Pack every platform's build of a version from the same manifest and module source; give a build that must differ its own version.";
    SET_DUPLICATE_BUILD = "set-duplicate-build", None, Error, "set",
        "each (version, OS, architecture) has one zip",
        "Keep one zip per version and platform (e.g. the -withdeps one, which RS can install).";
    SET_SAME_ZIP_TWICE = "set-same-zip-twice", None, Info, "set",
        "notes the same zip given twice under two names",
        "Nothing to fix; drop the copy to keep the release tidy.";
    SET_FILE_NAME_MISMATCH = "set-file-name-mismatch", None, Warning, "set",
        "a file name that follows Redis's convention ({name}.Linux-{os}-{arch}.{semver}.zip) says what the zip holds",
        "Rename the zip to what it holds (`rmpack pack` names it), or repack it.";
    SET_PLATFORM_HOLE = "set-platform-hole", None, Warning, "set",
        "the release builds every platform it targets for every Redis feature set it targets (no hole in the matrix)",
        "Build the missing platform for that Redis feature set, or say in the release notes that it is not supported.";
    SET_FEATURE_SET_TWICE = "set-feature-set-twice", None, Warning, "set",
        "each Redis feature set has one module version in the release",
        "Keep the version meant for that Redis; RS gives databases only the highest one that fits (a placeholder or a forgotten --compatible-redis-version often causes this).";
    SET_TARGET_NOT_COVERED = "set-target-not-covered", OS_NOT_SUPPORTED, Error, "set",
        "the set has a build for each target OS and architecture, and one that fits the target Redis",
        "Build the module for the target named, and add the zip to the set.";
    SET_NODE_BUILD_MISSING = "set-node-build-missing", OS_NOT_SUPPORTED, Error, "set",
        "every node of the cluster has a build of every version in the set (the node takes only its own OS and architecture)",
        "Build the version for that node's OS and architecture and add the zip to the set.";
    SET_CHECKSUM_MISMATCH = "set-checksum-mismatch", None, Error, "set",
        "each zip hashes to what the checksum file lists",
        "The zip changed since the checksums were written: rebuild the release or find out who changed it.";
    SET_CHECKSUM_MISSING = "set-checksum-missing", None, Error, "set",
        "every zip the checksum file lists is in the set",
        "Add the missing zip to the set (or the folder), or write the checksums again.";
    SET_CHECKSUM_UNLISTED = "set-checksum-unlisted", None, Error, "set",
        "every zip of the set is listed in the checksum file",
        "Write the checksums again (--write-checksums), or drop the zip that does not belong.";

    LOAD_MISSING_LIBRARY = "load-missing-library", None, Error, "load",
        "(--load) every library the module needs is found by the dynamic loader here",
        "Install the library named (or the package that ships it), or link it statically; nodes lacking it fail the same way.";
    LOAD_REDIS_TOO_OLD = "load-redis-too-old", None, Error, "load",
        "(--load) the module accepts the Redis version it is loaded into",
        "Load it into the Redis it asks for (--redis-server PATH or RMPACK_REDIS_SERVER), and set compatible_redis_version and min_redis_version to match.";
    LOAD_CRASH = "load-crash", None, Error, "load",
        "(--load) redis-server survives loading the module",
        "Debug RedisModule_OnLoad (e.g. run redis-server under gdb with --loadmodule); a crash at load takes the shard down on every node.";
    LOAD_HANG = "load-hang", None, Error, "load",
        "(--load) the module finishes loading within the timeout",
        "Make RedisModule_OnLoad return promptly (no blocking I/O or waiting there), or raise --load-timeout if it is merely slow.";
    LOAD_FAILED = "load-failed", None, Error, "load",
        "(--load) redis-server loads the module with its command_line_args",
        "Fix the reason the server log gives (module arguments, configuration), then validate again.";
    LOAD_COMMAND_NOT_REGISTERED = "load-command-not-registered", None, Error, "load",
        "(--load) every command module.json lists is registered by the module",
        "Remove the command from module.json (or the manifest), or register it in RedisModule_OnLoad; repack to take the list from the module.";
    LOAD_COMMAND_NOT_LISTED = "load-command-not-listed", None, Warning, "load",
        "(--load) every command the module registers is listed in module.json",
        "List the command in module.json (repack: `rmpack pack` reads the commands from the module), or exclude it on purpose with exclude_commands.";
    LOAD_SKIPPED = "load-skipped", None, Info, "load",
        "(--load) the module can be loaded on this machine (same architecture, a .so present)",
        "Run the load check on a machine of the module's architecture.";
    LOAD_OK = "load-ok", None, Info, "load",
        "(--load) the module loads; its name, version and command count",
        "Nothing to fix.";

    CLUSTER_CAPABILITY_UNKNOWN = "cluster-capability-unknown", Some("unsupported_module_capabilities"), Error, "cluster",
        "every capability is one the cluster knows",
        "Remove the capability, or upgrade the cluster to an RS version that knows it.";
    CLUSTER_MODULE_EXISTS = "cluster-module-exists", Some("module_exists"), Error, "cluster",
        "the cluster does not already hold this module name and version",
        "Raise the module version, or delete the existing module first.";
    CLUSTER_NEWER_VERSION_REGISTERED = "cluster-newer-version-registered", None, Info, "cluster",
        "notes when the cluster already holds a higher version of the module",
        "Nothing to fix: RS keeps several versions side by side; databases move between them with `rmpack upgrade`.";
    CLUSTER_NODE_BUILD_MISSING = "cluster-node-build-missing", OS_NOT_SUPPORTED, Error, "cluster",
        "every node the zip goes to runs the OS and architecture the zip is built for (compared by distro and major version, as RS does)",
        "Build the module for that node's OS and architecture, and upload the builds together (`rmpack upload ZIP…` sends each node its own).";
    CLUSTER_UPLOAD_DISABLED = "cluster-upload-disabled", Some("modules_upload_disabled"), Error, "cluster",
        "the cluster allows module uploads (RS 8.2 and later disable them by default)",
        "Enable uploads: PUT /v1/cluster {\"allow_modules_upload\": true}.";
    CLUSTER_MODULE_IN_USE = "cluster-module-in-use", Some("module_in_use"), Error, "cluster",
        "(delete) no database runs the module version to delete",
        "Upgrade those databases to another version first (`rmpack upgrade`), or give --force to send the delete anyway.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for rule in ALL {
            assert!(seen.insert(rule.id), "duplicate rule id {}", rule.id);
            assert!(
                rule.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                rule.id
            );
        }
    }
}
