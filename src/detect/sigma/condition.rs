//! Sigma's condition grammar.
//!
//! ```text
//! expr   := and ("or" and)*
//! and    := not ("and" not)*
//! not    := "not" not | atom
//! atom   := "(" expr ")" | quant | IDENT
//! quant  := ("1" | "any" | "all") "of" ("them" | PATTERN)
//! ```
//!
//! Identifiers name the rule's selections; a pattern may end in `*`
//! (`1 of selection_*`). Keywords are lower case, as the specification
//! writes them. Names are resolved against the rule's selections when the
//! condition is compiled, so a name that matches nothing is an error at the
//! column where it stands, not a rule that silently never fires.

/// A parsed condition, over selection indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Sel(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// `1 of …`: any of these selections.
    AnyOf(Vec<usize>),
    /// `all of …`: every one of these selections.
    AllOf(Vec<usize>),
}

impl Cond {
    /// Evaluates with `sel(i)` telling whether selection `i` matched.
    pub fn eval(&self, sel: &mut impl FnMut(usize) -> bool) -> bool {
        match self {
            Cond::Sel(i) => sel(*i),
            Cond::Not(c) => !c.eval(sel),
            Cond::And(cs) => cs.iter().all(|c| c.eval(sel)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval(sel)),
            Cond::AnyOf(is) => is.iter().any(|i| sel(*i)),
            Cond::AllOf(is) => is.iter().all(|i| sel(*i)),
        }
    }
}

/// A condition error: the column (1-based, in the condition text) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondError {
    pub col: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    Word(String),
}

fn lex(s: &str) -> Vec<(Tok, usize)> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let col = s[..i].chars().count() + 1;
        match c {
            '(' => out.push((Tok::Open, col)),
            ')' => out.push((Tok::Close, col)),
            c if c.is_whitespace() => {}
            _ => {
                let mut w = String::from(c);
                while let Some(&(_, n)) = chars.peek() {
                    if n.is_whitespace() || n == '(' || n == ')' {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                out.push((Tok::Word(w), col));
            }
        }
    }
    out
}

struct P<'a> {
    toks: Vec<(Tok, usize)>,
    i: usize,
    names: &'a [String],
    end: usize,
}

