//! Derived columns: a canonical column computed from other columns of the same row, e.g.
//! `amount = Quantity * UnitPrice` for an export that has no amount column.
//!
//! The language is small on purpose: numbers, `'text'`, column names (bare, or quoted with
//! backticks or double quotes when they hold spaces or operators), `+ - * /`, parentheses,
//! comparisons (`< <= > >= = == != <>`), `and`, `or`, `not`, and the functions `abs(x)`,
//! `round(x, n)`, `coalesce(a, b, ...)` and `if(condition, then, else)`; `@row` is the 1-based
//! data row number (ids for a file without them).
//!
//! Money stays exact: decimal text such as `2.55` is read as an exact decimal, and sums,
//! differences and products of exact decimals are exact (`6 * 2.55` is `15.30`, not
//! `15.299999999999999`), so amounts sum to the cent as read amounts do. Division, and any
//! operand that is not a short decimal, falls back to 64-bit floating point. An empty value is
//! null; arithmetic on null gives null (`coalesce` picks a default). Nesting is bounded
//! ([`MAX_DEPTH`]): deeper input is an error, not a stack overflow.
//!
//! ```
//! use segmint::data::expr::Expr;
//! let e = Expr::parse("round(Quantity * UnitPrice, 2)").unwrap();
//! assert_eq!(e.columns(), vec!["Quantity", "UnitPrice"]);
//! let v = e.eval_text(&|name| Some(if name == "Quantity" { "6" } else { "2.55" }), 1).unwrap();
//! assert_eq!(v, "15.30");
//! ```

use std::cmp::Ordering;

/// Deepest nesting of parentheses, function calls, `not` and unary minus accepted.
pub const MAX_DEPTH: usize = 64;

/// Longest expression accepted, in bytes.
pub const MAX_LEN: usize = 10_000;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    text: String,
    node: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Number(Value),
    Text(String),
    Bool(bool),
    Null,
    Row,
    Column(String),
    Neg(Box<Node>),
    Not(Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Abs,
    Round,
    Coalesce,
    If,
}

/// A value while evaluating.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    /// An exact decimal: mantissa × 10^-scale.
    Dec(i128, u32),
    Float(f64),
    Text(String),
    Bool(bool),
}

/// Largest scale kept exact; beyond it a decimal becomes a float.
const MAX_SCALE: u32 = 30;

impl Expr {
    /// Parses an expression; the error says what is wrong and at which byte offset.
    pub fn parse(text: &str) -> Result<Expr, String> {
        if text.len() > MAX_LEN {
            return Err(format!("longer than {MAX_LEN} bytes"));
        }
        let tokens = tokenize(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            depth: 0,
            end: text.len(),
        };
        let node = p.expr()?;
        if let Some((tok, at)) = p.tokens.get(p.pos) {
            return Err(format!("unexpected {} at offset {at}", tok.describe()));
        }
        if node == Node::Null {
            return Err("the expression is only null".into());
        }
        Ok(Expr {
            text: text.trim().to_string(),
            node,
        })
    }

    /// Whether `text` reads as an expression rather than a plain column name: it has an
    /// operator, a parenthesis, a quote or an `@` name (`@row`).
    pub fn looks_like_expression(text: &str) -> bool {
        let t = text.trim();
        t.starts_with('@')
            || t.chars().any(|c| "+-*/()<>=!'`\",".contains(c))
            || t.parse::<f64>().is_ok()
    }

    /// The text it was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The column names it reads, in order of first use, without repeats.
    pub fn columns(&self) -> Vec<&str> {
        let mut out = Vec::new();
        collect_columns(&self.node, &mut out);
        out
    }

    /// Whether it reads the row number (`@row`).
    pub fn uses_row(&self) -> bool {
        uses_row(&self.node)
    }

