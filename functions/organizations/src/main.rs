#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run("organizations", &[shared::organizations::handlers::ROUTES]).await
}
