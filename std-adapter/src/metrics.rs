//! Metrics through the `metrics` facade. The library only emits; the application installs a
//! recorder (and should, before it builds [`Flags`](crate::Flags): building describes every
//! metric to it, so an exporter serves each with its help text and unit).
//!
//! Usage counts (`vexil_checks_total{flag,result}`) are not written by the check: each reader
//! and thread counts in its own usage shard, and the growth is added to the facade off the
//! hot path (the watcher thread folds once per poll; call
//! [`Flags::maintain`](crate::Flags::maintain) yourself when not watching).
//! `vexil_check_duration_seconds` is sampled: one check in [`SAMPLE_EVERY`] per thread through
//! [`Flags::check`](crate::Flags::check) is timed, and recorded through a handle registered when
//! the flags were built (so with the recorder installed then).

/// `vexil_checks_total{flag,result}`: answers, by flag and result (`true`/`false`).
pub const CHECKS_TOTAL: &str = "vexil_checks_total";
/// `vexil_check_duration_seconds`: sampled check durations.
pub const CHECK_DURATION: &str = "vexil_check_duration_seconds";
/// `vexil_reloads_total{result}`: reload attempts by result (`applied`, `rejected`,
/// `missing`, `restored`).
pub const RELOADS_TOTAL: &str = "vexil_reloads_total";
/// `vexil_reload_duration_seconds`: read + validate + compile + publish.
pub const RELOAD_DURATION: &str = "vexil_reload_duration_seconds";
/// `vexil_config_last_reload_successful`: 1 or 0.
pub const LAST_RELOAD_SUCCESSFUL: &str = "vexil_config_last_reload_successful";
/// `vexil_config_last_reload_success_timestamp_seconds`: Unix time of the last success.
pub const LAST_RELOAD_SUCCESS_TIMESTAMP: &str =
    "vexil_config_last_reload_success_timestamp_seconds";
/// `vexil_config_generation`: the generation in force.
pub const CONFIG_GENERATION: &str = "vexil_config_generation";
/// `vexil_flags_loaded`: flags defined by the configuration in force.
pub const FLAGS_LOADED: &str = "vexil_flags_loaded";
/// `vexil_audit_write_failures_total`: failed audit appends (the records are retried).
pub const AUDIT_WRITE_FAILURES: &str = "vexil_audit_write_failures_total";
/// `vexil_audit_records_pending`: audit records waiting for the log to be writable.
pub const AUDIT_PENDING: &str = "vexil_audit_records_pending";
/// `vexil_audit_records_dropped_total`: audit records dropped because the writer was stuck
/// in one write while [`MAX_QUEUED`](crate::audit::MAX_QUEUED) more waited.
pub const AUDIT_DROPPED: &str = "vexil_audit_records_dropped_total";
/// `vexil_watch_rescans_total`: watcher rescans (event overflow) and watcher errors.
pub const WATCH_RESCANS: &str = "vexil_watch_rescans_total";
/// `vexil_experiment_assignments_total{experiment,variant}`: variant assignments served.
pub const EXPERIMENT_ASSIGNMENTS: &str = "vexil_experiment_assignments_total";

/// One check in this many, per thread, is timed.
pub const SAMPLE_EVERY: u32 = 1024;

/// Every metric with its unit and help text, as [`describe`] gives them to the recorder.
const DESCRIPTIONS: [(&str, Kind, Option<metrics::Unit>, &str); 13] = {
    use metrics::Unit::{Count, Seconds};
    [
        (CHECKS_TOTAL, Kind::Counter, Some(Count), "Flag checks answered, by flag and result (true/false); folded from per-thread counts at each watcher poll."),
        (CHECK_DURATION, Kind::Histogram, Some(Seconds), "Duration of one Flags::check in every 1024 per thread."),
        (RELOADS_TOTAL, Kind::Counter, Some(Count), "Reload attempts that did something, by result: applied, rejected, missing, restored."),
        (RELOAD_DURATION, Kind::Histogram, Some(Seconds), "Time to read, validate, compile and publish a configuration (applied or rejected)."),
        (LAST_RELOAD_SUCCESSFUL, Kind::Gauge, None, "1 when the file on disk is the configuration in force, 0 after a rejected, unreadable or missing file."),
        (LAST_RELOAD_SUCCESS_TIMESTAMP, Kind::Gauge, Some(Seconds), "Unix time of the last applied configuration."),
        (CONFIG_GENERATION, Kind::Gauge, None, "Generation of the configuration in force (+1 per publication)."),
        (FLAGS_LOADED, Kind::Gauge, Some(Count), "Flags defined by the configuration in force."),
        (AUDIT_WRITE_FAILURES, Kind::Counter, Some(Count), "Failed audit log appends (the records are kept, spooled and retried)."),
        (AUDIT_PENDING, Kind::Gauge, Some(Count), "Audit records waiting for the audit log to be writable."),
        (AUDIT_DROPPED, Kind::Counter, Some(Count), "Audit records dropped while the writer was stuck in one write with 100000 more waiting."),
        (WATCH_RESCANS, Kind::Counter, Some(Count), "File watcher rescans (lost events) and watcher errors; the watch is set up again."),
        (EXPERIMENT_ASSIGNMENTS, Kind::Counter, Some(Count), "Experiment variants assigned, by experiment and variant (through Flags::variant and Flags::explain)."),
    ]
};

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Describes every metric (help text and unit) to the recorder installed now. Building
/// [`Flags`](crate::Flags) calls it; describing again is harmless.
pub fn describe() {
    for (name, kind, unit, help) in DESCRIPTIONS {
        match (kind, unit) {
            (Kind::Counter, Some(u)) => metrics::describe_counter!(name, u, help),
            (Kind::Counter, None) => metrics::describe_counter!(name, help),
            (Kind::Gauge, Some(u)) => metrics::describe_gauge!(name, u, help),
            (Kind::Gauge, None) => metrics::describe_gauge!(name, help),
            (Kind::Histogram, Some(u)) => metrics::describe_histogram!(name, u, help),
            (Kind::Histogram, None) => metrics::describe_histogram!(name, help),
        }
    }
}

