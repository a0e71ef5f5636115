//! Prints one HS256 dev token, for scripts against the local server (`scripts/schemathesis.sh`).
//!
//! ```sh
//! dev-token [--sub SUB] [--tenant TENANT | --no-tenant] [--roles a,b] [--ttl-seconds N]
//! ```
//!
//! Defaults: `--sub dev-user --tenant dev-tenant --roles tenant_admin --ttl-seconds 3600`. The
//! secret is `JWT_HS256_SECRET` when set (as for `dev-server`), else the public dev secret.

use local::token::{dev_token, DEV_JWT_SECRET};

const USAGE: &str =
    "usage: dev-token [--sub SUB] [--tenant TENANT | --no-tenant] [--roles a,b] [--ttl-seconds N]";

fn main() {
    if let Err(message) = run() {
        eprintln!("{message}\n{USAGE}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut sub = "dev-user".to_owned();
    let mut tenant = Some("dev-tenant".to_owned());
    let mut roles = "tenant_admin".to_owned();
    let mut ttl: i64 = 3600;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--sub" => sub = value()?,
            "--tenant" => tenant = Some(value()?),
            "--no-tenant" => tenant = None,
            "--roles" => roles = value()?,
            "--ttl-seconds" => {
                ttl = value()?
                    .parse()
                    .map_err(|_| "--ttl-seconds needs a number".to_owned())?
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let secret = std::env::var("JWT_HS256_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEV_JWT_SECRET.to_owned());
    let roles: Vec<&str> = roles
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    println!(
        "{}",
        dev_token(secret.as_bytes(), &sub, tenant.as_deref(), &roles, ttl)
    );
    Ok(())
}
