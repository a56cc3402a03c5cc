//! The bucketing contract: golden vectors, rollout statistics, independence, monotonicity.

mod common;

use std::fmt::Write as _;

use vexil_core::bucketing::{self, Domain};
use vexil_core::model::{Config, FeatureFlag};
use vexil_core::{EvaluationContext, FlagTable};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/bucketing_v1.csv");

#[cfg(not(miri))]
const N: usize = 100_000;
#[cfg(miri)]
const N: usize = 200;

// === golden vectors ===

const SALTS: &[&str] = &[
    "parallel_validation",
    "improved_sync",
    "actor_system",
    "a",
    "new_mempool_2024",
    "ünïcödé-salt",
    "a-rather-long-salt-that-crosses-the-forty-eight-byte-block-of-wyhash",
];
const PERCENTAGES: &[f64] = &[
    0.0, 0.0001, 0.1, 1.0, 5.0, 10.0, 12.5, 25.0, 33.33, 50.0, 66.6667, 99.9, 99.9999, 100.0,
];

/// The inputs of the golden vectors: salts, keys of every wyhash length class (empty, 1-3,
/// 4-16, 17-48, over 48 bytes), percentages and both domains.
fn vector_inputs() -> Vec<(Domain, &'static str, String, f64)> {
    let mut rows = Vec::new();
    for i in 0..1_260usize {
        let domain = if i % 9 == 8 {
            Domain::Experiment
        } else {
            Domain::Rollout
        };
        let salt = SALTS[i % SALTS.len()];
        let key = match i % 6 {
            0 => format!("node-{i}"),
            1 => format!("{}", i % 1000),
            2 => format!("0x{:040x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            3 => format!("validator-{i}-{}", "x".repeat(i % 60)),
            4 if i % 24 == 4 => String::new(),
            _ => format!("k{i}"),
        };
        let percentage = PERCENTAGES[(i / SALTS.len()) % PERCENTAGES.len()];
        rows.push((domain, salt, key, percentage));
    }
    rows
}

fn domain_name(d: Domain) -> &'static str {
    match d {
        Domain::Rollout => "rollout",
        Domain::Experiment => "experiment",
    }
}

fn render_vectors() -> String {
    let mut out = String::from("domain,salt,key,percentage,position,included\n");
    for (domain, salt, key, percentage) in vector_inputs() {
        let key_hash = bucketing::key_hash(&key);
        let salt_hash = bucketing::salt_hash(domain, salt);
        let ppm = bucketing::percentage_to_ppm(percentage).unwrap();
        let position = match key_hash {
            Some(k) => bucketing::position(bucketing::bucket(k, salt_hash)).to_string(),
            None => "-".to_owned(),
        };
        let included = bucketing::in_rollout(key_hash, salt_hash, ppm);
        writeln!(
            out,
            "{},{salt},{key},{percentage},{position},{included}",
            domain_name(domain)
        )
        .unwrap();
    }
    out
}

#[test]
#[cfg_attr(miri, ignore)]
fn golden_vectors_hold() {
    let golden = std::fs::read_to_string(GOLDEN).expect("golden vectors are checked in");
    let rows = golden.lines().count() - 1;
    assert!(rows >= 1_000, "only {rows} golden vectors");
    let now = render_vectors();
    for (line, (want, got)) in golden.lines().zip(now.lines()).enumerate() {
        assert_eq!(
            want,
            got,
            "bucketing changed at {GOLDEN}:{}: bump bucketing::VERSION and publish new vectors",
            line + 1
        );
    }
    assert_eq!(golden.lines().count(), now.lines().count());
}

/// The vectors again, end to end: each rollout row as a flag with that salt and percentage,
/// checked through a published table.
#[test]
#[cfg_attr(miri, ignore)]
fn golden_vectors_hold_through_the_table() {
    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    let rows: Vec<Vec<&str>> = golden
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .filter(|r: &Vec<&str>| r[0] == "rollout")
        .collect();
    let mut config = Config::default();
    for (i, r) in rows.iter().enumerate() {
        let mut flag = FeatureFlag::new(true);
        flag.salt = Some(r[1].to_owned());
        flag.rollout_percentage = Some(r[3].parse().unwrap());
        config.features.insert(format!("f{i:04}"), flag);
    }
    let table: FlagTable<2048> = FlagTable::new(&[]);
    table.publish(table.compile(&config).unwrap().table);
    let reader = table.reader();
    for (i, r) in rows.iter().enumerate() {
        let ctx = EvaluationContext::new(r[2]);
        let want: bool = r[5].parse().unwrap();
        assert_eq!(
            reader.check_name(&format!("f{i:04}"), &ctx),
            want,
            "row {r:?}"
        );
    }
}

/// Rewrites the golden vectors. Only for a deliberate new bucketing version:
/// `VEXIL_BLESS=1 cargo test -p vexil-core --test bucketing -- --ignored bless`.
#[test]
#[ignore]
fn bless() {
    if std::env::var_os("VEXIL_BLESS").is_some() {
        std::fs::write(GOLDEN, render_vectors()).unwrap();
    }
}

