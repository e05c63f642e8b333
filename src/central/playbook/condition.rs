//! The condition language of `if-condition` and `while-condition` steps.
//!
//! Why a language of our own: CACAO 2.0 leaves the syntax of a step's
//! `condition` to the implementation (it only suggests something like a
//! STIX pattern over the playbook's variables). STIX patterning is built
//! for observed data, not for "did the coordinator answer yes", and few of
//! the people who write and review playbooks can read it. So canhgac takes
//! a small SQL-like subset that reads as what it means:
//!
//! ```text
//! __serious__:value = 'true'
//! __severity__ >= 3 AND NOT (__category__ IN ('ddos', 'defacement'))
//! __decision__:value LIKE 'contain%' OR __src_ip__ MATCHES '^198\.51\.100\.'
//! ```
//!
//! Grammar (keywords are case-insensitive; `NOT` binds tighter than `AND`,
//! which binds tighter than `OR`):
//!
//! ```text
//! or      := and ("OR" and)*
//! and     := not ("AND" not)*
//! not     := "NOT" not | "(" or ")" | test
//! test    := operand
//!          | operand ("=" | "==" | "!=" | "<" | "<=" | ">" | ">=") operand
//!          | operand "IN" "(" operand ("," operand)* ")"
//!          | operand "LIKE" operand
//!          | operand "MATCHES" operand
//! operand := VARIABLE | STRING | NUMBER | "true" | "false"
//! ```
//!
//! - A variable is `__name__` or `__name__:value` (both mean its value),
//!   with `name` = `[A-Za-z_][A-Za-z0-9_-]*`.
//! - A string is single-quoted; `''` or `\'` is a quote and `\\` is a
//!   backslash. Any other backslash is kept as written, so regular
//!   expressions read naturally (`'^198\.51\.100\.'`).
//! - A number is `-?[0-9]+(\.[0-9]+)?`.
//!
//! Meaning: every value is a string (variables hold strings; `true` and
//! `false` are the strings `"true"` and `"false"`). `=`/`!=` compare
//! numerically when both sides are numbers and as strings otherwise; `IN`
//! is `=` against any list item; `<`, `<=`, `>`, `>=` need two numbers.
//! `LIKE` matches the whole string, case-sensitively, with `%` for any run
//! of characters and `_` for exactly one (there is no escape for them).
//! `MATCHES` searches the value with a regular expression (the `regex`
//! crate's syntax; anchor with `^…$` to match the whole value). An operand
//! on its own is true only when its value is exactly `"true"`. `AND` and
//! `OR` evaluate left to right and stop as soon as the result is known.
//!
//! A condition that cannot be evaluated — an unknown variable, a word
//! compared with a number, a bad regular expression held in a variable —
//! is an error ([`ConditionError`]) that fails its step with that reason;
//! it is never silently false, and it never hangs a run. Conditions are
//! limited to 4096 characters and 64 levels of nesting (`(` and `NOT`),
//! so no input can exhaust the stack.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

/// The longest condition accepted, in characters.
const MAX_LEN: usize = 4096;
/// The deepest nesting accepted (each `(` and each `NOT` is a level).
const MAX_DEPTH: usize = 64;
/// Compiled size limit for regular expressions, in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// How much of a value an error message quotes.
const SHOW_MAX: usize = 80;

/// A parsed condition, ready to be evaluated any number of times.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    expr: Expr,
    vars: Vec<String>,
}

/// Why a condition could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The text is not a condition. `col` is the 1-based character column
    /// in the condition string where the problem is.
    #[error("column {col}: {msg}")]
    Parse {
        /// 1-based character (not byte) column.
        col: usize,
        /// What is wrong there.
        msg: String,
    },
    /// A variable the condition reads has no value (its full name, e.g.
    /// `__serious__`).
    #[error("unknown variable {0}")]
    UnknownVariable(String),
    /// Values that cannot be compared the way the condition asks, e.g.
    /// `cannot compare 'abc' with 3 as numbers`.
    #[error("{0}")]
    Type(String),
    /// A `MATCHES` pattern taken from a variable is not a valid regular
    /// expression. (A bad literal pattern is a [`ConditionError::Parse`]
    /// error.)
    #[error("bad regular expression {pattern:?}: {msg}")]
    Regex {
        /// The pattern as evaluated.
        pattern: String,
        /// Why it is invalid.
        msg: String,
    },
}

