#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run("campaigns", &[shared::campaigns::handlers::ROUTES]).await
}
