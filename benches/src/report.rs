//! The ratio table the `check` bench prints when it ends: every case's median over its floor's,
//! both from the same process, beside the target (issue "Performance", BENCHMARKS.md).
//!
//! Medians come from criterion's own estimates (`<dir>/<case>/new/estimates.json`). Only the
//! estimates written by this process count (modified at or after it started): a filtered run
//! reports the cases it ran, and a ratio is never formed with a floor from another run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

/// One reported case.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// The criterion benchmark id within the `check` group.
    pub id: &'static str,
    /// What the case measures.
    pub label: &'static str,
    /// The floor's id (a floor is reported against itself).
    pub floor: &'static str,
    /// The most the ratio may be, if the issue sets a target for the case.
    pub target: Option<f64>,
}

const fn case(
    id: &'static str,
    label: &'static str,
    floor: &'static str,
    target: Option<f64>,
) -> Case {
    Case {
        id,
        label,
        floor,
        target,
    }
}

const PLAIN: &str = "floor_plain";
const ROLLOUT: &str = "floor_rollout";
const TARGETS: &str = "floor_targets";
const CONDITION: &str = "floor_condition_rollout";
const RULES: &str = "floor_rules_third";

/// The `check` group's cases, in the order of BENCHMARKS.md.
pub const CHECK_CASES: &[Case] = &[
    case("plain_on", "plain flag on (`FlagId`)", PLAIN, Some(2.0)),
    case(
        "plain_on_constant_flag",
        "plain flag on, the flag a constant",
        PLAIN,
        None,
    ),
    case(
        "plain_on_without_usage_counting",
        "plain flag on, usage counting off",
        PLAIN,
        None,
    ),
    case("disabled", "disabled flag", PLAIN, Some(2.0)),
    case("rollout_50", "50 % rollout", ROLLOUT, Some(2.0)),
    case(
        "rollout_50_without_usage_counting",
        "50 % rollout, usage counting off",
        ROLLOUT,
        None,
    ),
    case(
        "targets_100_miss",
        "100-entry node target list, miss",
        TARGETS,
        Some(2.0),
    ),
    case(
        "targets_100_miss_without_usage_counting",
        "100-entry node target list, miss, usage counting off",
        TARGETS,
        None,
    ),
    case(
        "conditions_custom_rollout",
        "conditions + custom semver constraint + rollout",
        CONDITION,
        Some(2.0),
    ),
    case(
        "conditions_custom_rollout_without_usage_counting",
        "conditions + custom constraint + rollout, usage counting off",
        CONDITION,
        None,
    ),
    case(
        "prerequisites_3_deep",
        "prerequisites three deep",
        CONDITION,
        Some(2.0),
    ),
    case(
        "rules_third_match",
        "rules: the third matches (a segment of an environment and 100 node ids)",
        RULES,
        Some(2.0),
    ),
    case(
        "typed_integer_plain",
        "typed integer value of a plain typed flag (reader), against the plain boolean check",
        "plain_on",
        Some(1.2),
    ),
    case(
        "check_name",
        "`check_name` (hash + lookup)",
        TARGETS,
        Some(2.0),
    ),
    case(
        "explain_rollout_50",
        "`explain` (50 % rollout)",
        ROLLOUT,
        Some(2.0),
    ),
    case(
        "held_snapshot_rollout_50",
        "check through a held snapshot (50 % rollout)",
        ROLLOUT,
        Some(2.0),
    ),
    case(
        "feature_enabled_cached",
        "`feature_enabled!` cached, its answer counted",
        PLAIN,
        Some(1.5),
    ),
    case(
        "feature_enabled_cached_constant_flag",
        "`feature_enabled!` cached, the flag a constant",
        PLAIN,
        None,
    ),
    case(
        "feature_enabled_caching_off",
        "`feature_enabled!` with caching off (evaluated, as around a time boundary)",
        PLAIN,
        None,
    ),
    case(
        "flags_check_pinned_per_call",
        "`Flags::check` (pins per call)",
        PLAIN,
        None,
    ),
    case(
        "harness_two_inputs",
        "the check cases' harness alone",
        PLAIN,
        None,
    ),
    case("count_alone", "one usage count alone", PLAIN, None),
];

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// Where criterion writes its estimates: `CRITERION_HOME`, else `CARGO_TARGET_DIR/criterion`,
/// else the workspace's `target/criterion` (criterion's own order).
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("criterion")
}

