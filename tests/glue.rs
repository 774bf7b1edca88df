//! Registry files are Glue `TableInput`s as they are: boto3 hands each one to Glue's CreateTable
//! (moto's server) unchanged and reads back the same columns, types, comments and keys (and for
//! a view, its Athena-encoded SQL).

use crate::support::{LoopbackServer, Moto, TestProject, repo_root, stderr, stdout};

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
    if table_input["TableType"] == "VIRTUAL_VIEW":
        # A view in Athena's form: its encoded SQL travels unchanged.
        assert table["ViewOriginalText"] == table_input["ViewOriginalText"], path
        assert table["TableType"] == "VIRTUAL_VIEW", path
    else:
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
    let files: usize = ["customer_data", "aurora_logs"]
        .iter()
        .map(|db| std::fs::read_dir(root.join("catalog").join(db)).unwrap().count())
        .sum();
    assert_eq!(checked, files);
}

/// A project whose warehouse is a bucket on `moto`, with the sample data loaded.
fn s3_project(moto: &Moto, bucket: &str) -> TestProject {
    moto.create_bucket(bucket);
    let project = TestProject::new();
    project.write("glaux.toml", &format!("[warehouse]\nlocation = \"s3://{bucket}/wh\"\n"));
    // Two tables and no jobs keep the expected Glue calls small.
    project.without_jobs();
    std::fs::remove_dir_all(project.path().join("catalog/aurora_logs")).unwrap();
    let out = run(&project, moto, &["run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    load_new_customer(&project, moto, "C100001", "2026-11-01");
    project
}

/// Loads a one-row export never seen before into `customer_base_raw` for `date`.
fn load_new_customer(project: &TestProject, moto: &Moto, id: &str, date: &str) {
    let header = glaux::demo::COLUMNS.join(",");
    let file = project
        .write(&format!("new_{id}.csv"), &format!("{header}\n{id},New,Customer,new@example.com,,,,EU-DE,1,1,,\n"));
    let out = run(
        project,
        moto,
        &["ingest", "csv", file.to_str().unwrap(), "--table", "customer_data.customer_base_raw", "--date", date],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 file(s) loaded"), "{}", stdout(&out));
}

fn run(project: &TestProject, moto: &Moto, args: &[&str]) -> std::process::Output {
    project.glaux().envs(moto.env()).args(args).output().unwrap()
}

const DESCRIBE: &str = r#"
import boto3, json
glue = boto3.client("glue")
out = {}
for db in glue.get_databases()["DatabaseList"]:
    for t in glue.get_tables(DatabaseName=db["Name"])["TableList"]:
        parts = glue.get_partitions(DatabaseName=db["Name"], TableName=t["Name"])["Partitions"]
        versions = glue.get_table_versions(DatabaseName=db["Name"], TableName=t["Name"])["TableVersions"]
        out[db["Name"] + "." + t["Name"]] = {
            "location": t["StorageDescriptor"]["Location"],
            "columns": t["StorageDescriptor"]["Columns"],
            "partitions": sorted([p["Values"], p["StorageDescriptor"]["Location"]] for p in parts),
            "versions": len(versions),
        }
print(json.dumps(out, sort_keys=True))
"#;

fn glue_state(moto: &Moto) -> serde_json::Value {
    serde_json::from_str(&moto.python(DESCRIBE)).unwrap()
}

#[test]
fn push_makes_glue_match_the_registry_and_only_changes_what_changed() {
    let moto = Moto::start();
    let project = s3_project(&moto, "lake");

    let dry = run(&project, &moto, &["catalog", "push", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let plan = stdout(&dry);
    assert!(plan.contains("create database customer_data\n"), "{plan}");
    assert!(plan.contains("create table customer_data.customer_base_raw\n"), "{plan}");
    assert!(plan.contains("create partition customer_data.customer_base_raw ingest_date=2026-11-01 at s3://lake/wh/customer_data/customer_base_raw/ingest_date=2026-11-01/"), "{plan}");
    assert!(plan.contains("dry run: "), "{plan}");
    assert_eq!(glue_state(&moto), serde_json::json!({}), "a dry run changes nothing");

    let push = run(&project, &moto, &["catalog", "push"]);
    assert!(push.status.success(), "{}", stderr(&push));
    assert!(
        stdout(&push).contains("1 database(s) created; tables: 2 created, 0 updated, 0 deleted; partitions: 2 created"),
        "{}",
        stdout(&push)
    );
    let glue = glue_state(&moto);
    let raw = &glue["customer_data.customer_base_raw"];
    assert_eq!(raw["location"], "s3://lake/wh/customer_data/customer_base_raw/");
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("catalog/customer_data/customer_base_raw.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(raw["columns"], file["StorageDescriptor"]["Columns"]);
    let partitions = raw["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 2);
    for p in partitions {
        let location = p[1].as_str().unwrap();
        assert!(location.starts_with(&format!(
            "s3://lake/wh/customer_data/customer_base_raw/ingest_date={}/",
            p[0][0].as_str().unwrap()
        )));
    }

    let again = run(&project, &moto, &["catalog", "push"]);
    assert!(stdout(&again).contains("Glue already matches the registry; nothing to change"), "{}", stdout(&again));
    assert_eq!(glue_state(&moto), glue, "a second push changes nothing, not even table versions");

    // A changed comment updates the table once; a new load adds only its partition.
    let path = project.path().join("catalog/customer_data/regions.json");
    let text = std::fs::read_to_string(&path).unwrap().replace("Display name", "Name shown in reports");
    std::fs::write(&path, text).unwrap();
    load_new_customer(&project, &moto, "C100002", "2026-11-02");
    let update = run(&project, &moto, &["catalog", "push"]);
    let text = stdout(&update);
    assert!(text.contains("update table customer_data.regions (Columns)"), "{text}");
    assert!(
        text.contains("tables: 0 created, 1 updated, 0 deleted; partitions: 1 created, 0 updated, 0 deleted"),
        "{text}"
    );
    assert_eq!(glue_state(&moto)["customer_data.regions"]["versions"], 2);

    // A table removed from the registry is deleted from Glue only with --prune.
    std::fs::remove_file(&path).unwrap();
    let keep = run(&project, &moto, &["catalog", "push"]);
    assert!(stdout(&keep).contains("keep table customer_data.regions"), "{}", stdout(&keep));
    assert!(glue_state(&moto).get("customer_data.regions").is_some());
    let prune = run(&project, &moto, &["catalog", "push", "--prune"]);
    assert!(stdout(&prune).contains("delete table customer_data.regions"), "{}", stdout(&prune));
    assert!(glue_state(&moto).get("customer_data.regions").is_none());
}

#[test]
fn push_refuses_tables_on_a_local_warehouse() {
    let moto = Moto::start();
    let project = TestProject::new();
    project.ok(&["run"]);
    let out = run(&project, &moto, &["catalog", "push"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is on the local warehouse"), "{}", stderr(&out));
    assert_eq!(glue_state(&moto), serde_json::json!({}));
}

#[test]
fn pull_imports_parquet_tables_in_the_warehouse_and_skips_the_rest() {
    let moto = Moto::start();
    moto.create_bucket("pulled");
    let project = TestProject::new();
    project.write("glaux.toml", "[warehouse]\nlocation = \"s3://pulled/wh\"\n");
    for day in [1, 2] {
        let copy = format!(
            "COPY (SELECT {day} * 10 + v AS id FROM (VALUES (1), (2), (3)) t(v)) TO 's3://pulled/wh/ext/events/day={day}/part-0.parquet' STORED AS PARQUET"
        );
        let out = run(&project, &moto, &["sql", "-c", &copy]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    moto.python(r#"
import boto3
glue = boto3.client("glue")
glue.create_database(DatabaseInput={"Name": "ext"})
parquet = {"InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
           "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
           "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}
glue.create_table(DatabaseName="ext", TableInput={"Name": "events", "TableType": "EXTERNAL_TABLE",
    "PartitionKeys": [{"Name": "day", "Type": "int"}],
    "StorageDescriptor": dict(parquet, Columns=[{"Name": "id", "Type": "bigint"}], Location="s3://pulled/wh/ext/events/")})
for day in (1, 2):
    glue.create_partition(DatabaseName="ext", TableName="events", PartitionInput={"Values": [str(day)],
        "StorageDescriptor": dict(parquet, Columns=[{"Name": "id", "Type": "bigint"}], Location=f"s3://pulled/wh/ext/events/day={day}/")})
glue.create_table(DatabaseName="ext", TableInput={"Name": "csv_logs", "StorageDescriptor": {
    "Columns": [{"Name": "line", "Type": "string"}], "Location": "s3://pulled/wh/ext/csv_logs/",
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat"}})
glue.create_table(DatabaseName="ext", TableInput={"Name": "elsewhere", "StorageDescriptor": dict(parquet,
    Columns=[{"Name": "id", "Type": "bigint"}], Location="s3://another-bucket/data/")})
glue.create_table(DatabaseName="ext", TableInput={"Name": "../../escape", "StorageDescriptor": dict(parquet,
    Columns=[{"Name": "id", "Type": "bigint"}], Location="s3://pulled/wh/ext/events/")})
glue.create_database(DatabaseInput={"Name": "../outside"})
"#);
    let out = run(&project, &moto, &["catalog", "pull", "--database", "ext", "--database", "../outside"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("skipped ext.../../escape: its definition is not usable: Name: invalid table name"),
        "{text}"
    );
    assert!(text.contains("skipped ../outside: invalid database name `../outside`"), "{text}");
    assert!(!project.path().join("outside").exists() && !project.dir.path().join("escape.json").exists());
    assert!(text.contains("imported ext.events (2 partitions)"), "{text}");
    assert!(
        text.contains("skipped ext.csv_logs: not a Parquet table (org.apache.hadoop.mapred.TextInputFormat)"),
        "{text}"
    );
    assert!(
        text.contains("skipped ext.elsewhere: location `s3://another-bucket/data/` is outside the warehouse"),
        "{text}"
    );
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.path().join("catalog/ext/events.json")).unwrap())
            .unwrap();
    assert_eq!(file["StorageDescriptor"]["Location"], "ext/events/");
    let sql = "SELECT day, count(*) AS n, sum(id) AS s FROM ext.events GROUP BY day ORDER BY day";
    let out = run(&project, &moto, &["sql", "--format", "csv", "-c", sql]);
    assert_eq!(stdout(&out), "day,n,s\n1,3,36\n2,3,66\n", "{}", stderr(&out));
}

#[test]
fn automatic_push_follows_commits_and_retries_after_a_failure() {
    let moto = Moto::start();
    moto.create_bucket("auto");
    let project = TestProject::new();
    project.write("glaux.toml", "[warehouse]\nlocation = \"s3://auto/wh\"\n[glue]\nauto_push = true\n");

    // Glue unreachable (an HTTP server that is not Glue): the load still commits, with a warning.
    let broken = broken_endpoint();
    let out = project.glaux().envs(moto.env()).env("AWS_ENDPOINT_URL_GLUE", broken.url()).arg("run").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the commit stands, but the Glue push failed and will be retried"),
        "{}",
        stderr(&out)
    );
    assert_eq!(glue_state(&moto), serde_json::json!({}));
    let count = run(
        &project,
        &moto,
        &["sql", "--format", "csv", "-c", "SELECT count(*) AS n FROM customer_data.customer_base_raw"],
    );
    assert_eq!(stdout(&count), "n\n360\n");

    // The next commit pushes its table and the ones still pending.
    load_new_customer(&project, &moto, "C100003", "2026-11-01");
    let glue = glue_state(&moto);
    assert_eq!(glue["customer_data.customer_base_raw"]["partitions"].as_array().unwrap().len(), 2);
    assert!(glue.get("customer_data.regions").is_some(), "the pending table was pushed too: {glue}");
}

/// An HTTP server on loopback that answers every POST with 501, standing in for a broken
/// Glue endpoint.
fn broken_endpoint() -> LoopbackServer {
    LoopbackServer::start("python3", |port| {
        vec!["-m".into(), "http.server".into(), "--bind".into(), "127.0.0.1".into(), port.to_string()]
    })
}

/// The fault-injecting Glue proxy of `tests/support/glue_faults.py` in front of `moto`.
struct GlueFaults {
    server: LoopbackServer,
}

impl GlueFaults {
    fn start(moto: &Moto, throttle: usize, mode: &str) -> GlueFaults {
        let script = repo_root().join("tests/support/glue_faults.py").display().to_string();
        let (upstream, mode) = (moto.endpoint(), mode.to_string());
        let server = LoopbackServer::start("python3", |port| {
            vec![script, upstream, port.to_string(), throttle.to_string(), mode]
        });
        GlueFaults { server }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    /// `glaux catalog push` in `project`, with Glue reached through this proxy.
    fn push(&self, project: &TestProject, moto: &Moto) -> std::process::Output {
        let mut command = project.glaux();
        command.envs(moto.env()).env("AWS_ENDPOINT_URL_GLUE", self.url());
        command.args(["catalog", "push"]).output().unwrap()
    }

    fn injected(&self) -> serde_json::Value {
        let code =
            format!("import urllib.request; print(urllib.request.urlopen('{}/_faults').read().decode())", self.url());
        let out = std::process::Command::new("python3").args(["-c", &code]).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[test]
fn throttled_glue_calls_are_retried() {
    let moto = Moto::start();
    let project = s3_project(&moto, "throttled");
    let faults = GlueFaults::start(&moto, 3, "none");
    let out = faults.push(&project, &moto);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(faults.injected()["throttled"], 3);
    let glue = glue_state(&moto);
    assert_eq!(glue["customer_data.customer_base_raw"]["partitions"].as_array().unwrap().len(), 2);
}

#[test]
fn refused_partitions_are_reported_and_the_next_push_completes() {
    let moto = Moto::start();
    let project = s3_project(&moto, "refused");
    let faults = GlueFaults::start(&moto, 0, "refuse-first-partition");
    let out = faults.push(&project, &moto);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Glue refused 1 partition change(s) of customer_data.customer_base_raw"), "{err}");
    assert!(err.contains("InternalServiceException injected refusal"), "{err}");
    assert_eq!(glue_state(&moto)["customer_data.customer_base_raw"]["partitions"].as_array().unwrap().len(), 1);

    let retry = run(&project, &moto, &["catalog", "push"]);
    assert!(retry.status.success(), "{}", stderr(&retry));
    assert!(stdout(&retry).contains("partitions: 1 created, 0 updated, 0 deleted"), "{}", stdout(&retry));
    assert_eq!(glue_state(&moto)["customer_data.customer_base_raw"]["partitions"].as_array().unwrap().len(), 2);
}

#[test]
fn partition_batches_stay_within_glue_limits() {
    use glaux::catalog::state::{Change, DataFile, NewPartition, TableLog, Transaction};
    let moto = Moto::start();
    let project = s3_project(&moto, "batches");
    // 230 more partitions of the raw table, committed through the library on the same bucket.
    let settings = moto.warehouse_settings("s3://batches/wh");
    crate::commits::dummy_aws_credentials();
    let warehouse = glaux::warehouse::Warehouse::open(&settings).unwrap();
    let log = TableLog::new(&warehouse, "customer_data", "customer_base_raw", vec!["ingest_date".into()]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let day = |i: u32| (chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(i.into())).to_string();
    let partition = |i: u32| {
        let location = format!("customer_data/customer_base_raw/ingest_date={}/c/", day(i));
        NewPartition {
            values: vec![day(i)],
            files: vec![DataFile { path: format!("{location}p.parquet"), size: 1, rows: 1 }],
            location,
        }
    };
    let mut txn = Transaction::new("bulk", chrono::Utc::now());
    txn.changes = (0..230).map(|i| Change::Add(partition(i))).collect();
    runtime.block_on(log.commit(&txn)).unwrap();

    let faults = GlueFaults::start(&moto, 0, "none");
    let out = faults.push(&project, &moto);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("partitions: 232 created"), "{}", stdout(&out));
    assert_eq!(faults.injected()["batches"]["BatchCreatePartition"], serde_json::json!([100, 100, 32]));

    let mut txn = Transaction::new("bulk delete", chrono::Utc::now());
    txn.changes = (0..60).map(|i| Change::Remove(vec![day(i)])).collect();
    runtime.block_on(log.commit(&txn)).unwrap();
    let faults = GlueFaults::start(&moto, 0, "none");
    let out = faults.push(&project, &moto);
    assert!(stdout(&out).contains("partitions: 0 created, 0 updated, 60 deleted"), "{}", stdout(&out));
    assert_eq!(faults.injected()["batches"]["BatchDeletePartition"], serde_json::json!([25, 25, 10]));
    assert_eq!(glue_state(&moto)["customer_data.customer_base_raw"]["partitions"].as_array().unwrap().len(), 172);
}

/// A view made in glaux reaches Glue in Athena's form, and a view made by Athena (in that form)
/// comes back with `catalog pull` and queries in glaux.
#[test]
fn views_travel_to_and_from_glue_in_athena_s_form() {
    let moto = Moto::start();
    let project = s3_project(&moto, "views");
    let create =
        "CREATE VIEW customer_data.by_region AS SELECT region, count(*) AS n FROM customer_base_raw GROUP BY region";
    let out = run(&project, &moto, &["sql", "-c", create]);
    assert!(out.status.success(), "{}", stderr(&out));
    let push = run(&project, &moto, &["catalog", "push"]);
    assert!(push.status.success(), "{}", stderr(&push));
    let described = moto.python(
        r#"
import base64, boto3, json
t = boto3.client("glue").get_table(DatabaseName="customer_data", Name="by_region")["Table"]
text = t["ViewOriginalText"]
doc = json.loads(base64.b64decode(text[len("/* Presto View: "):-len(" */")]))
print(json.dumps({"type": t["TableType"], "presto": t["Parameters"]["presto_view"], "expanded": t["ViewExpandedText"],
                  "sql": doc["originalSql"], "schema": doc["schema"], "columns": doc["columns"],
                  "hive": [c["Type"] for c in t["StorageDescriptor"]["Columns"]]}))
"#,
    );
    let got: serde_json::Value = serde_json::from_str(described.trim()).unwrap();
    assert_eq!(got["type"], "VIRTUAL_VIEW");
    assert_eq!(got["presto"], "true");
    assert_eq!(got["expanded"], "/* Presto View */");
    assert_eq!(got["schema"], "customer_data");
    assert!(got["sql"].as_str().unwrap().contains("FROM customer_base_raw GROUP BY region"), "{got}");
    assert_eq!(
        got["columns"],
        serde_json::json!([{"name": "region", "type": "varchar"}, {"name": "n", "type": "bigint"}])
    );
    assert_eq!(got["hive"], serde_json::json!(["string", "bigint"]));

    // A view Athena made, pulled into a fresh project over the same warehouse.
    moto.python(
        r#"
import base64, boto3, json
doc = {"originalSql": "SELECT count(*) AS customers FROM customer_data.customer_base_raw", "catalog": "awsdatacatalog",
       "schema": "customer_data", "columns": [{"name": "customers", "type": "bigint"}]}
boto3.client("glue").create_table(DatabaseName="customer_data", TableInput={
    "Name": "headcount", "TableType": "VIRTUAL_VIEW", "Parameters": {"presto_view": "true", "comment": "Presto View"},
    "StorageDescriptor": {"Columns": [{"Name": "customers", "Type": "bigint"}]},
    "ViewOriginalText": "/* Presto View: " + base64.b64encode(json.dumps(doc).encode()).decode() + " */",
    "ViewExpandedText": "/* Presto View */"})
"#,
    );
    let pulled = run(&project, &moto, &["catalog", "pull", "--database", "customer_data"]);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert!(stdout(&pulled).contains("customer_data.headcount (view)"), "{}", stdout(&pulled));
    let count =
        run(&project, &moto, &["sql", "--format", "csv", "-c", "SELECT customers FROM customer_data.headcount"]);
    let raw = run(
        &project,
        &moto,
        &["sql", "--format", "csv", "-c", "SELECT count(*) AS customers FROM customer_data.customer_base_raw"],
    );
    assert!(count.status.success(), "{}", stderr(&count));
    assert_eq!(stdout(&count), stdout(&raw));
}

const SYMLINK_STATE: &str = r#"
import boto3, json, sys
glue, s3 = boto3.client("glue"), boto3.client("s3")
table = glue.get_table(DatabaseName="customer_data", Name="customer_base_raw")["Table"]
parts = glue.get_partitions(DatabaseName="customer_data", TableName="customer_base_raw")["Partitions"]
def manifest(location):
    key = location.split("/", 3)[3] + "manifest"
    return s3.get_object(Bucket="links", Key=key)["Body"].read().decode().splitlines()
listed = s3.list_objects_v2(Bucket="links", Prefix="wh/customer_data/customer_base_raw/").get("Contents", [])
print(json.dumps({
    "input": table["StorageDescriptor"]["InputFormat"],
    "location": table["StorageDescriptor"]["Location"],
    "partitions": {p["Values"][0]: {"location": p["StorageDescriptor"]["Location"],
                                    "input": p["StorageDescriptor"]["InputFormat"],
                                    "files": manifest(p["StorageDescriptor"]["Location"])} for p in parts},
    "objects": sorted(o["Key"] for o in listed),
}))
"#;

#[test]
fn symlink_tables_append_without_copies_and_glue_reads_exactly_the_committed_files() {
    let moto = Moto::start();
    let project = s3_project(&moto, "links");
    // Loads so far added partitions; the layout matters from the first append and push on.
    let definition = project.path().join("catalog/customer_data/customer_base_raw.json");
    let directory = std::fs::read_to_string(&definition).unwrap();
    let symlinked = directory
        .replace(
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat",
        )
        .replace(
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        );
    assert_ne!(symlinked, directory);
    std::fs::write(&definition, &symlinked).unwrap();

    let push = run(&project, &moto, &["catalog", "push"]);
    assert!(push.status.success(), "{}", stderr(&push));
    assert!(stdout(&push).contains("2 symlink manifest(s) written"), "{}", stdout(&push));
    let state: serde_json::Value = serde_json::from_str(&moto.python(SYMLINK_STATE)).unwrap();
    let root = "s3://links/wh/customer_data/customer_base_raw/";
    assert_eq!(state["input"], "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat");
    assert_eq!(state["location"], format!("{root}_symlink_format_manifest/"));
    let day = &state["partitions"]["2026-11-01"];
    assert_eq!(day["input"], "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat");
    let first_location = day["location"].as_str().unwrap().to_string();
    assert!(first_location.starts_with(&format!("{root}_symlink_format_manifest/ingest_date=2026-11-01/")));
    let first_files: Vec<String> = serde_json::from_value(day["files"].clone()).unwrap();
    assert_eq!(first_files.len(), 1, "{day}");
    assert!(first_files[0].starts_with(&format!("{root}ingest_date=2026-11-01/")), "{first_files:?}");

    // Appending to the day writes only the new file: no copy of the first.
    load_new_customer(&project, &moto, "C100002", "2026-11-01");
    let state: serde_json::Value = serde_json::from_str(&moto.python(SYMLINK_STATE)).unwrap();
    let day_data: Vec<&str> = state["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.as_str())
        .filter(|o| o.starts_with("wh/customer_data/customer_base_raw/ingest_date=2026-11-01/"))
        .collect();
    assert_eq!(day_data.len(), 2, "one file per load, none copied: {day_data:?}");
    assert_eq!(state["partitions"]["2026-11-01"]["location"], first_location.as_str(), "Glue moves only on push");

    let push = run(&project, &moto, &["catalog", "push"]);
    let text = stdout(&push);
    assert!(text.contains("update partition customer_data.customer_base_raw ingest_date=2026-11-01 to "), "{text}");
    assert!(text.contains("partitions: 0 created, 1 updated, 0 deleted; 1 symlink manifest(s) written"), "{text}");
    let state: serde_json::Value = serde_json::from_str(&moto.python(SYMLINK_STATE)).unwrap();
    let day = &state["partitions"]["2026-11-01"];
    assert_ne!(day["location"], first_location.as_str());
    let files: Vec<String> = serde_json::from_value(day["files"].clone()).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0], first_files[0], "the earlier file is named where it was written");
    let objects: Vec<String> = serde_json::from_value(state["objects"].clone()).unwrap();
    for file in &files {
        assert!(objects.contains(&file.trim_start_matches("s3://links/").to_string()), "{file} exists");
    }
    let again = run(&project, &moto, &["catalog", "push"]);
    assert!(stdout(&again).contains("Glue already matches the registry"), "{}", stdout(&again));

    // Vacuum keeps the manifests Glue points at and removes the superseded one.
    let out = run(&project, &moto, &["vacuum", "--retain", "0s", "--grace", "0s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after: serde_json::Value = serde_json::from_str(&moto.python(SYMLINK_STATE)).unwrap();
    let kept: Vec<String> = serde_json::from_value(after["objects"].clone()).unwrap();
    let manifests: Vec<&String> = kept.iter().filter(|o| o.contains("/_symlink_format_manifest/")).collect();
    assert_eq!(manifests.len(), 2, "one per partition: {manifests:?}");
    assert_eq!(after["partitions"], state["partitions"], "every manifest Glue names is still readable");
    let first_key = format!("{}manifest", first_location.trim_start_matches("s3://links/"));
    assert!(!kept.contains(&first_key), "the superseded manifest is removed");

    // Pulling the table back reads each partition's files from its manifest.
    let count = "SELECT ingest_date, count(*) AS n FROM customer_data.customer_base_raw GROUP BY 1 ORDER BY 1";
    let before = stdout(&run(&project, &moto, &["sql", "--format", "csv", "-c", count]));
    assert!(before.contains("\n2026-11-01,2\n"), "{before}");
    std::fs::remove_file(&definition).unwrap();
    let pull = run(&project, &moto, &["catalog", "pull", "--database", "customer_data"]);
    assert!(stdout(&pull).contains("imported customer_data.customer_base_raw (2 partitions)"), "{}", stdout(&pull));
    let pulled: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&definition).unwrap()).unwrap();
    assert_eq!(pulled["StorageDescriptor"]["Location"], "customer_data/customer_base_raw/");
    assert_eq!(pulled["StorageDescriptor"]["InputFormat"], "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat");
    assert_eq!(stdout(&run(&project, &moto, &["sql", "--format", "csv", "-c", count])), before);

    // Back in the directory layout, a partition whose files lie in two directories is refused.
    std::fs::write(&definition, &directory).unwrap();
    let refused = run(&project, &moto, &["catalog", "push"]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains("partition ingest_date=2026-11-01 has files outside its location"), "{err}");
    assert!(err.contains("SymlinkTextInputFormat"), "{err}");
}
