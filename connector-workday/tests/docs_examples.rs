//! The configurations the docs show are ones the connector accepts: the
//! runbook's sample `configJson` and the plugin protocol's `validate` example.
//! (Docs that show a configuration the code refuses send an operator or a
//! plugin author down a dead end.)

#![allow(clippy::unwrap_used)]

use connector_workday::config::WorkdayConfig;
use serde_json::Value;

fn doc(name: &str) -> String {
    let path = format!("{}/../docs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fenced ```json blocks of a markdown text.
fn json_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```json") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn accepted(config: &str) {
    if let Err(problems) = WorkdayConfig::parse(config) {
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        panic!("the docs show a configuration the connector refuses: {shown:?}\n{config}");
    }
}

#[test]
fn the_runbooks_sample_configuration_is_accepted() {
    let samples: Vec<String> = json_blocks(&doc("connector-workday.md"))
        .into_iter()
        .filter(|b| serde_json::from_str::<Value>(b).is_ok_and(|v| v.get("TenantName").is_some()))
        .collect();
    assert!(!samples.is_empty(), "the runbook has no sample configJson");
    for sample in &samples {
        accepted(sample);
    }
}

#[test]
fn the_plugin_protocols_validate_example_is_accepted() {
    let messages: Vec<Value> = json_blocks(&doc("plugin-protocol.md"))
        .iter()
        .filter_map(|b| serde_json::from_str::<Value>(b).ok())
        .filter(|v| v["type"] == "validate")
        .collect();
    assert_eq!(messages.len(), 1, "one validate example");
    let message = &messages[0];
    let config = message["config"].as_str().unwrap();
    accepted(config);
    // Every reference the example's config and auth material name is in its
    // `secrets` map, as the engine would send it.
    let secrets = message["secrets"].as_object().unwrap();
    let auth = message["authMaterial"].as_str().unwrap();
    assert!(secrets.contains_key(auth), "{auth} missing from secrets");
    let parsed: Value = serde_json::from_str(config).unwrap();
    for value in parsed.as_object().unwrap().values() {
        if let Some(r) = value.as_str().filter(|s| s.starts_with("secret://")) {
            assert!(secrets.contains_key(r), "{r} missing from secrets");
        }
    }
}

#[test]
fn the_plugin_protocols_watermark_examples_are_the_connectors_form() {
    let watermarks: Vec<String> = json_blocks(&doc("plugin-protocol.md"))
        .iter()
        .filter_map(|b| serde_json::from_str::<Value>(b).ok())
        .filter_map(|v| {
            let w = match v["type"].as_str() {
                Some("import") => v["watermark"].clone(),
                Some("result") => v["outcome"]["watermark"].clone(),
                _ => return None,
            };
            w.as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(watermarks.len(), 2, "{watermarks:?}");
    for w in &watermarks {
        connector_workday::watermark::decode(Some(w)).unwrap();
        assert!(w.starts_with("{\"w\":"), "{w}");
    }
}
