//! The params of the routing commands (`deploy-step`, `plan-deploy`, `discover`): which step,
//! which behavior, which site, which paths. Read with the same strictness as the envelope.

use serde_json::{Map, Value};

use crate::command::{distribution_id, printable, reject_unknown};
use crate::ids::DistributionId;
use crate::site::SiteBaseUrl;

/// The deploy steps, in the order `step: all` runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepKey {
    Origin,
    Function,
    Cache,
    Lambda,
    Associate,
    Propagation,
    Verify,
}

impl StepKey {
    pub const ALL: [StepKey; 7] = [
        Self::Origin,
        Self::Function,
        Self::Cache,
        Self::Lambda,
        Self::Associate,
        Self::Propagation,
        Self::Verify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Origin => "origin",
            Self::Function => "function",
            Self::Cache => "cache",
            Self::Lambda => "lambda",
            Self::Associate => "associate",
            Self::Propagation => "propagation",
            Self::Verify => "verify",
        }
    }

    /// What the UI shows for the step.
    pub fn label(self) -> &'static str {
        match self {
            Self::Origin => "Edge Optimize origin",
            Self::Function => "Routing function",
            Self::Cache => "Cache policy",
            Self::Lambda => "Lambda@Edge",
            Self::Associate => "Association",
            Self::Propagation => "Propagation",
            Self::Verify => "Verify routing",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Steps that change the customer's account; the others only read and probe.
    pub fn is_mutating(self) -> bool {
        !matches!(self, Self::Propagation | Self::Verify)
    }
}

/// What a `deploy-step` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepChoice {
    One(StepKey),
    All,
    /// Of the steps that change the distribution, in order, those the tenant deployed: what a
    /// rescan's heal runs. A step the tenant never ran is never run for them.
    Converge(StepSet),
}

impl StepChoice {
    pub fn steps(self) -> Vec<StepKey> {
        match self {
            Self::One(step) => vec![step],
            Self::All => StepKey::ALL.to_vec(),
            Self::Converge(deployed) => StepKey::ALL
                .into_iter()
                .filter(|s| s.is_mutating() && deployed.contains(*s))
                .collect(),
        }
    }
}

/// A set of steps: those a tenant's deploys completed, as the routing target records them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepSet(u8);

impl StepSet {
    pub fn contains(self, step: StepKey) -> bool {
        self.0 & Self::bit(step) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The steps in order, by name.
    pub fn names(self) -> Vec<&'static str> {
        StepKey::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(StepKey::as_str)
            .collect()
    }

    fn bit(step: StepKey) -> u8 {
        1 << StepKey::ALL.iter().position(|s| *s == step).unwrap_or(0)
    }
}

impl FromIterator<StepKey> for StepSet {
    fn from_iter<I: IntoIterator<Item = StepKey>>(steps: I) -> Self {
        Self(steps.into_iter().fold(0, |bits, s| bits | Self::bit(s)))
    }
}

/// The cache behavior routing is deployed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behavior {
    Default,
    /// An ordered behavior, by its exact path pattern.
    Path(String),
}

impl Behavior {
    pub fn describe(&self) -> String {
        match self {
            Self::Default => "the default behavior".to_owned(),
            Self::Path(pattern) => format!("the behavior '{pattern}'"),
        }
    }

    pub fn as_param(&self) -> &str {
        match self {
            Self::Default => "default",
            Self::Path(pattern) => pattern,
        }
    }
}

/// The params `deploy-step` and `plan-deploy` share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingParams {
    pub distribution_id: DistributionId,
    pub behavior: Behavior,
    pub site_base_url: SiteBaseUrl,
    /// Routing limited to these exact paths; `None` routes every HTML page.
    pub targeted_paths: Option<Vec<String>>,
    pub allow_domain_mismatch: bool,
}

/// At most this many targeted paths: the routing function must stay under CloudFront's 10 KB.
pub const MAX_TARGETED_PATHS: usize = 20;
const MAX_TARGETED_PATH_CHARS: usize = 256;
/// CloudFront allows path patterns of up to 255 characters.
const MAX_PATH_PATTERN_CHARS: usize = 255;

