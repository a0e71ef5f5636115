//! Checks of `template.yaml` beyond the routes and the table (those are in `schema.rs`): what an
//! operator relies on in AWS. Every function logs to its own log group with a retention, traces
//! with X-Ray, and has its error, throttle and duration alarms; the API is throttled, writes JSON
//! access logs and turns CORS on only when origins are given; the table's throttling and system
//! errors are alarmed over every operation the functions may call; alarms notify only through the
//! topic that exists when `AlarmEmail` is set. And `samconfig.toml`'s staging config supplies what
//! a first deploy needs.

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_yaml_ng::{Mapping, Value};
    use shared::web::router::table;

    fn template() -> Value {
        serde_yaml_ng::from_str(crate::schema::TEMPLATE).expect("template.yaml parses")
    }

    /// `!Tag value` → (tag, value); `None` for an untagged node.
    fn tagged(node: &Value) -> Option<(String, &Value)> {
        match node {
            Value::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_owned(), &t.value)),
            _ => None,
        }
    }

    /// The name a `!Ref Name` node refers to.
    fn ref_name(node: &Value) -> Option<&str> {
        match tagged(node) {
            Some((tag, value)) if tag == "Ref" => value.as_str(),
            _ => None,
        }
    }

    /// `!If [condition, then, else]` → its three parts.
    fn if_parts(node: &Value) -> Option<(&str, &Value, &Value)> {
        match tagged(node) {
            Some((tag, Value::Sequence(parts))) if tag == "If" && parts.len() == 3 => {
                Some((parts[0].as_str()?, &parts[1], &parts[2]))
            }
            _ => None,
        }
    }

    fn is_no_value(node: &Value) -> bool {
        ref_name(node) == Some("AWS::NoValue")
    }

    fn resources(doc: &Value) -> &Mapping {
        doc["Resources"].as_mapping().expect("Resources")
    }

    fn of_type<'a>(doc: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
        resources(doc)
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some(kind))
            .map(|(name, r)| (name.as_str().expect("resource name"), r))
            .collect()
    }

    fn functions(doc: &Value) -> Vec<(&str, &Value)> {
        let functions = of_type(doc, "AWS::Serverless::Function");
        assert!(functions.len() >= 4, "the four functions are in the template");
        functions
    }

    fn parameter_default<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
        let parameter = doc["Parameters"]
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        parameter.get("Default")
    }

    fn number(node: &Value) -> f64 {
        node.as_f64()
            .or_else(|| node.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("not a number: {node:?}"))
    }

    #[test]
    fn every_function_logs_json_to_its_own_log_group_with_a_retention() {
        let doc = template();
        assert_eq!(
            doc["Globals"]["Function"]["LoggingConfig"]["LogFormat"].as_str(),
            Some("JSON")
        );
        // The level reaches the functions as AWS_LAMBDA_LOG_LEVEL, which shared::logging reads.
        assert_eq!(
            ref_name(&doc["Globals"]["Function"]["LoggingConfig"]["ApplicationLogLevel"]),
            Some("LogLevel")
        );
        assert_eq!(
            number(parameter_default(&doc, "LogRetentionDays").expect("a default")),
            30.0
        );
        let mut groups = BTreeSet::new();
        for (name, function) in functions(&doc) {
            let group = ref_name(&function["Properties"]["LoggingConfig"]["LogGroup"])
                .unwrap_or_else(|| panic!("{name}: LoggingConfig.LogGroup is not a !Ref"));
            assert!(groups.insert(group), "{name} shares log group {group}");
            let resource = &doc["Resources"][group];
            assert_eq!(resource["Type"].as_str(), Some("AWS::Logs::LogGroup"), "{group}");
            assert_eq!(
                ref_name(&resource["Properties"]["RetentionInDays"]),
                Some("LogRetentionDays"),
                "{group}: logs must not be kept forever"
            );
        }
    }

    #[test]
    fn every_function_traces_with_x_ray() {
        let doc = template();
        assert_eq!(doc["Globals"]["Function"]["Tracing"].as_str(), Some("Active"));
        for (name, function) in functions(&doc) {
            // SAM grants AWSXrayWriteOnlyAccess for Tracing: Active; a function-level override
            // would drop both.
            let own = &function["Properties"]["Tracing"];
            assert!(own.is_null() || own.as_str() == Some("Active"), "{name}");
        }
    }

    #[test]
    fn reserved_concurrency_is_optional() {
        let doc = template();
        assert_eq!(
            parameter_default(&doc, "ReservedConcurrency").and_then(Value::as_str),
            Some("")
        );
        let (condition, then, otherwise) =
            if_parts(&doc["Globals"]["Function"]["ReservedConcurrentExecutions"])
                .expect("ReservedConcurrentExecutions is an !If");
        assert_eq!(condition, "HasReservedConcurrency");
        assert_eq!(ref_name(then), Some("ReservedConcurrency"));
        assert!(is_no_value(otherwise), "no reservation unless asked for");
        let text = serde_yaml_ng::to_string(&doc["Conditions"][condition]).unwrap();
        assert!(
            text.contains("ReservedConcurrency") && text.contains("'0'"),
            "{text}"
        );
    }

    #[test]
    fn the_stage_is_throttled_and_writes_json_access_logs() {
        let doc = template();
        let api = &doc["Resources"]["HttpApi"]["Properties"];
        let settings = &api["DefaultRouteSettings"];
        assert_eq!(
            ref_name(&settings["ThrottlingBurstLimit"]),
            Some("ThrottlingBurstLimit")
        );
        assert_eq!(
            ref_name(&settings["ThrottlingRateLimit"]),
            Some("ThrottlingRateLimit")
        );
        for parameter in ["ThrottlingBurstLimit", "ThrottlingRateLimit"] {
            assert!(number(parameter_default(&doc, parameter).expect("a default")) >= 1.0);
        }

        let logs = &api["AccessLogSettings"];
        match tagged(&logs["DestinationArn"]) {
            Some((tag, value)) if tag == "GetAtt" => {
                let target = value.as_str().expect("GetAtt Name.Arn");
                let group = target.strip_suffix(".Arn").expect("the group's Arn");
                let resource = &doc["Resources"][group];
                assert_eq!(resource["Type"].as_str(), Some("AWS::Logs::LogGroup"));
                assert_eq!(
                    ref_name(&resource["Properties"]["RetentionInDays"]),
                    Some("LogRetentionDays")
                );
            }
            other => panic!("DestinationArn is not a !GetAtt: {other:?}"),
        }
        let format = logs["Format"].as_str().expect("a Format string");
        let line: serde_json::Value =
            serde_json::from_str(format).expect("the access log format is one JSON object");
        let variables: BTreeSet<&str> = line
            .as_object()
            .expect("an object")
            .values()
            .filter_map(serde_json::Value::as_str)
            .collect();
        for wanted in [
            "$context.requestId",
            "$context.routeKey",
            "$context.status",
            "$context.responseLatency",
            "$context.integrationLatency",
            "$context.integrationErrorMessage",
        ] {
            assert!(variables.contains(wanted), "access logs lack {wanted}");
        }
    }

    #[test]
    fn cors_is_on_only_with_origins_and_covers_the_api() {
        let doc = template();
        assert_eq!(
            parameter_default(&doc, "CorsAllowedOrigins").and_then(Value::as_str),
            Some(""),
            "CORS is off by default"
        );
        let (condition, cors, otherwise) =
            if_parts(&doc["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"])
                .expect("CorsConfiguration is an !If");
        assert!(is_no_value(otherwise));
        let text = serde_yaml_ng::to_string(&doc["Conditions"][condition]).unwrap();
        assert!(
            text.contains("CorsAllowedOrigins") && text.contains("Not"),
            "{condition}: {text}"
        );
        match tagged(&cors["AllowOrigins"]) {
            Some((tag, Value::Sequence(args))) if tag == "Split" => {
                assert_eq!(args[0].as_str(), Some(","));
                assert_eq!(ref_name(&args[1]), Some("CorsAllowedOrigins"));
            }
            other => panic!("AllowOrigins is not split from the parameter: {other:?}"),
        }
        let list = |key: &str| -> BTreeSet<String> {
            cors[key]
                .as_sequence()
                .unwrap_or_else(|| panic!("{key}"))
                .iter()
                .map(|v| v.as_str().expect("string").to_ascii_lowercase())
                .collect()
        };
        let methods = list("AllowMethods");
        for route in table() {
            for method in &route.methods {
                assert!(
                    methods.contains(&method.to_ascii_lowercase()),
                    "a browser could not send {method} {}",
                    route.path
                );
            }
        }
        let request_headers = list("AllowHeaders");
        for header in [
            "authorization",
            "content-type",
            shared::web::idempotency::HEADER,
            "if-match",
        ] {
            assert!(request_headers.contains(&header.to_ascii_lowercase()), "{header}");
        }
        let response_headers = list("ExposeHeaders");
        for header in ["etag", "location", "x-request-id", "retry-after"] {
            assert!(response_headers.contains(header), "{header}");
        }
    }

    /// Alarm resources whose alarm actions and OK actions go to the topic when it exists.
    fn alarms(doc: &Value) -> Vec<(&str, &Value)> {
        let alarms = of_type(doc, "AWS::CloudWatch::Alarm");
        for (name, alarm) in &alarms {
            for key in ["AlarmActions", "OKActions"] {
                let (condition, then, otherwise) = if_parts(&alarm["Properties"][key])
                    .unwrap_or_else(|| panic!("{name}.{key} is not an !If"));
                assert_eq!(condition, "HasAlarmEmail", "{name}.{key}");
                assert_eq!(ref_name(&then[0]), Some("AlarmTopic"), "{name}.{key}");
                assert!(is_no_value(otherwise), "{name}.{key}");
            }
            assert_eq!(
                alarm["Properties"]["TreatMissingData"].as_str(),
                Some("notBreaching"),
                "{name}: no traffic is no alarm"
            );
        }
        alarms
    }

    /// (namespace, metric name, dimensions as (name, value or !Ref target)).
    type Metric = (String, String, Vec<(String, String)>);

    /// Every metric an alarm reads, its own or those of its metric-math `Metrics`.
    fn alarm_metrics(alarm: &Value) -> Vec<Metric> {
        let dimensions = |list: &Value| -> Vec<(String, String)> {
            list.as_sequence()
                .map(|ds| {
                    ds.iter()
                        .map(|d| {
                            let value = &d["Value"];
                            let value = ref_name(value)
                                .or_else(|| value.as_str())
                                .unwrap_or_default()
                                .to_owned();
                            (d["Name"].as_str().unwrap_or_default().to_owned(), value)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let p = &alarm["Properties"];
        if let Some(metrics) = p["Metrics"].as_sequence() {
            metrics
                .iter()
                .filter(|m| m.get("MetricStat").is_some())
                .map(|m| {
                    let metric = &m["MetricStat"]["Metric"];
                    (
                        metric["Namespace"].as_str().unwrap_or_default().to_owned(),
                        metric["MetricName"].as_str().unwrap_or_default().to_owned(),
                        dimensions(&metric["Dimensions"]),
                    )
                })
                .collect()
        } else {
            vec![(
                p["Namespace"].as_str().unwrap_or_default().to_owned(),
                p["MetricName"].as_str().unwrap_or_default().to_owned(),
                dimensions(&p["Dimensions"]),
            )]
        }
    }

    #[test]
    fn alarms_notify_through_a_topic_that_exists_only_with_an_email() {
        let doc = template();
        assert_eq!(
            parameter_default(&doc, "AlarmEmail").and_then(Value::as_str),
            Some("")
        );
        let topic = &doc["Resources"]["AlarmTopic"];
        assert_eq!(topic["Type"].as_str(), Some("AWS::SNS::Topic"));
        assert_eq!(topic["Condition"].as_str(), Some("HasAlarmEmail"));
        let subscription = &topic["Properties"]["Subscription"][0];
        assert_eq!(subscription["Protocol"].as_str(), Some("email"));
        assert_eq!(ref_name(&subscription["Endpoint"]), Some("AlarmEmail"));
        let text = serde_yaml_ng::to_string(&doc["Conditions"]["HasAlarmEmail"]).unwrap();
        assert!(text.contains("AlarmEmail") && text.contains("Not"), "{text}");
        assert!(alarms(&doc).len() >= 4 * 3 + 3);
    }

    #[test]
    fn every_function_has_error_throttle_and_duration_alarms() {
        let doc = template();
        let timeout_ms = number(&doc["Globals"]["Function"]["Timeout"]) * 1000.0;
        let alarms = alarms(&doc);
        for (function, props) in functions(&doc) {
            assert!(
                props["Properties"]["Timeout"].is_null(),
                "{function}: one timeout"
            );
            for metric in ["Errors", "Throttles", "Duration"] {
                let matching: Vec<&Value> = alarms
                    .iter()
                    .filter(|(_, alarm)| {
                        alarm_metrics(alarm).iter().any(|(ns, name, dims)| {
                            ns == "AWS/Lambda"
                                && name == metric
                                && dims == &[("FunctionName".to_owned(), function.to_owned())]
                        })
                    })
                    .map(|(_, alarm)| *alarm)
                    .collect();
                assert_eq!(matching.len(), 1, "{function}: one {metric} alarm");
                if metric == "Duration" {
                    let p = &matching[0]["Properties"];
                    let threshold = number(&p["Threshold"]);
                    assert_eq!(p["Statistic"].as_str(), Some("Maximum"));
                    assert_eq!(p["Unit"].as_str(), Some("Milliseconds"));
                    assert!(
                        threshold == 0.8 * timeout_ms,
                        "{function}: Duration alarm at {threshold} ms, not 80 % of {timeout_ms} ms"
                    );
                }
            }
        }
    }

    #[test]
    fn the_api_5xx_rate_is_alarmed() {
        let doc = template();
        let found = alarms(&doc).into_iter().any(|(_, alarm)| {
            let metrics = alarm_metrics(alarm);
            let on_api = |name: &str| {
                metrics.iter().any(|(ns, metric, dims)| {
                    ns == "AWS/ApiGateway"
                        && metric == name
                        && dims == &[("ApiId".to_owned(), "HttpApi".to_owned())]
                })
            };
            let expression = alarm["Properties"]["Metrics"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|m| m["Expression"].as_str())
                .any(|e| e.contains('/'));
            on_api("5xx") && on_api("Count") && expression
        });
        assert!(found, "no alarm on 5xx / Count of the HTTP API");
    }

    /// The DynamoDB operations the functions may call: every data-plane action their IAM
    /// policies allow (ConditionCheckItem only runs inside TransactWriteItems, whose items are
    /// authorised per action, so the transaction itself is added).
    fn operations_the_functions_call(doc: &Value) -> BTreeSet<String> {
        let mut operations = BTreeSet::from(["TransactWriteItems".to_owned()]);
        for (_, function) in functions(doc) {
            for policy in function["Properties"]["Policies"]
                .as_sequence()
                .into_iter()
                .flatten()
            {
                for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                    for action in statement["Action"].as_sequence().into_iter().flatten() {
                        let action = action.as_str().expect("action");
                        let operation = action.strip_prefix("dynamodb:").expect("DynamoDB only");
                        if operation != "ConditionCheckItem" {
                            operations.insert(operation.to_owned());
                        }
                    }
                }
            }
        }
        operations
    }

    #[test]
    fn table_throttling_and_system_errors_are_alarmed_for_every_operation() {
        let doc = template();
        let operations = operations_the_functions_call(&doc);
        assert!(operations.contains("Query") && operations.contains("GetItem"));
        let alarms = alarms(&doc);
        for metric in ["ThrottledRequests", "SystemErrors"] {
            let covered: BTreeSet<String> = alarms
                .iter()
                .flat_map(|(_, alarm)| alarm_metrics(alarm))
                .filter(|(ns, name, _)| ns == "AWS/DynamoDB" && name == metric)
                .filter_map(|(_, _, dims)| {
                    let get = |key: &str| dims.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                    (get("TableName").as_deref() == Some("Table")).then(|| get("Operation"))?
                })
                .collect();
            let missing: Vec<&String> = operations.difference(&covered).collect();
            assert!(missing.is_empty(), "{metric} not alarmed for {missing:?}");
        }
    }

    #[test]
    fn generated_secrets_exist_only_when_asked_for() {
        let doc = template();
        let env = &doc["Globals"]["Function"]["Environment"]["Variables"];
        for (variable, parameter, condition, resource) in [
            (
                "CURSOR_SECRET",
                "CursorSecret",
                "GenerateCursorSecret",
                "GeneratedCursorSecret",
            ),
            (
                "JWT_HS256_SECRET",
                "JwtHs256Secret",
                "GenerateJwtSecret",
                "GeneratedJwtSecret",
            ),
        ] {
            let (cond, generated, given) =
                if_parts(&env[variable]).unwrap_or_else(|| panic!("{variable} is not an !If"));
            assert_eq!(cond, condition, "{variable}");
            assert_eq!(ref_name(given), Some(parameter), "{variable}");
            match tagged(generated) {
                Some((tag, value)) if tag == "Sub" => assert_eq!(
                    value.as_str(),
                    Some(format!("{{{{resolve:secretsmanager:${{{resource}}}}}}}").as_str()),
                    "{variable}"
                ),
                other => panic!("{variable}: {other:?}"),
            }
            let secret = &doc["Resources"][resource];
            assert_eq!(secret["Type"].as_str(), Some("AWS::SecretsManager::Secret"));
            assert_eq!(secret["Condition"].as_str(), Some(condition));
            assert!(
                number(&secret["Properties"]["GenerateSecretString"]["PasswordLength"]) >= 32.0,
                "{resource}: the functions need at least 32 bytes"
            );
            assert_eq!(doc["Parameters"][parameter]["NoEcho"].as_bool(), Some(true));
        }
    }

    /// `key=value` pairs of `parameter_overrides` in one `[<env>.deploy.parameters]` section.
    fn samconfig_overrides(env: &str) -> Vec<(String, String)> {
        let root = crate::dynamodb_local::repo_root();
        let text = std::fs::read_to_string(root.join("samconfig.toml")).expect("samconfig.toml");
        let header = format!("[{env}.deploy.parameters]");
        let section = text
            .split(&header)
            .nth(1)
            .unwrap_or_else(|| panic!("samconfig.toml has no {header}"));
        let section = section.split("\n[").next().unwrap_or_default();
        let line = section
            .lines()
            .find_map(|l| l.trim().strip_prefix("parameter_overrides"))
            .unwrap_or_else(|| panic!("{header} has no parameter_overrides"));
        let value = line.trim().trim_start_matches('=').trim().trim_matches('"');
        value
            .split_whitespace()
            .map(|pair| {
                let (k, v) = pair.split_once('=').expect("Key=Value");
                (k.to_owned(), v.trim_matches('\\').trim_matches('"').to_owned())
            })
            .collect()
    }

    #[test]
    fn the_staging_config_deploys_without_more_parameters() {
        let doc = template();
        let overrides = samconfig_overrides("staging");
        let given = |name: &str| overrides.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        for (name, _) in &overrides {
            assert!(
                doc["Parameters"].get(name.as_str()).is_some(),
                "{name} is no parameter"
            );
        }
        for (name, parameter) in doc["Parameters"].as_mapping().expect("Parameters") {
            let name = name.as_str().unwrap();
            assert!(
                parameter.get("Default").is_some() || given(name).is_some(),
                "{name} has no default and staging does not supply it"
            );
        }
        // The TokenVerificationConfigured rule: some way to verify tokens.
        let value = |name: &str| {
            given(name)
                .map(str::to_owned)
                .or_else(|| {
                    parameter_default(&doc, name)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default()
        };
        assert!(
            !value("JwtHs256Secret").is_empty()
                || !value("JwtJwksUrl").is_empty()
                || value("GenerateJwtHs256Secret") == "true",
            "staging would fail the TokenVerificationConfigured rule"
        );
        assert!(
            value("CursorSecret").is_empty() || value("CursorSecret").len() >= 32,
            "staging's CursorSecret breaks its AllowedPattern"
        );
    }
}
