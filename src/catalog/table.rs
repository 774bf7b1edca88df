//! One table definition: AWS Glue's `TableInput`, field for field, and its validated form.
//!
//! A file under `catalog/<database>/<table>.json` is exactly what `aws glue create-table
//! --table-input file://...` takes, so the serde structs use Glue's own field names and refuse
//! unknown ones (a typo such as `Colums` is an error, not a silently ignored key).
//! [`TableDef::from_input`] checks what Glue would not catch but Athena and glaux need: names
//! Athena accepts, parseable types, unique columns, primitive partition keys, Parquet storage, a
//! location inside the warehouse.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::names::{NameKind, validate_name};
use super::types::GlueType;
use crate::warehouse::{LocationError, relative_location};

/// Hive's input format class for Parquet, as Glue and Athena expect it.
pub const PARQUET_INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
/// Hive's output format class for Parquet.
pub const PARQUET_OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
/// Hive's SerDe for Parquet.
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
/// Hive's input format that reads the files a text manifest lists (with the Parquet SerDe, a
/// table whose partitions Athena reads through [`super::symlink`] manifests).
pub const SYMLINK_INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat";
/// The output format Hive and Delta Lake give symlink tables.
pub const SYMLINK_OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";

/// How Athena (and anything else reading through Glue) finds a partition's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The partition's location is a directory holding exactly its files
    /// (`MapredParquetInputFormat`). Appending to a partition copies its earlier files into the
    /// new commit's directory.
    Directory,
    /// The partition's location holds one text manifest naming its files wherever they lie
    /// (`SymlinkTextInputFormat`, as Delta Lake shows its tables to Athena). Appending writes
    /// only the new files; `catalog push` writes the new manifest.
    Symlink,
}

/// Glue's `TableInput`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TableInput {
    /// Table name, lowercase.
    pub name: String,
    /// Free text shown by `\d` and in the Glue console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Owner, informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Retention time, informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<i64>,
    /// `EXTERNAL_TABLE` for every table glaux manages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_type: Option<String>,
    /// Table properties; `classification` is `parquet`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Columns, location and formats.
    pub storage_descriptor: StorageDescriptor,
    /// Hive-style partition columns, in path order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_keys: Vec<Column>,
    /// A view's SQL in Athena's encoding (see [`super::view`]); tables have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_original_text: Option<String>,
    /// `/* Presto View */` for a view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_expanded_text: Option<String>,
}

/// Glue's `StorageDescriptor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StorageDescriptor {
    /// Data columns (partition keys are not repeated here).
    pub columns: Vec<Column>,
    /// Where the data lives: relative to the warehouse, or an absolute URL inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Hive input format class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_format: Option<String>,
    /// Hive output format class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    /// Whether files are compressed (informational for Parquet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed: Option<bool>,
    /// Bucket count; glaux does not bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_buckets: Option<i32>,
    /// SerDe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serde_info: Option<SerdeInfo>,
    /// Bucketing columns; glaux does not bucket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bucket_columns: Vec<String>,
    /// Sort columns, informational.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort_columns: Vec<serde_json::Value>,
    /// Storage properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Hive's sub-directory flag, informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_as_sub_directories: Option<bool>,
}

/// Glue's `SerDeInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SerdeInfo {
    /// SerDe name, informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// SerDe class; Parquet's for glaux tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serialization_library: Option<String>,
    /// SerDe properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

/// Glue's `Column`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Column {
    /// Column name, lowercase.
    pub name: String,
    /// Glue type string.
    #[serde(rename = "Type")]
    pub data_type: String,
    /// Shown by `\d` and in Athena.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Column properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

impl Column {
    /// A column with no comment or properties.
    pub fn new(name: impl Into<String>, data_type: impl Into<String>) -> Column {
        Column { name: name.into(), data_type: data_type.into(), comment: None, parameters: BTreeMap::new() }
    }
}

/// What is wrong with a definition, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {}", crate::error::shorten_quoted(problem))]
pub struct DefinitionProblem {
    /// Path of the offending field, such as `StorageDescriptor.Columns[3].Type`.
    pub field: String,
    /// What is wrong and what to do.
    pub problem: String,
}

/// A validated table definition: the Glue input plus what glaux derives from it once.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Database name.
    pub database: String,
    /// The definition as written.
    pub input: TableInput,
    /// Arrow schema of the data files (data columns only).
    pub file_schema: SchemaRef,
    /// Partition keys with their parsed types, in path order.
    pub partition_keys: Vec<(String, GlueType)>,
    /// Location relative to the warehouse root, with a trailing slash.
    pub location: String,
    /// How long partitions are kept (the table parameter [`RETENTION_PARAMETER`]).
    pub retention: Option<Retention>,
}

/// Table parameter (Glue `Parameters`) declaring how long a table's partitions are kept, such
/// as `90d`: a vacuum drops those whose date key is older.
pub const RETENTION_PARAMETER: &str = "glaux.retention";

/// How long a table's partitions are kept, by the date partition key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// The partition key of type `date` the age is read from.
    pub key: String,
    /// Partitions whose date is older than this (from today, UTC) are dropped.
    pub keep: chrono::Duration,
}