    /// Evaluates it on one row: `column(name)` gives a column's text (`None` or empty: null),
    /// `row` is the 1-based data row. The result as text, empty for null; decimals exact
    /// (`15.30`), floats in their shortest round-trip form, booleans `true`/`false`.
    pub fn eval_text<'a>(
        &self,
        column: &dyn Fn(&str) -> Option<&'a str>,
        row: u64,
    ) -> Result<String, String> {
        let v = eval(&self.node, column, row)?;
        Ok(match v {
            Value::Null => String::new(),
            Value::Dec(m, s) => format_decimal(m, s),
            Value::Float(f) => {
                if !f.is_finite() {
                    return Err(format!("the result is not a finite number ({f})"));
                }
                format!("{f}")
            }
            Value::Text(t) => t,
            Value::Bool(b) => b.to_string(),
        })
    }
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn collect_columns<'a>(n: &'a Node, out: &mut Vec<&'a str>) {
    match n {
        Node::Column(c) if !out.contains(&c.as_str()) => out.push(c),
        Node::Neg(a) | Node::Not(a) => collect_columns(a, out),
        Node::Binary(_, a, b) => {
            collect_columns(a, out);
            collect_columns(b, out);
        }
        Node::Call(_, args) => args.iter().for_each(|a| collect_columns(a, out)),
        _ => {}
    }
}

fn uses_row(n: &Node) -> bool {
    match n {
        Node::Row => true,
        Node::Neg(a) | Node::Not(a) => uses_row(a),
        Node::Binary(_, a, b) => uses_row(a) || uses_row(b),
        Node::Call(_, args) => args.iter().any(uses_row),
        _ => false,
    }
}

// ------------------------------------------------------------------------------------ tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Number(String),
    Text(String),
    Ident(String),
    Quoted(String),
    Row,
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Number(n) => format!("number {n}"),
            Tok::Text(t) => format!("text '{t}'"),
            Tok::Ident(i) | Tok::Quoted(i) => format!("name {i:?}"),
            Tok::Row => "@row".into(),
            Tok::Op(o) => format!("{o:?}"),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::Comma => "\",\"".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, String> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())]
            .iter()
            .map(|(_, c)| c)
            .collect();
        let op2 = ["<=", ">=", "==", "!=", "<>"]
            .into_iter()
            .find(|o| *o == two);
        if let Some(o) = op2 {
            out.push((Tok::Op(o), at));
            i += 2;
            continue;
        }
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '+' => Tok::Op("+"),
            '-' => Tok::Op("-"),
            '*' => Tok::Op("*"),
            '/' => Tok::Op("/"),
            '<' => Tok::Op("<"),
            '>' => Tok::Op(">"),
            '=' => Tok::Op("="),
            '\'' | '`' | '"' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|&(_, d)| d == c)
                    .ok_or_else(|| format!("the quote {c} at offset {at} is not closed"))?;
                let inner: String = chars[i + 1..i + 1 + close].iter().map(|(_, c)| c).collect();
                i += close + 2;
                out.push((
                    if c == '\'' {
                        Tok::Text(inner)
                    } else {
                        Tok::Quoted(inner)
                    },
                    at,
                ));
                continue;
            }
            '@' => {
                let word: String = chars[i + 1..]
                    .iter()
                    .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
                    .map(|(_, c)| c)
                    .collect();
                if word != "row" {
                    return Err(format!(
                        "unknown @{word} at offset {at} (only @row, the row number, is known)"
                    ));
                }
                i += 4;
                out.push((Tok::Row, at));
                continue;
            }
            c if c.is_ascii_digit() || c == '.' => {
                let mut j = i;
                while j < chars.len() {
                    let d = chars[j].1;
                    let exp_sign =
                        (d == '+' || d == '-') && j > i && matches!(chars[j - 1].1, 'e' | 'E');
                    if d.is_ascii_digit() || d == '.' || d == 'e' || d == 'E' || exp_sign {
                        j += 1;
                    } else {
                        break;
                    }
                }
                let n: String = chars[i..j].iter().map(|(_, c)| c).collect();
                i = j;
                out.push((Tok::Number(n), at));
                continue;
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut j = i;
                while j < chars.len() && (chars[j].1.is_alphanumeric() || "_.".contains(chars[j].1))
                {
                    j += 1;
                }
                let w: String = chars[i..j].iter().map(|(_, c)| c).collect();
                i = j;
                out.push((Tok::Ident(w), at));
                continue;
            }
            other => return Err(format!("unexpected character {other:?} at offset {at}")),
        };
        out.push((tok, at));
        i += 1;
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------ parser

