//! The CACAO 2.0 JSON schemas (OASIS `cacao-json-schemas`, Apache-2.0,
//! copied into `playbooks/cacao-schemas/`), embedded so that validation
//! works offline inside a government network.
//!
//! The schemas say draft-07 but use `unevaluatedProperties` (a 2019-09
//! keyword). They are read the way the reference validation in
//! `conformance/cacao/VALIDATION.md` reads them (Python `jsonschema`'s
//! 2020-12 validator with every file registered): the root schema as
//! 2020-12, so the playbook's own closed dictionaries are enforced, and
//! each referenced file under the draft it declares. Reading every file
//! as 2020-12 would reject the OASIS examples themselves (`command-data`
//! closes its properties without the per-type command schemas).
//! They close the set of agent and target key prefixes, which the
//! specification leaves open (`soarca--…`, `software--…` are legitimate):
//! definitions with a prefix the schema does not know are checked only for
//! being objects with a `type`, and the rest of the document against the
//! schema as it is.

use std::sync::OnceLock;

use serde_json::Value;

use super::{Problem, problem};

/// (path under `playbooks/cacao-schemas/`, text).
const FILES: &[(&str, &str)] = &[
    (
        "agent-target/agent-target.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/agent-target.json"),
    ),
    (
        "agent-target/group.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/group.json"),
    ),
    (
        "agent-target/http-api.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/http-api.json"),
    ),
    (
        "agent-target/individual.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/individual.json"),
    ),
    (
        "agent-target/linux.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/linux.json"),
    ),
    (
        "agent-target/location.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/location.json"),
    ),
    (
        "agent-target/net-address.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/net-address.json"),
    ),
    (
        "agent-target/organization.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/organization.json"),
    ),
    (
        "agent-target/sector.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/sector.json"),
    ),
    (
        "agent-target/security-category.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/security-category.json"),
    ),
    (
        "agent-target/ssh.json",
        include_str!("../../../playbooks/cacao-schemas/agent-target/ssh.json"),
    ),
    (
        "authentication-info/authentication-info.json",
        include_str!(
            "../../../playbooks/cacao-schemas/authentication-info/authentication-info.json"
        ),
    ),
    (
        "authentication-info/http-basic.json",
        include_str!("../../../playbooks/cacao-schemas/authentication-info/http-basic.json"),
    ),
    (
        "authentication-info/oauth2.json",
        include_str!("../../../playbooks/cacao-schemas/authentication-info/oauth2.json"),
    ),
    (
        "authentication-info/user-auth.json",
        include_str!("../../../playbooks/cacao-schemas/authentication-info/user-auth.json"),
    ),
    (
        "commands/bash.json",
        include_str!("../../../playbooks/cacao-schemas/commands/bash.json"),
    ),
    (
        "commands/caldera-cmd.json",
        include_str!("../../../playbooks/cacao-schemas/commands/caldera-cmd.json"),
    ),
    (
        "commands/command-data.json",
        include_str!("../../../playbooks/cacao-schemas/commands/command-data.json"),
    ),
    (
        "commands/elastic.json",
        include_str!("../../../playbooks/cacao-schemas/commands/elastic.json"),
    ),
    (
        "commands/http-api.json",
        include_str!("../../../playbooks/cacao-schemas/commands/http-api.json"),
    ),
    (
        "commands/jupyter.json",
        include_str!("../../../playbooks/cacao-schemas/commands/jupyter.json"),
    ),
    (
        "commands/kestrel.json",
        include_str!("../../../playbooks/cacao-schemas/commands/kestrel.json"),
    ),
    (
        "commands/manual.json",
        include_str!("../../../playbooks/cacao-schemas/commands/manual.json"),
    ),
    (
        "commands/openc2-http.json",
        include_str!("../../../playbooks/cacao-schemas/commands/openc2-http.json"),
    ),
    (
        "commands/powershell.json",
        include_str!("../../../playbooks/cacao-schemas/commands/powershell.json"),
    ),
    (
        "commands/sigma.json",
        include_str!("../../../playbooks/cacao-schemas/commands/sigma.json"),
    ),
    (
        "commands/ssh.json",
        include_str!("../../../playbooks/cacao-schemas/commands/ssh.json"),
    ),
    (
        "commands/yara.json",
        include_str!("../../../playbooks/cacao-schemas/commands/yara.json"),
    ),
    (
        "data-markings/data-marking.json",
        include_str!("../../../playbooks/cacao-schemas/data-markings/data-marking.json"),
    ),
    (
        "data-markings/marking-iep.json",
        include_str!("../../../playbooks/cacao-schemas/data-markings/marking-iep.json"),
    ),
    (
        "data-markings/marking-statement.json",
        include_str!("../../../playbooks/cacao-schemas/data-markings/marking-statement.json"),
    ),
    (
        "data-markings/marking-tlp.json",
        include_str!("../../../playbooks/cacao-schemas/data-markings/marking-tlp.json"),
    ),
    (
        "data-types/civic-location.json",
        include_str!("../../../playbooks/cacao-schemas/data-types/civic-location.json"),
    ),
    (
        "data-types/contact.json",
        include_str!("../../../playbooks/cacao-schemas/data-types/contact.json"),
    ),
    (
        "data-types/external-reference.json",
        include_str!("../../../playbooks/cacao-schemas/data-types/external-reference.json"),
    ),
    (
        "data-types/identifier.json",
        include_str!("../../../playbooks/cacao-schemas/data-types/identifier.json"),
    ),
    (
        "data-types/playbook-processing-summary.json",
        include_str!(
            "../../../playbooks/cacao-schemas/data-types/playbook-processing-summary.json"
        ),
    ),
    (
        "data-types/signature.json",
        include_str!("../../../playbooks/cacao-schemas/data-types/signature.json"),
    ),
    (
        "data-types/timestamp.json",
        include_str!("../../../playbooks/cacao-schemas/data-types/timestamp.json"),
    ),
    (
        "data-types/variable.json",
        include_str!("../../../playbooks/cacao-schemas/data-types/variable.json"),
    ),
    (
        "extension-definition/extension-definition.json",
        include_str!(
            "../../../playbooks/cacao-schemas/extension-definition/extension-definition.json"
        ),
    ),
    (
        "playbook.json",
        include_str!("../../../playbooks/cacao-schemas/playbook.json"),
    ),
    (
        "workflows/action.json",
        include_str!("../../../playbooks/cacao-schemas/workflows/action.json"),
    ),
    (
        "workflows/end.json",
        include_str!("../../../playbooks/cacao-schemas/workflows/end.json"),
    ),
    (
        "workflows/if-condition.json",
        include_str!("../../../playbooks/cacao-schemas/workflows/if-condition.json"),
    ),
    (
        "workflows/parallel.json",
        include_str!("../../../playbooks/cacao-schemas/workflows/parallel.json"),
    ),
    (
        "workflows/playbook-action.json",
        include_str!("../../../playbooks/cacao-schemas/workflows/playbook-action.json"),
    ),
    (
        "workflows/start.json",
        include_str!("../../../playbooks/cacao-schemas/workflows/start.json"),
    ),
    (
        "workflows/switch-condition.json",
        include_str!("../../../playbooks/cacao-schemas/workflows/switch-condition.json"),
    ),
    (
        "workflows/while-condition.json",
        include_str!("../../../playbooks/cacao-schemas/workflows/while-condition.json"),
    ),
    (
        "workflows/workflow-step.json",
        include_str!("../../../playbooks/cacao-schemas/workflows/workflow-step.json"),
    ),
];

