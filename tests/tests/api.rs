#![recursion_limit = "256"]
//! Integration tests through the real handlers against DynamoDB Local. One test binary, so
//! one DynamoDB Local serves the whole run; each test uses its own table.

mod api {
    mod auth;
    mod campaigns;
    mod events;
    mod faults;
    mod hardening;
    mod invitations;
    mod jobs;
    mod jwks;
    mod logs;
    mod memberships;
    mod organizations;
    mod pagination;
    mod tenancy;
    mod tenants;
}
