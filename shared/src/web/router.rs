//! Routes as data: each resource declares a table of method + path template → handler, and a
//! function's container serves exactly its resource's table. Matching is `matchit`'s (the
//! router inside axum), so a handler reads its parameters by name. A path that no route has is
//! a 404; a known path with another method a 405 with `Allow`.

use std::sync::OnceLock;

use futures::future::BoxFuture;
use lambda_http::{Body, Response};

use super::{request::percent_decode, ApiError, Ctx};

pub type Reply = Result<Response<Body>, ApiError>;

/// A request handler: it borrows the request's context for as long as its future runs.
pub type Handler = for<'a> fn(&'a Ctx<'a>) -> BoxFuture<'a, Reply>;

/// What must hold before a route's handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The caller's tenant is resolved (provisioned on first sight) and must be active (403).
    ActiveTenant,
    /// Platform routes: the handler checks the caller itself.
    Caller,
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub gate: Gate,
    pub handler: Handler,
}

/// `route!(GET "/v1/campaigns/{id}" => get)`: a route behind the active-tenant gate;
/// `route!(GET "/v1/tenants" => list, Gate::Caller)` for one without it.
#[macro_export]
macro_rules! route {
    ($method:ident $path:literal => $handler:path) => {
        $crate::route!($method $path => $handler, $crate::web::router::Gate::ActiveTenant)
    };
    ($method:ident $path:literal => $handler:path, $gate:expr) => {
        $crate::web::router::Route {
            method: stringify!($method),
            path: $path,
            gate: $gate,
            handler: |cx| Box::pin($handler(cx)),
        }
    };
}

/// The Lambda functions, one per resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Tenants,
    Organizations,
    Memberships,
    Campaigns,
    Jobs,
}

impl Function {
    pub const ALL: &'static [Function] = &[
        Function::Tenants,
        Function::Organizations,
        Function::Memberships,
        Function::Campaigns,
        Function::Jobs,
    ];

    /// The Cargo package and SAM resource stem of the function.
    pub fn name(self) -> &'static str {
        match self {
            Function::Tenants => "tenants",
            Function::Organizations => "organizations",
            Function::Memberships => "memberships",
            Function::Campaigns => "campaigns",
            Function::Jobs => "jobs",
        }
    }

    /// The function's route tables (one per resource it serves). A deployed function names its
    /// tables directly (see its `main.rs`), so its binary links only its own handlers; this is
    /// for the local server and the tests, which serve them all.
    pub fn tables(self) -> &'static [&'static [Route]] {
        match self {
            Function::Tenants => &[crate::tenants::handlers::ROUTES],
            Function::Organizations => &[crate::organizations::handlers::ROUTES],
            Function::Memberships => &[
                crate::memberships::handlers::ROUTES,
                crate::invitations::handlers::ROUTES,
            ],
            Function::Campaigns => &[crate::campaigns::handlers::ROUTES],
            Function::Jobs => &[crate::jobs::handlers::ROUTES],
        }
    }

    /// Every route of the function.
    pub fn routes(self) -> impl Iterator<Item = &'static Route> {
        self.tables().iter().flat_map(|table| table.iter())
    }

    /// A router over this function's table alone, as its container has, built once.
    pub fn router(self) -> &'static Router {
        static ROUTERS: OnceLock<Vec<Router>> = OnceLock::new();
        let routers = ROUTERS.get_or_init(|| Function::ALL.iter().map(|f| Router::new(f.tables())).collect());
        let index = Function::ALL.iter().position(|f| *f == self).unwrap_or_default();
        &routers[index]
    }

    /// The function that serves `path`, if any.
    pub fn serving(path: &str) -> Option<Function> {
        Function::ALL
            .iter()
            .copied()
            .find(|f| f.router().resolve("GET", path).is_ok_or_405())
    }
}

/// One path template of the API with the function that serves it and its methods, for the
/// checks that keep `template.yaml`, the OpenAPI document and cargo-lambda's router in step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMethods {
    pub function: Function,
    pub path: &'static str,
    pub methods: Vec<&'static str>,
}

/// Every path of the API, in table order.
pub fn table() -> Vec<PathMethods> {
    let mut paths: Vec<PathMethods> = Vec::new();
    for &function in Function::ALL {
        for route in function.routes() {
            match paths.iter_mut().find(|p| p.path == route.path) {
                Some(p) => p.methods.push(route.method),
                None => paths.push(PathMethods {
                    function,
                    path: route.path,
                    methods: vec![route.method],
                }),
            }
        }
    }
    paths
}

/// The routes of one path template.
struct PathRoutes {
    methods: Vec<&'static Route>,
}

/// A matched route with its decoded path parameters.
pub struct Matched {
    pub route: &'static Route,
    pub params: Vec<(String, String)>,
}

