//! Rule sets: an ordered list of named segments with conditions; the first matching rule wins,
//! customers matched by none get the default segment.
//!
//! ```toml
//! name = "my rules"
//! default = "Others"                       # segment of customers no rule matches
//! default_actions = ["Keep in the newsletter"]
//!
//! [[segments]]
//! name = "VIP"
//! when = "R >= 4 and (F in 4..5 or monetary > 1000) and not region in ['LATAM']"
//! actions = ["Personal account manager"]
//! ```
//!
//! Conditions: `and`, `or`, `not`, parentheses; comparisons `< <= > >= == !=` (also `=`) between
//! a variable and a number, a quoted string or `true`/`false`; ranges `X in A..B` (inclusive) or
//! `X between A and B`; sets `X in [v1, v2]`; a bare boolean variable (`premium`). Variables: the
//! scores `R`, `F`, `M`, every mart column and every customer attribute. A comparison with a
//! missing value (customer absent from the customers file, null) is false.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};

/// A value a condition can look at.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Num(f64),
    /// Text.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// No value.
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A comparison operator.
pub enum Op {
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
}

/// A compiled condition; variables are indices into the evaluation context.
#[derive(Debug, Clone)]
pub enum Cond {
    /// Both.
    And(Box<Cond>, Box<Cond>),
    /// Either.
    Or(Box<Cond>, Box<Cond>),
    /// Not.
    Not(Box<Cond>),
    /// Variable compared with a value.
    Cmp(usize, Op, Value),
    /// Variable is one of the values.
    In(usize, Vec<Value>),
    /// Variable in a closed range.
    Range(usize, f64, f64),
    /// Variable is true (a non-zero number, `true`).
    Truthy(usize),
    /// Always true or always false.
    Const(bool),
}

pub use crate::data::values::{Column, ValueRef};

impl Value {
    /// As a borrowed value.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Num(x) => ValueRef::Num(*x),
            Value::Str(s) => ValueRef::Str(s),
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Null => ValueRef::Null,
        }
    }
}