const BASE: &str = "https://raw.githubusercontent.com/oasis-open/cacao-json-schemas/main/schemas/";
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

struct Schemas {
    validator: jsonschema::Validator,
    /// Key prefixes the schema knows, per definitions dictionary.
    agent_prefixes: Vec<String>,
    target_prefixes: Vec<String>,
}

fn read(text: &str, root: bool) -> Result<Value, String> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if root && let Some(o) = v.as_object_mut() {
        o.insert("$schema".into(), Value::String(DRAFT_2020_12.into()));
    }
    Ok(v)
}

fn prefixes(root: &Value, dict: &str) -> Vec<String> {
    root.pointer(&format!("/properties/{dict}/patternProperties"))
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.trim_start_matches('^').split("--").next())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn compile() -> Result<Schemas, String> {
    let mut builder = jsonschema::Registry::new();
    let mut root = None;
    for (path, text) in FILES {
        let is_root = *path == "playbook.json";
        let v = read(text, is_root).map_err(|e| format!("{path}: {e}"))?;
        let resource = if is_root {
            root = Some(v.clone());
            jsonschema::Draft::Draft202012.create_resource(v)
        } else {
            jsonschema::Resource::from_contents(v)
        };
        builder = builder
            .add(format!("{BASE}{path}"), resource)
            .map_err(|e| format!("{path}: {e}"))?;
    }
    let root = root.ok_or("playbook.json is missing")?;
    let registry = builder.prepare().map_err(|e| e.to_string())?;
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_registry(&registry)
        .build(&root)
        .map_err(|e| e.to_string())?;
    Ok(Schemas {
        agent_prefixes: prefixes(&root, "agent_definitions"),
        target_prefixes: prefixes(&root, "target_definitions"),
        validator,
    })
}

