#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run("tenants", &[shared::tenants::handlers::ROUTES]).await
}