pub(crate) fn reload_applied(generation: u64, flags: usize, seconds: f64) {
    metrics::counter!(RELOADS_TOTAL, "result" => "applied").increment(1);
    metrics::histogram!(RELOAD_DURATION).record(seconds);
    metrics::gauge!(LAST_RELOAD_SUCCESSFUL).set(1.0);
    let now = chrono::Utc::now();
    metrics::gauge!(LAST_RELOAD_SUCCESS_TIMESTAMP)
        .set(now.timestamp() as f64 + f64::from(now.timestamp_subsec_millis()) / 1e3);
    metrics::gauge!(CONFIG_GENERATION).set(generation as f64);
    metrics::gauge!(FLAGS_LOADED).set(flags as f64);
}

pub(crate) fn reload_rejected(seconds: f64) {
    metrics::counter!(RELOADS_TOTAL, "result" => "rejected").increment(1);
    metrics::histogram!(RELOAD_DURATION).record(seconds);
    metrics::gauge!(LAST_RELOAD_SUCCESSFUL).set(0.0);
}

/// A failure without new content to judge: the file is missing (`result` names it).
pub(crate) fn reload_failed(result: &'static str) {
    metrics::counter!(RELOADS_TOTAL, "result" => result).increment(1);
    metrics::gauge!(LAST_RELOAD_SUCCESSFUL).set(0.0);
}

/// The file is back to the content in force after a failure.
pub(crate) fn reload_restored() {
    metrics::counter!(RELOADS_TOTAL, "result" => "restored").increment(1);
    metrics::gauge!(LAST_RELOAD_SUCCESSFUL).set(1.0);
}

pub(crate) fn audit_pending(records: usize) {
    metrics::gauge!(AUDIT_PENDING).set(records as f64);
}

pub(crate) fn audit_record_dropped() {
    metrics::counter!(AUDIT_DROPPED).increment(1);
}

pub(crate) fn audit_write_failed() {
    metrics::counter!(AUDIT_WRITE_FAILURES).increment(1);
}

pub(crate) fn watch_rescan() {
    metrics::counter!(WATCH_RESCANS).increment(1);
}

/// The handle that sampled check durations are recorded through, registered once when
/// [`Flags`](crate::Flags) are built: recording through it never looks the histogram up in the
/// recorder's registry (which takes the registry's lock).
pub(crate) fn check_duration() -> metrics::Histogram {
    metrics::histogram!(CHECK_DURATION)
}

pub(crate) fn experiment_assigned(experiment: &str, variant: &str) {
    metrics::counter!(
        EXPERIMENT_ASSIGNMENTS,
        "experiment" => experiment.to_owned(),
        "variant" => variant.to_owned()
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_described_once() {
        let names = [
            CHECKS_TOTAL,
            CHECK_DURATION,
            RELOADS_TOTAL,
            RELOAD_DURATION,
            LAST_RELOAD_SUCCESSFUL,
            LAST_RELOAD_SUCCESS_TIMESTAMP,
            CONFIG_GENERATION,
            FLAGS_LOADED,
            AUDIT_WRITE_FAILURES,
            AUDIT_PENDING,
            AUDIT_DROPPED,
            WATCH_RESCANS,
            EXPERIMENT_ASSIGNMENTS,
        ];
        let mut described: Vec<&str> = DESCRIPTIONS.iter().map(|d| d.0).collect();
        described.sort_unstable();
        let mut all = names.to_vec();
        all.sort_unstable();
        assert_eq!(described, all);
        assert!(DESCRIPTIONS.iter().all(|d| d.3.len() > 20));
    }
}
