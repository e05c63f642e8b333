//! YAML with positions, for Sigma rules.
//!
//! Every rule language in canhgac reports its errors at file:line:column.
//! Serde-style YAML loaders forget where a value was once it is loaded, so
//! Sigma files are read through `yaml-rust2`'s event parser into a small
//! tree whose every node keeps its line and column: an unknown modifier, a
//! selection the condition names but the rule lacks, or a bad regular
//! expression can then point at the exact key. Several documents in one
//! file (`---`, as Sigma collections and correlation files use) are kept
//! apart. Aliases are resolved to the node they name.

use yaml_rust2::Event;
use yaml_rust2::parser::{MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts (1-based line and column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Pos {
        // yaml-rust2 counts columns from 0
        Pos {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A scalar as written; `quoted` when it was in quotes (then `null`,
    /// `true` or `123` are text, not values).
    Scalar {
        text: String,
        quoted: bool,
        pos: Pos,
    },
    Seq {
        items: Vec<Node>,
        pos: Pos,
    },
    Map {
        entries: Vec<(Node, Node)>,
        pos: Pos,
    },
}

impl Node {
    pub fn pos(&self) -> Pos {
        match self {
            Node::Scalar { pos, .. } | Node::Seq { pos, .. } | Node::Map { pos, .. } => *pos,
        }
    }

    /// The text of a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether this is YAML's null (`null`, `~` or nothing, unquoted).
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { text, quoted: false, .. } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The entry of `key` (key node and value) in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match self {
            Node::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Builds the tree from parser events.
#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<(Node, Option<Node>)>,
    anchors: Vec<(usize, Node)>,
    anchor_of: Vec<usize>,
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some((Node::Seq { items, .. }, _)) => items.push(node),
            Some((Node::Map { entries, .. }, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
            Some((Node::Scalar { .. }, _)) => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from(mark);
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_value(Node::Scalar { text, quoted, pos }, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.anchor_of.push(anchor);
                self.stack.push((
                    Node::Seq {
                        items: Vec::new(),
                        pos,
                    },
                    None,
                ));
            }
            Event::MappingStart(anchor, _) => {
                self.anchor_of.push(anchor);
                self.stack.push((
                    Node::Map {
                        entries: Vec::new(),
                        pos,
                    },
                    None,
                ));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _)) = self.stack.pop() {
                    let anchor = self.anchor_of.pop().unwrap_or(0);
                    self.push_value(node, anchor);
                }
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or(Node::Scalar {
                        text: String::new(),
                        quoted: false,
                        pos,
                    });
                self.push_value(node, 0);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Parses every document of `text`.
///
/// # Errors
/// The first syntax error, with its position.
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut b = Builder::default();
    let mut p = Parser::new_from_str(text);
    p.load(&mut b, true).map_err(|e| YamlError {
        pos: Pos::from(*e.marker()),
        message: e.info().to_string(),
    })?;
    Ok(b.docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_keep_their_positions() {
        let docs = parse(
            "title: t\ndetection:\n  sel:\n    a|contains:\n      - 'x'\n      - null\n  condition: sel\n---\nb: &v 1\nc: *v\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        let det = docs[0].get("detection").unwrap();
        let (k, v) = det.get("sel").unwrap().entry("a|contains").unwrap();
        assert_eq!(k.pos(), Pos { line: 4, col: 5 });
        let Node::Seq { items, .. } = v else {
            panic!("{v:?}")
        };
        assert_eq!(items[0].pos(), Pos { line: 5, col: 9 });
        assert!(matches!(&items[0], Node::Scalar { quoted: true, .. }));
        assert!(items[1].is_null());
        assert_eq!(docs[1].get("c").and_then(Node::as_str), Some("1"));
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.pos.line >= 1, "{e:?}");
        assert!(!e.message.is_empty());
        for bad in ["\t- x", "a: 'open", "{", "- [", "? a\n: - b: c\n  d"] {
            let _ = parse(bad);
        }
    }
}
