//! S3 lifecycle rules from the registry: `glaux lifecycle plan` and `apply`.
//!
//! glaux owns the rules whose ID starts with [`OWNED_PREFIX`] and never touches another. The
//! rules it derives are the ones S3 can apply without breaking a table: S3 expires objects by
//! their age, not by the dates of the partitions they hold, so live table files are left to
//! glaux's own retention and vacuum (which drop and remove them by partition date and by what
//! the snapshots name), and S3 gets
//!
//! - `glaux:abort-incomplete-uploads`: multipart uploads of killed writers, aborted after
//!   [`ABORT_UPLOADS_AFTER_DAYS`] days, on the whole warehouse prefix;
//! - `glaux:expire-archive:<db>.<table>`: for a table with a retention of N days, its archived
//!   copies (`_glaux/archive/<db>/<table>/`) expire N days after they were archived.

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter,
};

use crate::catalog::Catalog;
use crate::catalog::table::Retention;
use crate::error::{Categorize, Category};

/// IDs of the rules glaux owns start with this.
pub const OWNED_PREFIX: &str = "glaux:";

/// Days after which an incomplete multipart upload is aborted.
pub const ABORT_UPLOADS_AFTER_DAYS: i32 = 2;

/// One lifecycle rule, as glaux shows and compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's ID.
    pub id: String,
    /// The key prefix it applies to.
    pub prefix: String,
    /// What it does, in words (`expire after 90 days`).
    pub action: String,
    /// Whether glaux owns it.
    pub owned: bool,
}

/// The bucket's rules and the ones the registry implies.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The warehouse bucket.
    pub bucket: String,
    /// Rules in the bucket now.
    pub current: Vec<LifecycleRule>,
    /// Rules glaux would own.
    pub wanted: Vec<LifecycleRule>,
}

/// Why the rules could not be read or set.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// Lifecycle rules are an S3 feature.
    #[error("the warehouse is a local directory; S3 lifecycle rules apply to an s3:// warehouse")]
    Local,
    /// S3 refused.
    #[error("lifecycle rules of bucket {bucket}: {reason}")]
    S3 {
        /// the bucket
        bucket: String,
        /// what S3 said
        reason: String,
    },
}

impl Categorize for RulesError {
    fn category(&self) -> Category {
        match self {
            RulesError::Local => Category::Usage,
            RulesError::S3 { .. } => Category::Io,
        }
    }
}

fn rule(id: String, prefix: String) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

/// The rules the registry implies for the warehouse's bucket; `retention` overrides the tables'
/// own (from `glaux.toml`).
pub fn wanted(
    catalog: &Catalog,
    retention: &std::collections::BTreeMap<String, Retention>,
) -> Result<Vec<LifecycleRule>, RulesError> {
    let wh = &catalog.warehouse;
    if wh.is_local() {
        return Err(RulesError::Local);
    }
    let root = wh.path("").to_string();
    let under = |relative: &str| if root.is_empty() { relative.to_string() } else { format!("{root}/{relative}") };
    let mut rules = vec![
        rule(format!("{OWNED_PREFIX}abort-incomplete-uploads"), under(""))
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(ABORT_UPLOADS_AFTER_DAYS).build(),
            )
            .build()
            .expect("the rule's status is set"),
    ];
    for def in catalog.registry.tables() {
        let name = def.qualified_name();
        let Some(kept) = retention.get(&name).or(def.retention.as_ref()) else { continue };
        let days = i32::try_from(kept.keep.num_days()).unwrap_or(i32::MAX).max(1);
        rules.push(
            rule(format!("{OWNED_PREFIX}expire-archive:{name}"), under(&crate::catalog::archives::archive_prefix(def)))
                .expiration(LifecycleExpiration::builder().days(days).build())
                .build()
                .expect("the rule's status is set"),
        );
    }
    Ok(rules)
}

/// The bucket's current rules beside the wanted ones.
pub async fn plan(
    catalog: &Catalog,
    client: &aws_sdk_s3::Client,
    retention: &std::collections::BTreeMap<String, Retention>,
) -> Result<Plan, RulesError> {
    let wanted = wanted(catalog, retention)?;
    let bucket = catalog.warehouse.url().host_str().unwrap_or_default().to_string();
    let current = match client.get_bucket_lifecycle_configuration().bucket(&bucket).send().await {
        Ok(output) => output.rules().to_vec(),
        Err(e) if e.as_service_error().and_then(|s| s.meta().code()) == Some("NoSuchLifecycleConfiguration") => {
            Vec::new()
        }
        Err(e) => {
            return Err(RulesError::S3 { bucket, reason: aws_sdk_s3::error::DisplayErrorContext(&e).to_string() });
        }
    };
    Ok(Plan { bucket, current, wanted })
}

impl Plan {
    /// The rules the bucket has after [`apply`]: every rule glaux does not own, then glaux's.
    pub fn after(&self) -> Vec<LifecycleRule> {
        let foreign = self.current.iter().filter(|r| !owned(r)).cloned();
        foreign.chain(self.wanted.iter().cloned()).collect()
    }

    /// Whether applying would change nothing.
    pub fn is_current(&self) -> bool {
        let mine: Vec<Rule> = self.current.iter().filter(|r| owned(r)).map(describe).collect();
        let wanted: Vec<Rule> = self.wanted.iter().map(describe).collect();
        mine.len() == wanted.len() && wanted.iter().all(|w| mine.contains(w))
    }
}

fn owned(rule: &LifecycleRule) -> bool {
    rule.id().is_some_and(|id| id.starts_with(OWNED_PREFIX))
}

/// A rule in words.
pub fn describe(rule: &LifecycleRule) -> Rule {
    let mut action = Vec::new();
    if let Some(days) = rule.expiration().and_then(|e| e.days()) {
        action.push(format!("expire {days} days after creation"));
    }
    if let Some(days) = rule.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()) {
        action.push(format!("abort incomplete multipart uploads after {days} days"));
    }
    for transition in rule.transitions() {
        let class = transition.storage_class().map(|c| c.as_str().to_string()).unwrap_or_default();
        action.push(format!("to {class} after {} days", transition.days().unwrap_or_default()));
    }
    if action.is_empty() {
        action.push("other actions".into());
    }
    // Rules written by older tools carry the prefix outside a filter.
    #[allow(deprecated)]
    let legacy = rule.prefix();
    let prefix = rule.filter().and_then(|f| f.prefix()).or(legacy).unwrap_or_default().to_string();
    Rule { id: rule.id().unwrap_or_default().to_string(), prefix, action: action.join("; "), owned: owned(rule) }
}

/// Sets the bucket's rules to [`Plan::after`]: rules glaux does not own are kept as they are.
pub async fn apply(plan: &Plan, client: &aws_sdk_s3::Client) -> Result<(), RulesError> {
    let configuration = BucketLifecycleConfiguration::builder()
        .set_rules(Some(plan.after()))
        .build()
        .map_err(|e| RulesError::S3 { bucket: plan.bucket.clone(), reason: e.to_string() })?;
    client
        .put_bucket_lifecycle_configuration()
        .bucket(&plan.bucket)
        .lifecycle_configuration(configuration)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| RulesError::S3 {
            bucket: plan.bucket.clone(),
            reason: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
        })
}