struct Parser {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
    /// The length of the text: the offset of "the end".
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }
    fn offset(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map(|(_, a)| *a)
            .unwrap_or(self.end)
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(k))
    }
    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "nested deeper than {MAX_DEPTH} levels at offset {}",
                self.offset()
            ));
        }
        Ok(())
    }
    fn expect(&mut self, want: Tok, what: &str) -> Result<(), String> {
        if self.peek() == Some(&want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!(
                "expected {what} at offset {}{}",
                self.offset(),
                self.peek()
                    .map(|t| format!(", found {}", t.describe()))
                    .unwrap_or_else(|| ", found the end".into())
            ))
        }
    }

    fn expr(&mut self) -> Result<Node, String> {
        self.deeper()?;
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Node::Binary(BinOp::Or, Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }
    fn and(&mut self) -> Result<Node, String> {
        let mut left = self.not()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Node::Binary(BinOp::And, Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }
    fn not(&mut self) -> Result<Node, String> {
        if self.keyword("not") {
            self.pos += 1;
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.comparison()
    }
    fn comparison(&mut self) -> Result<Node, String> {
        let left = self.sum()?;
        let op = match self.peek() {
            Some(Tok::Op("<")) => BinOp::Lt,
            Some(Tok::Op("<=")) => BinOp::Le,
            Some(Tok::Op(">")) => BinOp::Gt,
            Some(Tok::Op(">=")) => BinOp::Ge,
            Some(Tok::Op("=" | "==")) => BinOp::Eq,
            Some(Tok::Op("!=" | "<>")) => BinOp::Ne,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.sum()?;
        Ok(Node::Binary(op, Box::new(left), Box::new(right)))
    }
    fn sum(&mut self) -> Result<Node, String> {
        let mut left = self.product()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op("+")) => BinOp::Add,
                Some(Tok::Op("-")) => BinOp::Sub,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Node::Binary(op, Box::new(left), Box::new(self.product()?));
        }
    }
    fn product(&mut self) -> Result<Node, String> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op("*")) => BinOp::Mul,
                Some(Tok::Op("/")) => BinOp::Div,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Node::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }
    fn unary(&mut self) -> Result<Node, String> {
        if self.peek() == Some(&Tok::Op("-")) {
            self.pos += 1;
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Neg(Box::new(inner)));
        }
        if self.peek() == Some(&Tok::Op("+")) {
            self.pos += 1;
            return self.unary();
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Node, String> {
        let at = self.offset();
        let tok = match self.tokens.get(self.pos) {
            Some((t, _)) => t.clone(),
            None => return Err(format!("expected a value at offset {at}, found the end")),
        };
        self.pos += 1;
        match tok {
            Tok::Number(n) => parse_number(&n)
                .map(Node::Number)
                .ok_or_else(|| format!("{n:?} at offset {at} is not a number")),
            Tok::Text(t) => Ok(Node::Text(t)),
            Tok::Quoted(q) => Ok(Node::Column(q)),
            Tok::Row => Ok(Node::Row),
            Tok::LParen => {
                let inner = self.expr()?;
                self.expect(Tok::RParen, "\")\"")?;
                Ok(inner)
            }
            Tok::Ident(w) if self.peek() == Some(&Tok::LParen) => {
                let func = match w.to_ascii_lowercase().as_str() {
                    "abs" => Func::Abs,
                    "round" => Func::Round,
                    "coalesce" => Func::Coalesce,
                    "if" => Func::If,
                    _ => {
                        return Err(format!(
                        "unknown function {w:?} at offset {at} (known: abs, round, coalesce, if)"
                    ))
                    }
                };
                self.pos += 1;
                let mut args = Vec::new();
                if self.peek() != Some(&Tok::RParen) {
                    loop {
                        args.push(self.expr()?);
                        if self.peek() == Some(&Tok::Comma) {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect(Tok::RParen, "\",\" or \")\"")?;
                let ok = match func {
                    Func::Abs => args.len() == 1,
                    Func::Round => {
                        args.len() == 2 && matches!(args[1], Node::Number(Value::Dec(_, 0)))
                    }
                    Func::Coalesce => !args.is_empty(),
                    Func::If => args.len() == 3,
                };
                if !ok {
                    let want = match func {
                        Func::Abs => "abs(x)",
                        Func::Round => "round(x, n) with n a whole number of decimals",
                        Func::Coalesce => "coalesce(a, b, ...)",
                        Func::If => "if(condition, then, else)",
                    };
                    return Err(format!("at offset {at}: expected {want}"));
                }
                Ok(Node::Call(func, args))
            }
            Tok::Ident(w) => Ok(match w.to_ascii_lowercase().as_str() {
                "true" => Node::Bool(true),
                "false" => Node::Bool(false),
                "null" => Node::Null,
                _ => Node::Column(w),
            }),
            other => Err(format!(
                "expected a value at offset {at}, found {}",
                other.describe()
            )),
        }
    }
}

// ------------------------------------------------------------------------------------ values

/// Reads a number: an exact decimal when it is plain decimal text with at most 30 digits,
/// otherwise a finite float; `None` when it is not a number.
fn parse_number(s: &str) -> Option<Value> {
    let t = s.trim();
    if let Some(d) = parse_decimal(t) {
        return Some(d);
    }
    let f: f64 = t.parse().ok()?;
    f.is_finite().then_some(Value::Float(f))
}

fn parse_decimal(t: &str) -> Option<Value> {
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() + frac.len() > 30
    {
        return None;
    }
    let mut m: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        m = m * 10 + (b - b'0') as i128;
    }
    Some(Value::Dec(if neg { -m } else { m }, frac.len() as u32))
}

fn format_decimal(m: i128, scale: u32) -> String {
    let digits = m.unsigned_abs().to_string();
    let s = scale as usize;
    let sign = if m < 0 { "-" } else { "" };
    if s == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = s + 1);
    let (int, frac) = padded.split_at(padded.len() - s);
    format!("{sign}{int}.{frac}")
}

fn pow10(k: u32) -> Option<i128> {
    10i128.checked_pow(k)
}

fn dec_to_f64(m: i128, scale: u32) -> f64 {
    // parsing the exact decimal text rounds correctly once
    format_decimal(m, scale).parse().unwrap_or(f64::NAN)
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Dec(m, s) => Some(dec_to_f64(*m, *s)),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Two decimals on a common scale; `None` on overflow.
fn align(a: (i128, u32), b: (i128, u32)) -> Option<(i128, i128, u32)> {
    let s = a.1.max(b.1);
    Some((
        a.0.checked_mul(pow10(s - a.1)?)?,
        b.0.checked_mul(pow10(s - b.1)?)?,
        s,
    ))
}

/// A value used as a number; text is parsed, `None` for null.
fn number(v: Value, what: &dyn Fn() -> String) -> Result<Option<Value>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Dec(..) | Value::Float(_) => Ok(Some(v)),
        Value::Text(t) if t.trim().is_empty() => Ok(None),
        Value::Text(t) => parse_number(&t)
            .map(Some)
            .ok_or_else(|| format!("{} is not a number", what())),
        Value::Bool(_) => Err(format!("{} is a condition, not a number", what())),
    }
}

