//! The scenarios central offers: the bundled ones (built into the binary,
//! with their logs and captures, so a deployed central needs no files) and
//! those of an optional folder (`[drills] dir`), which replace a bundled
//! scenario of the same name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::scenario::{self, Scenario};

/// The bundled scenario files, by their path under `playbooks/drills/`.
pub const BUNDLED: &[(&str, &[u8])] = &[
    (
        "mail-bruteforce.yaml",
        include_bytes!("../../../playbooks/drills/mail-bruteforce.yaml"),
    ),
    (
        "mail-bruteforce/failures.log",
        include_bytes!("../../../playbooks/drills/mail-bruteforce/failures.log"),
    ),
    (
        "mail-bruteforce/success.log",
        include_bytes!("../../../playbooks/drills/mail-bruteforce/success.log"),
    ),
    (
        "webshell-defacement.yaml",
        include_bytes!("../../../playbooks/drills/webshell-defacement.yaml"),
    ),
    (
        "webshell-defacement/access.log",
        include_bytes!("../../../playbooks/drills/webshell-defacement/access.log"),
    ),
    (
        "dns-beaconing.yaml",
        include_bytes!("../../../playbooks/drills/dns-beaconing.yaml"),
    ),
    (
        "dns-beaconing/queries.log",
        include_bytes!("../../../playbooks/drills/dns-beaconing/queries.log"),
    ),
    (
        "phishing-attachment.yaml",
        include_bytes!("../../../playbooks/drills/phishing-attachment.yaml"),
    ),
    (
        "phishing-attachment/mail.log",
        include_bytes!("../../../playbooks/drills/phishing-attachment/mail.log"),
    ),
    (
        "phishing-attachment/mail.pcap",
        include_bytes!("../../../playbooks/drills/phishing-attachment/mail.pcap"),
    ),
    (
        "scan-ransomware.yaml",
        include_bytes!("../../../playbooks/drills/scan-ransomware.yaml"),
    ),
    (
        "scan-ransomware/firewall.log",
        include_bytes!("../../../playbooks/drills/scan-ransomware/firewall.log"),
    ),
    (
        "tabletop-ransomware.yaml",
        include_bytes!("../../../playbooks/drills/tabletop-ransomware.yaml"),
    ),
];

/// The Sigma rules the bundled scenarios' expected detections come from
/// (canhgac's own and the SigmaHQ low-reputation domain rule), built in so
/// that `canhgac up --demo` can play every scenario: the demo writes them
/// out for its sensor and for central's correlation.
pub const DRILL_SIGMA: &[(&str, &str)] = &[
    (
        "canhgac-mail.yml",
        include_str!("../../../rules/sigma/canhgac/mail.yml"),
    ),
    (
        "canhgac-ssh.yml",
        include_str!("../../../rules/sigma/canhgac/ssh.yml"),
    ),
    (
        "canhgac-web.yml",
        include_str!("../../../rules/sigma/canhgac/web.yml"),
    ),
    (
        "canhgac-antivirus.yml",
        include_str!("../../../rules/sigma/canhgac/antivirus.yml"),
    ),
    (
        "canhgac-lateral.yml",
        include_str!("../../../rules/sigma/canhgac/lateral.yml"),
    ),
    (
        "net_dns_low_reputation_etld.yml",
        include_str!(
            "../../../rules/sigma/sigmahq/dns/rules-threat-hunting__network__net_dns_low_reputation_etld.yml"
        ),
    ),
];

/// The scenarios on offer, by name.
#[derive(Debug, Clone, Default)]
pub struct Library {
    scenarios: BTreeMap<String, Scenario>,
    /// Scenarios that did not load, with why (shown in the console and
    /// logged at start).
    pub problems: Vec<String>,
}

fn bundled_file(rel: &str) -> Result<Vec<u8>, String> {
    BUNDLED
        .iter()
        .find(|(p, _)| *p == rel)
        .map(|(_, b)| b.to_vec())
        .ok_or_else(|| "not among the bundled scenario files".to_string())
}

impl Library {
    /// The bundled scenarios, then those of `dir` (if given).
    pub fn load(dir: Option<&Path>) -> Library {
        let mut lib = Library::default();
        for (path, bytes) in BUNDLED {
            let Some(name) = path.strip_suffix(".yaml") else {
                continue;
            };
            let text = String::from_utf8_lossy(bytes);
            match scenario::parse(name, &text, &bundled_file, None) {
                Ok(s) => {
                    lib.scenarios.insert(name.to_string(), s);
                }
                Err(e) => lib.problems.push(format!("bundled {path}: {e:?}")),
            }
        }
        if let Some(dir) = dir {
            lib.load_dir(dir);
        }
        lib
    }

    fn load_dir(&mut self, dir: &Path) {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")))
                .collect(),
            Err(e) => {
                self.problems.push(format!("{}: {e}", dir.display()));
                return;
            }
        };
        files.sort();
        for f in files {
            match scenario::load(&f, None) {
                Ok(s) => {
                    self.scenarios.insert(s.name.clone(), s);
                }
                Err(diags) => {
                    for d in diags {
                        self.problems.push(format!("{}:{d}", f.display()));
                    }
                }
            }
        }
    }

    /// A scenario by name.
    pub fn get(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.get(name)
    }

    /// Every scenario, by name.
    pub fn all(&self) -> impl Iterator<Item = &Scenario> {
        self.scenarios.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_file_is_built_in_and_every_scenario_loads() {
        let lib = Library::load(None);
        assert!(lib.problems.is_empty(), "{:?}", lib.problems);
        assert!(lib.all().count() >= 6);
        // every file of playbooks/drills (but the generator) is in BUNDLED
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/drills");
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().and_then(|x| x.to_str()) != Some("py") {
                    let rel = p
                        .strip_prefix(&root)
                        .map(|r| r.to_string_lossy().to_string());
                    let rel = rel.unwrap_or_default();
                    assert!(
                        BUNDLED.iter().any(|(b, _)| *b == rel),
                        "{rel} is not in drill::library::BUNDLED"
                    );
                }
            }
        }
    }
}
