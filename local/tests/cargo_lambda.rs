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
    assert_eq!(get("AWS_ENDPOINT_URL_DYNAMODB"), Some("http://127.0.0.1:8000"));
}