impl Condition {
    /// Parses a condition string. Literal `MATCHES` patterns are compiled
    /// here, so a bad one is reported with its column.
    pub fn parse(src: &str) -> Result<Condition, ConditionError> {
        let len = src.chars().count();
        if len > MAX_LEN {
            return Err(parse_err(
                MAX_LEN + 1,
                format!("condition longer than {MAX_LEN} characters"),
            ));
        }
        let toks = lex(src)?;
        if toks.is_empty() {
            return Err(parse_err(1, "empty condition"));
        }
        let mut vars: Vec<String> = Vec::new();
        for t in &toks {
            if let Tok::Var(name) = &t.tok
                && !vars.iter().any(|v| v == name)
            {
                vars.push(name.clone());
            }
        }
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            end_col: len + 1,
            depth: 0,
        };
        let expr = p.parse_or()?;
        if let Some(t) = p.peek() {
            return Err(parse_err(
                t.col,
                format!(
                    "unexpected {}, expected AND, OR or the end",
                    t.tok.describe()
                ),
            ));
        }
        Ok(Condition { expr, vars })
    }

    /// The variables the condition reads, by full name without the
    /// `:value` suffix (e.g. `"__serious__"`), in order of first
    /// appearance, each once.
    pub fn variables(&self) -> Vec<String> {
        self.vars.clone()
    }

    /// Evaluates the condition; `lookup` gives a variable's value by its
    /// full name (e.g. `"__serious__"`), or `None` when there is no such
    /// variable.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<bool, ConditionError> {
        eval_expr(&self.expr, lookup)
    }
}

fn parse_err(col: usize, msg: impl Into<String>) -> ConditionError {
    ConditionError::Parse {
        col,
        msg: msg.into(),
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Var(String),
    Str(String),
    Num(String),
    True,
    False,
    And,
    Or,
    Not,
    In,
    Like,
    Matches,
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Var(n) => format!("variable {n}"),
            Tok::Str(s) => format!("string {}", show_quoted(s)),
            Tok::Num(n) => format!("number {n}"),
            Tok::True => "true".into(),
            Tok::False => "false".into(),
            Tok::And => "AND".into(),
            Tok::Or => "OR".into(),
            Tok::Not => "NOT".into(),
            Tok::In => "IN".into(),
            Tok::Like => "LIKE".into(),
            Tok::Matches => "MATCHES".into(),
            Tok::Op(op) => format!("'{}'", op.symbol()),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character column of the token's first character.
    col: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn lex(src: &str) -> Result<Vec<Token>, ConditionError> {
    let cs: Vec<char> = src.chars().collect();
    let at = |i: usize| cs.get(i).copied();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += if at(i + 1) == Some('=') { 2 } else { 1 };
                Tok::Op(CmpOp::Eq)
            }
            '!' => {
                if at(i + 1) != Some('=') {
                    return Err(parse_err(col, "unexpected '!' (use != or NOT)"));
                }
                i += 2;
                Tok::Op(CmpOp::Ne)
            }
            '<' | '>' => {
                let eq = at(i + 1) == Some('=');
                i += if eq { 2 } else { 1 };
                Tok::Op(match (c, eq) {
                    ('<', false) => CmpOp::Lt,
                    ('<', true) => CmpOp::Le,
                    (_, false) => CmpOp::Gt,
                    (_, true) => CmpOp::Ge,
                })
            }
            '\'' => {
                let (s, next) = lex_string(&cs, i)?;
                i = next;
                Tok::Str(s)
            }
            '-' | '0'..='9' => {
                let (n, next) = lex_number(&cs, i)?;
                i = next;
                Tok::Num(n)
            }
            '_' if at(i + 1) == Some('_') => {
                let (name, next) = lex_variable(&cs, i)?;
                i = next;
                Tok::Var(name)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    i += 1;
                }
                let word: String = cs[start..i].iter().collect();
                match word.to_ascii_uppercase().as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    "IN" => Tok::In,
                    "LIKE" => Tok::Like,
                    "MATCHES" => Tok::Matches,
                    "TRUE" => Tok::True,
                    "FALSE" => Tok::False,
                    _ => {
                        return Err(parse_err(
                            col,
                            format!(
                                "unexpected word {word:?} (variables are written \
                                 __name__, strings are 'quoted')"
                            ),
                        ));
                    }
                }
            }
            other => {
                return Err(parse_err(col, format!("unexpected character {other:?}")));
            }
        };
        out.push(Token { tok, col });
    }
    Ok(out)
}

/// Lexes the string starting with the quote at `cs[start]`; returns its
/// value and the index after the closing quote.
fn lex_string(cs: &[char], start: usize) -> Result<(String, usize), ConditionError> {
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        match cs.get(i).copied() {
            None => return Err(parse_err(start + 1, "unterminated string")),
            Some('\'') => {
                if cs.get(i + 1) == Some(&'\'') {
                    s.push('\'');
                    i += 2;
                } else {
                    return Ok((s, i + 1));
                }
            }
            Some('\\') => match cs.get(i + 1).copied() {
                Some(q @ ('\'' | '\\')) => {
                    s.push(q);
                    i += 2;
                }
                _ => {
                    s.push('\\');
                    i += 1;
                }
            },
            Some(c) => {
                s.push(c);
                i += 1;
            }
        }
    }
}

