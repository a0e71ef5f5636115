#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run(
        "memberships",
        &[
            shared::memberships::handlers::ROUTES,
            shared::invitations::handlers::ROUTES,
        ],
    )
    .await
}
