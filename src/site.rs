//! The site a routing command serves, from its `siteBaseUrl`: the host the customer's visitors
//! use, the host Edge Optimize is told to render, and where the site's configuration lives.

use std::fmt;

/// A site's base URL: `https://<host>` with no path beyond `/`, no port, no credentials, no
/// query. Subpath sites are not supported by edge routing (the routing function works on whole
/// hosts), so they are refused when the command is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteBaseUrl {
    host: String,
}

impl SiteBaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rule = "must be the site's https URL, such as https://www.example.com";
        if raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(rule.to_owned());
        }
        let url = url::Url::parse(raw).map_err(|_| rule.to_owned())?;
        if url.scheme() != "https" {
            return Err(format!("{rule} (https only)"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{rule} (no user name or password)"));
        }
        if url.port().is_some() {
            return Err(format!("{rule} (no port)"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{rule} (no query or fragment)"));
        }
        if url.path() != "/" {
            return Err(
                "must be the site's https URL without a path: edge routing is not supported for \
                 subpath sites"
                    .to_owned(),
            );
        }
        let Some(url::Host::Domain(host)) = url.host() else {
            return Err(format!("{rule} (a domain name, not an IP address)"));
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !is_domain_name(&host) {
            return Err(format!(
                "{rule} (a fully qualified domain name: labels of letters, digits and hyphens)"
            ));
        }
        Ok(Self { host })
    }

    /// The host as given, lowercased (punycode for international names).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host Edge Optimize renders for: the base host, with `www.` in front when the base
    /// host is an apex domain (exactly one dot), as the site's own configuration names it.
    pub fn forwarded_host(&self) -> String {
        if self.host.starts_with("www.") || self.host.matches('.').count() != 1 {
            self.host.clone()
        } else {
            format!("www.{}", self.host)
        }
    }

    /// Every host a distribution serving this site may list as an alias.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts = vec![self.host.clone()];
        let forwarded = self.forwarded_host();
        if forwarded != self.host {
            hosts.push(forwarded);
        }
        hosts
    }

    /// The key of the site's configuration object (its Edge Optimize API key) in the site
    /// configuration bucket: `opportunities/<host without a leading www.>/config`.
    pub fn config_key(&self) -> String {
        let bare = self.host.strip_prefix("www.").unwrap_or(&self.host);
        format!("opportunities/{bare}/config")
    }
}

/// A fully qualified DNS name: at least two labels of 1-63 letters, digits and inner hyphens
/// (international names as their punycode `xn--` form), 253 characters at most.
pub fn is_domain_name(name: &str) -> bool {
    name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl fmt::Display for SiteBaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "https://{}", self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apex_hosts_forward_as_www() {
        let apex = SiteBaseUrl::parse("https://Example.com/").unwrap();
        assert_eq!(apex.host(), "example.com");
        assert_eq!(apex.forwarded_host(), "www.example.com");
        assert_eq!(apex.hosts(), ["example.com", "www.example.com"]);
        assert_eq!(apex.config_key(), "opportunities/example.com/config");

        let www = SiteBaseUrl::parse("https://www.example.com").unwrap();
        assert_eq!(www.forwarded_host(), "www.example.com");
        assert_eq!(www.hosts(), ["www.example.com"]);
        assert_eq!(www.config_key(), "opportunities/example.com/config");

        let shop = SiteBaseUrl::parse("https://shop.example.co.uk").unwrap();
        assert_eq!(shop.forwarded_host(), "shop.example.co.uk");

        let international = SiteBaseUrl::parse("https://bücher.example/").unwrap();
        assert_eq!(international.host(), "xn--bcher-kva.example");
    }

    #[test]
    fn refuses_what_routing_cannot_serve() {
        for raw in [
            "http://www.example.com",
            "https://www.example.com/shop",
            "https://www.example.com:8443",
            "https://user:pw@www.example.com",
            "https://www.example.com/?a=1",
            "https://10.0.0.1",
            "https://localhost",
            "www.example.com",
            "https://www.exa mple.com",
            "",
            "https://*.example.com",
            "https://www.exa\"mple.com",
            "https://a{b}.example.com",
            "https://a;b.example.com",
            "https://.example.com",
            "https://a..example.com",
            "https://-a.example.com",
        ] {
            assert!(SiteBaseUrl::parse(raw).is_err(), "{raw}");
        }
        let subpath = SiteBaseUrl::parse("https://www.example.com/en/").unwrap_err();
        assert!(subpath.contains("subpath"), "{subpath}");
    }
}