// === statistics ===

fn rollout_table(flags: &[(&str, f64)]) -> FlagTable {
    let mut config = Config::default();
    for &(name, p) in flags {
        let mut flag = FeatureFlag::new(true);
        flag.rollout_percentage = Some(p);
        config.features.insert(name.to_owned(), flag);
    }
    let table = FlagTable::new(&[]);
    table.publish(table.compile(&config).unwrap().table);
    table
}

fn contexts() -> Vec<EvaluationContext> {
    (0..N)
        .map(|i| EvaluationContext::new(format!("node-{i}")))
        .collect()
}

#[test]
fn rollout_shares_are_within_four_sigma() {
    let ps = [0.1, 1.0, 10.0, 33.33, 50.0, 99.9];
    let names: Vec<String> = ps.iter().map(|p| format!("p{p}")).collect();
    let flags: Vec<(&str, f64)> = names.iter().map(String::as_str).zip(ps).collect();
    let table = rollout_table(&flags);
    let reader = table.reader();
    let ctxs = contexts();
    for (name, p) in flags {
        let enabled = ctxs.iter().filter(|c| reader.check_name(name, c)).count() as f64;
        let (n, q) = (N as f64, p / 100.0);
        let sigma = (n * q * (1.0 - q)).sqrt();
        assert!(
            (enabled - n * q).abs() <= 4.0 * sigma,
            "{p} %: {enabled} of {N} enabled, expected {} ± {}",
            n * q,
            4.0 * sigma
        );
    }
}

#[test]
fn flags_are_independent() {
    // Pairs of 10 % flags, including near-identical names (the realistic risk).
    let pairs = [
        ("first_ten", "second_ten"),
        ("flag_1", "flag_2"),
        ("a", "b"),
        ("x", "x_"),
    ];
    let flags: Vec<(&str, f64)> = pairs
        .iter()
        .flat_map(|&(a, b)| [(a, 10.0), (b, 10.0)])
        .collect();
    let table = rollout_table(&flags);
    let reader = table.reader();
    let ctxs = contexts();
    let n = N as f64;
    let sigma = (n * 0.01 * 0.99).sqrt();
    for (a, b) in pairs {
        let both = ctxs
            .iter()
            .filter(|c| reader.check_name(a, c) && reader.check_name(b, c))
            .count() as f64;
        assert!(
            (both - n * 0.01).abs() <= 4.0 * sigma,
            "10 % flags `{a}` and `{b}` overlap on {both} of {N}, expected {} ± {}",
            n * 0.01,
            4.0 * sigma
        );
    }
}

#[test]
fn rollout_and_experiment_domains_are_independent() {
    let rollout = bucketing::salt_hash(Domain::Rollout, "same_name");
    let experiment = bucketing::salt_hash(Domain::Experiment, "same_name");
    let ppm = bucketing::percentage_to_ppm(10.0).unwrap();
    let both = (0..N)
        .filter_map(|i| bucketing::key_hash(&format!("node-{i}")))
        .filter(|&k| {
            bucketing::in_rollout(Some(k), rollout, ppm)
                && bucketing::in_rollout(Some(k), experiment, ppm)
        })
        .count() as f64;
    let n = N as f64;
    let sigma = (n * 0.01 * 0.99).sqrt();
    assert!((both - n * 0.01).abs() <= 4.0 * sigma, "overlap {both}");
}

#[test]
fn raising_a_percentage_only_adds_contexts() {
    let ladder = [1.0, 5.0, 10.0, 25.0, 50.0, 100.0];
    let ctxs = contexts();
    // The same flag (same name, so the same salt) republished at each step.
    let table = rollout_table(&[("ladder", 0.0)]);
    let reader = table.reader();
    let mut previous: Vec<bool> = vec![false; N];
    for p in ladder {
        common::publish(
            &table,
            &format!("[features.ladder]\nenabled = true\nrollout_percentage = {p}\n"),
        );
        let now: Vec<bool> = ctxs
            .iter()
            .map(|c| reader.check_name("ladder", c))
            .collect();
        for (i, (&was, &is)) in previous.iter().zip(&now).enumerate() {
            assert!(
                !was || is,
                "node-{i} left the rollout when it rose to {p} %"
            );
        }
        previous = now;
    }
    assert!(previous.iter().all(|&on| on), "100 % is everybody");
}

#[test]
fn salt_changes_the_population_and_name_is_the_default_salt() {
    let a = rollout_table(&[("x", 50.0)]);
    let b = common::table(
        "[features.y]\nenabled = true\nrollout_percentage = 50\nsalt = \"x\"\n\
         [features.z]\nenabled = true\nrollout_percentage = 50\n",
    );
    let (ra, rb) = (a.reader(), b.reader());
    let ctxs = &contexts()[..2_000.min(N)];
    // `y` salted with "x" picks exactly the population of `x`; `z` does not.
    assert!(ctxs
        .iter()
        .all(|c| ra.check_name("x", c) == rb.check_name("y", c)));
    assert!(ctxs
        .iter()
        .any(|c| ra.check_name("x", c) != rb.check_name("z", c)));
}
