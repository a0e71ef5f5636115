//! The route table: every path of the contract, the function that serves it and its methods.
//! `template.yaml`, the local server and the OpenAPI document are checked against this table.

use http::Method;

use crate::{error::ApiError, http::match_path};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Tenants,
    Organizations,
    Memberships,
    Campaigns,
}

impl Function {
    pub const ALL: &'static [Function] = &[
        Function::Tenants,
        Function::Organizations,
        Function::Memberships,
        Function::Campaigns,
    ];

    /// The Cargo package and SAM resource stem of the function.
    pub fn name(self) -> &'static str {
        match self {
            Function::Tenants => "tenants",
            Function::Organizations => "organizations",
            Function::Memberships => "memberships",
            Function::Campaigns => "campaigns",
        }
    }
}

#[derive(Debug)]
pub struct Route {
    pub function: Function,
    pub path: &'static str,
    pub methods: &'static [&'static str],
}

pub const ROUTES: &[Route] = &[
    Route {
        function: Function::Tenants,
        path: "/v1/tenant",
        methods: &["GET", "PATCH"],
    },
    Route {
        function: Function::Tenants,
        path: "/v1/tenants",
        methods: &["GET"],
    },
    Route {
        function: Function::Tenants,
        path: "/v1/tenants/{id}",
        methods: &["GET", "PATCH", "DELETE"],
    },
    Route {
        function: Function::Organizations,
        path: "/v1/organizations",
        methods: &["GET", "POST"],
    },
    Route {
        function: Function::Organizations,
        path: "/v1/organizations/{id}",
        methods: &["GET", "PATCH", "PUT", "DELETE"],
    },
    Route {
        function: Function::Memberships,
        path: "/v1/organizations/{id}/members",
        methods: &["GET", "POST"],
    },
    Route {
        function: Function::Memberships,
        path: "/v1/organizations/{id}/members/{user_id}",
        methods: &["GET", "PATCH", "DELETE"],
    },
    Route {
        function: Function::Memberships,
        path: "/v1/organizations/{id}/members/{user_id}/accept",
        methods: &["POST"],
    },
    Route {
        function: Function::Memberships,
        path: "/v1/users/{user_id}/organizations",
        methods: &["GET"],
    },
    Route {
        function: Function::Campaigns,
        path: "/v1/organizations/{id}/campaigns",
        methods: &["GET"],
    },
    Route {
        function: Function::Campaigns,
        path: "/v1/campaigns",
        methods: &["GET", "POST"],
    },
    Route {
        function: Function::Campaigns,
        path: "/v1/campaigns/{id}",
        methods: &["GET", "PATCH", "PUT", "DELETE"],
    },
];

#[derive(Debug)]
pub struct Matched {
    pub route: &'static Route,
    pub method: Method,
    /// Path parameters in the order they appear in the pattern.
    pub params: Vec<String>,
}

/// Finds the route for `path`; `only` restricts the search to one function's routes, as in a
/// deployed Lambda. Unknown paths are a 404; known paths with another method a 405.
pub fn resolve(only: Option<Function>, method: &Method, path: &str) -> Result<Matched, ApiError> {
    let candidates = ROUTES.iter().filter(|r| only.is_none_or(|f| r.function == f));
    for route in candidates {
        if let Some(params) = match_path(route.path, path) {
            if !route.methods.contains(&method.as_str()) {
                return Err(ApiError::MethodNotAllowed {
                    allowed: route.methods.to_vec(),
                });
            }
            return Ok(Matched {
                route,
                method: method.clone(),
                params,
            });
        }
    }
    Err(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_known_routes_and_rejects_others() {
        let m = resolve(None, &Method::GET, "/v1/tenants/acme").unwrap();
        assert_eq!(m.route.path, "/v1/tenants/{id}");
        assert_eq!(m.params, vec!["acme".to_owned()]);
        assert!(matches!(
            resolve(None, &Method::POST, "/v1/tenant"),
            Err(ApiError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            resolve(None, &Method::GET, "/v2/tenant"),
            Err(ApiError::NotFound)
        ));
    }

    #[test]
    fn no_two_routes_overlap() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert_ne!(
                    a.path, b.path,
                    "routes must be listed once with all their methods"
                );
                let probe = a.path.replace("{", "x").replace("}", "");
                assert!(
                    match_path(b.path, &probe).is_none(),
                    "{} shadows {}",
                    b.path,
                    a.path
                );
            }
        }
    }
}
