//! `glaux iam policy`: the policy grants exactly the AWS calls glaux makes, on the project's
//! resources only. The calls are recorded by moto's recorder while glaux runs a workload that
//! makes every call of a profile; the policy's JSON is checked against IAM's grammar.

use std::collections::BTreeSet;
use std::process::Stdio;

use serde_json::Value;

use crate::support::{Moto, TestProject, stderr, stdout};

/// IAM's policy grammar, as far as glaux writes it: version, statements with a Sid, Allow, named
/// actions (no wildcard) and ARNs (a bare `*` only where a condition narrows it).
fn assert_grammar(policy: &Value) {
    assert_eq!(policy["Version"], "2012-10-17", "{policy}");
    let statements = policy["Statement"].as_array().expect("Statement is a list");
    assert!(!statements.is_empty());
    let mut sids = BTreeSet::new();
    for s in statements {
        let object = s.as_object().unwrap();
        for key in object.keys() {
            assert!(["Sid", "Effect", "Action", "Resource", "Condition"].contains(&key.as_str()), "{key} in {s}");
        }
        let sid = s["Sid"].as_str().unwrap();
        assert!(sid.chars().all(|c| c.is_ascii_alphanumeric()) && sids.insert(sid.to_string()), "Sid {sid}");
        assert_eq!(s["Effect"], "Allow");
        for action in s["Action"].as_array().unwrap() {
            let (service, name) = action.as_str().unwrap().split_once(':').unwrap();
            assert!(["s3", "glue", "rds", "cloudwatch", "kms"].contains(&service), "{action}");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric()) && name.starts_with(|c: char| c.is_ascii_uppercase()),
                "{action}"
            );
        }
        for resource in s["Resource"].as_array().unwrap() {
            let resource = resource.as_str().unwrap();
            if resource == "*" {
                assert!(s.get("Condition").is_some(), "a bare * needs a condition: {s}");
                continue;
            }
            let parts: Vec<&str> = resource.splitn(6, ':').collect();
            assert_eq!((parts.len(), parts[0], parts[1]), (6, "arn", "aws"), "{resource}");
        }
        if let Some(condition) = s.get("Condition") {
            for operator in condition.as_object().unwrap().keys() {
                assert!(["StringEquals", "StringLike"].contains(&operator.as_str()), "{operator}");
            }
        }
    }
}

fn granted(policy: &Value) -> BTreeSet<String> {
    let statements = policy["Statement"].as_array().unwrap();
    statements.iter().flat_map(|s| s["Action"].as_array().unwrap()).map(|a| a.as_str().unwrap().to_string()).collect()
}

