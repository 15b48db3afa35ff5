//! The generated edge code, run: the routing function and the Lambda@Edge handler executed by
//! Node.js with the events CloudFront sends them, checking the behaviour the reference fixes
//! (which requests are routed, which headers are stripped or set, how failover is marked).
//!
//! CloudFront Functions run a JavaScript runtime of their own (`cloudfront-js-2.0`); Node.js
//! runs the same source with the `cloudfront` helper module replaced by a recorder, which is
//! enough to check the logic, not the runtime's own limits (the 10 KB size is checked apart).

use std::path::Path;
use std::process::Command;

use cdn_onboard::edge::code::{origin_handler, routing_function, FAILOVER_STATUS_CODES};
use serde_json::Value;

const EDGE_DOMAIN: &str = "live.edgeoptimize.net";

/// Runs the harness against the two generated sources; returns what each scenario produced.
fn run(function_source: &str, dir: &Path) -> Value {
    let function = dir.join("routing.js");
    let handler = dir.join("index.mjs");
    let harness = dir.join("harness.mjs");
    std::fs::write(&function, function_source).unwrap();
    std::fs::write(&handler, origin_handler(EDGE_DOMAIN)).unwrap();
    std::fs::write(&harness, HARNESS).unwrap();
    let output = Command::new("node")
        .arg(&harness)
        .arg(&function)
        .arg(&handler)
        .output()
        .unwrap_or_else(|error| {
            panic!("node (Node.js) is needed to run the generated edge code: {error}")
        });
    assert!(
        output.status.success(),
        "the edge code failed under node: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The edge code logs with console.log; the harness's result is the last line.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|_| panic!("the harness prints JSON last: {stdout}"))
}

const HARNESS: &str = r#"
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [functionPath, handlerPath] = process.argv.slice(2);
const groups = [];
globalThis.recordingCloudFront = { createRequestOriginGroup: (group) => groups.push(group) };
const source = readFileSync(functionPath, 'utf8');
if (!source.startsWith("import cf from 'cloudfront';")) throw new Error('no cloudfront import');
writeFileSync(functionPath + '.mjs',
  source.replace("import cf from 'cloudfront';", 'const cf = globalThis.recordingCloudFront;') +
  '\nexport { handler };\n');
const { handler } = await import(pathToFileURL(functionPath + '.mjs'));
const { handler: edge } = await import(pathToFileURL(handlerPath));

async function view(uri, userAgent, extra = {}) {
  const headers = { ...extra };
  if (userAgent) headers['user-agent'] = { value: userAgent };
  const before = groups.length;
  const request = await handler({ request: { method: 'GET', uri, headers } });
  return { headers: Object.keys(request.headers).sort(), set: request.headers, group: groups[before] ?? null };
}

function header(name, value) { return { [name]: [{ key: name, value }] }; }

async function origin(eventType, request, response) {
  const out = await edge({ Records: [{ cf: { config: { eventType }, request, response } }] });
  return out.headers;
}

const customer = { custom: { domainName: 'origin.example.com' } };
const edgeOptimize = { custom: { domainName: 'live.edgeoptimize.net' } };
const routed = header('x-edgeoptimize-config', 'LLMCLIENT=true');

console.log(JSON.stringify({
  agent: await view('/products', 'Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)',
    { 'x-edgeoptimize-api-key': { value: 'spoofed' }, 'x-edgeoptimize-url': { value: '/evil' } }),
  agentMixedCase: await view('/', 'Mozilla/5.0 (compatible; ClaudeBot/1.0)'),
  person: await view('/products', 'Mozilla/5.0 (Macintosh)', { 'x-edgeoptimize-config': { value: 'LLMCLIENT=true' } }),
  noUserAgent: await view('/products', null),
  agentAsset: await view('/logo.png', 'ChatGPT-User/1.0'),
  agentHtmlFile: await view('/about.html', 'PerplexityBot'),
  edgeOptimizeFetch: await view('/products', 'AdobeEdgeOptimize-AI', { 'x-edgeoptimize-request': { value: '1' } }),
  toEdgeOptimize: await origin('origin-request', { headers: { ...routed }, origin: edgeOptimize }),
  failoverPass: await origin('origin-request', { headers: { ...routed }, origin: customer }),
  personRequest: await origin('origin-request', { headers: {}, origin: customer }),
  failoverResponse: await origin('origin-response', { headers: { ...routed } }, { status: '200', headers: {} }),
  servedByEdgeOptimize: await origin('origin-response', { headers: { ...routed } },
    { status: '200', headers: header('x-edgeoptimize-request-id', 'r-1') }),
}));
"#;

#[test]
fn the_routing_function_routes_agents_page_requests_only() {
    let dir = scratch("routing");
    let out = run(&routing_function("web", None), dir.path());

    let agent = &out["agent"];
    assert_eq!(agent["set"]["x-edgeoptimize-url"]["value"], "/products");
    assert_eq!(
        agent["set"]["x-edgeoptimize-config"]["value"],
        "LLMCLIENT=true"
    );
    assert!(
        agent["set"].get("x-edgeoptimize-api-key").is_none(),
        "a spoofed key is stripped"
    );
    let group = &agent["group"];
    assert_eq!(group["originIds"][0]["originId"], "EdgeOptimize_Origin");
    assert_eq!(
        group["originIds"][1]["originId"], "web",
        "fails over to the default origin"
    );
    let codes: Vec<u64> = group["failoverCriteria"]["statusCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert_eq!(codes, FAILOVER_STATUS_CODES.map(u64::from));

    assert!(
        !out["agentMixedCase"]["group"].is_null(),
        "tokens match case-insensitively"
    );
    assert!(
        !out["agentHtmlFile"]["group"].is_null(),
        ".html pages are pages"
    );
    for (case, why) in [
        ("person", "people are never routed"),
        ("noUserAgent", "no user agent is not an agent"),
        ("agentAsset", "assets are not pages"),
        (
            "edgeOptimizeFetch",
            "Edge Optimize's own fetches are not looped back",
        ),
    ] {
        assert!(out[case]["group"].is_null(), "{case}: {why}");
    }
    assert_eq!(
        out["person"]["headers"],
        serde_json::json!(["user-agent"]),
        "a person's spoofed config header is stripped"
    );
}

#[test]
fn targeted_paths_limit_routing_to_exactly_those_pages() {
    let dir = scratch("targeted");
    let paths = vec!["/".to_owned()];
    let out = run(&routing_function("web", Some(&paths)), dir.path());
    assert!(!out["agentMixedCase"]["group"].is_null(), "/ is targeted");
    assert!(out["agent"]["group"].is_null(), "/products is not");
}

#[test]
fn the_handler_points_fetches_at_edge_optimize_and_marks_failover() {
    let dir = scratch("handler");
    let out = run(&routing_function("web", None), dir.path());

    assert_eq!(out["toEdgeOptimize"]["host"][0]["value"], EDGE_DOMAIN);
    assert!(out["toEdgeOptimize"]
        .get("x-edgeoptimize-request")
        .is_none());
    assert_eq!(
        out["failoverPass"]["x-edgeoptimize-request"][0]["value"],
        "fo"
    );
    assert_eq!(out["personRequest"], serde_json::json!({}));

    assert_eq!(
        out["failoverResponse"]["x-edgeoptimize-fo"][0]["value"],
        "1"
    );
    assert_eq!(
        out["failoverResponse"]["cache-control"][0]["value"],
        "no-store"
    );
    assert!(out["servedByEdgeOptimize"]
        .get("x-edgeoptimize-fo")
        .is_none());
    assert!(out["servedByEdgeOptimize"].get("cache-control").is_none());
}

/// A directory for one test's files, removed when the test ends.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("cdn-onboard-edge-{name}-"))
        .tempdir()
        .unwrap()
}
