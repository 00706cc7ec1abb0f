//! The operator's API-format workflow: checking it once at start-up, and filling in the
//! two LoadImage nodes for each job.
//!
//! ComfyUI's "Save" writes the UI format (`{"nodes": [...], "links": [...]}`), which
//! `/prompt` cannot run; only "Export (API)" writes `{"<id>": {"class_type", "inputs"}}`.
//! Mixing them up is the most likely mistake, so it gets its own clear error.

use std::path::Path;

use serde_json::Value;

use super::error::ComfyError;

/// Largest workflow file read; real ones are tens of kilobytes.
const MAX_WORKFLOW_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a workflow file and checks it is API format with at least two LoadImage nodes.
/// Blocking file I/O: for start-up, before the runtime serves jobs.
pub fn load(path: &Path) -> Result<Value, ComfyError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| ComfyError::Workflow(format!("reading {shown}: {e}")))?;
    if meta.len() > MAX_WORKFLOW_BYTES {
        return Err(ComfyError::Workflow(format!("{shown} is larger than {MAX_WORKFLOW_BYTES} bytes")));
    }
    let text = std::fs::read(path).map_err(|e| ComfyError::Workflow(format!("reading {shown}: {e}")))?;
    let workflow: Value = serde_json::from_slice(&text).map_err(|e| {
        ComfyError::Workflow(format!("{shown} is not JSON (line {} column {})", e.line(), e.column()))
    })?;
    check_api_format(&workflow)?;
    let loaders = image_loaders(&workflow);
    if loaders.len() < 2 {
        return Err(ComfyError::Workflow(format!(
            "{shown} has {} LoadImage node(s); the product and the background need two",
            loaders.len()
        )));
    }
    Ok(workflow)
}

/// Checks the shape `{"<id>": {"class_type": "...", "inputs": {...}}, ...}`.
pub fn check_api_format(workflow: &Value) -> Result<(), ComfyError> {
    let Value::Object(nodes) = workflow else {
        return Err(ComfyError::Workflow("the workflow is not a JSON object".into()));
    };
    if nodes.contains_key("nodes") && nodes.contains_key("links") {
        return Err(ComfyError::Workflow(
            "this is the UI format; export the workflow with \"Export (API)\" instead".into(),
        ));
    }
    if nodes.is_empty() {
        return Err(ComfyError::Workflow("the workflow has no nodes".into()));
    }
    for (id, node) in nodes {
        let class = node.get("class_type").and_then(Value::as_str);
        let inputs = node.get("inputs").map(Value::is_object);
        if class.is_none() || inputs != Some(true) {
            return Err(ComfyError::Workflow(format!(
                "node {id} has no class_type or inputs: not an API-format workflow (use \"Export (API)\")"
            )));
        }
    }
    Ok(())
}

/// Checks that `node` exists and loads an image (a LoadImage node, or any node with an
/// `image` text input).
pub fn check_image_node(workflow: &Value, node: &str, role: &str) -> Result<(), ComfyError> {
    let Some(found) = workflow.get(node) else {
        return Err(ComfyError::Workflow(format!("the {role} node {node} is not in the workflow")));
    };
    if !is_image_loader(found) {
        let class = found.get("class_type").and_then(Value::as_str).unwrap_or("?");
        return Err(ComfyError::Workflow(format!(
            "the {role} node {node} is a {class}, not a LoadImage node"
        )));
    }
    Ok(())
}

/// A copy of `workflow` whose two image nodes load `product` and `background`.
pub fn with_images(
    workflow: &Value,
    product_node: &str,
    product: &str,
    background_node: &str,
    background: &str,
) -> Result<Value, ComfyError> {
    let mut out = workflow.clone();
    for (node, value) in [(product_node, product), (background_node, background)] {
        let inputs = out
            .get_mut(node)
            .and_then(|n| n.get_mut("inputs"))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| ComfyError::Workflow(format!("node {node} has no inputs")))?;
        inputs.insert("image".to_owned(), Value::String(value.to_owned()));
    }
    Ok(out)
}

fn is_image_loader(node: &Value) -> bool {
    node.get("class_type").and_then(Value::as_str) == Some("LoadImage")
        || node.get("inputs").and_then(|i| i.get("image")).is_some_and(Value::is_string)
}

/// Ids of the nodes that load an image.
fn image_loaders(workflow: &Value) -> Vec<&str> {
    workflow
        .as_object()
        .map(|nodes| nodes.iter().filter(|(_, n)| is_image_loader(n)).map(|(id, _)| id.as_str()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "2": {"class_type": "LoadImage", "inputs": {"image": "product.png"}},
            "32": {"class_type": "LoadImage", "inputs": {"image": "background.png"}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "B"}}
        })
    }

    #[test]
    fn api_format_is_required() {
        assert!(check_api_format(&sample()).is_ok());
        let ui = json!({"nodes": [], "links": [], "version": 0.4});
        let err = check_api_format(&ui).unwrap_err().to_string();
        assert!(err.contains("Export (API)"), "{err}");
        assert!(check_api_format(&json!([])).is_err());
        assert!(check_api_format(&json!({})).is_err());
        assert!(check_api_format(&json!({"1": {"class_type": "X"}})).is_err());
    }

    #[test]
    fn image_nodes_are_checked_by_id() {
        let w = sample();
        assert!(check_image_node(&w, "2", "product").is_ok());
        let missing = check_image_node(&w, "7", "product").unwrap_err().to_string();
        assert!(missing.contains("node 7"), "{missing}");
        let wrong = check_image_node(&w, "9", "background").unwrap_err().to_string();
        assert!(wrong.contains("SaveImage"), "{wrong}");
    }

    #[test]
    fn images_are_set_in_a_copy() {
        let w = sample();
        let filled = with_images(&w, "2", "p-1.png", "32", "b-1.png").unwrap();
        assert_eq!(filled["2"]["inputs"]["image"], "p-1.png");
        assert_eq!(filled["32"]["inputs"]["image"], "b-1.png");
        assert_eq!(w["2"]["inputs"]["image"], "product.png");
        assert_eq!(filled["9"], w["9"]);
    }

    #[test]
    fn files_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("w.json");
        std::fs::write(&good, sample().to_string()).unwrap();
        assert!(load(&good).is_ok());
        let one = dir.path().join("one.json");
        std::fs::write(&one, json!({"2": {"class_type": "LoadImage", "inputs": {"image": "a"}}}).to_string())
            .unwrap();
        assert!(load(&one).unwrap_err().to_string().contains("1 LoadImage"));
        let junk = dir.path().join("junk.json");
        std::fs::write(&junk, "{nope").unwrap();
        assert!(matches!(load(&junk), Err(ComfyError::Workflow(_))));
        assert!(matches!(load(&dir.path().join("absent.json")), Err(ComfyError::Workflow(_))));
    }
}
