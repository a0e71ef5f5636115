//! The table schema, read from the `Table` resource of `template.yaml`: the deployed table and
//! the local ones are created from one definition.

use aws_sdk_dynamodb::{
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
        ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    },
    Client,
};
use serde::Deserialize;

pub const TEMPLATE: &str = include_str!("../../template.yaml");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSchema {
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    pub time_to_live_specification: Option<TtlDef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    pub projection_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

impl TableSchema {
    /// The `Table` resource's properties from the template text.
    pub fn from_template(template: &str) -> Result<Self, String> {
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(template).map_err(|e| format!("template.yaml: {e}"))?;
        let properties = doc
            .get("Resources")
            .and_then(|r| r.get("Table"))
            .and_then(|t| t.get("Properties"))
            .ok_or("template.yaml has no Resources.Table.Properties")?;
        // Intrinsics such as `!Ref` appear only in properties this schema does not read.
        let wanted = [
            "AttributeDefinitions",
            "KeySchema",
            "GlobalSecondaryIndexes",
            "TimeToLiveSpecification",
        ];
        let mut subset = serde_yaml_ng::Mapping::new();
        for key in wanted {
            if let Some(value) = properties.get(key) {
                subset.insert(key.into(), value.clone());
            }
        }
        serde_yaml_ng::from_value(serde_yaml_ng::Value::Mapping(subset))
            .map_err(|e| format!("template.yaml Table properties: {e}"))
    }

    pub fn from_repo_template() -> Self {
        Self::from_template(TEMPLATE).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates `table` with this schema unless it exists; returns whether it created it.
    pub async fn ensure_table(&self, client: &Client, table: &str) -> Result<bool, String> {
        match client.describe_table().table_name(table).send().await {
            Ok(_) => return Ok(false),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => {
                return Err(format!(
                    "describe_table: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                ))
            }
        }
        let key = |k: &KeyElement| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| e.to_string())
        };
        let mut create = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest);
        for a in &self.attribute_definitions {
            create = create.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&a.attribute_name)
                    .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                    .build()
                    .map_err(|e| e.to_string())?,
            );
        }
        for k in &self.key_schema {
            create = create.key_schema(key(k)?);
        }
        for index in &self.global_secondary_indexes {
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection.projection_type.as_str()))
                        .build(),
                );
            for k in &index.key_schema {
                gsi = gsi.key_schema(key(k)?);
            }
            create = create.global_secondary_indexes(gsi.build().map_err(|e| e.to_string())?);
        }
        create.send().await.map_err(|e| {
            format!(
                "create_table: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        })?;
        if let Some(ttl) = &self.time_to_live_specification {
            client
                .update_time_to_live()
                .table_name(table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(&ttl.attribute_name)
                        .enabled(ttl.enabled)
                        .build()
                        .map_err(|e| e.to_string())?,
                )
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "update_time_to_live: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(e)
                    )
                })?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::store::keys::ALL_INDEXES;

    fn key_of(elements: &[KeyElement], key_type: &str) -> Option<String> {
        elements
            .iter()
            .find(|k| k.key_type == key_type)
            .map(|k| k.attribute_name.clone())
    }

    /// Every key schema the code queries is declared by the template, with string keys.
    #[test]
    fn template_declares_every_index_the_code_uses() {
        let schema = TableSchema::from_repo_template();
        for index in ALL_INDEXES {
            let elements = match index.name {
                None => schema.key_schema.clone(),
                Some(name) => schema
                    .global_secondary_indexes
                    .iter()
                    .find(|g| g.index_name == name)
                    .unwrap_or_else(|| panic!("template.yaml lacks index {name}"))
                    .key_schema
                    .clone(),
            };
            assert_eq!(key_of(&elements, "HASH").as_deref(), Some(index.pk), "{index:?}");
            assert_eq!(key_of(&elements, "RANGE").as_deref(), Some(index.sk), "{index:?}");
            for attr in [index.pk, index.sk] {
                let def = schema
                    .attribute_definitions
                    .iter()
                    .find(|a| a.attribute_name == attr);
                assert_eq!(def.map(|d| d.attribute_type.as_str()), Some("S"), "{attr}");
            }
        }
        assert_eq!(
            schema.global_secondary_indexes.len(),
            ALL_INDEXES.len() - 1,
            "the template declares an index the code never queries"
        );
        let ttl = schema.time_to_live_specification.expect("TTL declared");
        assert_eq!(ttl.attribute_name, shared::store::keys::TTL_ATTRIBUTE);
    }
}

#[cfg(test)]
mod route_tests {
    use std::collections::BTreeSet;

    use shared::web::router::{table, Function};

    /// (path, function) for every HttpApi event in template.yaml.
    fn template_routes() -> BTreeSet<(String, String)> {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(super::TEMPLATE).unwrap();
        let resources = doc["Resources"].as_mapping().unwrap();
        let mut routes = BTreeSet::new();
        for (name, resource) in resources {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(name.as_str().unwrap().to_lowercase(), format!("{binary}function"));
            for (_, event) in resource["Properties"]["Events"].as_mapping().unwrap() {
                assert_eq!(event["Type"].as_str(), Some("HttpApi"));
                // ANY, so the function answers 405 itself for methods a path does not support.
                assert_eq!(event["Properties"]["Method"].as_str(), Some("ANY"));
                routes.insert((
                    event["Properties"]["Path"].as_str().unwrap().to_owned(),
                    binary.clone(),
                ));
            }
        }
        routes
    }

    #[test]
    fn template_routes_are_exactly_the_route_table() {
        let table: BTreeSet<(String, String)> = table()
            .iter()
            .map(|r| (r.path.to_owned(), r.function.name().to_owned()))
            .collect();
        assert_eq!(template_routes(), table);
    }

    /// The resources whose route tables a function serves, in `Function::tables` order.
    fn served_resources(function: Function) -> &'static [&'static str] {
        match function {
            Function::Tenants => &["tenants"],
            Function::Organizations => &["organizations"],
            Function::Memberships => &["memberships", "invitations"],
            Function::Campaigns => &["campaigns"],
            Function::Jobs => &["jobs"],
        }
    }

    #[test]
    fn every_function_has_a_binary_and_a_template_resource() {
        let root = crate::dynamodb_local::repo_root();
        let in_template: BTreeSet<String> = template_routes().into_iter().map(|(_, f)| f).collect();
        for function in Function::ALL {
            assert!(
                in_template.contains(function.name()),
                "{function:?} missing from template.yaml"
            );
            let main = root.join("functions").join(function.name()).join("src/main.rs");
            let text =
                std::fs::read_to_string(&main).unwrap_or_else(|_| panic!("{} missing", main.display()));
            let name = function.name();
            let text: String = text.split_whitespace().collect();
            let tables: Vec<String> = served_resources(*function)
                .iter()
                .map(|r| format!("shared::{r}::handlers::ROUTES,"))
                .collect();
            assert_eq!(tables.len(), function.tables().len(), "{name}");
            let expected = format!("run(\"{name}\",&[{}]", tables.concat());
            assert!(
                text.contains(&expected) || text.contains(&expected.replace(",]", "]")),
                "{} does not serve exactly the route tables of {name}: {expected}",
                main.display()
            );
        }
    }
}
