#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run("jobs", &[shared::jobs::handlers::ROUTES]).await
}
