//! Keeps `openapi.yaml` in step with the code: the same (method, path) pairs as the route table
//! and `template.yaml`, a 401 and a 500 on every operation, `Idempotency-Key` on every POST,
//! `If-Match` and `ETag` where the handlers honour and send them, `x-request-id` on every
//! response, the problem `code` enum equal to the codes `ApiError` renders, and no dangling `$ref`.
//! Error responses are a plain `$ref` to `Problem` (what generated clients can parse), and each
//! one's description names its status and the codes it carries, which `ApiError` sends with
//! that status.

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_yaml_ng::Value;
    use shared::web::{router::table, ApiError};

    const SPEC: &str = include_str!("../../openapi.yaml");
    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn spec() -> Value {
        serde_yaml_ng::from_str(SPEC).unwrap_or_else(|e| panic!("openapi.yaml does not parse: {e}"))
    }

    /// `#/a/b~1c` → the node, or `None` when it does not exist.
    fn resolve_pointer<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(doc);
        }
        let mut node = doc;
        for token in pointer.strip_prefix('/')?.split('/') {
            let token = token.replace("~1", "/").replace("~0", "~");
            node = match node {
                Value::Mapping(map) => map.get(token.as_str())?,
                Value::Sequence(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Follows `$ref`s (local ones only) until a node without one.
    fn deref<'a>(doc: &'a Value, mut node: &'a Value) -> &'a Value {
        for _ in 0..16 {
            match node.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    node = resolve_pointer(doc, reference)
                        .unwrap_or_else(|| panic!("dangling $ref {reference}"));
                }
                None => return node,
            }
        }
        panic!("$ref chain too long");
    }

    struct Operation<'a> {
        method: String,
        path: String,
        /// Path-level and operation-level parameters, resolved.
        parameters: Vec<&'a Value>,
        responses: Vec<(String, &'a Value)>,
        node: &'a Value,
    }

    impl Operation<'_> {
        fn label(&self) -> String {
            format!("{} {}", self.method, self.path)
        }

        fn response(&self, status: &str) -> Option<&Value> {
            self.responses.iter().find(|(s, _)| s == status).map(|(_, r)| *r)
        }

        fn header_parameter(&self, name: &str) -> Option<&Value> {
            self.parameters.iter().copied().find(|p| {
                p["in"].as_str() == Some("header")
                    && p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
        }
    }

    fn operations(doc: &Value) -> Vec<Operation<'_>> {
        let paths = doc["paths"].as_mapping().expect("paths");
        let mut out = Vec::new();
        for (path, item) in paths {
            let path = path.as_str().expect("path key").to_owned();
            let shared: Vec<&Value> = item
                .get("parameters")
                .and_then(Value::as_sequence)
                .map(|ps| ps.iter().map(|p| deref(doc, p)).collect())
                .unwrap_or_default();
            for (method, op) in item.as_mapping().expect("path item") {
                let method = method.as_str().expect("method key");
                if !METHODS.contains(&method) {
                    continue;
                }
                let mut parameters = shared.clone();
                if let Some(own) = op.get("parameters").and_then(Value::as_sequence) {
                    parameters.extend(own.iter().map(|p| deref(doc, p)));
                }
                let responses = op["responses"]
                    .as_mapping()
                    .unwrap_or_else(|| panic!("{method} {path} has no responses"))
                    .iter()
                    .map(|(status, r)| {
                        let status = match status {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            other => panic!("{method} {path}: odd status key {other:?}"),
                        };
                        (status, deref(doc, r))
                    })
                    .collect();
                out.push(Operation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    parameters,
                    responses,
                    node: op,
                });
            }
        }
        out
    }

    fn template_paths() -> BTreeSet<String> {
        let doc: Value = serde_yaml_ng::from_str(crate::schema::TEMPLATE).expect("template.yaml");
        let mut paths = BTreeSet::new();
        for (_, resource) in doc["Resources"].as_mapping().expect("Resources") {
            if let Some(events) = resource["Properties"]["Events"].as_mapping() {
                for (_, event) in events {
                    if event["Type"].as_str() == Some("HttpApi") {
                        paths.insert(event["Properties"]["Path"].as_str().expect("Path").to_owned());
                    }
                }
            }
        }
        paths
    }

    #[test]
    fn operations_are_exactly_the_route_table() {
        let doc = spec();
        let documented: BTreeSet<(String, String)> = operations(&doc)
            .iter()
            .map(|op| (op.method.clone(), op.path.clone()))
            .collect();
        let routed: BTreeSet<(String, String)> = table()
            .iter()
            .flat_map(|r| r.methods.iter().map(|m| (m.to_string(), r.path.to_owned())))
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty() && unrouted.is_empty(),
            "routes missing from openapi.yaml: {undocumented:?}; operations no route serves: {unrouted:?}"
        );
    }

    #[test]
    fn paths_are_exactly_the_template_paths() {
        let doc = spec();
        let documented: BTreeSet<String> = doc["paths"]
            .as_mapping()
            .expect("paths")
            .keys()
            .map(|k| k.as_str().expect("path key").to_owned())
            .collect();
        assert_eq!(documented, template_paths());
    }

    #[test]
    fn every_ref_resolves() {
        fn walk(doc: &Value, node: &Value, at: &str, dangling: &mut Vec<String>, count: &mut usize) {
            match node {
                Value::Mapping(map) => {
                    for (key, value) in map {
                        let key = key.as_str().unwrap_or("?");
                        if key == "$ref" {
                            *count += 1;
                            match value.as_str() {
                                Some(r) if r.starts_with('#') && resolve_pointer(doc, r).is_some() => {}
                                _ => dangling.push(format!("{at}: {value:?}")),
                            }
                        } else {
                            walk(doc, value, &format!("{at}/{key}"), dangling, count);
                        }
                    }
                }
                Value::Sequence(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(doc, item, &format!("{at}/{i}"), dangling, count);
                    }
                }
                _ => {}
            }
        }
        let doc = spec();
        let (mut dangling, mut count) = (Vec::new(), 0);
        walk(&doc, &doc, "#", &mut dangling, &mut count);
        assert!(
            count > 100,
            "suspiciously few $refs ({count}): is the walk broken?"
        );
        assert!(dangling.is_empty(), "dangling $refs: {dangling:#?}");
    }

    #[test]
    fn operation_ids_are_unique_and_every_operation_needs_the_bearer_token() {
        let doc = spec();
        assert_eq!(doc["security"][0]["bearerAuth"], Value::Sequence(vec![]));
        let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
        assert_eq!(scheme["type"].as_str(), Some("http"));
        assert_eq!(scheme["scheme"].as_str(), Some("bearer"));
        assert_eq!(scheme["bearerFormat"].as_str(), Some("JWT"));
        let mut ids = BTreeSet::new();
        for op in operations(&doc) {
            let id = op.node["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{} has no operationId", op.label()));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            assert!(
                op.node.get("security").is_none(),
                "{} overrides the global bearer requirement, but every route verifies the token",
                op.label()
            );
        }
    }

    #[test]
    fn every_operation_documents_401_and_500_as_problems() {
        let doc = spec();
        for op in operations(&doc) {
            for status in ["401", "500"] {
                assert!(
                    op.response(status).is_some(),
                    "{} does not document {status}",
                    op.label()
                );
            }
            let unauthorized = op.response("401").expect("401");
            assert!(
                unauthorized["headers"].get("WWW-Authenticate").is_some(),
                "{}: 401 without WWW-Authenticate",
                op.label()
            );
            for (status, response) in &op.responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"]
                        .as_mapping()
                        .unwrap_or_else(|| panic!("{} {status} has no content", op.label()));
                    let types: Vec<&str> = content.keys().filter_map(Value::as_str).collect();
                    assert_eq!(types, ["application/problem+json"], "{} {status}", op.label());
                }
            }
        }
    }

    #[test]
    fn every_response_carries_x_request_id() {
        let doc = spec();
        for op in operations(&doc) {
            for (status, response) in &op.responses {
                let header = response["headers"]
                    .get("x-request-id")
                    .map(|h| deref(&doc, h))
                    .unwrap_or_else(|| panic!("{} {status} lacks x-request-id", op.label()));
                assert_eq!(
                    header["required"].as_bool(),
                    Some(true),
                    "{} {status}",
                    op.label()
                );
            }
        }
        let not_allowed = &doc["components"]["responses"]["MethodNotAllowed"];
        assert!(not_allowed["headers"].get("x-request-id").is_some());
        assert!(
            not_allowed["headers"].get("Allow").is_some(),
            "the code sends Allow on 405"
        );
    }

    #[test]
    fn every_post_documents_idempotency_key() {
        let doc = spec();
        let posts: Vec<_> = operations(&doc)
            .into_iter()
            .filter(|op| op.method == "POST")
            .collect();
        assert_eq!(
            posts.len(),
            table().iter().filter(|r| r.methods.contains(&"POST")).count()
        );
        for op in posts {
            let header = op
                .header_parameter(shared::web::idempotency::HEADER)
                .unwrap_or_else(|| panic!("{} does not document Idempotency-Key", op.label()));
            assert_ne!(header["required"].as_bool(), Some(true), "the key is optional");
            for status in ["400", "409", "422"] {
                assert!(
                    op.response(status).is_some(),
                    "{}: Idempotency-Key can answer {status}",
                    op.label()
                );
            }
        }
    }

    /// Organizations and campaigns carry an ETag on every representation and honour If-Match
    /// on every write; created resources are announced with Location.
    #[test]
    fn etag_if_match_and_location_where_the_code_uses_them() {
        let doc = spec();
        for op in operations(&doc) {
            let versioned = op.path == "/v1/organizations/{id}" || op.path == "/v1/campaigns/{id}";
            let versioned_collection = op.path == "/v1/organizations" || op.path == "/v1/campaigns";
            let writes = matches!(op.method.as_str(), "PATCH" | "PUT" | "DELETE");
            if versioned && writes {
                assert!(
                    op.header_parameter("If-Match").is_some(),
                    "{} lacks If-Match",
                    op.label()
                );
                assert!(op.response("412").is_some(), "{} lacks 412", op.label());
            } else {
                assert!(
                    op.header_parameter("If-Match").is_none(),
                    "{}: If-Match is ignored there",
                    op.label()
                );
                assert!(op.response("412").is_none(), "{}: no 412 there", op.label());
            }
            for (status, response) in &op.responses {
                let has_etag = response["headers"].get("ETag").is_some();
                let sends_etag = (versioned || (versioned_collection && op.method == "POST"))
                    && matches!(status.as_str(), "200" | "201");
                assert_eq!(has_etag, sends_etag, "{} {status}: ETag", op.label());
                let has_location = response["headers"].get("Location").is_some();
                assert_eq!(has_location, status == "201", "{} {status}: Location", op.label());
            }
        }
    }

    #[test]
    fn path_parameters_match_the_path_templates() {
        let doc = spec();
        for op in operations(&doc) {
            let in_path: BTreeSet<String> = op
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_owned)
                .collect();
            let declared: BTreeSet<String> = op
                .parameters
                .iter()
                .filter(|p| p["in"].as_str() == Some("path"))
                .map(|p| {
                    assert_eq!(p["required"].as_bool(), Some(true), "{}", op.label());
                    p["name"].as_str().expect("name").to_owned()
                })
                .collect();
            assert_eq!(in_path, declared, "{}", op.label());
        }
    }

    /// Lists answer 422 to unknown query parameters (`Query::only`), so the spec must name every
    /// parameter they accept: limit and cursor on every list.
    #[test]
    fn lists_document_limit_and_cursor() {
        let doc = spec();
        for op in operations(&doc) {
            let success = op
                .response("200")
                .map(|r| deref(&doc, &r["content"]["application/json"]["schema"]));
            let is_page = success.is_some_and(|s| s["properties"].get("next_cursor").is_some());
            let query: BTreeSet<&str> = op
                .parameters
                .iter()
                .filter(|p| p["in"].as_str() == Some("query"))
                .filter_map(|p| p["name"].as_str())
                .collect();
            if is_page {
                assert!(
                    query.contains("limit") && query.contains("cursor"),
                    "{}",
                    op.label()
                );
                assert!(
                    op.response("422").is_some() && op.response("400").is_some(),
                    "{}",
                    op.label()
                );
            } else {
                assert!(query.is_empty(), "{} takes no query parameters", op.label());
            }
        }
    }

    /// Fails to compile when `ApiError` gains a variant, so the list below cannot fall behind.
    fn every_variant(e: &ApiError) {
        match e {
            ApiError::BadRequest(_)
            | ApiError::Unauthorized(_)
            | ApiError::TenantInactive
            | ApiError::Forbidden(_)
            | ApiError::NotFound
            | ApiError::MethodNotAllowed { .. }
            | ApiError::Conflict(_)
            | ApiError::Gone(_)
            | ApiError::PreconditionFailed
            | ApiError::Validation(_)
            | ApiError::PayloadTooLarge
            | ApiError::UriTooLong
            | ApiError::HeadersTooLarge
            | ApiError::Unavailable
            | ApiError::Internal => {}
        }
    }

    fn all_errors() -> Vec<ApiError> {
        [
            ApiError::BadRequest(String::new()),
            ApiError::Unauthorized(String::new()),
            ApiError::TenantInactive,
            ApiError::Forbidden(String::new()),
            ApiError::NotFound,
            ApiError::MethodNotAllowed { allowed: vec![] },
            ApiError::Conflict(String::new()),
            ApiError::Gone(String::new()),
            ApiError::PreconditionFailed,
            ApiError::Validation(Default::default()),
            ApiError::PayloadTooLarge,
            ApiError::UriTooLong,
            ApiError::HeadersTooLarge,
            ApiError::Unavailable,
            ApiError::Internal,
        ]
        .into_iter()
        .inspect(every_variant)
        .collect()
    }

    fn documented_codes(doc: &Value) -> BTreeSet<&str> {
        doc["components"]["schemas"]["ProblemCode"]["enum"]
            .as_sequence()
            .expect("ProblemCode enum")
            .iter()
            .filter_map(Value::as_str)
            .collect()
    }

    #[test]
    fn problem_codes_are_the_codes_the_code_renders() {
        let doc = spec();
        let errors = all_errors();
        let rendered: BTreeSet<&str> = errors.iter().map(ApiError::code).collect();
        assert_eq!(documented_codes(&doc), rendered);
    }

    /// The problem codes a response description names: `code` words in backquotes.
    fn codes_named_in<'a>(description: &'a str, codes: &BTreeSet<&str>) -> Vec<&'a str> {
        description
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|word| codes.contains(word))
            .collect()
    }

    /// Checks one error response: a plain `$ref` to `Problem` (an `allOf` that narrows `status`
    /// or `code` makes generated clients drop the response), and a description that starts with
    /// the status and names codes `ApiError` renders with exactly that status.
    fn check_error_response(doc: &Value, at: &str, status: &str, response: &Value) {
        let schema = &response["content"]["application/problem+json"]["schema"];
        let keys: Vec<&str> = schema
            .as_mapping()
            .unwrap_or_else(|| panic!("{at}: no problem+json schema"))
            .keys()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(keys, ["$ref"], "{at}: the schema is a plain $ref");
        assert_eq!(
            schema["$ref"].as_str(),
            Some("#/components/schemas/Problem"),
            "{at}"
        );
        let description = response["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no description"));
        assert!(
            description.starts_with(&format!("{status} ")),
            "{at}: the description does not start with {status}: {description:?}"
        );
        let codes = documented_codes(doc);
        let named = codes_named_in(description, &codes);
        assert!(!named.is_empty(), "{at}: the description names no problem code");
        let errors = all_errors();
        for code in named {
            let error = errors
                .iter()
                .find(|e| e.code() == code)
                .unwrap_or_else(|| panic!("{at}: `{code}` is rendered by no ApiError"));
            assert_eq!(
                error.status().as_str(),
                status,
                "{at}: `{code}` is sent with another status"
            );
        }
    }

    #[test]
    fn error_responses_are_plain_problems_that_name_their_codes() {
        let doc = spec();
        let mut checked = 0;
        for op in operations(&doc) {
            for (status, response) in &op.responses {
                if status.starts_with('4') || status.starts_with('5') {
                    check_error_response(&doc, &format!("{} {status}", op.label()), status, response);
                    checked += 1;
                }
            }
        }
        assert!(
            checked > 100,
            "only {checked} error responses: is the walk broken?"
        );
        // Shared responses, MethodNotAllowed included (it is no operation's: every *other*
        // method of a path gets it); the status is the one the description starts with.
        let errors = all_errors();
        for (name, response) in doc["components"]["responses"].as_mapping().expect("responses") {
            let name = name.as_str().expect("name");
            if response.get("content").is_none() {
                continue;
            }
            let status = response["description"]
                .as_str()
                .and_then(|d| d.split(' ').next())
                .unwrap_or_default();
            assert!(
                errors.iter().any(|e| e.status().as_str() == status),
                "components/responses/{name}: {status:?} is no status the API sends"
            );
            check_error_response(&doc, &format!("components/responses/{name}"), status, response);
        }
    }
}