fn schemas() -> Result<&'static Schemas, &'static str> {
    static S: OnceLock<Result<Schemas, String>> = OnceLock::new();
    S.get_or_init(compile).as_ref().map_err(String::as_str)
}

/// Turns a JSON pointer (`/workflow/action--x/commands/0`) into the dotted
/// path problems use (`workflow.action--x.commands[0]`).
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// Checks `doc` against the CACAO 2.0 schemas (leniently on vendor agent
/// and target types). An empty list means it conforms.
pub fn check(doc: &Value) -> Vec<Problem> {
    let s = match schemas() {
        Ok(s) => s,
        Err(e) => {
            return vec![problem(
                "",
                format!("the embedded CACAO schemas do not load: {e}"),
            )];
        }
    };
    let mut doc = doc.clone();
    let mut out = Vec::new();
    for (dict, known) in [
        ("agent_definitions", &s.agent_prefixes),
        ("target_definitions", &s.target_prefixes),
    ] {
        let Some(map) = doc.get_mut(dict).and_then(Value::as_object_mut) else {
            continue;
        };
        let vendor: Vec<String> = map
            .keys()
            .filter(|k| {
                let prefix = k.split("--").next().unwrap_or_default();
                k.contains("--") && !known.iter().any(|p| p == prefix)
            })
            .cloned()
            .collect();
        for k in vendor {
            if let Some(def) = map.remove(&k)
                && def.get("type").and_then(Value::as_str).is_none()
            {
                out.push(problem(format!("{dict}.{k}.type"), "missing"));
            }
        }
        if map.is_empty() {
            // the schema wants at least one entry when the key is present
            if let Some(o) = doc.as_object_mut() {
                o.remove(dict);
            }
        }
    }
    for e in s.validator.iter_errors(&doc) {
        let path = dotted(e.instance_path().as_str());
        let mut msg = e.to_string();
        if msg.chars().count() > 240 {
            // "… is not of type" quotes the whole value
            msg = msg.chars().take(200).collect::<String>() + " …";
        }
        let p = problem(path, msg);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_compile() {
        let s = schemas().expect("embedded schemas load");
        assert!(
            s.agent_prefixes.iter().any(|p| p == "individual"),
            "{:?}",
            s.agent_prefixes
        );
    }

    #[test]
    fn pointer_becomes_a_dotted_path() {
        assert_eq!(
            dotted("/workflow/action--x/commands/0/type"),
            "workflow.action--x.commands[0].type"
        );
        assert_eq!(dotted(""), "");
    }

    #[test]
    fn empty_object_is_not_a_playbook() {
        let errs = check(&serde_json::json!({}));
        assert!(!errs.is_empty());
    }
}