fn compare(v: ValueRef, op: Op, lit: &Value) -> bool {
    use std::cmp::Ordering::*;
    let ord = match (v, lit) {
        (ValueRef::Num(a), Value::Num(b)) => a.partial_cmp(b),
        (ValueRef::Str(a), Value::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (ValueRef::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (ValueRef::Bool(a), Value::Num(b)) => (a as u8 as f64).partial_cmp(b),
        _ => None,
    };
    match ord {
        None => false,
        Some(o) => match op {
            Op::Lt => o == Less,
            Op::Le => o != Greater,
            Op::Gt => o == Greater,
            Op::Ge => o != Less,
            Op::Eq => o == Equal,
            Op::Ne => o != Equal,
        },
    }
}

impl Cond {
    /// Evaluates the condition; `get(i)` is the customer's value of variable `i`.
    pub fn eval<'a>(&self, get: &impl Fn(usize) -> ValueRef<'a>) -> bool {
        match self {
            Cond::And(a, b) => a.eval(get) && b.eval(get),
            Cond::Or(a, b) => a.eval(get) || b.eval(get),
            Cond::Not(a) => !a.eval(get),
            Cond::Cmp(i, op, lit) => compare(get(*i), *op, lit),
            Cond::In(i, set) => set.iter().any(|l| compare(get(*i), Op::Eq, l)),
            Cond::Range(i, lo, hi) => match get(*i) {
                ValueRef::Num(x) => x >= *lo && x <= *hi,
                _ => false,
            },
            Cond::Truthy(i) => match get(*i) {
                ValueRef::Bool(b) => b,
                ValueRef::Num(x) => x != 0.0,
                _ => false,
            },
            Cond::Const(b) => *b,
        }
    }

    /// Evaluates the condition for all `n` customers at once; `cols[i]` holds variable `i`
    /// (only those the condition reads need to be filled). Same result as [`Cond::eval`] per
    /// customer, with `NaN` in a numeric column standing for a missing value.
    pub fn eval_columns(&self, cols: &[Column], n: usize) -> Vec<bool> {
        let leaf = |i: usize, test: &dyn Fn(ValueRef) -> bool| -> Vec<bool> {
            match &cols[i] {
                Column::Num(v) => v
                    .iter()
                    .map(|&x| !x.is_nan() && test(ValueRef::Num(x)))
                    .collect(),
                Column::Str(codes, dict) => {
                    let lut: Vec<bool> = dict.iter().map(|s| test(ValueRef::Str(s))).collect();
                    let null = test(ValueRef::Null);
                    codes
                        .iter()
                        .map(|c| c.map_or(null, |c| lut[c as usize]))
                        .collect()
                }
                Column::Bool(v) => {
                    let (t, f, null) = (
                        test(ValueRef::Bool(true)),
                        test(ValueRef::Bool(false)),
                        test(ValueRef::Null),
                    );
                    v.iter()
                        .map(|b| match b {
                            Some(true) => t,
                            Some(false) => f,
                            None => null,
                        })
                        .collect()
                }
                Column::Null => vec![test(ValueRef::Null); n],
            }
        };
        match self {
            Cond::And(a, b) => {
                let mut x = a.eval_columns(cols, n);
                let y = b.eval_columns(cols, n);
                x.iter_mut().zip(y).for_each(|(x, y)| *x &= y);
                x
            }
            Cond::Or(a, b) => {
                let mut x = a.eval_columns(cols, n);
                let y = b.eval_columns(cols, n);
                x.iter_mut().zip(y).for_each(|(x, y)| *x |= y);
                x
            }
            Cond::Not(a) => {
                let mut x = a.eval_columns(cols, n);
                x.iter_mut().for_each(|x| *x = !*x);
                x
            }
            Cond::Cmp(i, op, lit) => match (&cols[*i], lit) {
                // the hot case, written out so that it vectorises
                (Column::Num(v), Value::Num(b)) => {
                    let b = *b;
                    match op {
                        Op::Lt => v.iter().map(|&x| x < b).collect(),
                        Op::Le => v.iter().map(|&x| x <= b).collect(),
                        Op::Gt => v.iter().map(|&x| x > b).collect(),
                        Op::Ge => v.iter().map(|&x| x >= b).collect(),
                        Op::Eq => v.iter().map(|&x| x == b).collect(),
                        Op::Ne => v.iter().map(|&x| !x.is_nan() && x != b).collect(),
                    }
                }
                _ => leaf(*i, &|v| compare(v, *op, lit)),
            },
            Cond::In(i, set) => leaf(*i, &|v| set.iter().any(|l| compare(v, Op::Eq, l))),
            Cond::Range(i, lo, hi) => match &cols[*i] {
                Column::Num(v) => v.iter().map(|&x| x >= *lo && x <= *hi).collect(),
                _ => vec![false; n],
            },
            Cond::Truthy(i) => leaf(*i, &|v| match v {
                ValueRef::Bool(b) => b,
                ValueRef::Num(x) => x != 0.0,
                _ => false,
            }),
            Cond::Const(b) => vec![*b; n],
        }
    }

    /// The variables the condition reads.
    pub fn variables(&self, out: &mut Vec<usize>) {
        match self {
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.variables(out);
                b.variables(out);
            }
            Cond::Not(a) => a.variables(out),
            Cond::Cmp(i, _, _) | Cond::In(i, _) | Cond::Range(i, _, _) | Cond::Truthy(i) => {
                out.push(*i)
            }
            Cond::Const(_) => {}
        }
    }
}

// ------------------------------------------------------------------------------------ parser

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Str(String),
    Op(Op),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    DotDot,
}

