//! Packing a 100 MB module keeps peak memory under 20 MiB: the module is streamed through the
//! compressor in blocks, never held whole. Alone in its test binary, so no other test's memory
//! counts; the peak is the process's own high-water mark (`VmHWM` in /proc/self/status).

mod common;

use std::io::Write;

/// The process's peak resident set, in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("a VmHWM line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn a_100_mb_module_packs_with_peak_memory_under_20_mib() {
    let work = tempfile::tempdir().unwrap();
    // The plain fixture with 100 MB of code-like bytes after its end (still a valid module),
    // written in small pieces so building it does not raise the peak.
    let module = work.path().join("big.so");
    let mut file = std::fs::File::create(&module).unwrap();
    file.write_all(&std::fs::read(common::fixture("plain")).unwrap())
        .unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut chunk = vec![0u8; 64 * 1024];
    for _ in 0..(100 << 20) / chunk.len() {
        for byte in chunk.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // A small alphabet with runs: compresses about 3:1, like code.
            *byte = if state % 4 == 0 {
                (state >> 32) as u8
            } else {
                b"\x48\x89\xe5\0"[(state >> 40) as usize % 4]
            };
        }
        file.write_all(&chunk).unwrap();
    }
    drop(file);
    drop(chunk);
    let before = peak_kib();

    let mut options = rmpack::pack::PackOptions::new(&module);
    options.discover = false;
    options.flags.module_name = Some("plain".into());
    options.flags.version = Some(rmpack::manifest::ModuleVersion(10203));
    options.output = rmpack::pack::OutputSpec::File(work.path().join("out.zip"));
    options.threads = Some(2);
    let packed = rmpack::pack::pack(&options, &rmpack::Silent).unwrap();
    let peak = peak_kib();
    eprintln!("peak {peak} KiB (before packing {before} KiB)");
    assert!(packed.size > 1 << 20);
    assert!(
        peak < 20 * 1024,
        "peak memory {peak} KiB packing a 100 MB module (before packing: {before} KiB)"
    );
}