impl Retention {
    /// The retention `text` (`90d`) declares for a table with `partition_keys`; the error says
    /// what to write instead.
    pub fn parse(text: &str, partition_keys: &[(String, GlueType)]) -> Result<Retention, String> {
        let keep = crate::config::parse_duration(text).map_err(|reason| format!("`{text}`: {reason}"))?;
        if keep < chrono::Duration::days(1) {
            return Err(format!("`{text}`: keep partitions at least 1d (they are dated by day)"));
        }
        let key = partition_keys.iter().find(|(_, ty)| *ty == GlueType::Date).map(|(name, _)| name.clone());
        let key = key.ok_or_else(|| "the table has no partition key of type date to measure age by".to_string())?;
        Ok(Retention { key, keep })
    }
}

impl TableDef {
    /// Validates a Glue `TableInput` for `database`, collecting every problem found.
    /// `warehouse_url` resolves absolute locations.
    pub fn from_input(
        database: &str,
        input: TableInput,
        warehouse_url: &url::Url,
    ) -> Result<TableDef, Vec<DefinitionProblem>> {
        let mut problems = Vec::new();
        let mut problem = |field: String, problem: String| problems.push(DefinitionProblem { field, problem });

        if let Err(e) = validate_name(&input.name, NameKind::Table) {
            problem("Name".into(), e.to_string());
        }
        check_format(&input, &mut problem);
        let sd = &input.storage_descriptor;

        let mut seen = HashSet::new();
        let mut fields = Vec::new();
        for (i, column) in sd.columns.iter().enumerate() {
            let at = format!("StorageDescriptor.Columns[{i}]");
            if let Some(ty) = check_column(column, &at, &mut seen, &mut problem) {
                fields.push(ty.to_arrow_field(&column.name, true));
            }
        }
        let mut partition_keys = Vec::new();
        for (i, column) in input.partition_keys.iter().enumerate() {
            let at = format!("PartitionKeys[{i}]");
            if let Some(ty) = check_column(column, &at, &mut seen, &mut problem) {
                if ty.is_primitive() {
                    partition_keys.push((column.name.clone(), ty));
                } else {
                    problem(
                        format!("{at}.Type"),
                        format!("`{}` cannot be a partition key; use a primitive type", column.data_type),
                    );
                }
            }
        }

        let location = match &sd.location {
            None => format!("{database}/{}/", input.name),
            Some(location) => match relative_location(warehouse_url, location) {
                Ok(relative) => relative,
                Err(e @ LocationError::Escapes { .. }) | Err(e @ LocationError::Outside { .. }) => {
                    problem("StorageDescriptor.Location".into(), e.to_string());
                    String::new()
                }
            },
        };

        let retention = match input.parameters.get(RETENTION_PARAMETER) {
            None => None,
            Some(text) => match Retention::parse(text, &partition_keys) {
                Ok(retention) => Some(retention),
                Err(reason) => {
                    problem(format!("Parameters.{RETENTION_PARAMETER}"), reason);
                    None
                }
            },
        };

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(TableDef {
            database: database.to_string(),
            file_schema: Arc::new(Schema::new(fields)),
            partition_keys,
            location,
            retention,
            input,
        })
    }

    /// Table name.
    pub fn name(&self) -> &str {
        &self.input.name
    }

    /// `database.table`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.database, self.input.name)
    }

    /// Arrow fields of the partition keys.
    pub fn partition_fields(&self) -> Vec<Field> {
        self.partition_keys.iter().map(|(name, ty)| ty.to_arrow_field(name, true)).collect()
    }

    /// Full table schema: data columns then partition keys, as Athena shows it.
    pub fn table_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self.file_schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(self.partition_fields());
        Arc::new(Schema::new(fields))
    }

    /// How Athena finds the partitions' files, from the input format.
    pub fn layout(&self) -> Layout {
        match self.input.storage_descriptor.input_format.as_deref() {
            Some(SYMLINK_INPUT_FORMAT) => Layout::Symlink,
            _ => Layout::Directory,
        }
    }

    /// Every column (data then partition) with its comment, for `\d` and completion.
    pub fn all_columns(&self) -> impl Iterator<Item = (&Column, bool)> {
        let data = self.input.storage_descriptor.columns.iter().map(|c| (c, false));
        data.chain(self.input.partition_keys.iter().map(|c| (c, true)))
    }
}

