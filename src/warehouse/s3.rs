//! S3 access: object_store's S3 client signed with credentials from the standard AWS chain.
//!
//! object_store ships its own credential lookup, but it does not read profiles or SSO. glaux
//! hands it [`AwsChainCredentials`] instead, which asks aws-config's default chain (environment,
//! profile, SSO, web identity, container and instance roles) the first time a request needs to be
//! signed and caches the answer until shortly before it expires. Nothing here prints or stores a
//! credential; `Debug` shows none.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, AwsCredential};
use object_store::{CredentialProvider, ObjectStore};
use tokio::sync::{Mutex, OnceCell};

use crate::config::WarehouseSettings;

/// Refresh cached credentials this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Opens `bucket` with the warehouse's S3 settings.
pub fn open_bucket(bucket: &str, settings: &WarehouseSettings) -> object_store::Result<Arc<dyn ObjectStore>> {
    S3Connector::new(settings).bucket(bucket)
}

/// An AWS SDK S3 client with the warehouse's region, endpoint and addressing, for the calls
/// object_store does not make (copies into another storage class, restores, lifecycle rules).
/// Credentials come from the standard AWS chain.
pub async fn sdk_client(settings: &WarehouseSettings) -> aws_sdk_s3::Client {
    let mut loader = super::aws_defaults();
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let config = loader.load().await;
    let mut builder = aws_sdk_s3::config::Builder::from(&config).force_path_style(settings.path_style);
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// Builds S3 stores for any bucket with one set of endpoint settings and one credential cache.
#[derive(Debug, Clone)]
pub struct S3Connector {
    settings: WarehouseSettings,
    credentials: Arc<AwsChainCredentials>,
}

impl S3Connector {
    /// A connector for the given settings; no AWS call is made until a request needs signing.
    pub fn new(settings: &WarehouseSettings) -> S3Connector {
        S3Connector { settings: settings.clone(), credentials: Arc::new(AwsChainCredentials::default()) }
    }

    /// An object store for one bucket.
    pub fn bucket(&self, bucket: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
        let s = &self.settings;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(s.region.clone().unwrap_or_else(|| "us-east-1".to_string()))
            .with_allow_http(s.allow_http)
            .with_virtual_hosted_style_request(!s.path_style)
            .with_credentials(self.credentials.clone());
        if let Some(endpoint) = &s.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key_id) = &s.sse_kms_key_id {
            builder = builder.with_sse_kms_encryption(key_id);
        } else if let Some(mode) = &s.sse {
            let key: AmazonS3ConfigKey = "aws_server_side_encryption".parse()?;
            builder = builder.with_config(key, mode);
        }
        Ok(Arc::new(builder.build()?))
    }
}

/// The default AWS credential chain, adapted to object_store and cached.
#[derive(Default)]
pub struct AwsChainCredentials {
    provider: OnceCell<SharedCredentialsProvider>,
    cached: Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl std::fmt::Debug for AwsChainCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsChainCredentials")
    }
}

impl AwsChainCredentials {
    async fn provider(&self) -> object_store::Result<&SharedCredentialsProvider> {
        self.provider
            .get_or_try_init(|| async {
                let config = super::aws_defaults().load().await;
                config.credentials_provider().ok_or_else(|| object_store::Error::Generic {
                    store: "S3",
                    source: "the AWS credential chain is not available".into(),
                })
            })
            .await
    }
}

#[async_trait::async_trait]
impl CredentialProvider for AwsChainCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some((credential, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|at| SystemTime::now() + REFRESH_MARGIN < at);
            if fresh {
                return Ok(credential.clone());
            }
        }
        let provider = self.provider().await?;
        let found = provider.provide_credentials().await.map_err(|e| object_store::Error::Generic {
            store: "S3",
            source: format!(
                "no AWS credentials from the standard chain (environment, profile, SSO, instance role): {e}; \
                 set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            )
            .into(),
        })?;
        let credential = Arc::new(AwsCredential {
            key_id: found.access_key_id().to_string(),
            secret_key: found.secret_access_key().to_string(),
            token: found.session_token().map(str::to_string),
        });
        *cached = Some((credential.clone(), found.expiry()));
        Ok(credential)
    }
}
