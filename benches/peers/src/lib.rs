//! The same flags in three engines: Vexil, Unleash's Yggdrasil and LaunchDarkly's evaluator.
//!
//! * `plain`: on for everybody;
//! * `rollout50`: a 50 % rollout on the node id;
//! * `targets100`: on only for a list of 100 node ids (the benchmark's node is not listed).

use launchdarkly_server_sdk_evaluation as ld;
use unleash_types::client_features::ClientFeatures;
use unleash_yggdrasil::{EngineState, UpdateMessage};

/// The 100 listed node ids.
pub fn target_ids() -> Vec<String> {
    (0..100).map(|i| format!("validator-{i:03}")).collect()
}

pub fn vexil_toml() -> String {
    let ids: Vec<String> = target_ids().iter().map(|i| format!("\"{i}\"")).collect();
    format!(
        "[features.plain]\nenabled = true\n\
         [features.rollout50]\nenabled = true\nrollout_percentage = 50\n\
         [features.targets100]\nenabled = true\n[features.targets100.targets]\nnode_ids = [{}]\n",
        ids.join(", ")
    )
}

pub fn yggdrasil() -> EngineState {
    let features = serde_json::json!({
        "version": 2,
        "features": [
            {"name": "plain", "enabled": true, "strategies": [{"name": "default", "parameters": {}}]},
            {"name": "rollout50", "enabled": true, "strategies": [{"name": "flexibleRollout",
                "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "rollout50"}}]},
            {"name": "targets100", "enabled": true, "strategies": [{"name": "userWithId",
                "parameters": {"userIds": target_ids().join(",")}}]},
        ]
    });
    let features: ClientFeatures = serde_json::from_value(features).expect("unleash features");
    let engine = EngineState::default();
    engine.take_state(UpdateMessage::FullResponse(features));
    engine
}

fn ld_flag(key: &str, fallthrough: serde_json::Value, targets: serde_json::Value) -> ld::Flag {
    serde_json::from_value(serde_json::json!({
        "key": key, "version": 1, "on": true, "salt": key,
        "targets": targets, "contextTargets": [], "rules": [], "prerequisites": [],
        "fallthrough": fallthrough, "offVariation": 0, "variations": [false, true],
        "clientSideAvailability": {"usingMobileKey": false, "usingEnvironmentId": false},
        "trackEvents": false, "trackEventsFallthrough": false, "deleted": false
    }))
    .expect("launchdarkly flag")
}

/// LaunchDarkly flags: (plain, rollout50, targets100).
pub fn launchdarkly() -> (ld::Flag, ld::Flag, ld::Flag) {
    let none = serde_json::json!([]);
    (
        ld_flag("plain", serde_json::json!({"variation": 1}), none.clone()),
        ld_flag(
            "rollout50",
            serde_json::json!({"rollout": {"variations": [
                {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}}),
            none,
        ),
        ld_flag(
            "targets100",
            serde_json::json!({"variation": 0}),
            serde_json::json!([{"values": target_ids(), "variation": 1}]),
        ),
    )
}

/// A LaunchDarkly store with nothing in it (the flags have no prerequisites or segments).
pub struct EmptyStore;

impl ld::Store for EmptyStore {
    fn flag(&self, _: &str) -> Option<ld::Flag> {
        None
    }
    fn segment(&self, _: &str) -> Option<ld::Segment> {
        None
    }
}