#[test]
fn the_schedule_policy_grants_exactly_the_calls_glaux_makes_on_the_projects_resources() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("requests.jsonl");
    let moto = Moto::recording(&recording);
    moto.create_bucket("iam");
    let env = moto.env();
    let p = TestProject::new();
    p.write(
        "glaux.toml",
        "[warehouse]\nlocation = \"s3://iam/wh\"\n\n[glue]\nauto_push = true\n\n\
         [scheduler]\nheartbeat = \"1s\"\nlease = \"6s\"\n\n[scheduler.cloudwatch]\nnamespace = \"glaux-iam\"\n\n\
         [[schedule]]\nname = \"tick\"\ncron = \"* * * * * *\"\nrun = \"sql -c 'SELECT 1'\"\n",
    );
    let run = |args: &[&str]| {
        let out =
            p.glaux().envs(env.iter().map(|(k, v)| (*k, v.as_str()))).args(args).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let policy: Value =
        serde_json::from_str(&run(&["iam", "policy", "--for", "schedule", "--account", "123456789012"])).unwrap();
    assert_grammar(&policy);

    // A workload making every call of the profile: loads and jobs pushed to Glue as they commit,
    // a definition change, a full refresh, an archive to Glacier and its restore, a vacuum, the
    // lifecycle rules, and the scheduler's metrics.
    run(&["run"]);
    let regions = p.path().join("catalog/customer_data/regions.json");
    let mut definition: Value = serde_json::from_slice(&std::fs::read(&regions).unwrap()).unwrap();
    definition["Description"] = Value::from("Region codes, as the CRM assigns them.");
    std::fs::write(&regions, serde_json::to_vec_pretty(&definition).unwrap()).unwrap();
    run(&["ingest", "csv", "data/customer_data/regions/regions.csv", "--table", "customer_data.regions", "--force"]);
    run(&["job", "run", "--all", "--full"]);
    let old = (chrono::Utc::now().date_naive() - chrono::Duration::days(60)).to_string();
    run(&["sql", "-c", "CREATE TABLE customer_data.events (n int, day date) WITH (partitioned_by = ARRAY['day'])"]);
    run(&["sql", "-c", &format!("INSERT INTO customer_data.events VALUES (1, DATE '{old}'), (2, current_date)")]);
    run(&["archive", "customer_data.events", "--older-than", "30d", "--storage-class", "GLACIER"]);
    run(&["restore", "customer_data.events", "--from", &old, "--to", &old]);
    run(&["restore", "status"]);
    run(&["vacuum", "--retain", "0s", "--grace", "0s"]);
    run(&["lifecycle", "apply"]);
    let mut scheduler = p
        .glaux()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("schedule")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    // SAFETY: a signal to a child this test started and has not reaped.
    unsafe {
        libc::kill(scheduler.id() as libc::pid_t, libc::SIGTERM);
    }
    assert!(scheduler.wait().unwrap().success());

    let out = std::process::Command::new("python3")
        .arg(crate::support::repo_root().join("tests/support/iam_actions.py"))
        .arg(&recording)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let calls: Vec<(String, String)> = serde_json::from_slice(&out.stdout).unwrap();
    let called: BTreeSet<String> = calls.iter().map(|(action, _)| action.clone()).collect();
    let granted = granted(&policy);
    let missing: Vec<&String> = called.difference(&granted).collect();
    assert!(missing.is_empty(), "glaux called {missing:?}, which the policy does not grant");
    let unused: Vec<&String> = granted.difference(&called).collect();
    assert!(unused.is_empty(), "the policy grants {unused:?}, which glaux never called");
    for (action, resource) in calls.iter().filter(|(a, _)| a.starts_with("s3:")) {
        let inside = resource == "iam" || resource.starts_with("iam/wh/");
        assert!(inside, "{action} on {resource} is outside the warehouse");
    }
    let text = policy.to_string();
    assert!(text.contains("arn:aws:s3:::iam/wh/*") && text.contains("\"wh/*\""), "{text}");
    assert!(text.contains("arn:aws:glue:us-east-1:123456789012:table/customer_data/*"), "{text}");
    assert!(text.contains("\"cloudwatch:namespace\":\"glaux-iam\""), "{text}");
}

#[test]
fn every_profile_is_grammatical_and_names_only_the_projects_resources() {
    let p = TestProject::new();
    p.write(
        "glaux.toml",
        "[warehouse]\nlocation = \"s3://data-lake/glaux\"\nregion = \"eu-west-1\"\nsse_kms_key_id = \"0a1b2c3d-1111-2222-3333-444455556666\"\n\n\
         [[aurora.sources]]\nname = \"orders\"\ncluster = \"orders-cluster\"\n\n\
         [[aurora.sources]]\nname = \"billing\"\ninstances = [\"billing-1\"]\n",
    );
    let mut seen = Vec::new();
    for profile in ["read-only", "run", "schedule", "push"] {
        let policy: Value =
            serde_json::from_str(&p.ok(&["iam", "policy", "--for", profile, "--account", "111122223333"])).unwrap();
        assert_grammar(&policy);
        let text = policy.to_string();
        assert!(!text.contains("\"s3:*\"") && !text.contains("arn:aws:s3:::*"), "{profile}: {text}");
        seen.push((profile, granted(&policy), text));
    }
    let (_, read_only, text) = &seen[0];
    assert_eq!(
        read_only.iter().map(String::as_str).collect::<Vec<_>>(),
        ["kms:Decrypt", "s3:GetObject", "s3:ListBucket"],
        "{text}"
    );
    let (_, run, text) = &seen[1];
    for action in ["rds:DescribeDBClusters", "rds:DownloadDBLogFilePortion", "kms:GenerateDataKey", "s3:PutObject"] {
        assert!(run.contains(action), "run lacks {action}: {text}");
    }
    assert!(!run.iter().any(|a| a.starts_with("glue:")), "no Glue without auto_push: {text}");
    assert!(text.contains("arn:aws:rds:eu-west-1:111122223333:cluster:orders-cluster"), "{text}");
    assert!(text.contains("arn:aws:rds:eu-west-1:111122223333:db:billing-1"), "{text}");
    assert!(text.contains("arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-1111-2222-3333-444455556666"), "{text}");
    let (_, push, text) = &seen[3];
    assert!(push.contains("glue:DeleteTable") && push.contains("glue:GetDatabases"), "{text}");
    assert!(!push.contains("s3:PutObject"), "push writes no data: {text}");
    // A local warehouse has no policy to give.
    let local = TestProject::new();
    let out = local.run(&["iam", "policy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("an IAM policy is for an s3:// warehouse"), "{}", stderr(&out));
}