fn arith(op: BinOp, a: Value, b: Value) -> Result<Value, String> {
    if let (Value::Dec(am, asc), Value::Dec(bm, bsc)) = (&a, &b) {
        let exact = match op {
            BinOp::Add => align((*am, *asc), (*bm, *bsc))
                .and_then(|(x, y, s)| x.checked_add(y).map(|m| (m, s))),
            BinOp::Sub => align((*am, *asc), (*bm, *bsc))
                .and_then(|(x, y, s)| x.checked_sub(y).map(|m| (m, s))),
            BinOp::Mul => am
                .checked_mul(*bm)
                .map(|m| (m, asc + bsc))
                .filter(|(_, s)| *s <= MAX_SCALE),
            _ => None,
        };
        if let Some((m, s)) = exact {
            return Ok(Value::Dec(m, s));
        }
    }
    let (x, y) = (
        as_f64(&a).unwrap_or(f64::NAN),
        as_f64(&b).unwrap_or(f64::NAN),
    );
    let r = match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => {
            if y == 0.0 {
                return Err("division by zero".into());
            }
            x / y
        }
        _ => unreachable!("arith on a comparison"),
    };
    Ok(Value::Float(r))
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Text(x), Value::Text(y)) => match (parse_number(x), parse_number(y)) {
            (Some(p), Some(q)) => compare(&p, &q),
            _ => Some(x.cmp(y)),
        },
        (Value::Text(x), other) | (other, Value::Text(x)) => {
            let p = parse_number(x)?;
            if matches!(a, Value::Text(_)) {
                compare(&p, other)
            } else {
                compare(other, &p)
            }
        }
        (Value::Dec(am, asc), Value::Dec(bm, bsc)) => match align((*am, *asc), (*bm, *bsc)) {
            Some((x, y, _)) => Some(x.cmp(&y)),
            None => as_f64(a)?.partial_cmp(&as_f64(b)?),
        },
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => as_f64(a)?.partial_cmp(&as_f64(b)?),
    }
}

