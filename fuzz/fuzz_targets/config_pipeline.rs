//! Bytes -> validate (parse, limits, per-flag deserialization, compile) -> publish ->
//! evaluate every flag for contexts derived from the input. Anything may be rejected; nothing
//! may panic, and what validates must evaluate consistently (`check` agrees with `explain`,
//! and a rule's reason names a rule the flag has, serving what that rule serves).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexil::validate::{validate_bytes, Limits};
use vexil::{Environment, EvaluationContext};
use vexil_core::model::ServeValue;
use vexil_core::FlagTable;
use vexil_core::{Detail, Reason};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_file_size: 64 * 1024,
        ..Limits::default()
    };
    let Ok(valid) = validate_bytes::<256>(data, "fuzz.toml", &["parallel_validation"], &limits)
    else {
        return;
    };
    let table: FlagTable<256> =
        FlagTable::new(&["parallel_validation"]).with_clock(|| 1_720_000_000_000_000);
    table.publish(valid.table);
    let reader = table.reader();
    let seed = data
        .iter()
        .fold(0u64, |h, &b| h.rotate_left(5) ^ u64::from(b));
    let contexts = [
        EvaluationContext::default(),
        EvaluationContext::new(format!("node-{}", seed % 97))
            .with_environment(Environment::ALL[(seed % 4) as usize])
            .with_chain_height(seed % 2_000_000)
            .with_sync_progress((seed % 101) as f64 / 100.0)
            .with_validator_key(format!("0x{seed:x}"))
            .with_ip_address(std::net::IpAddr::from([
                10,
                (seed >> 8) as u8,
                (seed >> 16) as u8,
                seed as u8,
            ]))
            .with_attribute("region", ["eu-west", "us-east", ""][(seed % 3) as usize])
            .with_attribute(
                "client_version",
                ["2.1.0", "1.0.0-rc.1", "x"][(seed % 3) as usize],
            ),
    ];
    let snapshot = reader.snapshot();
    for ctx in &contexts {
        for (index, name, _) in snapshot.flags() {
            let e = reader.explain(index, ctx);
            assert_eq!(reader.check(index, ctx), e.enabled, "{name}");
            assert_eq!(reader.check_name(name, ctx), e.enabled, "{name}");
            assert_eq!(snapshot.explain(index, ctx), e, "{name}");
            let rules = valid
                .config
                .features
                .get(name)
                .map_or(&[][..], |f| &f.rules[..]);
            match (e.reason, e.detail) {
                // A rule that serves decides the value: a boolean flag's answer, or the name of
                // the typed flag's variant served.
                (Reason::RuleMatch, Detail::Rule(i)) => match &rules[i as usize].serve {
                    Some(ServeValue::Bool(on)) => {
                        assert_eq!(*on, e.enabled, "{name}: rule {i} serves")
                    }
                    Some(ServeValue::Variant(v)) => assert_eq!(
                        snapshot.value(index, ctx).variant,
                        v.as_str(),
                        "{name}: rule {i} serves"
                    ),
                    None => panic!("{name}: rule {i} matched without a serve"),
                },
                (Reason::RuleSplit, Detail::Rule(i)) => {
                    let rule = &rules[i as usize];
                    assert!(
                        rule.rollout_percentage.is_some() || rule.split.is_some(),
                        "{name}: rule {i}"
                    );
                }
                (Reason::RuleMatch | Reason::RuleSplit, d) => {
                    panic!("{name}: a rule's reason with {d:?}")
                }
                (r, Detail::Rule(i)) => panic!("{name}: rule {i} named with {r:?}"),
                _ => {}
            }
        }
        for experiment in snapshot.experiments() {
            let _ = snapshot.variant(experiment, ctx);
        }
    }
});