/// A parse error at a character offset of the condition text.
#[derive(Debug)]
pub struct ParseError {
    /// Byte offset in the condition's text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

fn lex(s: &str) -> std::result::Result<Vec<(Tok, usize)>, ParseError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let err = |offset, m: &str| ParseError {
        offset,
        message: m.to_string(),
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((Tok::LParen, i));
                i += 1
            }
            b')' => {
                out.push((Tok::RParen, i));
                i += 1
            }
            b'[' => {
                out.push((Tok::LBracket, i));
                i += 1
            }
            b']' => {
                out.push((Tok::RBracket, i));
                i += 1
            }
            b',' => {
                out.push((Tok::Comma, i));
                i += 1
            }
            b'.' if b.get(i + 1) == Some(&b'.') => {
                out.push((Tok::DotDot, i));
                i += 2
            }
            b'<' | b'>' | b'=' | b'!' => {
                let two = b.get(i + 1) == Some(&b'=');
                let op = match (c, two) {
                    (b'<', true) => Op::Le,
                    (b'<', false) => Op::Lt,
                    (b'>', true) => Op::Ge,
                    (b'>', false) => Op::Gt,
                    (b'=', _) => Op::Eq,
                    (b'!', true) => Op::Ne,
                    _ => return Err(err(i, "expected != ")),
                };
                out.push((Tok::Op(op), i));
                i += if two { 2 } else { 1 };
            }
            b'"' | b'\'' => {
                let q = c;
                i += 1;
                let s0 = i;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                if i >= b.len() {
                    return Err(err(start, "unclosed string"));
                }
                out.push((Tok::Str(s[s0..i].to_string()), start));
                i += 1;
            }
            b'0'..=b'9' | b'-' | b'+' => {
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_digit()
                        || b[i] == b'_'
                        || (b[i] == b'.' && b.get(i + 1) != Some(&b'.'))
                        || b[i] == b'e'
                        || b[i] == b'E')
                {
                    i += 1;
                }
                let text: String = s[start..i].chars().filter(|&c| c != '_').collect();
                let v: f64 = text
                    .parse()
                    .map_err(|_| err(start, &format!("bad number {:?}", &s[start..i])))?;
                out.push((Tok::Num(v), start));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push((Tok::Ident(s[start..i].to_string()), start));
            }
            _ => {
                return Err(err(
                    i,
                    &format!(
                        "unexpected character {:?}",
                        s[i..].chars().next().unwrap_or('?')
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// Deepest nesting of parentheses and `not` in a condition: deeper input is an error, not a
/// stack overflow.
const MAX_NESTING: usize = 64;

/// Most comparisons in one condition (each is a node of the evaluated tree).
const MAX_TERMS: usize = 1_000;

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    vars: &'a [String],
    /// Current nesting of parentheses and `not`.
    depth: usize,
    /// Comparisons and constants parsed so far.
    terms: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn offset(&self) -> usize {
        self.toks.get(self.pos).map(|t| t.1).unwrap_or(self.end)
    }
    fn err<T>(&self, m: impl Into<String>) -> std::result::Result<T, ParseError> {
        Err(ParseError {
            offset: self.offset(),
            message: m.into(),
        })
    }
    fn keyword(&mut self, k: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(k)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expr(&mut self) -> std::result::Result<Cond, ParseError> {
        let mut a = self.and()?;
        while self.keyword("or") {
            a = Cond::Or(Box::new(a), Box::new(self.and()?));
        }
        Ok(a)
    }
    fn and(&mut self) -> std::result::Result<Cond, ParseError> {
        let mut a = self.unary()?;
        while self.keyword("and") {
            a = Cond::And(Box::new(a), Box::new(self.unary()?));
        }
        Ok(a)
    }
    fn unary(&mut self) -> std::result::Result<Cond, ParseError> {
        if self.keyword("not") {
            self.enter()?;
            let c = Cond::Not(Box::new(self.unary()?));
            self.depth -= 1;
            return Ok(c);
        }
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return self.err(format!(
                "more than {MAX_TERMS} comparisons in one condition"
            ));
        }
        self.atom()
    }
    /// One level deeper; an error beyond [`MAX_NESTING`].
    fn enter(&mut self) -> std::result::Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.err(format!(
                "nested more than {MAX_NESTING} levels deep (parentheses and `not`)"
            ));
        }
        Ok(())
    }
    fn literal(&mut self) -> std::result::Result<Value, ParseError> {
        let v = match self.peek() {
            Some(Tok::Num(n)) => Value::Num(*n),
            Some(Tok::Str(s)) => Value::Str(s.clone()),
            Some(Tok::Ident(w)) if w == "true" => Value::Bool(true),
            Some(Tok::Ident(w)) if w == "false" => Value::Bool(false),
            _ => return self.err("expected a number, a quoted string, true or false"),
        };
        self.pos += 1;
        Ok(v)
    }
    fn number(&mut self) -> std::result::Result<f64, ParseError> {
        match self.literal()? {
            Value::Num(n) => Ok(n),
            _ => {
                self.pos -= 1;
                self.err("expected a number")
            }
        }
    }
    fn atom(&mut self) -> std::result::Result<Cond, ParseError> {
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.enter()?;
                self.pos += 1;
                let e = self.expr()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err("expected )");
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(e)
            }
            Some(Tok::Ident(w)) if w == "true" || w == "false" => {
                self.pos += 1;
                Ok(Cond::Const(w == "true"))
            }
            Some(Tok::Ident(name)) => {
                let at = self.offset();
                let var = match self.vars.iter().position(|v| *v == name) {
                    Some(i) => i,
                    None => {
                        return Err(ParseError {
                            offset: at,
                            message: format!(
                                "unknown variable {name:?} (known: {})",
                                self.vars.join(", ")
                            ),
                        })
                    }
                };
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Tok::Op(op)) => {
                        self.pos += 1;
                        Ok(Cond::Cmp(var, op, self.literal()?))
                    }
                    Some(Tok::Ident(k)) if k.eq_ignore_ascii_case("between") => {
                        self.pos += 1;
                        let lo = self.number()?;
                        if !self.keyword("and") {
                            return self.err("expected `and` in `between A and B`");
                        }
                        let hi = self.number()?;
                        Ok(Cond::Range(var, lo, hi))
                    }
                    Some(Tok::Ident(k)) if k.eq_ignore_ascii_case("in") => {
                        self.pos += 1;
                        if self.peek() == Some(&Tok::LBracket) {
                            self.pos += 1;
                            let mut set = vec![self.literal()?];
                            while self.peek() == Some(&Tok::Comma) {
                                self.pos += 1;
                                set.push(self.literal()?);
                            }
                            if self.peek() != Some(&Tok::RBracket) {
                                return self.err("expected ] or ,");
                            }
                            self.pos += 1;
                            Ok(Cond::In(var, set))
                        } else {
                            let lo = self.number()?;
                            if self.peek() != Some(&Tok::DotDot) {
                                return self.err("expected `..` in a range A..B");
                            }
                            self.pos += 1;
                            let hi = self.number()?;
                            Ok(Cond::Range(var, lo, hi))
                        }
                    }
                    _ => Ok(Cond::Truthy(var)),
                }
            }
            None => self.err("unexpected end of the condition"),
            Some(t) => self.err(format!("unexpected {t:?}")),
        }
    }
}

