//! The checks a `.so` must pass before anything loads it: an ELF shared object, of an
//! architecture RS accepts, that exports `RedisModule_OnLoad`.

use goblin::elf::header::{
    EM_386, EM_AARCH64, EM_ARM, EM_PPC64, EM_RISCV, EM_S390, EM_X86_64, ET_DYN,
};
use goblin::elf::sym::STT_FUNC;
use goblin::elf::Elf;

use crate::manifest::Arch;

/// Why a file is not a module rmpack can pack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleElfError {
    /// The bytes are not an ELF image.
    #[error(
        "it is not an ELF file (it does not start with the ELF magic bytes); give the module's .so"
    )]
    NotElf,
    /// The ELF image is cut short or malformed.
    #[error("it is a truncated or malformed ELF file ({0}); rebuild or re-download the module")]
    Malformed(String),
    /// An ELF image that is not a shared object.
    #[error("it is an ELF file but not a shared object (e_type {0}); a Redis module is built with -shared")]
    NotSharedObject(u16),
    /// A shared object that does not export the module entry point.
    #[error("it does not export RedisModule_OnLoad as a function, so it is not a Redis module (a stripped .debug file or a plain library?)")]
    NoOnLoad,
    /// An architecture RS does not run.
    #[error("it is built for {0}; RS runs only x86_64 and aarch64 modules")]
    UnsupportedArch(String),
}

/// The architecture of a module `.so`, after checking it is a loadable Redis module.
pub fn check_module(bytes: &[u8]) -> Result<Arch, ModuleElfError> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(ModuleElfError::NotElf);
    }
    let elf = Elf::parse(bytes).map_err(|e| ModuleElfError::Malformed(e.to_string()))?;
    let arch = match (elf.header.e_machine, elf.is_64, elf.little_endian) {
        (EM_X86_64, true, true) => Arch::X86_64,
        (EM_AARCH64, true, true) => Arch::Aarch64,
        (machine, is_64, little_endian) => {
            return Err(ModuleElfError::UnsupportedArch(machine_name(
                machine,
                is_64,
                little_endian,
            )))
        }
    };
    if elf.header.e_type != ET_DYN {
        return Err(ModuleElfError::NotSharedObject(elf.header.e_type));
    }
    let exports_onload = elf.dynsyms.iter().any(|sym| {
        sym.st_type() == STT_FUNC
            && sym.st_shndx != 0
            && sym.st_value != 0
            && elf.dynstrtab.get_at(sym.st_name) == Some("RedisModule_OnLoad")
    });
    if !exports_onload {
        return Err(ModuleElfError::NoOnLoad);
    }
    Ok(arch)
}

/// A person's name for an ELF machine, class and byte order.
fn machine_name(machine: u16, is_64: bool, little_endian: bool) -> String {
    let bits = if is_64 { "64-bit" } else { "32-bit" };
    let base = match machine {
        EM_386 => "x86".to_string(),
        EM_X86_64 => "x86-64".to_string(),
        EM_ARM => "ARM".to_string(),
        EM_AARCH64 => "ARM (AArch64)".to_string(),
        EM_PPC64 => "PowerPC".to_string(),
        EM_S390 => "s390".to_string(),
        EM_RISCV => "RISC-V".to_string(),
        other => format!("ELF machine {other}"),
    };
    let order = if little_endian { "" } else { ", big-endian" };
    format!("{bits} {base}{order}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_not_an_elf() {
        assert_eq!(check_module(b"#!/bin/sh\n"), Err(ModuleElfError::NotElf));
        assert_eq!(check_module(b""), Err(ModuleElfError::NotElf));
    }

    #[test]
    fn a_bare_header_is_malformed() {
        let mut header = b"\x7fELF\x02\x01\x01".to_vec();
        header.resize(20, 0);
        assert!(matches!(
            check_module(&header),
            Err(ModuleElfError::Malformed(_))
        ));
    }

    #[test]
    fn machines_are_named() {
        assert_eq!(machine_name(EM_ARM, false, true), "32-bit ARM");
        assert_eq!(machine_name(EM_386, false, true), "32-bit x86");
    }
}
