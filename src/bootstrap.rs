//! The onboarding link: the CloudFormation quick-create URL a customer opens to create the
//! connector role in their own account, with the template presigned from the service's
//! template bucket (it stays private; the customer needs no S3 access), the trusted principal,
//! the external id derived exactly as the connector derives it, the role name, and the variant.

use std::time::Duration;

use aws_sdk_s3 as s3;
use serde::Serialize;

use crate::connector::{external_id, CONTROL_PLANE_REGION};
use crate::customer_template::file_name;
use crate::ids::{AccountId, ImsOrgId};
use crate::permissions::Variant;

/// How long the presigned template URL works: long enough to open the console and launch.
pub const PRESIGN_TTL: Duration = Duration::from_secs(900);
/// The stack the customer creates.
pub const STACK_NAME: &str = "adobe-edgeoptimize-connector-role";
const CONSOLE: &str = "https://us-east-1.console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/quickcreate?";

/// Where the templates are and whom the role trusts.
#[derive(Clone, Debug)]
pub struct Templates {
    pub s3: s3::Client,
    /// `CDN_ONBOARD_TEMPLATE_BUCKET`.
    pub bucket: String,
    /// `CDN_ONBOARD_TRUSTED_PRINCIPAL_ARN`: the service's execution role.
    pub trusted_principal_arn: String,
    /// `EDGE_OPTIMIZE_ROLE_NAME`.
    pub role_name: String,
}

/// What a customer needs to create the connector role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapLink {
    pub quick_create_url: String,
    pub template_url: String,
    pub stack_name: String,
    pub variant: &'static str,
    pub external_id: String,
    pub role_name: String,
    pub role_arn: String,
    pub trusted_principal_arn: String,
    pub presign_ttl_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("the trusted principal {0} is not an IAM role or account ARN")]
    Principal(String),
    #[error("the template URL could not be presigned: {0}")]
    Presign(String),
    #[error(
        "the bucket {bucket} holds no {key}: publish infra/customer/*.json to it first (README, \
         \"Deploying\", step 4)"
    )]
    Missing { bucket: String, key: String },
    #[error(
        "the template {key} in bucket {bucket} is missing, or these credentials may not read it \
         (without s3:ListBucket S3 answers 403 for a missing object): publish \
         infra/customer/*.json to it (README, \"Deploying\", step 4), and grant s3:GetObject on \
         connector-role-*.json and s3:ListBucket on the bucket"
    )]
    Forbidden { bucket: String, key: String },
    #[error("the template {key} in bucket {bucket} could not be read: {reason}")]
    Unreadable {
        bucket: String,
        key: String,
        reason: String,
    },
}

impl Templates {
    /// The quick-create link for `account_id` and the tenant `ims_org_id`.
    pub async fn link(
        &self,
        account_id: &AccountId,
        ims_org_id: &ImsOrgId,
        variant: Variant,
    ) -> Result<BootstrapLink, BootstrapError> {
        if !is_principal(&self.trusted_principal_arn) {
            return Err(BootstrapError::Principal(
                self.trusted_principal_arn.clone(),
            ));
        }
        let key = file_name(variant);
        // The customer would find a missing template only in the console; say it here.
        if let Err(error) = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            let fault = crate::error::AwsFault::from_sdk(&error);
            let (bucket, key) = (self.bucket.clone(), key.clone());
            return Err(if fault.status == Some(404) || fault.is("NoSuchBucket") {
                BootstrapError::Missing { bucket, key }
            } else if fault.status == Some(403) {
                BootstrapError::Forbidden { bucket, key }
            } else {
                BootstrapError::Unreadable {
                    bucket,
                    key,
                    reason: fault.describe(),
                }
            });
        }
        let presigning = s3::presigning::PresigningConfig::expires_in(PRESIGN_TTL)
            .map_err(|e| BootstrapError::Presign(e.to_string()))?;
        let presigned = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(|e| {
                BootstrapError::Presign(crate::error::AwsFault::from_sdk(&e).code().to_owned())
            })?;
        let template_url = presigned.uri().to_owned();
        let external_id = external_id(ims_org_id).to_owned();
        let quick_create_url = quick_create_url(
            &template_url,
            &self.trusted_principal_arn,
            &external_id,
            &self.role_name,
        );
        Ok(BootstrapLink {
            quick_create_url,
            template_url,
            stack_name: STACK_NAME.to_owned(),
            variant: variant.as_str(),
            external_id,
            role_name: self.role_name.clone(),
            role_arn: format!("arn:aws:iam::{account_id}:role/{}", self.role_name),
            trusted_principal_arn: self.trusted_principal_arn.clone(),
            presign_ttl_seconds: PRESIGN_TTL.as_secs(),
        })
    }
}

/// The console's quick-create URL: its parameters form-encoded after the `#` fragment.
pub fn quick_create_url(
    template_url: &str,
    trusted_principal_arn: &str,
    external_id: &str,
    role_name: &str,
) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("templateURL", template_url)
        .append_pair("stackName", STACK_NAME)
        .append_pair("param_TrustedPrincipalArn", trusted_principal_arn)
        .append_pair("param_ExternalId", external_id)
        .append_pair("param_RoleName", role_name)
        .finish();
    debug_assert_eq!(CONTROL_PLANE_REGION, "us-east-1");
    format!("{CONSOLE}{query}")
}

fn is_principal(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws:iam::") else {
        return false;
    };
    let (account, resource) = rest.split_at(rest.find(':').unwrap_or(rest.len()));
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (resource == ":root" || resource.starts_with(":role/") && resource.len() > 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_every_parameter_after_the_fragment() {
        let url = quick_create_url(
            "https://bucket.s3.amazonaws.com/connector-role-log-only.json?X-Amz-Signature=a&b=c",
            "arn:aws:iam::123456789012:role/cdn-onboard",
            "ABC123DEF456@AdobeOrg",
            "AdobeLLMOptimizerCloudFrontConnectorRole",
        );
        let (base, query) = url.split_once("quickcreate?").unwrap();
        assert!(base.ends_with("#/stacks/"));
        let pairs: std::collections::HashMap<_, _> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            pairs["templateURL"],
            "https://bucket.s3.amazonaws.com/connector-role-log-only.json?X-Amz-Signature=a&b=c"
        );
        assert_eq!(pairs["param_ExternalId"], "ABC123DEF456@AdobeOrg");
        assert_eq!(pairs["stackName"], STACK_NAME);
    }

    #[test]
    fn only_roles_and_accounts_are_principals() {
        assert!(is_principal(
            "arn:aws:iam::123456789012:role/cdn-onboard-ExecutionRole-1"
        ));
        assert!(is_principal("arn:aws:iam::123456789012:root"));
        assert!(!is_principal("arn:aws:iam::123456789012:user/someone"));
        assert!(!is_principal("*"));
        assert!(!is_principal("arn:aws:iam::12345:root"));
    }
}