/// Parses a condition against the variable names; errors carry the character offset.
pub fn parse_condition(text: &str, vars: &[String]) -> std::result::Result<Cond, ParseError> {
    let toks = lex(text)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: text.len(),
        vars,
        depth: 0,
        terms: 0,
    };
    let c = p.expr()?;
    if p.pos < p.toks.len() {
        return p.err("unexpected text after the condition (missing `and`/`or`?)");
    }
    Ok(c)
}

// ------------------------------------------------------------------------------------ rule sets

/// One segment rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Segment name.
    pub name: String,
    /// Condition, e.g. `R >= 4 and F >= 4`.
    pub when: String,
    /// Recommended actions.
    pub actions: Vec<String>,
}

/// An ordered rule set (unbound: conditions are text until [`RuleSet::compile`]).
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Rule set name.
    pub name: String,
    /// Rules in order; the first match wins.
    pub rules: Vec<Rule>,
    /// Segment of customers no rule matches; `None` leaves them unsegmented (with a warning).
    pub default: Option<String>,
    /// Actions of the default segment.
    pub default_actions: Vec<String>,
    /// The TOML text and the spans of the conditions, for error positions.
    source: Option<(String, String, Vec<std::ops::Range<usize>>)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    name: Option<String>,
    default: Option<String>,
    #[serde(default)]
    default_actions: Vec<String>,
    #[serde(default)]
    segments: Vec<RuleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    name: String,
    when: toml::Spanned<String>,
    #[serde(default)]
    actions: Vec<String>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