impl P<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.i) {
            Some((Tok::Word(w), _)) => Some(w),
            _ => None,
        }
    }

    fn col(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |t| t.1)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, CondError> {
        Err(CondError {
            col: self.col(),
            message: message.into(),
        })
    }

    fn expr(&mut self) -> Result<Cond, CondError> {
        let mut parts = vec![self.and()?];
        while self.peek_word() == Some("or") {
            self.i += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, CondError> {
        let mut parts = vec![self.not()?];
        while self.peek_word() == Some("and") {
            self.i += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn not(&mut self) -> Result<Cond, CondError> {
        if self.peek_word() == Some("not") {
            self.i += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Cond, CondError> {
        let Some((tok, col)) = self.toks.get(self.i).cloned() else {
            return self.err("the condition ends where a selection or `(` is expected");
        };
        match tok {
            Tok::Open => {
                self.i += 1;
                let c = self.expr()?;
                match self.toks.get(self.i) {
                    Some((Tok::Close, _)) => {
                        self.i += 1;
                        Ok(c)
                    }
                    _ => self.err("`)` expected"),
                }
            }
            Tok::Close => self.err("`)` without its `(`"),
            Tok::Word(w) => match w.as_str() {
                "1" | "any" | "all" => {
                    self.i += 1;
                    if self.peek_word() != Some("of") {
                        return self.err(format!("`of` expected after `{w}`"));
                    }
                    self.i += 1;
                    let Some(pat) = self.peek_word().map(str::to_string) else {
                        return self.err("`them` or a selection name expected after `of`");
                    };
                    let pcol = self.col();
                    self.i += 1;
                    let sels = self.matching(&pat, pcol)?;
                    Ok(if w == "all" {
                        Cond::AllOf(sels)
                    } else {
                        Cond::AnyOf(sels)
                    })
                }
                "and" | "or" | "of" | "them" => {
                    self.err(format!("`{w}` where a selection or `(` is expected"))
                }
                "AND" | "OR" | "NOT" => self.err(format!(
                    "`{w}`: Sigma's keywords are lower case (`{}`)",
                    w.to_ascii_lowercase()
                )),
                name => {
                    self.i += 1;
                    match self.names.iter().position(|n| n == name) {
                        Some(i) => Ok(Cond::Sel(i)),
                        None => Err(CondError {
                            col,
                            message: format!("no selection named `{name}` in this rule"),
                        }),
                    }
                }
            },
        }
    }

    /// Selections a `them`/pattern stands for (`them` leaves out names
    /// starting with `_`, as the specification says).
    fn matching(&self, pat: &str, col: usize) -> Result<Vec<usize>, CondError> {
        let sels: Vec<usize> = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                if pat == "them" {
                    !n.starts_with('_')
                } else {
                    wildcard(pat, n)
                }
            })
            .map(|(i, _)| i)
            .collect();
        if sels.is_empty() {
            return Err(CondError {
                col,
                message: format!("`{pat}` matches no selection of this rule"),
            });
        }
        Ok(sels)
    }
}

/// `*` any run, `?` one character.
fn wildcard(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Parses `text` against the rule's selection names.
///
/// # Errors
/// The first error, with its column in `text`.
pub fn parse(text: &str, names: &[String]) -> Result<Cond, CondError> {
    let mut p = P {
        toks: lex(text),
        i: 0,
        names,
        end: text.chars().count() + 1,
    };
    if p.toks.is_empty() {
        return p.err("the condition is empty");
    }
    let c = p.expr()?;
    if p.i < p.toks.len() {
        return match p.peek_word() {
            Some(w @ ("AND" | "OR" | "NOT")) => p.err(format!(
                "`{w}`: Sigma's keywords are lower case (`{}`)",
                w.to_ascii_lowercase()
            )),
            _ => p.err("`and` or `or` expected"),
        };
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["selection", "filter_a", "filter_b", "_private", "keywords"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn truth(c: &Cond, on: &[usize]) -> bool {
        c.eval(&mut |i| on.contains(&i))
    }

    #[test]
    fn precedence_parentheses_and_quantifiers() {
        let n = names();
        let c = parse("selection and not 1 of filter_*", &n).unwrap();
        assert!(truth(&c, &[0]));
        assert!(!truth(&c, &[0, 2]));
        // `and` binds tighter than `or`
        let c = parse("keywords or selection and filter_a", &n).unwrap();
        assert!(truth(&c, &[4]));
        assert!(!truth(&c, &[0]));
        let c = parse("(keywords or selection) and filter_a", &n).unwrap();
        assert!(!truth(&c, &[4]));
        let c = parse("all of filter_*", &n).unwrap();
        assert!(truth(&c, &[1, 2]) && !truth(&c, &[1]));
        // `them` leaves out `_private`
        assert_eq!(
            parse("all of them", &n).unwrap(),
            Cond::AllOf(vec![0, 1, 2, 4])
        );
        assert!(truth(&parse("not not selection", &n).unwrap(), &[0]));
        assert!(truth(&parse("any of filter_?", &n).unwrap(), &[2]));
    }

    #[test]
    fn errors_point_at_the_column() {
        let n = names();
        let cases = [
            ("selection and nosuch", 15, "no selection named `nosuch`"),
            ("1 of nothing_*", 6, "matches no selection"),
            ("selection and (filter_a", 24, "`)` expected"),
            ("selection filter_a", 11, "`and` or `or` expected"),
            ("selection AND filter_a", 11, "lower case"),
            ("", 1, "empty"),
            ("1 filter_a", 3, "`of` expected"),
            ("selection and", 14, "ends where"),
        ];
        for (text, col, msg) in cases {
            let e = parse(text, &n).unwrap_err();
            assert_eq!(e.col, col, "{text}: {e:?}");
            assert!(e.message.contains(msg), "{text}: {e:?}");
        }
    }
}