const ROUTING_FIELDS: [&str; 5] = [
    "distributionId",
    "behavior",
    "siteBaseUrl",
    "targetedPaths",
    "allowDomainMismatch",
];

pub fn deploy_step(params: &Map<String, Value>) -> Result<(StepChoice, RoutingParams), String> {
    let mut allowed = ROUTING_FIELDS.to_vec();
    allowed.push("step");
    reject_unknown("params.", params, &allowed)?;
    let step = match params.get("step") {
        Some(Value::String(name)) if name == "all" => StepChoice::All,
        Some(Value::String(name)) => {
            StepChoice::One(StepKey::from_name(name).ok_or_else(|| {
                format!(
                    "params.step '{}' is unknown; expected one of {}, all",
                    printable(name),
                    StepKey::ALL.map(StepKey::as_str).join(", ")
                )
            })?)
        }
        Some(_) => return Err("params.step must be a string".to_owned()),
        None => return Err("params.step is required".to_owned()),
    };
    Ok((step, routing(params)?))
}

pub fn plan_deploy(params: &Map<String, Value>) -> Result<RoutingParams, String> {
    reject_unknown("params.", params, &ROUTING_FIELDS)?;
    routing(params)
}

pub fn discover(params: &Map<String, Value>) -> Result<Option<DistributionId>, String> {
    reject_unknown("params.", params, &["distributionId"])?;
    match params.get("distributionId") {
        None => Ok(None),
        Some(_) => distribution_id(params).map(Some),
    }
}

fn routing(params: &Map<String, Value>) -> Result<RoutingParams, String> {
    let site_base_url = match params.get("siteBaseUrl") {
        Some(Value::String(raw)) => {
            SiteBaseUrl::parse(raw).map_err(|rule| format!("params.siteBaseUrl {rule}"))?
        }
        Some(_) => return Err("params.siteBaseUrl must be a string".to_owned()),
        None => return Err("params.siteBaseUrl is required".to_owned()),
    };
    let allow_domain_mismatch = match params.get("allowDomainMismatch") {
        None => false,
        Some(Value::Bool(allowed)) => *allowed,
        Some(_) => return Err("params.allowDomainMismatch must be true or false".to_owned()),
    };
    Ok(RoutingParams {
        distribution_id: distribution_id(params)?,
        behavior: behavior(params.get("behavior"))?,
        site_base_url,
        targeted_paths: targeted_paths(params.get("targetedPaths"))?,
        allow_domain_mismatch,
    })
}

fn behavior(value: Option<&Value>) -> Result<Behavior, String> {
    let pattern = match value {
        None => return Ok(Behavior::Default),
        Some(Value::String(pattern)) => pattern.trim(),
        Some(_) => return Err("params.behavior must be a string".to_owned()),
    };
    if pattern.is_empty() || pattern == "default" || pattern == "Default (*)" || pattern == "*" {
        return Ok(Behavior::Default);
    }
    let valid = pattern.chars().count() <= MAX_PATH_PATTERN_CHARS
        && pattern.chars().all(|c| c.is_ascii_graphic());
    if !valid {
        return Err(format!(
            "params.behavior must be 'default' or a CloudFront path pattern: 1-{MAX_PATH_PATTERN_CHARS} printable ASCII characters"
        ));
    }
    Ok(Behavior::Path(pattern.to_owned()))
}

fn targeted_paths(value: Option<&Value>) -> Result<Option<Vec<String>>, String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("params.targetedPaths must be an array of paths".to_owned()),
    };
    if items.is_empty() {
        return Err(
            "params.targetedPaths must name at least one page; leave it out to route every page"
                .to_owned(),
        );
    }
    if items.len() > MAX_TARGETED_PATHS {
        return Err(format!(
            "params.targetedPaths supports at most {MAX_TARGETED_PATHS} paths"
        ));
    }
    let mut paths = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let valid = item.as_str().filter(|p| {
            (1..=MAX_TARGETED_PATH_CHARS).contains(&p.len())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_.*-".contains(c))
        });
        match valid {
            Some(path) => paths.push(path.to_owned()),
            None => {
                return Err(format!(
                    "params.targetedPaths[{i}] must be 1-{MAX_TARGETED_PATH_CHARS} characters of [a-zA-Z0-9/_.*-]"
                ))
            }
        }
        let path = &paths[paths.len() - 1];
        if !path.starts_with('/') || !is_html_page(path) {
            return Err(format!(
                "params.targetedPaths[{i}] must be a page's path: starting with '/', and ending \
                 with '/', '.html' or a segment without a dot (the routing function routes \
                 only pages)"
            ));
        }
    }
    Ok(Some(paths))
}