/// Problems with what kind of table `input` is: glaux tables are external Parquet tables with
/// at least one column.
fn check_format(input: &TableInput, problem: &mut impl FnMut(String, String)) {
    if let Some(kind) = &input.table_type
        && kind != "EXTERNAL_TABLE"
    {
        problem("TableType".into(), format!("`{kind}` is not supported; use EXTERNAL_TABLE"));
    }
    if let Some(class) = input.parameters.get("classification")
        && !class.eq_ignore_ascii_case("parquet")
    {
        problem("Parameters.classification".into(), format!("`{class}` is not supported; glaux tables are parquet"));
    }
    let sd = &input.storage_descriptor;
    let formats: [(&str, &Option<String>, &[&str]); 3] = [
        ("StorageDescriptor.InputFormat", &sd.input_format, &[PARQUET_INPUT_FORMAT, SYMLINK_INPUT_FORMAT]),
        ("StorageDescriptor.OutputFormat", &sd.output_format, &[PARQUET_OUTPUT_FORMAT, SYMLINK_OUTPUT_FORMAT]),
        (
            "StorageDescriptor.SerdeInfo.SerializationLibrary",
            &sd.serde_info.as_ref().and_then(|s| s.serialization_library.clone()),
            &[PARQUET_SERDE],
        ),
    ];
    for (field, value, expected) in formats {
        if let Some(value) = value
            && !expected.contains(&value.as_str())
        {
            problem(field.into(), format!("`{value}` is not Parquet; use {}", expected.join(" or ")));
        }
    }
    if sd.columns.is_empty() {
        problem("StorageDescriptor.Columns".into(), "a table needs at least one column".into());
    }
}

/// Validates one column's name and type, returning the parsed type when both are good.
fn check_column(
    column: &Column,
    at: &str,
    seen: &mut HashSet<String>,
    problem: &mut impl FnMut(String, String),
) -> Option<GlueType> {
    if let Err(e) = validate_name(&column.name, NameKind::Column) {
        problem(format!("{at}.Name"), e.to_string());
    } else if !seen.insert(column.name.clone()) {
        problem(format!("{at}.Name"), format!("column `{}` is defined twice", column.name));
    }
    match GlueType::parse(&column.data_type) {
        Ok(ty) => Some(ty),
        Err(e) => {
            problem(format!("{at}.Type"), e.to_string());
            None
        }
    }
}

impl TableInput {
    /// Sets the input and output formats that choose `layout` (the SerDe stays Parquet's).
    pub fn set_layout(&mut self, layout: Layout) {
        let (input, output) = match layout {
            Layout::Directory => (PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT),
            Layout::Symlink => (SYMLINK_INPUT_FORMAT, SYMLINK_OUTPUT_FORMAT),
        };
        self.storage_descriptor.input_format = Some(input.into());
        self.storage_descriptor.output_format = Some(output.into());
    }
}

/// The `TableInput` for a new Parquet table in the shape Glue and Athena expect.
pub fn parquet_table_input(
    name: &str,
    columns: Vec<Column>,
    partition_keys: Vec<Column>,
    location: &str,
) -> TableInput {
    TableInput {
        name: name.to_string(),
        description: None,
        owner: None,
        retention: None,
        table_type: Some("EXTERNAL_TABLE".into()),
        parameters: BTreeMap::from([("classification".to_string(), "parquet".to_string())]),
        storage_descriptor: StorageDescriptor {
            columns,
            location: Some(location.to_string()),
            input_format: Some(PARQUET_INPUT_FORMAT.into()),
            output_format: Some(PARQUET_OUTPUT_FORMAT.into()),
            compressed: None,
            number_of_buckets: None,
            serde_info: Some(SerdeInfo {
                name: None,
                serialization_library: Some(PARQUET_SERDE.into()),
                parameters: BTreeMap::from([("serialization.format".to_string(), "1".to_string())]),
            }),
            bucket_columns: Vec::new(),
            sort_columns: Vec::new(),
            parameters: BTreeMap::new(),
            stored_as_sub_directories: None,
        },
        partition_keys,
        view_original_text: None,
        view_expanded_text: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warehouse() -> url::Url {
        url::Url::parse("file:///tmp/wh/").unwrap()
    }

    fn column(name: &str, ty: &str) -> Column {
        Column { name: name.into(), data_type: ty.into(), comment: None, parameters: BTreeMap::new() }
    }

    #[test]
    fn a_good_definition_yields_schema_keys_and_location() {
        let input = parquet_table_input(
            "events",
            vec![column("id", "bigint"), column("tags", "array<string>")],
            vec![column("dt", "date")],
            "analytics/events/",
        );
        let def = TableDef::from_input("analytics", input, &warehouse()).unwrap();
        assert_eq!(def.file_schema.fields().len(), 2);
        assert_eq!(def.table_schema().fields().len(), 3);
        assert_eq!(def.partition_keys[0].1, GlueType::Date);
        assert_eq!(def.location, "analytics/events/");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let mut input = parquet_table_input(
            "Bad-Name",
            vec![column("id", "bigint"), column("id", "int"), column("x", "nope")],
            vec![column("m", "map<string,int>")],
            "../../etc/",
        );
        input.storage_descriptor.input_format = Some("org.apache.hadoop.mapred.TextInputFormat".into());
        let problems = TableDef::from_input("db", input, &warehouse()).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "Name",
                "StorageDescriptor.InputFormat",
                "StorageDescriptor.Columns[1].Name",
                "StorageDescriptor.Columns[2].Type",
                "PartitionKeys[0].Type",
                "StorageDescriptor.Location",
            ]
        );
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let text = r#"{"Name":"t","StorageDescriptor":{"Colums":[]}}"#;
        let err = serde_json::from_str::<TableInput>(text).unwrap_err().to_string();
        assert!(err.contains("unknown field `Colums`"), "{err}");
    }
}