impl RuleSet {
    /// Parses a rule file (TOML). `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<RuleSet> {
        let f: RuleFile = toml::from_str(text).map_err(|e| {
            let pos = e.span().map(|s| {
                let (l, c) = line_col(text, s.start);
                format!("line {l}, column {c}: ")
            });
            Error::Config(format!(
                "{origin}: {}{}",
                pos.unwrap_or_default(),
                e.message()
            ))
        })?;
        if f.segments.is_empty() {
            return Err(Error::Config(format!("{origin}: no [[segments]]")));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &f.segments {
            if !seen.insert(s.name.clone()) {
                return Err(Error::Config(format!(
                    "{origin}: segment {:?} is defined twice",
                    s.name
                )));
            }
        }
        let spans = f.segments.iter().map(|s| s.when.span()).collect();
        Ok(RuleSet {
            name: f.name.unwrap_or_else(|| origin.to_string()),
            rules: f
                .segments
                .into_iter()
                .map(|s| Rule {
                    name: s.name,
                    when: s.when.into_inner(),
                    actions: s.actions,
                })
                .collect(),
            default: f.default,
            default_actions: f.default_actions,
            source: Some((origin.to_string(), text.to_string(), spans)),
        })
    }

    /// Compiles the conditions against the variables available (R, F, M, mart columns,
    /// customer attributes). Errors name the rule, and the line and column in the file.
    pub fn compile(&self, vars: &[String]) -> Result<Vec<Cond>> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                parse_condition(&r.when, vars).map_err(|e| {
                    let at = match &self.source {
                        Some((origin, text, spans)) => {
                            // +1 skips the opening quote (+3 for a triple-quoted string)
                            let span = &spans[i];
                            let quote = if text[span.clone()].starts_with("\"\"\"")
                                || text[span.clone()].starts_with("'''")
                            {
                                3
                            } else {
                                1
                            };
                            let (l, c) = line_col(text, span.start + quote + e.offset);
                            format!("{origin}: line {l}, column {c}: ")
                        }
                        None => format!("rule set {}: ", self.name),
                    };
                    Error::Config(format!("{at}segment {:?}: {}", r.name, e.message))
                })
            })
            .collect()
    }

    /// A built-in rule set by name (`default`, `standard`), a JSON object in the rule file's
    /// layout (`{"name": ..., "segments": [{"name": ..., "when": ...}]}`, from a front end's
    /// dict), or a TOML rule file by path; an error names the `rules` parameter.
    pub fn load(spec: &str) -> Result<RuleSet> {
        if let Some(r) = RuleSet::builtin(spec) {
            return Ok(r);
        }
        if spec.trim_start().starts_with('{') {
            return RuleSet::from_json(spec);
        }
        let text = std::fs::read_to_string(spec).map_err(|e| {
            Error::param(
                "rules",
                format!(
                    "{spec:?}: not a built-in rule set (default, standard) nor a readable file: {e}"
                ),
            )
        })?;
        RuleSet::from_toml(&text, spec)
    }

    /// A rule set from a JSON object in the rule file's layout (translated to TOML, so that
    /// both are read and checked by one parser).
    pub fn from_json(text: &str) -> Result<RuleSet> {
        let origin = "rules (JSON)";
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::param("rules", format!("{origin}: {e}")))?;
        if !v.is_object() {
            return Err(Error::param(
                "rules",
                format!("{origin}: expected an object"),
            ));
        }
        let toml_text =
            toml::to_string(&v).map_err(|e| Error::param("rules", format!("{origin}: {e}")))?;
        RuleSet::from_toml(&toml_text, origin)
    }

    /// A built-in rule set: `default` or `standard`.
    pub fn builtin(name: &str) -> Option<RuleSet> {
        let text = match name {
            "default" => DEFAULT_RULES,
            "standard" => STANDARD_RULES,
            _ => return None,
        };
        let mut r = RuleSet::from_toml(text, &format!("built-in rule set {name:?}"))
            .expect("built-in rules parse");
        r.name = name.to_string();
        Some(r)
    }

    /// The built-in `default` set without its premium split, for data that has no `premium`
    /// column: `Others - Premium` is dropped and `Others - Not premium` becomes `Others`.
    /// `None` for any other rule set.
    pub fn without_premium(&self) -> Option<RuleSet> {
        let builtin = self
            .source
            .as_ref()
            .is_some_and(|(_, text, _)| text == DEFAULT_RULES);
        if !builtin
            || self
                .rules
                .last()
                .is_none_or(|r| r.name != "Others - Premium")
        {
            return None;
        }
        let mut r = self.clone();
        r.rules.pop();
        if let Some((_, _, spans)) = r.source.as_mut() {
            spans.truncate(r.rules.len());
        }
        r.default = Some("Others".into());
        r.default_actions
            .retain(|a| !a.to_ascii_lowercase().contains("premium"));
        Some(r)
    }

    /// Actions of a segment (rule or default).
    pub fn actions(&self) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = self
            .rules
            .iter()
            .map(|r| (r.name.clone(), r.actions.clone()))
            .collect();
        if let Some(d) = &self.default {
            m.insert(d.clone(), self.default_actions.clone());
        }
        m
    }
}

