//! Newtypes for the identifiers that travel together, so that an account id can never be passed
//! where a distribution id is expected. Each `parse` enforces the contract's rule for that field
//! and returns the rule as text when the value breaks it.

use std::fmt;

use serde::Serialize;

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identifier!(
    /// The producer's idempotency key: 1-128 chars of `[A-Za-z0-9._:-]`.
    CommandId
);
identifier!(
    /// The site a command serves: 1-128 chars of `[A-Za-z0-9._:-]`.
    SiteId
);
identifier!(
    /// A customer's AWS account: exactly 12 digits, kept as text so leading zeros survive.
    AccountId
);
identifier!(
    /// A CloudFront distribution id: `^[A-Z0-9]{12,14}$`.
    DistributionId
);
identifier!(
    /// The tenant (`...@AdobeOrg`). The AssumeRole external id and the log destination name
    /// derive from it on the server.
    ImsOrgId
);

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

fn token(value: &str) -> Result<String, String> {
    let length = value.chars().count();
    if !(1..=128).contains(&length) || !value.chars().all(is_token_char) {
        return Err("must be 1-128 characters of [A-Za-z0-9._:-]".to_owned());
    }
    Ok(value.to_owned())
}

impl CommandId {
    pub fn parse(value: &str) -> Result<Self, String> {
        token(value).map(Self)
    }
}

impl SiteId {
    pub fn parse(value: &str) -> Result<Self, String> {
        token(value).map(Self)
    }
}

impl AccountId {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(value.to_owned()))
        } else {
            Err("must be a string of exactly 12 digits".to_owned())
        }
    }
}

impl DistributionId {
    pub fn parse(value: &str) -> Result<Self, String> {
        let valid = (12..=14).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err("must match ^[A-Z0-9]{12,14}$ (a CloudFront distribution id)".to_owned())
        }
    }
}

/// The suffix every IMS org id carries.
const ORG_SUFFIX: &str = "@AdobeOrg";
/// AWS allows 60 characters for a delivery destination name, and `cdn-logs-` takes 9.
const MAX_ORG_NAME_CHARS: usize = 51;

impl ImsOrgId {
    /// Accepts `<name>@AdobeOrg` where `<name>` is 1-51 chars of `[A-Za-z0-9@_-]` starting with
    /// a letter or digit, so that the derived AWS names are always valid: the destination name
    /// `cdn-logs-<name>` must fit AWS's 60 characters.
    pub fn parse(value: &str) -> Result<Self, String> {
        let rule = "must be an IMS org id: 1-51 characters of [A-Za-z0-9@_-] starting with a \
                    letter or digit, followed by @AdobeOrg";
        let Some(name) = value.strip_suffix(ORG_SUFFIX) else {
            return Err(rule.to_owned());
        };
        let valid = (1..=MAX_ORG_NAME_CHARS).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '_' | '-'));
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(rule.to_owned())
        }
    }

    /// The org's name as used in AWS resource names: one trailing `@AdobeOrg` removed
    /// (case-sensitive), every other `@` removed, lowercased. It must match the log destination
    /// provisioner byte for byte.
    pub fn safe_name(&self) -> String {
        let trimmed = self.0.strip_suffix(ORG_SUFFIX).unwrap_or(&self.0);
        trimmed.replace('@', "").to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_id_keeps_leading_zeros_and_refuses_other_shapes() {
        assert_eq!(
            AccountId::parse("012345678901").unwrap().as_str(),
            "012345678901"
        );
        for bad in [
            "1234-5678-9012",
            "12345678901",
            "1234567890123",
            "",
            "12345678901a",
        ] {
            assert!(AccountId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn distribution_id_follows_cloudfront_shape() {
        assert!(DistributionId::parse("E2EXAMPLE1ABCD").is_ok());
        assert!(DistributionId::parse("E2EXAMPLE1AB").is_ok());
        for bad in [
            "e2example1abcd",
            "E2EXAMPLE1A",
            "E2EXAMPLE1ABCDE",
            "E2EXAMPLE1AB#",
        ] {
            assert!(DistributionId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_allow_the_contract_alphabet_only() {
        assert!(CommandId::parse("cmd-2026.12:03_1").is_ok());
        assert!(CommandId::parse(&"a".repeat(128)).is_ok());
        assert!(CommandId::parse(&"a".repeat(129)).is_err());
        assert!(CommandId::parse("").is_err());
        assert!(SiteId::parse("site 42").is_err());
        assert!(SiteId::parse("site/42").is_err());
    }

    #[test]
    fn safe_name_matches_the_provisioner() {
        let org = |s: &str| ImsOrgId::parse(s).unwrap().safe_name();
        assert_eq!(org("ABC123@AdobeOrg"), "abc123");
        assert_eq!(org("Foo@Bar@AdobeOrg"), "foobar");
        assert_eq!(org("ABC123DEF456@AdobeOrg"), "abc123def456");
    }

    #[test]
    fn ims_org_id_must_yield_a_usable_name() {
        for bad in [
            "ABC123",
            "@AdobeOrg",
            "-x@AdobeOrg",
            "a.b@AdobeOrg",
            "ABC@adobeorg",
            "",
        ] {
            assert!(ImsOrgId::parse(bad).is_err(), "{bad}");
        }
    }
}
