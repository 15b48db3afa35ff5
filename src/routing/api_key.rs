//! The site's Edge Optimize API key, read from the site's configuration object in the service's
//! own bucket (`TOKOWAKA_SITE_CONFIG_BUCKET`), and kept a secret from then on: [`ApiKey`] prints
//! as a placeholder, so no log line, record or error message can carry it.

use std::fmt;

use aws_sdk_s3 as s3;
use serde::Deserialize;
use tokio::time::Instant;

use crate::error::{ErrorCode, Failure};
use crate::retry::aws_call;
use crate::site::SiteBaseUrl;

/// An Edge Optimize API key. Only [`ApiKey::expose`] gives the value, for the origin header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The bucket of site configurations, read with the service's own credentials.
#[derive(Clone, Debug)]
pub struct SiteConfigs {
    pub s3: s3::Client,
    pub bucket: String,
}

/// The part of a site's configuration object routing needs.
#[derive(Deserialize)]
struct SiteConfig {
    #[serde(default, rename = "apiKeys")]
    api_keys: Vec<serde_json::Value>,
}

/// The largest configuration object read.
const MAX_CONFIG_BYTES: usize = 1 << 20;

impl SiteConfigs {
    /// The site's first API key. A site without one has not enabled Edge Optimize yet.
    pub async fn api_key(&self, site: &SiteBaseUrl, deadline: Instant) -> Result<ApiKey, Failure> {
        let key = site.config_key();
        let not_enabled = |why: &str| {
            Failure::new(
                ErrorCode::NotProvisioned,
                format!(
                    "the site {site} has no Edge Optimize API key ({why}); enable Edge Optimize \
                     for the site first, then send the command again"
                ),
            )
        };
        let object = aws_call(deadline, || {
            self.s3.get_object().bucket(&self.bucket).key(&key).send()
        })
        .await;
        let object = match object {
            Ok(object) => object,
            Err(fault) if fault.is("NoSuchKey") || fault.status == Some(404) => {
                return Err(not_enabled("its configuration object does not exist"))
            }
            // S3 redirects a request sent to another region than the bucket's.
            Err(fault)
                if fault.is("PermanentRedirect")
                    || fault.is("AuthorizationHeaderMalformed")
                    || fault.status == Some(301) =>
            {
                tracing::error!(
                    aws_error = fault.code(),
                    bucket = %self.bucket,
                    "the site configuration bucket is in another region"
                );
                return Err(Failure::new(
                    ErrorCode::Internal,
                    "the site configuration bucket is in another region than the service reads \
                     it in; the platform team sets TOKOWAKA_SITE_CONFIG_BUCKET_REGION (stack \
                     parameter SiteConfigBucketRegion) to the bucket's region",
                ));
            }
            Err(fault) => {
                tracing::error!(
                    aws_error = fault.code(),
                    "could not read the site configuration bucket"
                );
                return Err(Failure::new(
                    ErrorCode::Internal,
                    "the service could not read the site's configuration (s3:GetObject on the site \
                     configuration bucket); the command will be retried",
                ));
            }
        };
        if object.content_length().unwrap_or(0) as usize > MAX_CONFIG_BYTES {
            return Err(not_enabled(
                "its configuration object is too large to be a configuration",
            ));
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|_| {
                Failure::new(
                    ErrorCode::Unavailable,
                    "reading the site's configuration was interrupted; the command will be retried",
                )
            })?
            .into_bytes();
        let config: SiteConfig = serde_json::from_slice(&bytes)
            .map_err(|_| not_enabled("its configuration object is not valid JSON"))?;
        config
            .api_keys
            .iter()
            .filter_map(|k| k.as_str())
            .map(str::trim)
            .find(|k| !k.is_empty())
            .map(ApiKey::new)
            .ok_or_else(|| not_enabled("its configuration lists no apiKeys"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_prints() {
        let key = ApiKey::new("sk-live-123");
        assert_eq!(format!("{key}"), "<redacted>");
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert_eq!(key.expose(), "sk-live-123");
    }
}