fn truth(v: Value) -> Result<Option<bool>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::Text(t) if t.trim().is_empty() => Ok(None),
        Value::Text(t) => crate::data::reader::parse_bool(&t)
            .map(Some)
            .map_err(|_| format!("{t:?} is not a condition (true/false)")),
        other => Err(format!("{} is a number, not a condition", show(&other))),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Dec(m, s) => format_decimal(*m, *s),
        Value::Float(f) => f.to_string(),
        Value::Text(t) => format!("{t:?}"),
        Value::Bool(b) => b.to_string(),
    }
}

fn round_half_even(m: i128, scale: u32, digits: u32) -> Option<(i128, u32)> {
    if scale <= digits {
        return Some((m, scale));
    }
    let d = pow10(scale - digits)?;
    let (q, r) = (m.div_euclid(d), m.rem_euclid(d));
    let twice = r.checked_mul(2)?;
    let up = twice > d || (twice == d && q % 2 != 0);
    Some((if up { q + 1 } else { q }, digits))
}

fn eval<'a>(n: &Node, column: &dyn Fn(&str) -> Option<&'a str>, row: u64) -> Result<Value, String> {
    Ok(match n {
        Node::Number(v) => v.clone(),
        Node::Text(t) => Value::Text(t.clone()),
        Node::Bool(b) => Value::Bool(*b),
        Node::Null => Value::Null,
        Node::Row => Value::Dec(row as i128, 0),
        Node::Column(c) => match column(c) {
            None => Value::Null,
            Some(s) if s.trim().is_empty() => Value::Null,
            Some(s) => Value::Text(s.to_string()),
        },
        Node::Neg(a) => {
            let what = || describe(a);
            match number(eval(a, column, row)?, &what)? {
                None => Value::Null,
                Some(Value::Dec(m, s)) => Value::Dec(-m, s),
                Some(v) => Value::Float(-as_f64(&v).unwrap_or(f64::NAN)),
            }
        }
        Node::Not(a) => match truth(eval(a, column, row)?)? {
            None => Value::Null,
            Some(b) => Value::Bool(!b),
        },
        Node::Binary(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div), a, b) => {
            let x = number(eval(a, column, row)?, &|| describe(a))?;
            let y = number(eval(b, column, row)?, &|| describe(b))?;
            match (x, y) {
                (Some(x), Some(y)) => arith(*op, x, y)?,
                _ => Value::Null,
            }
        }
        Node::Binary(op @ (BinOp::And | BinOp::Or), a, b) => {
            let x = truth(eval(a, column, row)?)?;
            let y = truth(eval(b, column, row)?)?;
            match (op, x, y) {
                (BinOp::And, Some(false), _) | (BinOp::And, _, Some(false)) => Value::Bool(false),
                (BinOp::Or, Some(true), _) | (BinOp::Or, _, Some(true)) => Value::Bool(true),
                (_, Some(x), Some(y)) => Value::Bool(x && y || (*op == BinOp::Or && (x || y))),
                _ => Value::Null,
            }
        }
        Node::Binary(op, a, b) => {
            let x = eval(a, column, row)?;
            let y = eval(b, column, row)?;
            if x == Value::Null || y == Value::Null {
                return Ok(Value::Null);
            }
            let ord = compare(&x, &y)
                .ok_or_else(|| format!("cannot compare {} with {}", show(&x), show(&y)))?;
            Value::Bool(match op {
                BinOp::Lt => ord == Ordering::Less,
                BinOp::Le => ord != Ordering::Greater,
                BinOp::Gt => ord == Ordering::Greater,
                BinOp::Ge => ord != Ordering::Less,
                BinOp::Eq => ord == Ordering::Equal,
                _ => ord != Ordering::Equal,
            })
        }
        Node::Call(Func::Abs, args) => {
            match number(eval(&args[0], column, row)?, &|| describe(&args[0]))? {
                None => Value::Null,
                Some(Value::Dec(m, s)) => Value::Dec(m.abs(), s),
                Some(v) => Value::Float(as_f64(&v).unwrap_or(f64::NAN).abs()),
            }
        }
        Node::Call(Func::Round, args) => {
            let digits = match &args[1] {
                Node::Number(Value::Dec(d, 0)) => {
                    u32::try_from(*d).unwrap_or(u32::MAX).min(MAX_SCALE)
                }
                _ => unreachable!("checked by the parser"),
            };
            match number(eval(&args[0], column, row)?, &|| describe(&args[0]))? {
                None => Value::Null,
                Some(Value::Dec(m, s)) => match round_half_even(m, s, digits) {
                    Some((m, s)) => Value::Dec(m, s),
                    None => Value::Float(dec_to_f64(m, s)),
                },
                Some(v) => {
                    let f = as_f64(&v).unwrap_or(f64::NAN);
                    // the float's shortest decimal text, rounded exactly
                    match parse_decimal(&format!("{f}")) {
                        Some(Value::Dec(m, s)) => match round_half_even(m, s, digits) {
                            Some((m, s)) => Value::Dec(m, s),
                            None => Value::Float(f),
                        },
                        _ => Value::Float(f),
                    }
                }
            }
        }
        Node::Call(Func::Coalesce, args) => {
            for a in args {
                let v = eval(a, column, row)?;
                if v != Value::Null {
                    return Ok(v);
                }
            }
            Value::Null
        }
        Node::Call(Func::If, args) => match truth(eval(&args[0], column, row)?)? {
            Some(true) => eval(&args[1], column, row)?,
            _ => eval(&args[2], column, row)?,
        },
    })
}