pub enum Resolution {
    Found(Matched),
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

impl Resolution {
    fn is_ok_or_405(&self) -> bool {
        !matches!(self, Resolution::NotFound)
    }

    pub fn into_result(self) -> Result<Matched, ApiError> {
        match self {
            Resolution::Found(matched) => Ok(matched),
            Resolution::MethodNotAllowed(allowed) => Err(ApiError::MethodNotAllowed { allowed }),
            Resolution::NotFound => Err(ApiError::NotFound),
        }
    }
}

pub struct Router {
    paths: matchit::Router<PathRoutes>,
}

impl Router {
    /// A router over `tables`. Two routes with the same method and path, or path templates
    /// `matchit` cannot tell apart, are a bug in the tables and panic at start-up (and in the
    /// tests that build every router).
    pub fn new(tables: &[&'static [Route]]) -> Self {
        let mut grouped: Vec<(&'static str, PathRoutes)> = Vec::new();
        for route in tables.iter().flat_map(|t| t.iter()) {
            match grouped.iter_mut().find(|(path, _)| *path == route.path) {
                Some((_, routes)) => {
                    assert!(
                        routes.methods.iter().all(|r| r.method != route.method),
                        "{} {} is routed twice",
                        route.method,
                        route.path
                    );
                    routes.methods.push(route);
                }
                None => grouped.push((route.path, PathRoutes { methods: vec![route] })),
            }
        }
        let mut paths = matchit::Router::new();
        for (path, routes) in grouped {
            if let Err(e) = paths.insert(path, routes) {
                panic!("route {path} cannot be added: {e}");
            }
        }
        Router { paths }
    }

    /// Every route of every function, as the local server serves them, built once.
    pub fn all() -> &'static Self {
        static ALL: OnceLock<Router> = OnceLock::new();
        ALL.get_or_init(|| {
            let tables: Vec<&'static [Route]> =
                Function::ALL.iter().flat_map(|f| f.tables()).copied().collect();
            Router::new(&tables)
        })
    }

    pub fn resolve(&self, method: &str, path: &str) -> Resolution {
        // `/v1/tenants/` is `/v1/tenants`.
        let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
        let Ok(found) = self.paths.at(path) else {
            return Resolution::NotFound;
        };
        let mut params = Vec::new();
        for (name, raw) in found.params.iter() {
            // A `+` in a path segment is a plus, not a space.
            match percent_decode(&raw.replace('+', "%2B")) {
                Ok(value) if !value.is_empty() => params.push((name.to_owned(), value)),
                _ => return Resolution::NotFound,
            }
        }
        match found.value.methods.iter().find(|r| r.method == method) {
            Some(route) => Resolution::Found(Matched { route, params }),
            None => Resolution::MethodNotAllowed(found.value.methods.iter().map(|r| r.method).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(router: &Router, method: &str, path: &str) -> Option<(&'static str, Vec<(String, String)>)> {
        match router.resolve(method, path) {
            Resolution::Found(m) => Some((m.route.path, m.params)),
            _ => None,
        }
    }

    #[test]
    fn resolves_known_routes_and_rejects_others() {
        let router = Router::all();
        let (path, params) = found(router, "GET", "/v1/tenants/acme").unwrap();
        assert_eq!(path, "/v1/tenants/{id}");
        assert_eq!(params, vec![("id".to_owned(), "acme".to_owned())]);
        assert_eq!(
            found(router, "GET", "/v1/tenants/acme/").unwrap().0,
            "/v1/tenants/{id}"
        );
        assert_eq!(found(router, "GET", "/v1/tenants/").unwrap().0, "/v1/tenants");
        assert!(matches!(
            router.resolve("POST", "/v1/tenant"),
            Resolution::MethodNotAllowed(m) if m == vec!["GET", "PATCH"]
        ));
        assert!(matches!(
            router.resolve("GET", "/v2/tenant"),
            Resolution::NotFound
        ));
        assert!(matches!(
            router.resolve("GET", "/v1/tenantsx"),
            Resolution::NotFound
        ));
        let (_, params) = found(router, "GET", "/v1/users/a%7Cb+c/organizations").unwrap();
        assert_eq!(params, vec![("user_id".to_owned(), "a|b+c".to_owned())]);
        assert!(matches!(
            router.resolve("GET", "/v1/users/%ff/organizations"),
            Resolution::NotFound
        ));
    }

    #[test]
    fn each_function_serves_only_its_own_table() {
        for &function in Function::ALL {
            let own = function.router();
            for path in table() {
                let probe = path.path.replace('{', "x").replace('}', "");
                assert_eq!(
                    own.resolve(path.methods[0], &probe).is_ok_or_405(),
                    path.function == function,
                    "{} for {}",
                    path.path,
                    function.name()
                );
                assert_eq!(Function::serving(&probe), Some(path.function), "{}", path.path);
            }
        }
    }
}
