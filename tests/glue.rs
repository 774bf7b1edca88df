//! Registry files are Glue `TableInput`s as they are: boto3 hands each one to Glue's CreateTable
//! (moto's server) unchanged and reads back the same columns, types, comments and keys.

use crate::support::{Moto, repo_root};

const CHECK: &str = r#"
import glob, json, os, sys
import boto3
glue = boto3.client("glue")
root = sys.argv[1]
checked = 0
for path in sorted(glob.glob(os.path.join(root, "catalog", "*", "*.json"))):
    database = os.path.basename(os.path.dirname(path))
    with open(path) as f:
        table_input = json.load(f)
    try:
        glue.create_database(DatabaseInput={"Name": database})
    except glue.exceptions.AlreadyExistsException:
        pass
    glue.create_table(DatabaseName=database, TableInput=table_input)
    table = glue.get_table(DatabaseName=database, Name=table_input["Name"])["Table"]
    assert table["StorageDescriptor"]["Columns"] == table_input["StorageDescriptor"]["Columns"], path
    assert table.get("PartitionKeys", []) == table_input.get("PartitionKeys", []), path
    assert table["StorageDescriptor"]["SerdeInfo"] == table_input["StorageDescriptor"]["SerdeInfo"], path
    assert table["TableType"] == "EXTERNAL_TABLE", path
    checked += 1
print(checked)
"#;

#[test]
fn every_registry_file_is_accepted_by_glue_as_it_is() {
    let moto = Moto::start();
    let root = repo_root();
    let output = std::process::Command::new("python3")
        .args(["-c", CHECK, root.to_str().unwrap()])
        .envs(moto.env())
        .output()
        .expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let checked: usize = String::from_utf8_lossy(&output.stdout).trim().parse().unwrap();
    let files = std::fs::read_dir(root.join("catalog/customer_data")).unwrap().count();
    assert_eq!(checked, files);
}