/// The five rules of the bench `rfm` task (`../shared/bench/README.md`).
pub const DEFAULT_RULES: &str = r#"
name = "default"
default = "Others - Not premium"
default_actions = ["Nurture with onboarding content and a second-purchase offer", "Test a premium membership trial"]

[[segments]]
name = "Top Customers"
when = "R >= 3 and (F >= 4 or M >= 4)"
actions = ["Reward: loyalty perks and early access", "Ask for reviews and referrals"]

[[segments]]
name = "At Risk"
when = "R <= 2 and (F >= 3 or M >= 3)"
actions = ["Win back with a personalised offer on their favourite category", "Survey why they stopped buying"]

[[segments]]
name = "New Customers"
when = "R == 5 and F <= 2 and M >= 2"
actions = ["Onboarding series and a second-order incentive"]

[[segments]]
name = "Dormant"
when = "R == 1 and F <= 2 and M <= 2"
actions = ["Low-cost reactivation email; suppress from paid channels if no response"]

[[segments]]
name = "Others - Premium"
when = "premium"
actions = ["Remind of membership benefits to drive the next order"]
"#;

/// The widely used 11-segment RFM map (score ranges on 1..5 quintiles; first match wins, so the
/// narrow segments come first).
pub const STANDARD_RULES: &str = r#"
name = "standard"
default = "Others"
default_actions = ["Keep in regular campaigns"]

[[segments]]
name = "Champions"
when = "R in 4..5 and F in 4..5 and M in 4..5"
actions = ["Reward them; early adopters for new products", "Ask for reviews and referrals"]

[[segments]]
name = "Can't Lose Them"
when = "R == 1 and F in 4..5 and M in 4..5"
actions = ["Win them back with renewals or new products; talk to them personally"]

[[segments]]
name = "Loyal"
when = "R in 2..5 and F in 3..5 and M in 3..5"
actions = ["Upsell higher-value products", "Loyalty programme"]

[[segments]]
name = "New"
when = "R in 4..5 and F == 1 and M == 1"
actions = ["Onboarding support and early success"]

[[segments]]
name = "Promising"
when = "R in 3..4 and F == 1 and M == 1"
actions = ["Create brand awareness; free trials"]

[[segments]]
name = "Potential Loyalist"
when = "R in 3..5 and F in 1..3 and M in 1..3"
actions = ["Membership or loyalty offer; recommend other products"]

[[segments]]
name = "Need Attention"
when = "R in 2..3 and F in 2..3 and M in 2..3"
actions = ["Limited-time offers based on past purchases"]

[[segments]]
name = "About to Sleep"
when = "R in 2..3 and F in 1..2 and M in 1..2"
actions = ["Share valuable resources; recommend popular products"]

[[segments]]
name = "At Risk"
when = "R in 1..2 and F in 2..5 and M in 2..5"
actions = ["Personalised emails to reconnect; offer renewals"]

[[segments]]
name = "Hibernating"
when = "R in 1..2 and F in 1..2 and M in 1..2 and not (R == 1 and F == 1 and M == 1)"
actions = ["Offer other relevant products and special discounts"]

