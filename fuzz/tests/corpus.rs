//! Replays every committed corpus file through its target, on stable: what the fuzzer
//! found interesting stays tested even where `cargo fuzz` cannot run.

#[test]
fn every_corpus_file_passes_its_target() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, target) in tenantry_fuzz::TARGETS {
        let dir = root.join(name);
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            target(&std::fs::read(entry.unwrap().path()).unwrap());
            files += 1;
        }
        assert!(files > 0, "the corpus of {name} is empty");
    }
}
