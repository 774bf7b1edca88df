//! The warehouse on S3: server-side encryption settings apply to every object glaux writes,
//! data files and state alike, and the endpoint follows the AWS variables.

use crate::support::{Moto, TestProject, stderr, stdout};

const HEAD_ALL: &str = r#"
import boto3, json, sys
s3 = boto3.client("s3")
bucket = sys.argv[1]
out = []
for obj in s3.list_objects_v2(Bucket=bucket)["Contents"]:
    head = s3.head_object(Bucket=bucket, Key=obj["Key"])
    out.append([obj["Key"], head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")])
print(json.dumps(out))
"#;

fn objects(moto: &Moto, bucket: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let output =
        std::process::Command::new("python3").args(["-c", HEAD_ALL, bucket]).envs(moto.env()).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn sse_s3_and_sse_kms_cover_every_object() {
    let moto = Moto::start();
    moto.create_bucket("sse-s3");
    moto.create_bucket("sse-kms");
    let key_id = moto.python("import boto3; print(boto3.client('kms').create_key()['KeyMetadata']['KeyId'])");
    let key_id = key_id.trim();

    let project = TestProject::new();
    let out = project
        .glaux()
        .envs(moto.env())
        .env("GLAUX_S3_SSE", "AES256")
        .args(["--warehouse", "s3://sse-s3/wh", "run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let written = objects(&moto, "sse-s3");
    assert!(
        written.iter().any(|(key, _, _)| key.ends_with(".parquet"))
            && written.iter().any(|(key, _, _)| key.contains("_glaux/"))
    );
    for (key, sse, _) in &written {
        assert_eq!(sse.as_deref(), Some("AES256"), "{key}");
    }

    let project = TestProject::new();
    project
        .write("glaux.toml", &format!("[warehouse]\nlocation = \"s3://sse-kms/wh\"\nsse_kms_key_id = \"{key_id}\"\n"));
    let out = project.glaux().envs(moto.env()).arg("run").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for (key, sse, kms) in objects(&moto, "sse-kms") {
        assert_eq!(sse.as_deref(), Some("aws:kms"), "{key}");
        assert!(kms.as_deref().is_some_and(|k| k.contains(key_id)), "{key}: {kms:?}");
    }
}

#[test]
fn the_s3_endpoint_can_be_set_for_s3_alone() {
    let moto = Moto::start();
    moto.create_bucket("endpoints");
    let project = TestProject::new();
    let mut command = project.glaux();
    for (key, value) in moto.env() {
        if key != "AWS_ENDPOINT_URL" {
            command.env(key, value);
        }
    }
    let out = command
        .env("AWS_ENDPOINT_URL_S3", moto.endpoint())
        .args([
            "--warehouse",
            "s3://endpoints/wh",
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n FROM customer_data.regions",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n0\n");
}

#[test]
fn credentials_come_from_a_named_profile_and_their_absence_is_explained() {
    let moto = Moto::start();
    moto.create_bucket("profiles");
    let project = TestProject::new();
    let without_keys = |command: &mut std::process::Command| {
        for (key, value) in moto.env() {
            if !key.contains("KEY") {
                command.env(key, value);
            }
        }
    };
    let mut none = project.glaux();
    without_keys(&mut none);
    let out = none.args(["--warehouse", "s3://profiles/wh", "run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no AWS credentials from the standard chain"), "{}", stderr(&out));

    let aws = project.home().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        "[lake]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    let mut profile = project.glaux();
    without_keys(&mut profile);
    let out = profile.env("AWS_PROFILE", "lake").args(["--warehouse", "s3://profiles/wh", "run"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("profile-secret") && !stdout(&out).contains("profile-secret"));
}

#[test]
fn ingest_reads_csv_objects_and_prefixes_from_s3() {
    let moto = Moto::start();
    moto.create_bucket("exports");
    let project = TestProject::new();
    let upload = "import boto3\n\
        s3 = boto3.client('s3')\n\
        body = 'region_code,region_name,country,vat_rate\\n'\n\
        s3.put_object(Bucket='exports', Key='daily/a.csv', Body=body + 'AA,Alpha,DE,0.19\\nBB,Beta,FR,bad\\n')\n\
        s3.put_object(Bucket='exports', Key='daily/b.csv', Body=body + 'CC,Gamma,ES,0.21\\n')\n\
        s3.put_object(Bucket='exports', Key='daily/readme.txt', Body='not csv')\n";
    moto.python(upload);
    let ingest = |args: &[&str]| {
        project
            .glaux()
            .envs(moto.env())
            .args(["ingest", "csv"])
            .args(args)
            .args(["--table", "customer_data.regions"])
            .output()
            .unwrap()
    };
    let one = ingest(&["s3://exports/daily/b.csv"]);
    assert!(one.status.success(), "{}", stderr(&one));
    assert!(stdout(&one).contains("1 file(s) loaded: rows read 1, written 1, rejected 0"), "{}", stdout(&one));
    let prefix = ingest(&["s3://exports/daily/"]);
    assert!(prefix.status.success(), "{}", stderr(&prefix));
    assert!(
        stdout(&prefix).contains("1 file(s) loaded: rows read 2, written 1, rejected 1")
            && stdout(&prefix).contains("1 file(s) skipped as already loaded"),
        "{}",
        stdout(&prefix)
    );
    let rows = project.ok(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT region_code FROM customer_data.regions ORDER BY 1",
        "-c",
        "SELECT source_file, line FROM system.ingest_rejects",
    ]);
    assert_eq!(rows, "region_code\nAA\nCC\nsource_file,line\ns3://exports/daily/a.csv,3\n");
    let missing = ingest(&["s3://exports/nothing-here/"]);
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("no file matches `s3://exports/nothing-here/*.csv`"), "{}", stderr(&missing));
}
