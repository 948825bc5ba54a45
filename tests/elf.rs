//! ELF facts of the fixture modules, compiled from testdata/ by gcc.

mod common;

use std::path::Path;
use std::process::Command;

use rmpack::elf::{ElfClass, ElfError, ElfFacts, Endianness, FileType, Machine, VersionFamily};

fn facts(path: &Path) -> ElfFacts {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    ElfFacts::read(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn error(path: &Path) -> ElfError {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    match ElfFacts::read(&bytes) {
        Ok(facts) => panic!("{} read as {facts:?}", path.display()),
        Err(e) => e,
    }
}

#[test]
fn plain_is_an_x86_64_module() {
    let plain = facts(&common::fixture("plain"));
    assert_eq!(plain.machine, Machine::X86_64);
    assert_eq!(plain.rs_architecture(), Some("x86_64"));
    assert_eq!(plain.describe_architecture(), "x86_64");
    assert_eq!(plain.class, ElfClass::Elf64);
    assert_eq!(plain.endianness, Endianness::Little);
    assert_eq!(plain.file_type, FileType::SharedObject);
    assert!(plain.os_abi.is_linux_compatible(), "{}", plain.os_abi);
    assert!(plain.has_redis_module_onload);
    assert!(
        plain.needed.iter().any(|lib| lib == "libc.so.6"),
        "{:?}",
        plain.needed
    );
    assert!(plain.exported_symbols >= 1);
    assert!(plain.has_symtab);
    assert!(
        plain.build_id.as_ref().is_some_and(|id| id.len() == 40),
        "{:?}",
        plain.build_id
    );
    let glibc = plain.max_glibc().expect("plain needs glibc");
    assert_eq!(glibc.library, "libc.so.6");
    assert!(glibc.symbols.iter().any(|s| s == "snprintf"), "{glibc:?}");
}

#[test]
fn every_fixture_is_an_x86_64_shared_object() {
    for name in common::FIXTURES {
        let facts = facts(&common::fixture(name));
        assert_eq!(facts.rs_architecture(), Some("x86_64"), "{name}");
        assert_eq!(facts.file_type, FileType::SharedObject, "{name}");
        assert_eq!(
            facts.has_redis_module_onload,
            *name != "notmodule",
            "{name}"
        );
    }
}

#[test]
fn prebuilt_aarch64_module() {
    let arm = facts(&common::prebuilt_aarch64());
    assert_eq!(arm.machine, Machine::Aarch64);
    assert_eq!(arm.rs_architecture(), Some("aarch64"));
    assert_eq!(arm.file_type, FileType::SharedObject);
    assert!(arm.has_redis_module_onload);
}

#[test]
fn notmodule_has_no_onload() {
    let lib = facts(&common::fixture("notmodule"));
    assert_eq!(lib.file_type, FileType::SharedObject);
    assert!(!lib.has_redis_module_onload);
    // notmodule_answer and notmodule_length
    assert!(lib.exported_symbols >= 2, "{}", lib.exported_symbols);
}

#[test]
fn newglibc_needs_glibc_2_36_for_arc4random() {
    let module = facts(&common::fixture("newglibc"));
    let glibc = module.max_glibc().expect("a glibc need");
    assert_eq!(glibc.name, "GLIBC_2.36");
    assert_eq!(glibc.version, [2, 36]);
    assert!(glibc.version.as_slice() >= [2, 34].as_slice());
    assert_eq!(glibc.library, "libc.so.6");
    assert_eq!(glibc.symbols, ["arc4random", "arc4random_uniform"]);

    // Against ubuntu22.04's glibc 2.35 only the 2.36 symbols are too new.
    let too_new = module.versions_above(VersionFamily::Glibc, &[2, 35]);
    assert_eq!(too_new.len(), 1);
    assert_eq!(too_new[0].name, "GLIBC_2.36");
    assert!(module
        .versions_above(VersionFamily::Glibc, &[2, 36])
        .is_empty());
}

#[test]
fn glibc234_needs_exactly_glibc_2_34() {
    let module = facts(&common::fixture("glibc234"));
    let glibc = module.max_glibc().expect("a glibc need");
    assert_eq!(glibc.name, "GLIBC_2.34");
    assert_eq!(glibc.symbols, ["closefrom"]);
    // rhel9 (2.34) has it, ubuntu20.04 (2.31) does not.
    assert!(module
        .versions_above(VersionFamily::Glibc, &[2, 34])
        .is_empty());
    assert_eq!(
        module.versions_above(VersionFamily::Glibc, &[2, 31]).len(),
        1
    );
}

#[test]
fn needs_ssl11_lists_libssl_1_1() {
    let module = facts(&common::fixture("needs_ssl11"));
    assert!(
        module.needed.iter().any(|lib| lib == "libssl.so.1.1"),
        "{:?}",
        module.needed
    );
    let openssl = module.max_openssl().expect("an OpenSSL need");
    assert_eq!(openssl.name, "OPENSSL_1_1_0");
    assert_eq!(openssl.library, "libssl.so.1.1");
    assert_eq!(openssl.version, [1, 1, 0]);
    assert_eq!(openssl.symbols, ["OPENSSL_init_ssl"]);
    assert_eq!(module.runpath.len(), 1, "{:?}", module.runpath);

    let fake = facts(&common::fake_libssl_dir().join("libssl.so.1.1"));
    assert_eq!(fake.soname.as_deref(), Some("libssl.so.1.1"));
    assert!(!fake.has_redis_module_onload);
}

#[test]
fn stripped_module_still_names_symbols() {
    let plain = facts(&common::stripped("plain"));
    assert!(!plain.has_symtab);
    assert!(plain.has_redis_module_onload);

    let module = facts(&common::stripped("newglibc"));
    assert!(!module.has_symtab);
    let glibc = module.max_glibc().expect("a glibc need");
    assert_eq!(glibc.name, "GLIBC_2.36");
    assert_eq!(glibc.symbols, ["arc4random", "arc4random_uniform"]);
}

#[test]
fn debug_file_is_refused() {
    let err = error(&common::debug_only("plain"));
    assert_eq!(err, ElfError::DebugOnly);
    assert!(err.to_string().contains("not its .debug file"), "{err}");
}

#[test]
fn not_an_elf_is_refused() {
    let err = error(&common::not_an_elf());
    assert_eq!(
        err,
        ElfError::NotElf {
            magic: b"#!/b".to_vec()
        }
    );
    let message = err.to_string();
    assert!(message.contains("not an ELF file"), "{message}");
    assert!(
        message.contains("pass the module's compiled .so"),
        "{message}"
    );
}

#[test]
fn truncated_module_is_refused() {
    let full = std::fs::metadata(common::fixture("plain"))
        .expect("stat")
        .len();
    let cut = (full / 2) as usize;
    let err = error(&common::truncated("plain", cut));
    match &err {
        ElfError::Truncated { needed, actual } => {
            assert_eq!(*actual, cut as u64);
            assert!(*needed > *actual);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn object_files_and_executables_are_facts_not_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let object = dir.path().join("plain.o");
    let status = Command::new("gcc")
        .args(["-c", "-fPIC"])
        .arg(format!(
            "-I{}",
            common::testdata().join("include").display()
        ))
        .arg(common::testdata().join("modules/plain.c"))
        .arg("-o")
        .arg(&object)
        .status()
        .expect("run gcc");
    assert!(status.success());
    let object = facts(&object);
    assert_eq!(object.file_type, FileType::Relocatable);
    assert!(
        !object.has_redis_module_onload,
        "an object file exports nothing dynamically"
    );

    let source = dir.path().join("main.c");
    std::fs::write(&source, "int main(void) { return 0; }\n").expect("write main.c");
    let program = dir.path().join("program");
    let status = Command::new("gcc")
        .args(["-pie", "-fPIE"])
        .arg(&source)
        .arg("-o")
        .arg(&program)
        .status()
        .expect("run gcc");
    assert!(status.success());
    assert_eq!(facts(&program).file_type, FileType::Executable);
}

#[test]
fn big_module_reads() {
    let big = facts(&common::big_module());
    assert!(big.has_redis_module_onload);
    assert_eq!(big.rs_architecture(), Some("x86_64"));
    let size = std::fs::metadata(common::big_module()).expect("stat").len();
    assert!((30_000_000..40_000_000).contains(&size), "{size}");
}
