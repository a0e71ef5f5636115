//! The store's own error: what a DynamoDB call can come to, logged with its full context where
//! it happens and never carrying SDK text, table names or keys any further.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// Throttled, timed out, unreachable, or DynamoDB failing on its side: retrying later can
    /// succeed.
    Unavailable,
    /// Anything else: a bug, or an item that does not have the expected shape.
    Internal,
}

/// Codes DynamoDB answers when it sheds load.
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Codes DynamoDB answers when it sheds load or fails on its side.
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Classifies and logs a failed call: throttling, timeouts and connection failures are
/// `Unavailable` (WARN), anything else `Internal` (ERROR).
pub fn failure<E, R>(operation: &'static str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
        SdkError::ServiceError(e) => e.err().code().is_some_and(|c| TRANSIENT_CODES.contains(&c)),
        _ => false,
    };
    if transient {
        let code = error.as_service_error().and_then(|e| e.code()).unwrap_or("");
        if THROTTLING_CODES.contains(&code) {
            crate::telemetry::dynamodb_throttled(operation);
        }
        tracing::warn!(operation, code, error = %DisplayErrorContext(&error), "DynamoDB unavailable");
        StoreError::Unavailable
    } else {
        tracing::error!(operation, error = %DisplayErrorContext(&error), "DynamoDB call failed");
        StoreError::Internal
    }
}

/// Whether a failed write failed because its condition did not hold.
pub fn is_condition_failure<E: ProvideErrorMetadata>(error: &SdkError<E, impl std::fmt::Debug>) -> bool {
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// The output of a conditional write, `None` when its condition did not hold; any other failure
/// is classified and logged as `failure` does.
pub fn conditional<O, E, R>(
    operation: &'static str,
    result: Result<O, SdkError<E, R>>,
) -> Result<Option<O>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e) if is_condition_failure(&e) => Ok(None),
        Err(e) => Err(failure(operation, e)),
    }
}
