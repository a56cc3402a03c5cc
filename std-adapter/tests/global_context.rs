//! The process-wide context changed in place once per block, and a second install handed
//! back (own process: the process-wide flags are installed once).

#[test]
fn update_context_changes_one_field_and_call_sites_follow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    std::fs::write(
        &path,
        "[features.fork]\nenabled = true\n[features.fork.conditions]\nchain_height = 100\n\
         [features.canary_only]\nenabled = true\n[features.canary_only.targets]\nnode_ids = [\"n1\"]\n",
    )
    .unwrap();
    let flags = vexil::Flags::builder(&path)
        .known(&["fork", "canary_only"])
        .build()
        .unwrap();
    vexil::global::install(flags.clone()).unwrap();
    let again = vexil::global::install(flags).unwrap_err();
    assert!(again.to_string().contains("installed already"), "{again}");
    assert_eq!(again.0.generation(), 1, "the flags are handed back");

    vexil::global::set_context(vexil::EvaluationContext::new("n1"));
    let fork = || vexil::feature_enabled!(0usize);
    let canary = || vexil::feature_enabled!(1usize);
    assert!(!fork(), "height 0");
    assert!(canary());
    for height in [99, 100, 250] {
        vexil::global::update_context(|c| c.set_chain_height(height));
        assert_eq!(fork(), height >= 100, "height {height}");
        assert!(canary(), "the node id set before is kept");
    }
    assert_eq!(vexil::global::context().chain_height(), 250);
}
