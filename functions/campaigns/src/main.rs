#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run(shared::Function::Campaigns).await
}