/// Lexes `-?[0-9]+(\.[0-9]+)?` at `cs[start]`.
fn lex_number(cs: &[char], start: usize) -> Result<(String, usize), ConditionError> {
    let digit = |i: usize| cs.get(i).is_some_and(char::is_ascii_digit);
    let mut i = start;
    if cs.get(i) == Some(&'-') {
        i += 1;
    }
    if !digit(i) {
        return Err(parse_err(start + 1, "expected a number after '-'"));
    }
    while digit(i) {
        i += 1;
    }
    if cs.get(i) == Some(&'.') {
        if !digit(i + 1) {
            return Err(parse_err(
                start + 1,
                "bad number: expected digits after '.'",
            ));
        }
        i += 1;
        while digit(i) {
            i += 1;
        }
    }
    if cs
        .get(i)
        .is_some_and(|&c| c.is_alphanumeric() || c == '_' || c == '.')
    {
        return Err(parse_err(start + 1, "bad number"));
    }
    Ok((cs[start..i].iter().collect(), i))
}

/// Lexes `__name__` (optionally followed by `:value`) at `cs[start]`;
/// returns the full name (`__name__`) and the index after it.
fn lex_variable(cs: &[char], start: usize) -> Result<(String, usize), ConditionError> {
    let col = start + 1;
    let body = start + 2;
    let mut end = body;
    while cs.get(end).copied().is_some_and(is_name_char) {
        end += 1;
    }
    // The name ends at the last `__` of the run that leaves it non-empty.
    let mut close = None;
    let mut k = end;
    while k >= body + 3 {
        if cs[k - 1] == '_' && cs[k - 2] == '_' {
            close = Some(k);
            break;
        }
        k -= 1;
    }
    let Some(close) = close else {
        return Err(parse_err(col, "a variable is written __name__"));
    };
    let name = &cs[body..close - 2];
    if !name
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_')
    {
        return Err(parse_err(
            col,
            "a variable name starts with a letter or '_'",
        ));
    }
    let full: String = cs[start..close].iter().collect();
    let mut next = close;
    if cs.get(next) == Some(&':') {
        let word_end = {
            let mut j = next + 1;
            while cs.get(j).copied().is_some_and(is_name_char) {
                j += 1;
            }
            j
        };
        let word: String = cs[next + 1..word_end].iter().collect();
        if word != "value" {
            return Err(parse_err(
                next + 1,
                format!("expected ':value' after {full}"),
            ));
        }
        next = word_end;
    }
    Ok((full, next))
}

// ---------------------------------------------------------------- syntax

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Var(String),
    Str(String),
    /// A number literal, as written.
    Num(String),
    Bool(bool),
}

/// A regular expression, compared by its pattern text.
#[derive(Debug, Clone)]
struct Compiled(Regex);

