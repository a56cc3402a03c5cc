//! Building this package's examples from its tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Builds an example with the profile these tests were built with (`cargo test` has built
/// it already, so this is normally a quick no-op) and returns the path of its executable.
pub fn example(name: &str) -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--package", "vexil-examples"])
        .args(["--example", name, "--profile", &profile()])
        .arg("--message-format=json")
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo build --example {name} failed");
    let stdout = String::from_utf8(out.stdout).expect("cargo's messages are UTF-8");
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo named no executable for the example {name}"))
}

/// The profile of this test executable, from its directory (`<target>/<dir>/deps/`):
/// `debug` is the `dev` profile, any other directory is named after its profile.
fn profile() -> String {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|d| d.to_str())
        .unwrap_or("debug");
    match dir {
        "debug" => "dev".to_owned(),
        other => other.to_owned(),
    }
}
