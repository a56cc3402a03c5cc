//! Shared fixtures of the Vexil benchmarks: the generated `FlagId` for the bundled
//! configuration, the benchmark flags, and the floors every case is compared with.

include!(concat!(env!("OUT_DIR"), "/vexil_flags.rs"));

pub mod report;

use std::path::PathBuf;

use vexil::Flags;
use vexil_core::FlagTable;

/// Benchmark flags appended to the bundled configuration.
pub fn extra_flags() -> String {
    let ids: Vec<String> = (0..100).map(|i| format!("\"validator-{i:03}\"")).collect();
    let other_ids: Vec<String> = (0..100).map(|i| format!("\"observer-{i:03}\"")).collect();
    format!(
        r#"
[features.bench_half]
enabled = true
rollout_percentage = 50

[features.bench_targets]
enabled = true
[features.bench_targets.targets]
node_ids = [{}]

[features.bench_conditions]
enabled = true
rollout_percentage = 50
[features.bench_conditions.conditions]
chain_height = 1000
custom = [{{ attribute = "client_version", operator = "semver_gte", value = "2.1.0" }}]

[features.bench_prereq_a]
enabled = true
requires = ["bench_prereq_b"]
[features.bench_prereq_b]
enabled = true
requires = ["bench_prereq_c"]
[features.bench_prereq_c]
enabled = true
requires = ["parallel_validation"]
[features.bench_prereq_c.targets]
environments = ["mainnet"]

# A typed flag of the plain flag's shape: enabled, no rollout, nothing else.
[features.bench_typed]
enabled = true
type = "integer"
variants = {{ few = 25, normal = 50 }}
on_variant = "normal"
off_variant = "few"

# Rules: the context (mainnet, node-4711) misses the first two and matches the third.
[segments.bench_canaries]
targets = {{ environments = ["canary"] }}
[segments.bench_mainnet_nodes]
targets = {{ environments = ["mainnet"], node_ids = [{}, "node-4711"] }}
[features.bench_rules]
enabled = true
rollout_percentage = 5
rules = [
  {{ segments = ["bench_canaries"], serve = false }},
  {{ targets = {{ node_ids = [{}] }}, serve = false }},
  {{ segments = ["bench_mainnet_nodes"], serve = true }},
]
"#,
        ids.join(", "),
        ids[..99].join(", "),
        other_ids.join(", ")
    )
}

/// The bundled configuration plus the benchmark flags.
pub fn bench_config_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/features.toml");
    std::fs::read_to_string(path).expect("bundled config") + &extra_flags()
}

/// The bench configuration in a temporary file, loaded by a [`Flags`] (no watcher).
pub fn bench_flags() -> (Flags, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path: PathBuf = dir.path().join("features.toml");
    std::fs::write(&path, bench_config_text()).expect("write bench config");
    let flags = Flags::builder(&path)
        .known(&FlagId::NAMES)
        .build()
        .expect("bench config loads");
    (flags, dir)
}

/// A table with the bench configuration published once.
pub fn bench_table() -> FlagTable {
    let config = vexil::validate::parse_config(&bench_config_text(), "bench.toml").expect("parses");
    let table = FlagTable::new(&FlagId::NAMES);
    table.publish(table.compile(&config).expect("compiles").table);
    table
}

/// A configuration of `n` flags of every kind, for reload benchmarks.
pub fn generated_config(n: usize) -> String {
    let mut s = String::with_capacity(n * 160);
    for i in 0..n {
        s.push_str(&format!("[features.flag_{i:04}]\nenabled = true\n"));
        match i % 5 {
            0 => {}
            1 => s.push_str(&format!("rollout_percentage = {}\n", i % 100)),
            2 => s.push_str(&format!(
                "[features.flag_{i:04}.targets]\nnode_ids = [\"n{i}\", \"m{i}\"]\nenvironments = [\"canary\"]\n"
            )),
            3 => s.push_str(&format!(
                "requires = [\"flag_{:04}\"]\n[features.flag_{i:04}.conditions]\nchain_height = {i}\n",
                i - 3
            )),
            _ => s.push_str(
                "[features.flag_XXXX.conditions]\ncustom = [{ attribute = \"v\", operator = \"semver_gte\", value = \"1.2.3\" }]\n"
                    .replace("XXXX", &format!("{i:04}"))
                    .as_str(),
            ),
        }
    }
    s
}

/// A configuration of `n` flags, each with five rules over 20 shared segments (environment
/// lists, 20-id node lists, heights and custom constraints), a fallthrough rollout on every
/// other flag: the compile target's input.
pub fn generated_rules_config(n: usize) -> String {
    let mut s = String::with_capacity(n * 600);
    for k in 0..20 {
        s.push_str(&format!("[segments.segment_{k:02}]\n"));
        match k % 4 {
            0 => s.push_str("targets = { environments = [\"canary\", \"testnet\"] }\n"),
            1 => {
                let ids: Vec<String> = (0..20).map(|i| format!("\"s{k}-n{i}\"")).collect();
                s.push_str(&format!("targets = {{ node_ids = [{}] }}\n", ids.join(", ")));
            }
            2 => s.push_str(&format!("conditions = {{ chain_height = {} }}\n", 1000 * k)),
            _ => s.push_str(
                "conditions = { custom = [{ attribute = \"v\", operator = \"semver_gte\", value = \"1.2.3\" }] }\n",
            ),
        }
    }
    for i in 0..n {
        s.push_str(&format!("[features.flag_{i:04}]\nenabled = true\n"));
        if i % 2 == 0 {
            s.push_str(&format!("rollout_percentage = {}\n", i % 100));
        }
        s.push_str("rules = [\n");
        for r in 0..5 {
            let (a, b) = ((i + r) % 20, (i * 7 + r) % 20);
            match r {
                0 => s.push_str(&format!("  {{ segments = [\"segment_{a:02}\"], serve = true }},\n")),
                1 => s.push_str(&format!(
                    "  {{ segments = [\"segment_{a:02}\", \"segment_{b:02}\"], rollout_percentage = {} }},\n",
                    (i + r) % 100
                )),
                2 => s.push_str(&format!(
                    "  {{ targets = {{ node_ids = [\"n{i}\", \"m{i}\"] }}, serve = false }},\n"
                )),
                3 => s.push_str(&format!(
                    "  {{ segments = [\"segment_{b:02}\"], conditions = {{ sync_progress = 0.5 }}, serve = true }},\n"
                )),
                _ => s.push_str(&format!(
                    "  {{ segments = [\"segment_{a:02}\"], targets = {{ environments = [\"mainnet\"] }}, rollout_percentage = 50 }},\n"
                )),
            }
        }
        s.push_str("]\n");
    }
    s
}

/// For the custom-harness benches: whether `cargo bench [-- FILTER]` asked for this bench
/// (an argument that is neither an option nor an option's number is a filter that must occur
/// in `name`; criterion's own options, such as `--measurement-time 5`, are passed over).
pub fn selected(name: &str) -> bool {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .all(|filter| name.contains(&filter))
}

/// The `q`-quantile of some samples (sorted in place).
pub fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[i.min(samples.len() - 1)]
}