impl PartialEq for Compiled {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    /// A literal pattern, compiled when parsed.
    Fixed(Compiled),
    /// A pattern held in a variable, compiled when evaluated.
    Dynamic(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// An operand on its own: true iff its value is `"true"`.
    Truthy(Operand),
    Compare {
        left: Operand,
        op: CmpOp,
        right: Operand,
    },
    In {
        left: Operand,
        list: Vec<Operand>,
    },
    Like {
        left: Operand,
        pattern: Operand,
    },
    Matches {
        left: Operand,
        pattern: Pattern,
    },
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    /// Column just past the end of the input, for "unexpected end" errors.
    end_col: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos)
    }

    fn peek_is(&self, tok: &Tok) -> bool {
        self.peek().is_some_and(|t| &t.tok == tok)
    }

    fn next(&mut self) -> Option<&'a Token> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self, expected: &str) -> ConditionError {
        match self.peek() {
            Some(t) => parse_err(
                t.col,
                format!("unexpected {}, expected {expected}", t.tok.describe()),
            ),
            None => parse_err(
                self.end_col,
                format!("unexpected end of condition, expected {expected}"),
            ),
        }
    }

    fn enter(&mut self, col: usize) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(parse_err(
                col,
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Expr, ConditionError> {
        let mut items = vec![self.parse_and()?];
        while self.peek_is(&Tok::Or) {
            self.pos += 1;
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Expr, ConditionError> {
        let mut items = vec![self.parse_not()?];
        while self.peek_is(&Tok::And) {
            self.pos += 1;
            items.push(self.parse_not()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn parse_not(&mut self) -> Result<Expr, ConditionError> {
        let Some(t) = self.peek() else {
            return Err(self.unexpected("a condition"));
        };
        let col = t.col;
        match t.tok {
            Tok::Not => {
                self.enter(col)?;
                self.pos += 1;
                let inner = self.parse_not()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
            }
            Tok::LParen => {
                self.enter(col)?;
                self.pos += 1;
                let inner = self.parse_or()?;
                if !self.peek_is(&Tok::RParen) {
                    return Err(self.unexpected(&format!("')' to close '(' at column {col}")));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            _ => self.parse_test(),
        }
    }

    fn parse_operand(&mut self, expected: &str) -> Result<Operand, ConditionError> {
        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Var(n)) => Operand::Var(n.clone()),
            Some(Tok::Str(s)) => Operand::Str(s.clone()),
            Some(Tok::Num(n)) => Operand::Num(n.clone()),
            Some(Tok::True) => Operand::Bool(true),
            Some(Tok::False) => Operand::Bool(false),
            _ => return Err(self.unexpected(expected)),
        };
        self.pos += 1;
        Ok(op)
    }

    fn parse_test(&mut self) -> Result<Expr, ConditionError> {
        let left = self.parse_operand("a condition, a variable or a value")?;
        let Some(t) = self.peek() else {
            return Ok(Expr::Truthy(left));
        };
        let col = t.col;
        match t.tok {
            Tok::Op(op) => {
                self.pos += 1;
                let right =
                    self.parse_operand(&format!("a variable or a value after '{}'", op.symbol()))?;
                Ok(Expr::Compare { left, op, right })
            }
            Tok::In => {
                self.pos += 1;
                if !self.peek_is(&Tok::LParen) {
                    return Err(self.unexpected("'(' after IN"));
                }
                self.pos += 1;
                let mut list = vec![self.parse_operand("a value in the IN list")?];
                loop {
                    match self.next().map(|t| &t.tok) {
                        Some(Tok::Comma) => list.push(self.parse_operand("a value after ','")?),
                        Some(Tok::RParen) => break,
                        _ => {
                            self.pos = self.pos.saturating_sub(1);
                            return Err(self.unexpected(&format!(
                                "',' or ')' to close the IN list at column {col}"
                            )));
                        }
                    }
                }
                Ok(Expr::In { left, list })
            }
            Tok::Like => {
                self.pos += 1;
                let pattern = self.parse_operand("a pattern after LIKE")?;
                Ok(Expr::Like { left, pattern })
            }
            Tok::Matches => {
                self.pos += 1;
                let pcol = self.peek().map_or(self.end_col, |t| t.col);
                let pattern = match self.parse_operand("a pattern after MATCHES")? {
                    v @ Operand::Var(_) => Pattern::Dynamic(v),
                    lit => {
                        let text = literal_text(&lit);
                        match compile(&text) {
                            Ok(re) => Pattern::Fixed(Compiled(re)),
                            Err(msg) => {
                                return Err(parse_err(
                                    pcol,
                                    format!("bad regular expression {text:?}: {msg}"),
                                ));
                            }
                        }
                    }
                };
                Ok(Expr::Matches { left, pattern })
            }
            Tok::Not => Err(parse_err(
                col,
                "NOT goes before a condition, e.g. NOT (__x__ IN ('a', 'b'))",
            )),
            _ => Ok(Expr::Truthy(left)),
        }
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| regex_msg(&e))
}

/// The gist of a regex error on one line (the crate's syntax errors span
/// several lines, ending in `error: …`).
fn regex_msg(e: &regex::Error) -> String {
    let full = e.to_string();
    match full
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
    {
        Some(gist) => gist.to_string(),
        None => full.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

// ---------------------------------------------------------------- meaning

fn literal_text(op: &Operand) -> String {
    match op {
        Operand::Var(n) => n.clone(),
        Operand::Str(s) | Operand::Num(s) => s.clone(),
        Operand::Bool(b) => b.to_string(),
    }
}

/// A resolved operand: its text, and whether it shows unquoted in messages.
struct Val<'a> {
    text: Cow<'a, str>,
    bare: bool,
}

impl Val<'_> {
    fn show(&self) -> String {
        if self.bare || as_number(&self.text).is_some() {
            truncate(&self.text)
        } else {
            show_quoted(&self.text)
        }
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > SHOW_MAX {
        let mut t: String = s.chars().take(SHOW_MAX).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    }
}

fn show_quoted(s: &str) -> String {
    format!("'{}'", truncate(s))
}

fn resolve<'a>(
    op: &'a Operand,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Val<'a>, ConditionError> {
    Ok(match op {
        Operand::Var(n) => Val {
            text: Cow::Owned(lookup(n).ok_or_else(|| ConditionError::UnknownVariable(n.clone()))?),
            bare: false,
        },
        Operand::Str(s) => Val {
            text: Cow::Borrowed(s),
            bare: false,
        },
        Operand::Num(n) => Val {
            text: Cow::Borrowed(n),
            bare: true,
        },
        Operand::Bool(b) => Val {
            text: Cow::Borrowed(if *b { "true" } else { "false" }),
            bare: true,
        },
    })
}

/// A value as a number, when it is written as a decimal number
/// (`[+-]?digits[.digits][e[+-]digits]`, finite); never `inf` or `NaN`.
fn as_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i, i - start)
    };
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let (j, int_digits) = digits(i);
    i = j;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        let (j, n) = digits(i + 1);
        i = j;
        frac_digits = n;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let (j, n) = digits(i);
        if n == 0 {
            return None;
        }
        i = j;
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn equal(a: &Val<'_>, b: &Val<'_>) -> bool {
    match (as_number(&a.text), as_number(&b.text)) {
        (Some(x), Some(y)) => x == y,
        _ => a.text == b.text,
    }
}

fn compare(a: &Val<'_>, op: CmpOp, b: &Val<'_>) -> Result<bool, ConditionError> {
    match op {
        CmpOp::Eq => return Ok(equal(a, b)),
        CmpOp::Ne => return Ok(!equal(a, b)),
        _ => {}
    }
    let (Some(x), Some(y)) = (as_number(&a.text), as_number(&b.text)) else {
        return Err(ConditionError::Type(format!(
            "cannot compare {} with {} as numbers",
            a.show(),
            b.show()
        )));
    };
    Ok(match op {
        CmpOp::Lt => x < y,
        CmpOp::Le => x <= y,
        CmpOp::Gt => x > y,
        _ => x >= y,
    })
}

/// SQL `LIKE`: `%` any run of characters, `_` exactly one; whole string,
/// case-sensitive. Greedy with backtracking to the last `%`: O(n·m) at
/// worst, never exponential.
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut ti, mut pi) = (0, 0);
    // (index of the last `%` in p, index in t it currently stands for up to)
    let mut star: Option<(usize, usize)> = None;
    while let Some(&tc) = t.get(ti) {
        match p.get(pi) {
            Some('%') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&pc) if pc == '_' || pc == tc => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == '%')
}

fn eval_expr(e: &Expr, lookup: &dyn Fn(&str) -> Option<String>) -> Result<bool, ConditionError> {
    match e {
        Expr::Or(items) => {
            for i in items {
                if eval_expr(i, lookup)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Expr::And(items) => {
            for i in items {
                if !eval_expr(i, lookup)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Not(inner) => Ok(!eval_expr(inner, lookup)?),
        Expr::Truthy(op) => Ok(resolve(op, lookup)?.text == "true"),
        Expr::Compare { left, op, right } => {
            let a = resolve(left, lookup)?;
            let b = resolve(right, lookup)?;
            compare(&a, *op, &b)
        }
        Expr::In { left, list } => {
            let a = resolve(left, lookup)?;
            for item in list {
                if equal(&a, &resolve(item, lookup)?) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Expr::Like { left, pattern } => {
            let a = resolve(left, lookup)?;
            let p = resolve(pattern, lookup)?;
            Ok(like(&a.text, &p.text))
        }
        Expr::Matches { left, pattern } => {
            let a = resolve(left, lookup)?;
            match pattern {
                Pattern::Fixed(re) => Ok(re.0.is_match(&a.text)),
                Pattern::Dynamic(op) => {
                    let p = resolve(op, lookup)?;
                    let re = compile(&p.text).map_err(|msg| ConditionError::Regex {
                        pattern: p.text.to_string(),
                        msg,
                    })?;
                    Ok(re.is_match(&a.text))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("__serious__", "true"),
            ("__not_serious__", "false"),
            ("__severity__", "4"),
            ("__score__", "2.5"),
            ("__category__", "phishing"),
            ("__decision__", "contain-host"),
            ("__src_ip__", "198.51.100.7"),
            ("__word__", "abc"),
            ("__empty__", ""),
            ("__quote__", "it's"),
            ("__pat__", "^c.n"),
            ("__badpat__", "(unclosed"),
            ("__TRUE__", "TRUE"),
            ("__with-dash__", "dash"),
            ("__a__b__", "inner"),
        ])
    }

    fn eval(src: &str) -> Result<bool, ConditionError> {
        let v = vars();
        Condition::parse(src)?.eval(&|n| v.get(n).map(|s| s.to_string()))
    }

    fn t(src: &str) {
        assert_eq!(eval(src), Ok(true), "{src}");
    }

    fn f(src: &str) {
        assert_eq!(eval(src), Ok(false), "{src}");
    }

    fn parse_col(src: &str) -> usize {
        match Condition::parse(src) {
            Err(ConditionError::Parse { col, .. }) => col,
            other => panic!("{src}: expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn docs_examples() {
        t("__serious__:value = 'true'");
        t("__severity__ >= 3 AND NOT (__category__ IN ('ddos', 'defacement'))");
        t(r"__decision__:value LIKE 'contain%' OR __src_ip__ MATCHES '^198\.51\.100\.'");
    }

    #[test]
    fn equality() {
        t("__category__ = 'phishing'");
        t("__category__ == 'phishing'");
        f("__category__ = 'Phishing'");
        t("__category__ != 'ddos'");
        f("__category__ != 'phishing'");
        t("'x' = 'x'");
    }

    #[test]
    fn equality_is_numeric_when_both_are_numbers() {
        t("__severity__ = 4");
        t("__severity__ = 4.0");
        t("__severity__ = '04'");
        t("__score__ = 2.50");
        f("__severity__ != 4.0");
        // A word against a number compares as strings: not equal, no error.
        f("__word__ = 3");
        t("__word__ != 3");
        t("-1 = -1.0");
    }

    #[test]
    fn booleans_are_the_strings_true_and_false() {
        t("__serious__ = true");
        t("__serious__ = TRUE");
        t("__not_serious__ = false");
        f("__serious__ = false");
        t("true = 'true'");
        f("__TRUE__ = true");
        t("__serious__ IN (false, true)");
    }

    #[test]
    fn ordering() {
        t("__severity__ > 3");
        f("__severity__ > 4");
        t("__severity__ >= 4");
        t("__severity__ < 5");
        f("__severity__ < 4");
        t("__severity__ <= 4");
        t("__score__ < 2.51");
        t("-3 < __score__");
        t("__severity__ > '10' OR __severity__ < '10'");
        t("'10' > '9'");
    }

    #[test]
    fn ordering_needs_numbers() {
        assert_eq!(
            eval("__word__ < 3"),
            Err(ConditionError::Type(
                "cannot compare 'abc' with 3 as numbers".into()
            ))
        );
        assert_eq!(
            eval("__severity__ >= __empty__"),
            Err(ConditionError::Type(
                "cannot compare 4 with '' as numbers".into()
            ))
        );
        assert_eq!(
            eval("true > 1"),
            Err(ConditionError::Type(
                "cannot compare true with 1 as numbers".into()
            ))
        );
        assert!(matches!(eval("'inf' > 1"), Err(ConditionError::Type(_))));
        assert!(matches!(eval("'NaN' <= 1"), Err(ConditionError::Type(_))));
        assert!(matches!(eval("'1e999' <= 1"), Err(ConditionError::Type(_))));
        assert!(matches!(eval("' 1' <= 1"), Err(ConditionError::Type(_))));
        t("'1e3' > 999");
        t("'+5' = 5");
    }

    #[test]
    fn in_list() {
        t("__category__ IN ('ddos', 'phishing')");
        f("__category__ IN ('ddos', 'defacement')");
        t("__severity__ in (1, 2, 4.0)");
        t("__category__ IN ('phishing')");
        t("'phishing' IN (__word__, __category__)");
        f("NOT __category__ IN ('phishing')");
    }

    #[test]
    fn like_patterns() {
        t("__decision__ LIKE 'contain%'");
        t("__decision__ LIKE '%host'");
        t("__decision__ LIKE '%-%'");
        t("__decision__ LIKE 'contain_host'");
        t("__decision__ LIKE '____ain-host'");
        t("__decision__ LIKE '%'");
        f("__decision__ LIKE 'contain'");
        f("__decision__ LIKE 'Contain%'");
        f("__decision__ LIKE '_contain%'");
        f("__decision__ LIKE 'contain-host_'");
        t("__empty__ LIKE '%'");
        f("__empty__ LIKE '_'");
        t("__decision__ like __decision__");
        t("'ngũ' LIKE 'ng_'");
        t("'abcabcabd' LIKE '%abc%abd'");
        f("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' LIKE '%a%a%a%a%a%a%a%a%a%b'");
    }

    #[test]
    fn matches_searches_with_a_regex() {
        t(r"__src_ip__ MATCHES '^198\.51\.100\.'");
        t(r"__src_ip__ MATCHES '100'");
        f(r"__src_ip__ MATCHES '^100'");
        t(r"__decision__ MATCHES '(?i)^CONTAIN'");
        t(r"__severity__ MATCHES '^\d$'");
        t("__decision__ MATCHES __pat__");
        f("__category__ MATCHES __pat__");
    }

    #[test]
    fn bad_literal_regex_is_a_parse_error_at_its_column() {
        let e = Condition::parse("__word__ MATCHES '(oops'").unwrap_err();
        match e {
            ConditionError::Parse { col, msg } => {
                assert_eq!(col, 18);
                assert!(msg.starts_with("bad regular expression \"(oops\""), "{msg}");
                assert!(!msg.contains('\n'), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_regex_is_refused_not_built() {
        assert_eq!(parse_col("__word__ MATCHES '(a{1000}){1000}'"), 18);
    }

    #[test]
    fn bad_variable_regex_is_an_eval_error() {
        let c = Condition::parse("__word__ MATCHES __badpat__").unwrap();
        let v = vars();
        match c.eval(&|n| v.get(n).map(|s| s.to_string())) {
            Err(ConditionError::Regex { pattern, msg }) => {
                assert_eq!(pattern, "(unclosed");
                assert!(!msg.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn precedence_not_and_or() {
        // OR is weaker than AND: true OR (false AND false)
        t("true OR false AND false");
        // AND is weaker than NOT: (NOT false) AND true
        t("NOT false AND true");
        f("NOT true AND true");
        f("NOT (false OR true)");
        t("NOT false OR false");
        t("false AND false OR true");
        f("false AND (false OR true)");
    }

    #[test]
    fn parentheses_and_nested_not() {
        t("((__serious__ = 'true'))");
        t("NOT NOT true");
        f("NOT NOT NOT true");
        t("(__severity__ > 1 AND (__category__ = 'x' OR __word__ = 'abc'))");
    }

    #[test]
    fn keywords_are_case_insensitive() {
        t("__severity__ > 1 and not (__category__ in ('ddos')) Or false");
        t("__decision__ like 'c%' AND __src_ip__ matches '198'");
        t("True And tRUE");
    }

    #[test]
    fn bare_operand_is_true_only_for_true() {
        t("__serious__");
        t("__serious__:value");
        f("__not_serious__");
        f("__empty__");
        f("__word__");
        f("__TRUE__");
        t("true");
        f("false");
        f("'yes'");
        f("1");
        t("__serious__ AND NOT __not_serious__");
    }

    #[test]
    fn string_escapes() {
        t("__quote__ = 'it''s'");
        t(r"__quote__ = 'it\'s'");
        t(r"'a\\b' = 'a\b'");
        assert_eq!(
            Condition::parse(r"'a\\' = __x__").map(|c| c.variables()),
            Ok(vec!["__x__".to_string()])
        );
        t(r"'a\\b' LIKE 'a_b'");
        t(r"'a\.b' LIKE 'a__b'");
        t("'' = __empty__");
        t("'''' LIKE '_'");
    }

    #[test]
    fn variable_names() {
        t("__with-dash__ = 'dash'");
        t("__with-dash__:value = 'dash'");
        t("__a__b__ = 'inner'");
        assert_eq!(
            Condition::parse("__x__:value = 1 OR __y__ = __x__ OR __z-1__:value")
                .unwrap()
                .variables(),
            vec!["__x__", "__y__", "__z-1__"]
        );
        assert_eq!(
            Condition::parse("true").unwrap().variables(),
            Vec::<String>::new()
        );
        assert_eq!(parse_col("__1x__ = 1"), 1);
        assert_eq!(parse_col("__x__:val = 1"), 6);
        assert_eq!(parse_col("__x__:values = 1"), 6);
        assert_eq!(parse_col("__x__ = __"), 9);
        assert_eq!(parse_col("__x = 1"), 1);
    }

    #[test]
    fn unknown_variable() {
        assert_eq!(
            eval("__nope__ = 'x'"),
            Err(ConditionError::UnknownVariable("__nope__".into()))
        );
        assert_eq!(
            eval("__serious__ AND __nope__:value"),
            Err(ConditionError::UnknownVariable("__nope__".into()))
        );
        assert_eq!(
            eval("__word__ IN ('q', __nope__)"),
            Err(ConditionError::UnknownVariable("__nope__".into()))
        );
        // AND / OR stop once the result is known.
        t("__serious__ OR __nope__");
        f("__not_serious__ AND __nope__ > 1");
        assert_eq!(
            ConditionError::UnknownVariable("__nope__".into()).to_string(),
            "unknown variable __nope__"
        );
    }

    #[test]
    fn parse_errors_have_columns() {
        assert_eq!(parse_col(""), 1);
        assert_eq!(parse_col("   "), 1);
        assert_eq!(parse_col("__x__ ="), 8);
        assert_eq!(parse_col("__x__ = 'abc"), 9);
        assert_eq!(parse_col("__x__ = abc"), 9);
        assert_eq!(parse_col("__x__ ! 3"), 7);
        assert_eq!(parse_col("(__x__ = 1"), 11);
        assert_eq!(parse_col("__x__ = 1)"), 10);
        assert_eq!(parse_col("__x__ __y__"), 7);
        assert_eq!(parse_col("__x__ IN 'a'"), 10);
        assert_eq!(parse_col("__x__ IN ()"), 11);
        assert_eq!(parse_col("__x__ IN ('a' 'b')"), 15);
        assert_eq!(parse_col("__x__ IN ('a',)"), 15);
        assert_eq!(parse_col("__x__ NOT IN ('a')"), 7);
        assert_eq!(parse_col("__x__ = 1 AND"), 14);
        assert_eq!(parse_col("AND __x__"), 1);
        assert_eq!(parse_col("__x__ = 3abc"), 9);
        assert_eq!(parse_col("__x__ = 3."), 9);
        assert_eq!(parse_col("__x__ = - 3"), 9);
        assert_eq!(parse_col("__x__ < = 3"), 9);
        assert_eq!(parse_col("__x__ = 1 = 2"), 11);
        assert_eq!(parse_col("(__x__) = 1"), 9);
        // Columns count characters, not bytes.
        assert_eq!(parse_col("'ấn độ' = ấ"), 11);
        assert_eq!(parse_col("__x__ = 1 ; __y__"), 11);
        let e = Condition::parse("__x__ =").unwrap_err();
        assert_eq!(
            e.to_string(),
            "column 8: unexpected end of condition, expected a variable or a value after '='"
        );
    }

    #[test]
    fn numbers() {
        t("-2.5 < -2");
        t("__severity__ = 4 AND __score__ = 2.5");
        assert_eq!(parse_col("__x__ = 1.2.3"), 9);
        assert_eq!(parse_col("__x__ = --1"), 9);
    }

    #[test]
    fn length_limit() {
        let ok = format!("'{}' = 'x'", "a".repeat(MAX_LEN - 8));
        assert_eq!(ok.chars().count(), MAX_LEN);
        assert!(Condition::parse(&ok).is_ok());
        let long = format!("'{}' = 'x'", "a".repeat(MAX_LEN - 7));
        assert_eq!(parse_col(&long), MAX_LEN + 1);
        // Counted in characters: 4096 multi-byte characters are fine.
        let wide = format!("'{}'", "ấ".repeat(MAX_LEN - 2));
        assert!(Condition::parse(&wide).is_ok());
    }

    #[test]
    fn depth_limit() {
        let nest = |n: usize| format!("{}true{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(eval(&nest(MAX_DEPTH)), Ok(true));
        assert_eq!(parse_col(&nest(MAX_DEPTH + 1)), MAX_DEPTH + 1);
        let nots = |n: usize| format!("{}true", "NOT ".repeat(n));
        assert_eq!(eval(&nots(MAX_DEPTH)), Ok(true));
        assert_eq!(parse_col(&nots(MAX_DEPTH + 1)), 4 * MAX_DEPTH + 1);
        // Far past the limit: still an error, not a stack overflow.
        assert!(Condition::parse(&"(".repeat(MAX_LEN)).is_err());
        assert!(Condition::parse(&"NOT ".repeat(MAX_LEN / 4)).is_err());
        // Siblings do not add depth.
        let wide = vec!["(true)"; 300].join(" AND ");
        assert_eq!(eval(&wide), Ok(true));
        let e = Condition::parse(&nest(MAX_DEPTH + 1)).unwrap_err();
        assert!(e.to_string().contains("nested more than 64"), "{e}");
    }

    #[test]
    fn parsed_conditions_compare_and_clone() {
        let a = Condition::parse("__x__ MATCHES '^a' AND __y__ = 1").unwrap();
        let b = Condition::parse("__x__:value   matches '^a' and __y__ == 1").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.clone(), a);
        assert_ne!(
            a,
            Condition::parse("__x__ MATCHES '^b' AND __y__ = 1").unwrap()
        );
    }

    #[test]
    fn error_display() {
        assert_eq!(
            ConditionError::Parse {
                col: 3,
                msg: "oops".into()
            }
            .to_string(),
            "column 3: oops"
        );
        assert_eq!(
            ConditionError::Regex {
                pattern: "(".into(),
                msg: "unclosed group".into()
            }
            .to_string(),
            "bad regular expression \"(\": unclosed group"
        );
    }

    /// xorshift64*, so the fuzz loops are reproducible without a crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn fuzz_lookup(n: &str) -> Option<String> {
        match n.len() % 4 {
            0 => None,
            1 => Some("true".into()),
            2 => Some("3.5".into()),
            _ => Some(n.to_string()),
        }
    }

    #[test]
    fn fuzz_random_bytes_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let len = rng.below(64);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let src = String::from_utf8_lossy(&bytes);
            if let Ok(c) = Condition::parse(&src) {
                let _ = c.eval(&fuzz_lookup);
                let _ = c.variables();
            }
        }
    }

    #[test]
    fn fuzz_token_soup_never_panics() {
        const PIECES: &[&str] = &[
            "(",
            ")",
            "(",
            ")",
            ",",
            "=",
            "==",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "!",
            "AND",
            "or",
            "NOT",
            "not",
            "IN",
            "LIKE",
            "MATCHES",
            "true",
            "false",
            "__a__",
            "__bb__:value",
            "__ccc__",
            "__d__:",
            "__",
            "___",
            "'x'",
            "'%a_'",
            "'('",
            "'['",
            "'^a.*'",
            "''''",
            "'\\'",
            "'\\\\'",
            "'",
            "3",
            "-2.5",
            "-",
            "1.",
            "1e5",
            " ",
            " ",
            ":value",
            "_",
            "ấ",
            "\\",
            "\u{0}",
        ];
        let mut rng = Rng(42);
        let mut parsed = 0;
        for _ in 0..50_000 {
            let n = rng.below(16);
            let src: String = (0..n)
                .map(|_| {
                    let p = PIECES[rng.below(PIECES.len())];
                    if rng.below(3) == 0 {
                        format!("{p} ")
                    } else {
                        p.to_string()
                    }
                })
                .collect();
            if let Ok(c) = Condition::parse(&src) {
                parsed += 1;
                let _ = c.eval(&fuzz_lookup);
                assert!(c.variables().iter().all(|v| v.starts_with("__")));
            }
        }
        assert!(parsed > 100, "the soup should parse sometimes ({parsed})");
    }
}
