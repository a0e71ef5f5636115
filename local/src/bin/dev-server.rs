//! `make run`: DynamoDB Local, the table from template.yaml, and the API on 127.0.0.1:$PORT.

use std::{path::PathBuf, sync::Arc};

use local::{
    dynamodb_local::DynamoDbLocal,
    schema::TableSchema,
    server,
    token::{dev_token, DEV_CURSOR_SECRET},
};
use shared::{config::Config, App};

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::logging::init();
    let port: u16 = setting("PORT", "3000")
        .parse()
        .map_err(|_| "PORT must be a port number")?;
    let table = setting("TABLE_NAME", local::DEV_TABLE_NAME);
    let cursor_secret = setting("CURSOR_SECRET", DEV_CURSOR_SECRET);

    // The secrets are the functions' own rule (shared::config): the public development secret
    // only when neither JWT_HS256_SECRET nor JWT_JWKS_URL is set.
    let config = Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(table.clone()),
        "CURSOR_SECRET" => Some(cursor_secret.clone()),
        other => std::env::var(other).ok(),
    })?;
    // DynamoDB Local unless an endpoint is given (e.g. one started by `cargo lambda watch` users).
    let mut dynamodb = None;
    let endpoint = match std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(endpoint) => endpoint,
        None => {
            let ddb_port: u16 = setting("DYNAMODB_PORT", &local::DEFAULT_DYNAMODB_PORT.to_string())
                .parse()
                .map_err(|_| "DYNAMODB_PORT must be a port number")?;
            let data = PathBuf::from(setting(
                "DYNAMODB_DATA_DIR",
                &local::dynamodb_local::repo_root()
                    .join(".local/dynamodb-data")
                    .display()
                    .to_string(),
            ));
            let started = DynamoDbLocal::start(Some(ddb_port), Some(&data))?;
            println!(
                "DynamoDB Local on {} (data in {})",
                started.endpoint(),
                data.display()
            );
            let endpoint = started.endpoint();
            dynamodb = Some(started);
            endpoint
        }
    };
    let client = local::local_client(&endpoint, &config.dynamodb);
    if TableSchema::from_repo_template()
        .ensure_table(&client, &table)
        .await?
    {
        println!("created table {table} from template.yaml");
    }

    let secret = config.jwt.hs256_secret.clone();
    let app = Arc::new(App::new(config, client));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("API listening on http://127.0.0.1:{port}");
    match secret {
        Some(secret) => {
            let token = dev_token(
                &secret,
                "dev-user",
                Some("dev-tenant"),
                &["tenant_admin"],
                24 * 3600,
            );
            let admin = dev_token(&secret, "dev-admin", None, &["platform_admin"], 24 * 3600);
            println!("\nA tenant_admin token for tenant dev-tenant (valid 24 h):\n  export TOKEN={token}");
            println!("A platform_admin token:\n  export ADMIN_TOKEN={admin}");
            println!(
                "\nTry:\n  curl -s -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:{port}/v1/tenant\n"
            );
        }
        None => println!("\nJWKS tokens only (JWT_JWKS_URL is set and JWT_HS256_SECRET is not)\n"),
    }

    server::serve(app, listener, shutdown_signal()).await?;
    println!("stopping");
    if let Some(mut dynamodb) = dynamodb {
        dynamodb.stop();
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return ctrl_c.await.unwrap_or(()),
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