[[segments]]
name = "Lost"
when = "R == 1 and F == 1 and M == 1"
actions = ["Revive interest with a reach-out campaign; ignore otherwise"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<String> {
        ["R", "F", "M", "premium", "region", "monetary"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn rule_sets_from_json_read_like_toml() {
        let r = RuleSet::load(
            r#"{"name": "mine", "default": "Rest", "segments": [{"name": "Best", "when": "R >= 4 and F >= 4", "actions": ["Reward"]}]}"#,
        )
        .unwrap();
        assert_eq!(r.name, "mine");
        assert_eq!(r.rules.len(), 1);
        assert_eq!(r.rules[0].name, "Best");
        assert_eq!(r.default.as_deref(), Some("Rest"));
        let e = RuleSet::load(r#"{"segments": [{"when": "R >= 4"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rules (JSON)"), "{e}");
    }

    #[test]
    fn columnar_evaluation_equals_row_evaluation() {
        // every row: R, F, M, premium, region, monetary; with missing values in each column
        let rows: Vec<[Value; 6]> = (0..40)
            .map(|i| {
                let num = |k: i64| {
                    if (i + k) % 7 == 0 {
                        Value::Null
                    } else {
                        Value::Num(((i * 3 + k) % 5 + 1) as f64)
                    }
                };
                [
                    num(0),
                    num(1),
                    num(2),
                    match i % 3 {
                        0 => Value::Bool(true),
                        1 => Value::Bool(false),
                        _ => Value::Null,
                    },
                    match i % 4 {
                        0 => Value::Str("EU".into()),
                        1 => Value::Str("US".into()),
                        2 => Value::Str("LATAM".into()),
                        _ => Value::Null,
                    },
                    if i % 9 == 0 {
                        Value::Null
                    } else {
                        Value::Num(i as f64 * 12.5 - 100.0)
                    },
                ]
            })
            .collect();
        let n = rows.len();
        let dict = ["EU".to_string(), "US".to_string(), "LATAM".to_string()];
        let num_col = |j: usize| {
            Column::Num(
                rows.iter()
                    .map(|r| match r[j] {
                        Value::Num(x) => x,
                        _ => f64::NAN,
                    })
                    .collect(),
            )
        };
        let cols = vec![
            num_col(0),
            num_col(1),
            num_col(2),
            Column::Bool(
                rows.iter()
                    .map(|r| match r[3] {
                        Value::Bool(b) => Some(b),
                        _ => None,
                    })
                    .collect(),
            ),
            Column::Str(
                rows.iter()
                    .map(|r| match &r[4] {
                        Value::Str(s) => dict.iter().position(|d| d == s).map(|p| p as u32),
                        _ => None,
                    })
                    .collect(),
                &dict,
            ),
            num_col(5),
        ];
        for cond in [
            "R >= 3 and (F >= 4 or M >= 4)",
            "not R >= 3",
            "R != 2",
            "not (F == 1) or premium",
            "premium == false",
            "not premium",
            "region in ['EU', 'LATAM']",
            "not region == 'US'",
            "region != 'US' and M in 2..4",
            "monetary between -50 and 100.5",
            "monetary < 0 or R",
            "region > 'F'",
            "premium == 1",
        ] {
            let c = parse_condition(cond, &vars()).unwrap();
            let col = c.eval_columns(&cols, n);
            for (i, r) in rows.iter().enumerate() {
                let row = c.eval(&|v| r[v].as_ref());
                assert_eq!(col[i], row, "{cond:?} on row {i}: {r:?}");
            }
        }
    }

    fn eval(cond: &str, vals: &[Value]) -> bool {
        parse_condition(cond, &vars())
            .unwrap()
            .eval(&|i| vals[i].as_ref())
    }

    #[test]
    fn conditions() {
        let v = [
            Value::Num(4.0),
            Value::Num(2.0),
            Value::Num(5.0),
            Value::Bool(false),
            Value::Str("LATAM".into()),
            Value::Num(1200.5),
        ];
        assert!(eval("R >= 3 and (F >= 4 or M >= 4)", &v));
        assert!(!eval("R >= 3 and F >= 4", &v));
        assert!(eval("not premium", &v));
        assert!(eval("R in 4..5 and F between 1 and 2", &v));
        assert!(eval("region in ['US-EAST', \"LATAM\"]", &v));
        assert!(eval("region != 'US-EAST' and monetary > 1_000", &v));
        assert!(eval("R = 4 or false", &v));
        let null = [
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ];
        assert!(!eval("premium", &null), "null is not true");
        assert!(eval("not premium", &null), "like pandas fillna(False)");
        assert!(!eval("R >= 0", &null));
    }

    #[test]
    fn deep_or_long_conditions_are_errors_not_overflows() {
        let vars = vec!["R".to_string()];
        // 20,000 parentheses deep: an error naming the limit, at the 65th parenthesis
        let deep = format!("{}R >= 1{}", "(".repeat(20_000), ")".repeat(20_000));
        let e = parse_condition(&deep, &vars).unwrap_err();
        assert!(
            e.message.contains("nested more than 64 levels"),
            "{}",
            e.message
        );
        assert_eq!(e.offset, 64);
        let nots = format!("{}R", "not ".repeat(100));
        assert!(parse_condition(&nots, &vars).is_err());
        // 64 levels still parse
        let ok = format!("{}R >= 1{}", "(".repeat(64), ")".repeat(64));
        assert!(parse_condition(&ok, &vars).is_ok());
        let long = vec!["R >= 1"; 1_001].join(" and ");
        let e = parse_condition(&long, &vars).unwrap_err();
        assert!(
            e.message.contains("more than 1000 comparisons"),
            "{}",
            e.message
        );
        // a rule file nested 20,000 arrays deep: the TOML parser's own limit, an error
        let toml = format!("name = {}1{}\n", "[".repeat(20_000), "]".repeat(20_000));
        assert!(RuleSet::from_toml(&toml, "deep.toml").is_err());
    }

    #[test]
    fn parse_errors_have_offsets() {
        let e = parse_condition("R >= 3 and X < 2", &vars()).unwrap_err();
        assert_eq!(e.offset, 11);
        assert!(e.message.contains("unknown variable \"X\""));
        let e = parse_condition("R >= 3 F >= 2", &vars()).unwrap_err();
        assert_eq!(e.offset, 7);
        let e = parse_condition("(R >= 3", &vars()).unwrap_err();
        assert!(e.message.contains("expected )"));
        assert!(parse_condition("R in 1..", &vars()).is_err());
        assert!(parse_condition("region == 'x", &vars())
            .unwrap_err()
            .message
            .contains("unclosed"));
    }

    #[test]
    fn rule_file_errors_name_line_and_column() {
        let text =
            "default = \"Rest\"\n\n[[segments]]\nname = \"A\"\nwhen = \"R >= 3 and Q < 1\"\n";
        let rs = RuleSet::from_toml(text, "rules.toml").unwrap();
        let e = rs.compile(&vars()).unwrap_err().to_string();
        // line 5: `when = "R >= 3 and Q < 1"`, Q at column 20
        assert_eq!(e, "rules.toml: line 5, column 20: segment \"A\": unknown variable \"Q\" (known: R, F, M, premium, region, monetary)");
        let e = RuleSet::from_toml("[[segments]]\nname = 3\nwhen = \"R > 1\"\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("r.toml: line 2, column 8: "), "{e}");
        let e = RuleSet::from_toml(
            "[[segments]]\nname = \"A\"\nwhen = \"R > 1\"\ncolour = 1\n",
            "r.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = RuleSet::from_toml("[[segments]]\nname = \"A\"\nwhen = \"R > 1\"\n[[segments]]\nname = \"A\"\nwhen = \"R > 2\"\n", "r.toml").unwrap_err().to_string();
        assert!(e.contains("defined twice"), "{e}");
    }

    #[test]
    fn builtins_compile() {
        let vars: Vec<String> = ["R", "F", "M", "premium"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for name in ["default", "standard"] {
            let rs = RuleSet::builtin(name).unwrap();
            assert!(rs.compile(&vars).is_ok(), "{name}");
        }
        assert_eq!(RuleSet::builtin("standard").unwrap().rules.len(), 11);
    }
}
