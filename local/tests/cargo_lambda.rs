//! `cargo lambda watch` is configured from Cargo.toml (its router) and local.env (the functions'
//! environment); both must agree with the route table and with the local run's settings.

use std::collections::BTreeSet;

use local::{
    dynamodb_local::repo_root,
    token::{DEV_CURSOR_SECRET, DEV_JWT_SECRET},
};
use shared::web::router::table;

fn read(name: &str) -> String {
    std::fs::read_to_string(repo_root().join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

/// `"path" = "function"` lines of the watch router section of the workspace manifest.
fn watch_router() -> BTreeSet<(String, String)> {
    let manifest = read("Cargo.toml");
    let section = manifest
        .split("[workspace.metadata.lambda.watch.router]")
        .nth(1)
        .expect("Cargo.toml has a [workspace.metadata.lambda.watch.router] section");
    section
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (path, function) = line.split_once('=').expect("a `path = function` line");
            let unquote = |s: &str| s.trim().trim_matches('"').to_owned();
            (unquote(path), unquote(function))
        })
        .collect()
}

#[test]
fn the_watch_router_sends_every_route_to_its_function() {
    let expected: BTreeSet<(String, String)> = table()
        .iter()
        .map(|r| (r.path.to_owned(), r.function.name().to_owned()))
        .collect();
    assert_eq!(watch_router(), expected);
}

#[test]
fn local_env_uses_the_local_run_settings() {
    let env = read("local.env");
    let vars: Vec<(&str, &str)> = env
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once('=').expect("KEY=VALUE"))
        .collect();
    let get = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    assert_eq!(
        get("JWT_HS256_SECRET"),
        Some(DEV_JWT_SECRET),
        "the events' tokens use it"
    );
    assert_eq!(get("CURSOR_SECRET"), Some(DEV_CURSOR_SECRET));
    assert_eq!(
        get("TABLE_NAME"),
        Some(local::DEV_TABLE_NAME),
        "the table `make run` creates"
    );
    assert_eq!(
        get("AWS_ENDPOINT_URL_DYNAMODB"),
        None,
        "the endpoint comes from the Makefile's DYNAMODB_PORT, not a second copy of the port"
    );
}

/// `make run` and `make watch` share one DynamoDB port setting: the Makefile's `DYNAMODB_PORT`,
/// whose default is the dev server's own.
#[test]
fn make_run_and_make_watch_share_the_dynamodb_port() {
    let makefile = read("Makefile");
    let default = makefile
        .lines()
        .find_map(|l| l.strip_prefix("DYNAMODB_PORT ?="))
        .expect("the Makefile sets a DYNAMODB_PORT default")
        .trim();
    assert_eq!(default, local::DEFAULT_DYNAMODB_PORT.to_string());
    let recipe = |target: &str| -> String {
        let start = makefile
            .find(&format!("\n{target}:"))
            .unwrap_or_else(|| panic!("no {target} target"));
        makefile[start + 1..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('\t'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        recipe("run").contains("DYNAMODB_PORT=$(DYNAMODB_PORT) ./target/debug/dev-server"),
        "{}",
        recipe("run")
    );
    assert!(
        recipe("watch").contains("AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(DYNAMODB_PORT)"),
        "{}",
        recipe("watch")
    );
}

/// `local-sam-env.json` (for `sam local --env-vars`) gives the functions the same environment as
/// `local.env`, with DynamoDB Local of `make run` as seen from a container.
#[test]
fn local_sam_env_matches_local_env() {
    let sam: serde_json::Value =
        serde_json::from_str(&read("local-sam-env.json")).expect("local-sam-env.json is JSON");
    let sam = sam["Parameters"]
        .as_object()
        .expect("one Parameters object for every function");
    let env = read("local.env");
    let mut compared = 0;
    for line in env
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line.split_once('=').expect("KEY=VALUE");
        assert_eq!(
            sam.get(key).and_then(|v| v.as_str()),
            Some(value),
            "local-sam-env.json {key}"
        );
        compared += 1;
    }
    assert!(compared >= 3);
    assert_eq!(
        sam.get("AWS_ENDPOINT_URL_DYNAMODB").and_then(|v| v.as_str()),
        Some(format!("http://host.docker.internal:{}", local::DEFAULT_DYNAMODB_PORT).as_str())
    );
}
