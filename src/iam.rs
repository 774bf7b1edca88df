//! `glaux iam policy`: the least-privilege IAM policy for this project's AWS calls.
//!
//! The policy names only the project's resources — the warehouse bucket and prefix, the Glue
//! databases of the registry and their tables, the RDS instances and clusters of the log
//! sources, the warehouse's KMS key, the scheduler's CloudWatch namespace — and only the actions
//! glaux calls on them, each spelled out (no wildcard action). What each profile grants:
//!
//! - `read-only`: query the warehouse (`glaux sql`, the REPL, `logs report`).
//! - `run`: everything `glaux run`, `ingest`, `job run`, `vacuum`, `archive`, `restore` and
//!   `lifecycle` do, with the automatic Glue push when `[glue] auto_push` is on.
//! - `schedule`: `run`, plus the scheduler's CloudWatch metrics.
//! - `push`: `glaux catalog push` (with `--prune`) and `catalog pull`.

use serde_json::{Value, json};

use crate::catalog::Registry;
use crate::config::Settings;

/// Who the policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Queries only.
    ReadOnly,
    /// Loads, jobs and lifecycle commands.
    Run,
    /// `run` plus the scheduler's metrics.
    Schedule,
    /// Glue push and pull.
    Push,
}

/// Glue calls of a push (the automatic one too), on the catalog, the databases and their tables.
const GLUE_PUSH: [&str; 9] = [
    "glue:GetDatabase",
    "glue:CreateDatabase",
    "glue:GetTables",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:GetPartitions",
    "glue:BatchCreatePartition",
    "glue:BatchUpdatePartition",
    "glue:BatchDeletePartition",
];

/// Where the policy's ARNs point.
#[derive(Debug, Clone)]
pub struct Target {
    /// The AWS account id, or `*` when not given.
    pub account: String,
    /// The region of Glue, RDS and KMS.
    pub region: String,
}

fn statement(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    let mut actions: Vec<&str> = actions.to_vec();
    actions.sort_unstable();
    actions.dedup();
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// The policy for `profile`, or an error naming what is missing (a local warehouse has no S3).
pub fn policy(settings: &Settings, registry: &Registry, profile: Profile, target: &Target) -> Result<Value, String> {
    let location = settings.warehouse.location.as_str();
    let Some(rest) = location.strip_prefix("s3://") else {
        return Err(format!(
            "the warehouse is the local directory {location}; an IAM policy is for an s3:// warehouse (set [warehouse] location)"
        ));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    let objects = if prefix.is_empty() {
        format!("arn:aws:s3:::{bucket}/*")
    } else {
        format!("arn:aws:s3:::{bucket}/{prefix}/*")
    };
    let (account, region) = (&target.account, &target.region);
    let writes = matches!(profile, Profile::Run | Profile::Schedule);

    let mut list = statement("WarehouseList", &["s3:ListBucket"], vec![format!("arn:aws:s3:::{bucket}")]);
    if !prefix.is_empty() {
        list["Condition"] = json!({ "StringLike": { "s3:prefix": [prefix, format!("{prefix}/*")] } });
    }
    let mut statements = vec![list];
    let mut object_actions = vec!["s3:GetObject"];
    if writes {
        object_actions.extend(["s3:PutObject", "s3:DeleteObject", "s3:RestoreObject"]);
    }
    statements.push(statement("WarehouseObjects", &object_actions, vec![objects]));
    if writes {
        statements.push(statement(
            "WarehouseLifecycleRules",
            &["s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"],
            vec![format!("arn:aws:s3:::{bucket}")],
        ));
    }

    let glue: Vec<&str> = match profile {
        Profile::Push => GLUE_PUSH.iter().copied().chain(["glue:DeleteTable", "glue:GetDatabases"]).collect(),
        Profile::Run | Profile::Schedule if settings.glue_auto_push => GLUE_PUSH.to_vec(),
        _ => Vec::new(),
    };
    if !glue.is_empty() {
        let mut resources = vec![format!("arn:aws:glue:{region}:{account}:catalog")];
        for database in registry.databases() {
            resources.push(format!("arn:aws:glue:{region}:{account}:database/{database}"));
            resources.push(format!("arn:aws:glue:{region}:{account}:table/{database}/*"));
        }
        statements.push(statement("GlueCatalog", &glue, resources));
    }

    if writes {
        let mut instances = Vec::new();
        let mut clusters = Vec::new();
        for source in settings.log_sources.iter().filter(|s| s.dir.is_none()) {
            let region = source.region.as_deref().unwrap_or(region);
            instances.extend(source.instances.iter().map(|i| format!("arn:aws:rds:{region}:{account}:db:{i}")));
            if let Some(cluster) = &source.cluster {
                clusters.push(format!("arn:aws:rds:{region}:{account}:cluster:{cluster}"));
                // A cluster's members are found when the source is read; their logs are read too.
                instances.push(format!("arn:aws:rds:{region}:{account}:db:*"));
            }
        }
        instances.sort();
        instances.dedup();
        if !clusters.is_empty() {
            statements.push(statement("RdsClusters", &["rds:DescribeDBClusters"], clusters));
        }
        if !instances.is_empty() {
            statements.push(statement(
                "RdsLogs",
                &["rds:DescribeDBInstances", "rds:DescribeDBLogFiles", "rds:DownloadDBLogFilePortion"],
                instances,
            ));
        }
    }

    if profile == Profile::Schedule
        && let Some(cloudwatch) = &settings.scheduler.cloudwatch
    {
        let namespace = cloudwatch.namespace.clone().unwrap_or_else(|| "glaux".to_string());
        // PutMetricData takes no resource; the namespace condition is what narrows it.
        let mut metrics = statement("SchedulerMetrics", &["cloudwatch:PutMetricData"], vec!["*".into()]);
        metrics["Condition"] = json!({ "StringEquals": { "cloudwatch:namespace": namespace } });
        statements.push(metrics);
    }

    if let Some(key) = &settings.warehouse.sse_kms_key_id {
        let arn =
            if key.starts_with("arn:") { key.clone() } else { format!("arn:aws:kms:{region}:{account}:key/{key}") };
        let actions: &[&str] = if writes { &["kms:Decrypt", "kms:GenerateDataKey"] } else { &["kms:Decrypt"] };
        statements.push(statement("WarehouseKey", actions, vec![arn]));
    }
    Ok(json!({ "Version": "2012-10-17", "Statement": statements }))
}