/// A short description of an operand for messages: a column by name, else the operand kind.
fn describe(n: &Node) -> String {
    match n {
        Node::Column(c) => format!("column {c:?}"),
        Node::Text(t) => format!("'{t}'"),
        _ => "a value".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_with(expr: &str, cols: &[(&str, &str)]) -> Result<String, String> {
        let e = Expr::parse(expr)?;
        let cols: Vec<(String, String)> = cols
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        e.eval_text(
            &|name| {
                cols.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            },
            7,
        )
    }

    #[test]
    fn products_of_decimals_are_exact() {
        // 6 * 2.55 in binary floating point is 15.299999999999999 (Python: 6 * 2.55)
        assert_eq!(
            eval_with(
                "Quantity * UnitPrice",
                &[("Quantity", "6"), ("UnitPrice", "2.55")]
            ),
            Ok("15.30".into())
        );
        assert_eq!(
            eval_with(
                "Quantity * UnitPrice",
                &[("Quantity", "-12"), ("UnitPrice", "0.29")]
            ),
            Ok("-3.48".into())
        );
        assert_eq!(eval_with("0.1 + 0.2", &[]), Ok("0.3".into()));
        assert_eq!(eval_with("1 - 3 * 2", &[]), Ok("-5".into()));
        assert_eq!(eval_with("(1 - 3) * 2", &[]), Ok("-4".into()));
        assert_eq!(eval_with("-(2.5)", &[]), Ok("-2.5".into()));
        assert_eq!(eval_with("1 / 4", &[]), Ok("0.25".into()));
        assert_eq!(eval_with("1e3 * 2", &[]), Ok("2000".into()));
    }

    #[test]
    fn functions_and_conditions() {
        assert_eq!(eval_with("abs(-3.5)", &[]), Ok("3.5".into()));
        // half to even, on the exact decimal
        assert_eq!(eval_with("round(2.345, 2)", &[]), Ok("2.34".into()));
        assert_eq!(eval_with("round(2.355, 2)", &[]), Ok("2.36".into()));
        assert_eq!(eval_with("round(-2.5, 0)", &[]), Ok("-2".into()));
        assert_eq!(eval_with("round(1 / 3, 3)", &[]), Ok("0.333".into()));
        assert_eq!(
            eval_with("coalesce(a, b, 0)", &[("b", "4")]),
            Ok("4".into())
        );
        assert_eq!(
            eval_with("coalesce(a, b, 0)", &[("a", " ")]),
            Ok("0".into())
        );
        assert_eq!(
            eval_with("if(q < 0, 0, q * p)", &[("q", "-2"), ("p", "3")]),
            Ok("0".into())
        );
        assert_eq!(
            eval_with(
                "if(q >= 0 and not (p = 3), 1, 2)",
                &[("q", "1"), ("p", "3")]
            ),
            Ok("2".into())
        );
        assert_eq!(
            eval_with("if(kind = 'C' or kind == 'D', 1, 0)", &[("kind", "D")]),
            Ok("1".into())
        );
        assert_eq!(
            eval_with("`Unit Price` * 2", &[("Unit Price", "1.5")]),
            Ok("3.0".into())
        );
        assert_eq!(eval_with("\"a b\" + 1", &[("a b", "1")]), Ok("2".into()));
        assert_eq!(eval_with("@row * 10", &[]), Ok("70".into()));
        assert_eq!(
            eval_with("q * p", &[("q", "2")]),
            Ok("".into()),
            "null propagates"
        );
        assert_eq!(eval_with("'x'", &[]), Ok("x".into()));
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = |s: &str| Expr::parse(s).unwrap_err();
        assert!(e("a * ").contains("expected a value"), "{}", e("a * "));
        assert!(e("(a + b").contains("expected \")\""));
        assert!(e("sqrt(a)").contains("unknown function \"sqrt\""));
        assert!(e("round(a)").contains("round(x, n)"));
        assert!(e("a $ b").contains("unexpected character '$' at offset 2"));
        assert!(e("`a * 2").contains("not closed"));
        assert!(e("@id").contains("only @row"));
        assert!(e("a b").contains("unexpected name \"b\" at offset 2"));
        let deep = format!("{}a{}", "(".repeat(20_000), ")".repeat(20_000));
        assert!(e(&deep).contains("longer than"));
        let deep = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert!(e(&deep).contains("nested deeper than 64"));
        let minus = format!("{}a", "-".repeat(5000));
        assert!(e(&minus).contains("nested deeper than 64"));
        let nots = "not ".repeat(100) + "a";
        assert!(e(&nots).contains("nested deeper than 64"));
        assert!(eval_with("a * 2", &[("a", "x1")])
            .unwrap_err()
            .contains("column \"a\" is not a number"));
        assert!(eval_with("a / b", &[("a", "1"), ("b", "0")])
            .unwrap_err()
            .contains("division by zero"));
        assert!(eval_with("if(a, 1, 2)", &[("a", "3")])
            .unwrap_err()
            .contains("not a condition"));
    }

    #[test]
    fn plain_names_are_not_expressions() {
        assert!(!Expr::looks_like_expression("CustomerID"));
        assert!(!Expr::looks_like_expression("Unit Price"));
        assert!(Expr::looks_like_expression("Quantity * UnitPrice"));
        assert!(Expr::looks_like_expression("@row"));
        assert_eq!(Expr::parse("a * b + a").unwrap().columns(), vec!["a", "b"]);
        assert!(Expr::parse("@row").unwrap().uses_row());
    }
}
