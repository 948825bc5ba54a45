//! ELF rules: is the `.so` a loadable 64-bit Linux module for the right architecture, and does
//! each target OS provide the glibc, libstdc++, OpenSSL and libraries it needs.

use super::policy::{platforms, version_parts};
use super::rules::*;
use super::Ctx;
use crate::elf::{ElfClass, ElfFacts, Endianness, FileType, VersionFamily};
use crate::manifest::{Arch, OsNick};

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let Some(result) = ctx.elf else { return };
    let location = ctx.module_location();
    let facts = match result {
        Ok(facts) => facts,
        Err(error) => {
            ctx.push(
                ELF_UNREADABLE
                    .finding(format!("`{location}` is not a usable ELF file: {error}"))
                    .at(location),
            );
            return;
        }
    };
    let at = |d: super::Diagnostic| d.at(location.clone());

    if facts.file_type != FileType::SharedObject {
        ctx.push(at(ELF_NOT_SHARED_OBJECT.finding(format!(
            "`{location}` is {}, not a shared object",
            facts.file_type
        ))));
    }
    if facts.class != ElfClass::Elf64 || facts.endianness != Endianness::Little {
        ctx.push(at(ELF_NOT_64_BIT.finding(format!(
            "`{location}` is a {}, {} ELF",
            facts.class, facts.endianness
        ))));
    }
    let arch: Option<Arch> = facts.rs_architecture().and_then(|a| a.parse().ok());
    match arch {
        None => ctx.push(at(ELF_ARCHITECTURE_UNSUPPORTED.finding(format!(
            "`{location}` is built for {}; RS runs x86_64 and aarch64 modules only",
            facts.describe_architecture()
        )))),
        Some(arch) => {
            if let Some(declared) = ctx.str_field("architecture") {
                if let Ok(declared_arch) = declared.parse::<Arch>() {
                    if declared_arch != arch {
                        ctx.push(at(ELF_ARCHITECTURE_MISMATCH.finding(format!(
                            "module.json says architecture {declared}, but `{location}` is built for {arch}"
                        ))));
                    }
                }
            }
            // The module must run on every target architecture: a cluster whose nodes mix
            // x86_64 and aarch64 refuses the artifact on the nodes of the other kind.
            let others: Vec<&str> = ctx
                .target
                .architectures
                .iter()
                .filter(|target| **target != arch)
                .map(|target| target.name())
                .collect();
            if !others.is_empty() {
                ctx.push(at(TARGET_ARCHITECTURE_MISMATCH.finding(format!(
                    "`{location}` is built for {arch}, but the target runs {}",
                    others.join(", ")
                ))));
            }
        }
    }
    if !facts.os_abi.is_linux_compatible() {
        ctx.push(at(ELF_OS_ABI.finding(format!(
            "`{location}` has OS/ABI {}, not System V or GNU/Linux",
            facts.os_abi
        ))));
    }
    if !facts.has_redis_module_onload {
        ctx.push(at(ELF_NO_ONLOAD.finding(format!(
            "`{location}` does not export a defined RedisModule_OnLoad; Redis cannot load it as a module"
        ))));
    }
    let nicks = ctx.target.operating_systems.clone();
    for nick in &nicks {
        check_platform(ctx, facts, nick, &location);
    }
}

fn check_platform(ctx: &mut Ctx<'_>, facts: &ElfFacts, nick: &OsNick, location: &str) {
    let policy = platforms();
    // Compared as RS compares a node's OS with the build's: by distro and major version.
    let listed: Vec<OsNick> = ctx
        .value
        .and_then(|v| v.get("operating_systems").or_else(|| v.get("os_list")))
        .and_then(|v| v.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|s| s.as_str())
                .filter_map(|s| OsNick::parse(s, true).ok())
                .collect()
        })
        .unwrap_or_default();
    let same = |l: &OsNick| l.distro() == nick.distro() && l.major() == nick.major();
    if !listed.is_empty() && !listed.iter().any(same) {
        let names: Vec<&str> = listed.iter().map(OsNick::as_str).collect();
        ctx.push(
            TARGET_OS_NOT_LISTED
                .finding(format!(
                    "the target OS {nick} is not in module.json's operating_systems ({})",
                    names.join(", ")
                ))
                .at(location),
        );
    }
    let Some(platform) = policy.platforms.get(nick.as_str()) else {
        ctx.push(
            TARGET_OS_UNKNOWN
                .finding(format!("rmpack has no platform facts for {nick}; glibc and library needs are not checked"))
                .at(location),
        );
        return;
    };
    for (family, limit, rule, label) in [
        (
            VersionFamily::Glibc,
            &platform.glibc,
            &ELF_GLIBC_TOO_NEW,
            "glibc",
        ),
        (
            VersionFamily::Glibcxx,
            &platform.glibcxx,
            &ELF_GLIBCXX_TOO_NEW,
            "libstdc++ (GLIBCXX)",
        ),
        (
            VersionFamily::Openssl,
            &platform.openssl,
            &ELF_OPENSSL_TOO_NEW,
            "OpenSSL",
        ),
    ] {
        let limit_parts = version_parts(limit);
        let above = facts.versions_above(family, &limit_parts);
        if above.is_empty() {
            continue;
        }
        // OpenSSL 1.1 and 3 are different sonames; a missing library is reported on its own.
        if family == VersionFamily::Openssl
            && above
                .iter()
                .any(|need| !policy.ships(nick.as_str(), &need.library))
        {
            continue;
        }
        let needs: Vec<String> = above
            .iter()
            .map(|need| {
                if need.symbols.is_empty() {
                    need.name.clone()
                } else {
                    format!("{} ({})", need.name, need.symbols.join(", "))
                }
            })
            .collect();
        ctx.push(
            rule.finding(format!(
                "`{location}` needs {} but {nick} ({}) has {label} {limit}",
                needs.join(", "),
                platform.description
            ))
            .at(location),
        );
    }
    for library in &facts.needed {
        if policy.ships(nick.as_str(), library) {
            continue;
        }
        if policy.is_system_library(library) {
            let family_hint = sibling_hint(&platform.libraries, library);
            ctx.push(
                ELF_LIBRARY_MISSING
                    .finding(format!(
                        "`{location}` needs {library}, which {nick} ({}) does not ship{family_hint}",
                        platform.description
                    ))
                    .at(location),
            );
        } else {
            ctx.push(
                ELF_LIBRARY_UNKNOWN
                    .finding(format!(
                        "`{location}` needs {library}, which is not part of {nick}'s base system"
                    ))
                    .at(location),
            );
        }
    }
}

/// " (it ships libssl.so.3)" when the OS ships another version of the same library.
fn sibling_hint(shipped: &[String], library: &str) -> String {
    let stem = library.split(".so").next().unwrap_or(library);
    let siblings: Vec<&str> = shipped
        .iter()
        .filter(|l| l.split(".so").next() == Some(stem))
        .map(String::as_str)
        .collect();
    if siblings.is_empty() {
        String::new()
    } else {
        format!(" (it ships {})", siblings.join(", "))
    }
}
