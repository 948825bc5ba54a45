//! ELF facts of the fixture modules.

mod common;

#[test]
fn every_fixture_builds() {
    for name in common::FIXTURES {
        let path = common::fixture(name);
        assert!(path.is_file(), "{name}: {}", path.display());
    }
    assert!(common::stripped("plain").is_file());
    assert!(common::debug_only("plain").is_file());
    assert!(common::truncated("plain", 100).is_file());
    assert!(common::not_an_elf().is_file());
    assert!(common::prebuilt_aarch64().is_file());
}
