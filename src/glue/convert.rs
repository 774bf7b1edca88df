//! Between the registry's serde `TableInput` (Glue's JSON shape) and the AWS SDK's Glue types.
//!
//! Both describe the same object with the same field names, so every function here is a plain
//! field-for-field copy; [`from_glue_table`] drops the read-only fields Glue adds (create time,
//! version id, …) so a table read back compares equal to the definition that created it.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_glue::error::BuildError;
use aws_sdk_glue::types as glue;

use crate::catalog::table::{Column, SerdeInfo, StorageDescriptor, TableInput};

/// The SDK `TableInput` for a definition.
pub fn to_glue_table(input: &TableInput) -> Result<glue::TableInput, BuildError> {
    glue::TableInput::builder()
        .name(&input.name)
        .set_description(input.description.clone())
        .set_owner(input.owner.clone())
        .set_table_type(input.table_type.clone())
        .set_parameters(map(&input.parameters))
        .storage_descriptor(to_glue_storage(&input.storage_descriptor)?)
        .set_partition_keys(Some(columns(&input.partition_keys)?))
        .set_view_original_text(input.view_original_text.clone())
        .set_view_expanded_text(input.view_expanded_text.clone())
        .build()
}

/// The SDK `StorageDescriptor` for a definition's.
pub fn to_glue_storage(sd: &StorageDescriptor) -> Result<glue::StorageDescriptor, BuildError> {
    let serde = sd.serde_info.as_ref().map(|s| {
        glue::SerDeInfo::builder()
            .set_name(s.name.clone())
            .set_serialization_library(s.serialization_library.clone())
            .set_parameters(map(&s.parameters))
            .build()
    });
    Ok(glue::StorageDescriptor::builder()
        .set_columns(Some(columns(&sd.columns)?))
        .set_location(sd.location.clone())
        .set_input_format(sd.input_format.clone())
        .set_output_format(sd.output_format.clone())
        .set_compressed(sd.compressed)
        .set_number_of_buckets(sd.number_of_buckets)
        .set_serde_info(serde)
        .set_parameters(map(&sd.parameters))
        .set_stored_as_sub_directories(sd.stored_as_sub_directories)
        .build())
}

fn columns(columns: &[Column]) -> Result<Vec<glue::Column>, BuildError> {
    columns
        .iter()
        .map(|c| {
            glue::Column::builder()
                .name(&c.name)
                .r#type(&c.data_type)
                .set_comment(c.comment.clone())
                .set_parameters(map(&c.parameters))
                .build()
        })
        .collect()
}

fn map(m: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn tree(m: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

/// A Glue table as a registry `TableInput`.
pub fn from_glue_table(table: &glue::Table) -> TableInput {
    TableInput {
        name: table.name().to_string(),
        description: table.description().map(str::to_string),
        owner: table.owner().map(str::to_string),
        retention: None,
        table_type: table.table_type().map(str::to_string),
        parameters: tree(table.parameters()),
        storage_descriptor: table
            .storage_descriptor()
            .map(from_glue_storage)
            .unwrap_or_else(|| from_glue_storage(&glue::StorageDescriptor::builder().build())),
        partition_keys: from_glue_columns(table.partition_keys()),
        view_original_text: table.view_original_text().map(str::to_string),
        view_expanded_text: table.view_expanded_text().map(str::to_string),
    }
}

/// A Glue storage descriptor as the registry's.
pub fn from_glue_storage(sd: &glue::StorageDescriptor) -> StorageDescriptor {
    StorageDescriptor {
        columns: from_glue_columns(sd.columns()),
        location: sd.location().map(str::to_string),
        input_format: sd.input_format().map(str::to_string),
        output_format: sd.output_format().map(str::to_string),
        compressed: sd.compressed().then_some(true),
        number_of_buckets: (sd.number_of_buckets() > 0).then(|| sd.number_of_buckets()),
        serde_info: sd.serde_info().map(|s| SerdeInfo {
            name: s.name().map(str::to_string),
            serialization_library: s.serialization_library().map(str::to_string),
            parameters: tree(s.parameters()),
        }),
        bucket_columns: sd.bucket_columns().to_vec(),
        sort_columns: Vec::new(),
        parameters: tree(sd.parameters()),
        stored_as_sub_directories: sd.stored_as_sub_directories().then_some(true),
    }
}

fn from_glue_columns(columns: &[glue::Column]) -> Vec<Column> {
    columns
        .iter()
        .map(|c| Column {
            name: c.name().to_string(),
            data_type: c.r#type().unwrap_or_default().to_string(),
            comment: c.comment().map(str::to_string),
            parameters: tree(c.parameters()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::table::parquet_table_input;

    #[test]
    fn a_definition_survives_the_sdk_round_trip() {
        let column = |name: &str, ty: &str| Column {
            name: name.into(),
            data_type: ty.into(),
            comment: Some(format!("{name} comment")),
            parameters: BTreeMap::new(),
        };
        let mut input =
            parquet_table_input("t", vec![column("a", "array<int>")], vec![column("d", "date")], "s3://b/p/t/");
        input.description = Some("described".into());
        let sdk = to_glue_table(&input).unwrap();
        let table = glue::Table::builder()
            .name(sdk.name())
            .set_description(sdk.description().map(str::to_string))
            .set_table_type(sdk.table_type().map(str::to_string))
            .set_parameters(sdk.parameters().cloned())
            .set_storage_descriptor(sdk.storage_descriptor().cloned())
            .set_partition_keys(Some(sdk.partition_keys().to_vec()))
            .build()
            .unwrap();
        assert_eq!(from_glue_table(&table), input);
    }
}