/// The routing function's rule for a page: the path ends with `/`, with `.html`, or with a
/// segment that has no dot.
pub fn is_html_page(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    path.ends_with('/') || path.ends_with(".html") || (!last.is_empty() && !last.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn base() -> Value {
        json!({"distributionId": "E2EXAMPLE1ABCD", "siteBaseUrl": "https://www.example.com"})
    }

    fn with(field: &str, value: Value) -> Map<String, Value> {
        let mut p = params(base());
        p.insert(field.to_owned(), value);
        p
    }

    #[test]
    fn defaults_are_the_default_behavior_and_every_page() {
        let routing = plan_deploy(&params(base())).unwrap();
        assert_eq!(routing.behavior, Behavior::Default);
        assert_eq!(routing.targeted_paths, None);
        assert!(!routing.allow_domain_mismatch);
        for alias in ["default", "Default (*)", " ", "*"] {
            let routing = plan_deploy(&with("behavior", json!(alias))).unwrap();
            assert_eq!(routing.behavior, Behavior::Default, "{alias}");
        }
        let routing = plan_deploy(&with("behavior", json!("/api/*"))).unwrap();
        assert_eq!(routing.behavior, Behavior::Path("/api/*".into()));
    }

    #[test]
    fn steps_are_named_or_all() {
        let (step, _) = deploy_step(&with("step", json!("all"))).unwrap();
        assert_eq!(step, StepChoice::All);
        assert_eq!(step.steps().len(), 7);
        let (step, _) = deploy_step(&with("step", json!("cache"))).unwrap();
        assert_eq!(step, StepChoice::One(StepKey::Cache));
        let error = deploy_step(&with("step", json!("caches"))).unwrap_err();
        assert!(
            error.starts_with("params.step 'caches' is unknown"),
            "{error}"
        );
        assert!(deploy_step(&params(base()))
            .unwrap_err()
            .contains("params.step is required"));
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let many: Vec<String> = (0..21).map(|i| format!("/p{i}")).collect();
        let cases = [
            ("targetedPaths", json!(many), "at most 20"),
            (
                "targetedPaths",
                json!(["/ok", "/bad path"]),
                "params.targetedPaths[1]",
            ),
            ("targetedPaths", json!([""]), "params.targetedPaths[0]"),
            ("targetedPaths", json!([]), "at least one page"),
            (
                "targetedPaths",
                json!(["/", "products"]),
                "params.targetedPaths[1] must be a page",
            ),
            (
                "targetedPaths",
                json!(["/products.json"]),
                "params.targetedPaths[0] must be a page",
            ),
            (
                "targetedPaths",
                json!("/"),
                "params.targetedPaths must be an array",
            ),
            (
                "siteBaseUrl",
                json!("http://www.example.com"),
                "params.siteBaseUrl",
            ),
            (
                "siteBaseUrl",
                json!("https://www.example.com/de"),
                "subpath",
            ),
            (
                "allowDomainMismatch",
                json!("yes"),
                "params.allowDomainMismatch",
            ),
            ("behavior", json!("/a\u{7}"), "params.behavior"),
            ("distributionId", json!("e2"), "params.distributionId"),
            ("stepp", json!("all"), "unknown field params.stepp"),
        ];
        for (field, value, expected) in cases {
            let error = plan_deploy(&with(field, value)).unwrap_err();
            assert!(error.contains(expected), "{field}: {error}");
        }
    }

    #[test]
    fn discover_takes_an_optional_distribution() {
        assert_eq!(discover(&Map::new()), Ok(None));
        let one = discover(&params(json!({"distributionId": "E2EXAMPLE1ABCD"}))).unwrap();
        assert_eq!(one.unwrap().as_str(), "E2EXAMPLE1ABCD");
        assert!(discover(&params(json!({"siteBaseUrl": "x"}))).is_err());
    }
}