/// The median (ns) of every benchmark in `group_dir` whose estimates were written at or after
/// `since`. A missing directory gives no medians; an unreadable or malformed estimate is an
/// error naming its file.
pub fn medians(group_dir: &Path, since: SystemTime) -> Result<BTreeMap<String, f64>, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(group_dir) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", group_dir.display()))?;
        let file = entry.path().join("new").join("estimates.json");
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let modified = meta
            .modified()
            .map_err(|e| format!("{}: {e}", file.display()))?;
        if modified < since {
            continue;
        }
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let estimates: Estimates =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        out.insert(
            entry.file_name().to_string_lossy().into_owned(),
            estimates.median.point_estimate,
        );
    }
    Ok(out)
}

/// The markdown table of `cases` found in `medians`: median, floor, ratio (rounded up to three
/// decimals), target and verdict (on the exact ratio). A case whose floor was not measured in
/// the same run gets no ratio.
pub fn ratio_table(cases: &[Case], medians: &BTreeMap<String, f64>) -> String {
    let mut out = String::from(
        "| case | median | floor | floor median | ratio | target | |\n|---|---|---|---|---|---|---|\n",
    );
    for c in cases {
        let Some(&median) = medians.get(c.id) else {
            continue;
        };
        let floor_name = c.floor.trim_start_matches("floor_");
        let row = match medians.get(c.floor) {
            Some(&floor) => {
                let ratio = median / floor;
                // Shown rounded up, so a ratio shown at the target never hides a miss.
                let shown = (ratio * 1000.0).ceil() / 1000.0;
                let (target, verdict) = match c.target {
                    Some(t) if ratio <= t => (format!("≤ {t:.1}x"), "met"),
                    Some(t) => (format!("≤ {t:.1}x"), "**missed**"),
                    None => (String::new(), ""),
                };
                format!("{floor_name} | {floor:.3} ns | {shown:.3}x | {target} | {verdict}")
            }
            None => format!("{floor_name} | not run | | | floor not measured in this run"),
        };
        out.push_str(&format!("| {} | {median:.3} ns | {row} |\n", c.label));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn write(dir: &Path, id: &str, median: f64) -> std::fs::File {
        let d = dir.join(id).join("new");
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("estimates.json");
        std::fs::write(
            &path,
            format!(
                r#"{{"mean":{{"point_estimate":9.0}},"median":{{"point_estimate":{median}}}}}"#
            ),
        )
        .unwrap();
        std::fs::File::options().write(true).open(path).unwrap()
    }

    #[test]
    fn ratios_use_only_this_runs_floors_and_name_their_verdicts() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "floor_plain", 0.5);
        write(dir.path(), "plain_on", 1.1);
        write(dir.path(), "feature_enabled_cached", 0.7);
        write(dir.path(), "rollout_50", 2.2);
        write(dir.path(), "disabled", 1.0001);
        // An earlier run's rollout floor (2001): not this run's.
        write(dir.path(), "floor_rollout", 3.6)
            .set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000_000))
            .unwrap();

        // This run started in 2017; the other files were written now.
        let this_run =
            medians(dir.path(), UNIX_EPOCH + Duration::from_secs(1_500_000_000)).unwrap();
        assert_eq!(this_run.len(), 5, "{this_run:?}");
        assert_eq!(this_run.get("plain_on"), Some(&1.1));
        let table = ratio_table(CHECK_CASES, &this_run);
        for row in [
            "| plain flag on (`FlagId`) | 1.100 ns | plain | 0.500 ns | 2.200x | ≤ 2.0x | **missed** |",
            "| `feature_enabled!` cached, its answer counted | 0.700 ns | plain | 0.500 ns | 1.400x | ≤ 1.5x | met |",
            "| 50 % rollout | 2.200 ns | rollout | not run | | | floor not measured in this run |",
            // 2.0002x: shown rounded up, never as a 2.000x that missed.
            "| disabled flag | 1.000 ns | plain | 0.500 ns | 2.001x | ≤ 2.0x | **missed** |",
        ] {
            assert!(table.contains(row), "{row}\nnot in\n{table}");
        }
        assert_eq!(table.lines().count(), 2 + 4, "{table}");

        // A run that started after every file was written (2033) has no medians yet.
        let later = medians(dir.path(), UNIX_EPOCH + Duration::from_secs(2_000_000_000)).unwrap();
        assert!(later.is_empty(), "{later:?}");
    }

    #[test]
    fn a_malformed_estimate_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("plain_on").join("new");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("estimates.json"), r#"{"median":{}}"#).unwrap();
        let err = medians(dir.path(), UNIX_EPOCH).unwrap_err();
        assert!(
            err.contains("plain_on/new/estimates.json") && err.contains("point_estimate"),
            "{err}"
        );
    }
}
