//! Views, stored in the registry as Athena stores them in Glue, so that `catalog push` shows them
//! in Athena and `catalog pull` brings Athena's views here.
//!
//! Athena's form: `TableType` `VIRTUAL_VIEW`, the parameter `presto_view = true`,
//! `ViewOriginalText` = `/* Presto View: ` + base64 of `{"originalSql", "catalog", "schema",
//! "columns": [{"name", "type"}]}` + ` */` (Presto type names), `ViewExpandedText` =
//! `/* Presto View */`, and the columns with Hive types in the storage descriptor.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::table::{Column, StorageDescriptor, TableInput};
use super::types::GlueType;

/// Glue's table type of a view.
pub const VIRTUAL_VIEW: &str = "VIRTUAL_VIEW";
const ORIGINAL_PREFIX: &str = "/* Presto View: ";
const ORIGINAL_SUFFIX: &str = " */";
const EXPANDED_TEXT: &str = "/* Presto View */";

/// A view of the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewDef {
    /// The database it is in.
    pub database: String,
    /// Its definition as Glue holds it.
    pub input: TableInput,
    /// The SQL it runs, as written.
    pub sql: String,
}

/// The JSON document inside `ViewOriginalText`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrestoView {
    original_sql: String,
    catalog: String,
    schema: String,
    columns: Vec<PrestoColumn>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PrestoColumn {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
}

/// Whether a definition is a view.
pub fn is_view(input: &TableInput) -> bool {
    input.table_type.as_deref() == Some(VIRTUAL_VIEW)
}

impl ViewDef {
    /// The view `name` in `database` running `sql`, whose result has `columns` (name, Glue type).
    pub fn new(database: &str, name: &str, sql: &str, columns: &[(String, GlueType)]) -> ViewDef {
        let document = PrestoView {
            original_sql: sql.to_string(),
            catalog: super::names::DEFAULT_CATALOG.to_string(),
            schema: database.to_string(),
            columns: columns.iter().map(|(n, t)| PrestoColumn { name: n.clone(), data_type: presto_type(t) }).collect(),
        };
        let json = serde_json::to_string(&document).expect("a view document serialises");
        let input = TableInput {
            name: name.to_string(),
            description: None,
            owner: None,
            retention: None,
            table_type: Some(VIRTUAL_VIEW.into()),
            parameters: BTreeMap::from([
                ("presto_view".to_string(), "true".to_string()),
                ("comment".to_string(), "Presto View".to_string()),
            ]),
            storage_descriptor: StorageDescriptor {
                columns: columns.iter().map(|(n, t)| Column::new(n.clone(), t.to_string())).collect(),
                location: None,
                input_format: None,
                output_format: None,
                compressed: None,
                number_of_buckets: None,
                serde_info: None,
                bucket_columns: Vec::new(),
                sort_columns: Vec::new(),
                parameters: BTreeMap::new(),
                stored_as_sub_directories: None,
            },
            partition_keys: Vec::new(),
            view_original_text: Some(format!("{ORIGINAL_PREFIX}{}{ORIGINAL_SUFFIX}", STANDARD.encode(json))),
            view_expanded_text: Some(EXPANDED_TEXT.into()),
        };
        ViewDef { database: database.to_string(), input, sql: sql.to_string() }
    }

    /// Reads a view definition; the error says what is wrong with it.
    pub fn from_input(database: &str, input: TableInput) -> Result<ViewDef, String> {
        if input.parameters.get("presto_view").map(String::as_str) != Some("true") {
            return Err("a VIRTUAL_VIEW without the parameter presto_view = true is not an Athena view".into());
        }
        let text = input.view_original_text.as_deref().ok_or("the view has no ViewOriginalText")?;
        let encoded = text
            .strip_prefix(ORIGINAL_PREFIX)
            .and_then(|t| t.strip_suffix(ORIGINAL_SUFFIX))
            .ok_or("ViewOriginalText is not `/* Presto View: <base64> */`")?;
        let json = STANDARD.decode(encoded.trim()).map_err(|e| format!("ViewOriginalText is not base64: {e}"))?;
        let document: PrestoView = serde_json::from_slice(&json)
            .map_err(|e| format!("ViewOriginalText does not hold a view document: {e}"))?;
        Ok(ViewDef { database: database.to_string(), sql: document.original_sql, input })
    }

    /// The view's name.
    pub fn name(&self) -> &str {
        &self.input.name
    }

    /// `database.view`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.database, self.input.name)
    }
}

/// Presto's (Trino's) name for a Glue type, as Athena writes view columns.
pub fn presto_type(t: &GlueType) -> String {
    match t {
        GlueType::Int => "integer".into(),
        GlueType::Float => "real".into(),
        GlueType::String => "varchar".into(),
        GlueType::Binary => "varbinary".into(),
        GlueType::Array(element) => format!("array({})", presto_type(element)),
        GlueType::Map(key, value) => format!("map({},{})", presto_type(key), presto_type(value)),
        GlueType::Struct(fields) => {
            let fields: Vec<String> = fields.iter().map(|(n, t)| format!("{n} {}", presto_type(t))).collect();
            format!("row({})", fields.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_round_trips_through_athena_s_form() {
        let columns = vec![
            ("region".to_string(), GlueType::String),
            ("n".to_string(), GlueType::BigInt),
            ("tags".to_string(), GlueType::Array(Box::new(GlueType::Int))),
        ];
        let view = ViewDef::new("analytics", "by_region", "SELECT region, count(*) AS n FROM t GROUP BY 1", &columns);
        assert_eq!(view.input.table_type.as_deref(), Some("VIRTUAL_VIEW"));
        assert_eq!(view.input.parameters["presto_view"], "true");
        assert_eq!(view.input.view_expanded_text.as_deref(), Some("/* Presto View */"));
        let text = view.input.view_original_text.as_deref().unwrap();
        let json =
            STANDARD.decode(text.strip_prefix("/* Presto View: ").unwrap().strip_suffix(" */").unwrap()).unwrap();
        let document: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(document["originalSql"], "SELECT region, count(*) AS n FROM t GROUP BY 1");
        assert_eq!(document["catalog"], "awsdatacatalog");
        assert_eq!(document["schema"], "analytics");
        assert_eq!(document["columns"][2], serde_json::json!({"name": "tags", "type": "array(integer)"}));
        assert_eq!(view.input.storage_descriptor.columns[2].data_type, "array<int>");
        let back = ViewDef::from_input("analytics", view.input.clone()).unwrap();
        assert_eq!(back, view);
    }

    #[test]
    fn a_view_that_is_not_athena_s_is_refused_with_the_reason() {
        let mut input = ViewDef::new("db", "v", "SELECT 1", &[]).input;
        input.view_original_text = Some("/* Presto View: not base64! */".into());
        assert!(ViewDef::from_input("db", input.clone()).unwrap_err().contains("base64"));
        input.parameters.clear();
        assert!(ViewDef::from_input("db", input).unwrap_err().contains("presto_view"));
    }
}
