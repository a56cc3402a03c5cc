//! The generated `FlagId` for `config/features.toml` compiles and answers.

include!(concat!(env!("OUT_DIR"), "/vexil_flags.rs"));

use vexil::{Environment, EvaluationContext, Reason};
use vexil_core::FlagTable;

fn bundled_table() -> FlagTable {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/features.toml");
    let config = vexil::validate::read_config(path).unwrap();
    let flags = FlagTable::new(&FlagId::NAMES);
    let compiled = flags.compile(&config).unwrap();
    assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
    flags.publish(compiled.table);
    flags
}

#[test]
fn flag_ids_check_against_the_bundled_config() {
    let table = bundled_table();
    let flags = table.reader();
    let ctx = vexil::now(EvaluationContext::new("node-1").with_environment(Environment::Mainnet));

    assert!(flags.check(FlagId::ParallelValidation, &ctx));
    assert!(!flags.check(FlagId::ActorSystem, &ctx));
    assert_eq!(
        flags.explain(FlagId::ParallelValidation, &ctx).reason,
        Reason::RolloutIncluded
    );
    assert_eq!(
        flags.explain(FlagId::GovernanceIntegration, &ctx).reason,
        Reason::Disabled
    );
    // The same answers by name, and every generated id names its own slot.
    let snapshot = flags.snapshot();
    for id in FlagId::ALL {
        assert_eq!(
            snapshot.index_of(id.name()).map(|i| i.0 as usize),
            Some(id as usize)
        );
        assert_eq!(
            flags.check(id, &ctx),
            flags.check_name(id.name(), &ctx),
            "{id}"
        );
    }
}

#[test]
fn generated_enum_lists_every_flag() {
    assert_eq!(FlagId::COUNT, 13);
    assert_eq!(FlagId::ParallelValidation.name(), "parallel_validation");
    assert_eq!(
        FlagId::from_name("lighthouse_v5"),
        Some(FlagId::LighthouseV5)
    );
    assert_eq!(FlagId::from_name("nope"), None);
    let mut sorted = FlagId::NAMES;
    sorted.sort_unstable();
    assert_eq!(sorted, FlagId::NAMES, "slot order is name order");
}

#[test]
fn flags_the_binary_was_not_built_with_are_reachable_by_name() {
    let table: FlagTable = FlagTable::new(&FlagId::NAMES);
    let config = vexil::validate::parse_config(
        "[features.parallel_validation]\nenabled = true\n[features.hotfix_42]\nenabled = true\n",
        "runtime.toml",
    )
    .unwrap();
    let compiled = table.compile(&config).unwrap();
    // Warned about: twelve compiled-in flags missing, one flag not compiled in.
    assert_eq!(compiled.warnings.len(), 13);
    table.publish(compiled.table);
    let flags = table.reader();
    let ctx = EvaluationContext::new("node-1");
    assert!(flags.check_name("hotfix_42", &ctx));
    assert!(flags.check(FlagId::ParallelValidation, &ctx));
    assert_eq!(
        flags.explain(FlagId::ActorSystem, &ctx).reason,
        Reason::UnknownFlag
    );
}

/// A generated `FlagId` on flags built without the generated names would answer for the flag
/// in that slot, another one: a debug build refuses it, naming both.
#[cfg(debug_assertions)]
#[test]
fn a_flag_id_on_flags_built_without_its_names_is_refused_in_debug_builds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.toml");
    // The bundled flags, and one more sorting first: every slot moves by one.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/features.toml"),
    )
    .unwrap();
    std::fs::write(&path, format!("[features.aaa]\nenabled = true\n{text}")).unwrap();
    let ctx = EvaluationContext::new("node-1");
    let without: vexil::Flags = vexil::Flags::builder(&path).build().unwrap();
    let reader = without.reader();
    for check in [
        Box::new(|| {
            reader.check(FlagId::BatchedGossip, &ctx);
        }) as Box<dyn Fn()>,
        Box::new(|| {
            without.check(FlagId::BatchedGossip, &ctx);
        }),
        Box::new(|| {
            without.snapshot().explain(FlagId::BatchedGossip, &ctx);
        }),
    ] {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check))
            .expect_err("a FlagId whose slot holds another flag");
        let message = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("`batched_gossip`") && message.contains("known(&FlagId::NAMES)"),
            "{message}"
        );
    }
    let with: vexil::Flags = vexil::Flags::builder(&path)
        .known(&FlagId::NAMES)
        .build()
        .unwrap();
    assert!(!with.reader().check(FlagId::BatchedGossip, &ctx));
    assert!(with.check_name("aaa", &ctx));
}
