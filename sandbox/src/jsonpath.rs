//! The `custom_metadata` filter of run and item lists: a subset of PostgreSQL's SQL/JSON path
//! with `@?` semantics (lax mode), enough for the filters users write.
//!
//! Supported: `$.a.b`, `a.b` (`$.` is implied), `$.tags[*]`, `$.list[0]`, `$.*`, `"quoted key"`,
//! and one trailing filter `? (@ OP literal)` or `? (@.field OP literal)` with `==`, `!=`, `<>`,
//! `<`, `<=`, `>`, `>=` against a string, number, `true`, `false` or `null`, or
//! `@ like_regex "pattern"` (optionally `flag "i"`), several joined by `&&` and `||` (`&&` binds
//! tighter), as the SDKs' tag and note searches send them.

use serde_json::Value;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonPathFilter {
    path: Vec<Step>,
    /// Alternatives (`||`) of conjunctions (`&&`) of tests.
    condition: Option<Vec<Vec<Condition>>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    AnyKey,
    AnyIndex,
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    path: Vec<Step>,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Compare(Op, Value),
    /// `like_regex`: the pattern as written and its compiled form.
    Regex(String, regex::Regex),
}

impl PartialEq for Test {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Compare(a, x), Self::Compare(b, y)) => a == b && x == y,
            (Self::Regex(a, _), Self::Regex(b, _)) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl JsonPathFilter {
    /// Parses `expression`, or explains what the sandbox does not understand.
    pub(crate) fn parse(expression: &str) -> Result<Self, String> {
        let text = expression.trim();
        let text = if text.starts_with('$') {
            text.to_string()
        } else {
            format!("$.{text}")
        };
        let mut p = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        p.expect('$')?;
        let path = p.steps()?;
        p.ws();
        let condition = if p.eat('?') {
            p.ws();
            p.expect('(')?;
            let mut alternatives = vec![vec![p.condition()?]];
            loop {
                p.ws();
                if p.eat_str("&&") {
                    let c = p.condition()?;
                    if let Some(all) = alternatives.last_mut() {
                        all.push(c);
                    }
                } else if p.eat_str("||") {
                    alternatives.push(vec![p.condition()?]);
                } else {
                    break;
                }
            }
            p.expect(')')?;
            Some(alternatives)
        } else {
            None
        };
        p.ws();
        if p.pos != p.chars.len() {
            return Err(format!(
                "unsupported JSONPath syntax at character {}",
                p.pos + 1
            ));
        }
        Ok(Self { path, condition })
    }

    /// `@?`: whether the path yields at least one item (passing the filter) in `value`.
    pub(crate) fn matches(&self, value: &Value) -> bool {
        let found = walk(&self.path, value);
        match &self.condition {
            None => !found.is_empty(),
            Some(alternatives) => found.iter().flat_map(|v| unwrap_array(v)).any(|item| {
                alternatives
                    .iter()
                    .any(|all| all.iter().all(|c| c.holds(item)))
            }),
        }
    }
}

impl Condition {
    /// Whether some value at the condition's path passes its test (lax-mode existence).
    fn holds(&self, item: &Value) -> bool {
        walk(&self.path, item)
            .into_iter()
            .flat_map(unwrap_array)
            .any(|v| match &self.test {
                Test::Compare(op, literal) => compare(v, *op, literal),
                Test::Regex(_, re) => v.as_str().is_some_and(|s| re.is_match(s)),
            })
    }
}

fn unwrap_array(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn walk<'a>(steps: &[Step], root: &'a Value) -> Vec<&'a Value> {
    let mut current = vec![root];
    for step in steps {
        let mut next = Vec::new();
        for v in current {
            match step {
                Step::Key(k) => {
                    for item in unwrap_array(v) {
                        if let Some(x) = item.get(k.as_str()) {
                            next.push(x);
                        }
                    }
                }
                Step::AnyKey => {
                    for item in unwrap_array(v) {
                        if let Value::Object(map) = item {
                            next.extend(map.values());
                        }
                    }
                }
                Step::AnyIndex => next.extend(unwrap_array(v)),
                Step::Index(i) => match v {
                    Value::Array(items) => next.extend(items.get(*i)),
                    other if *i == 0 => next.push(other),
                    _ => {}
                },
            }
        }
        current = next;
    }
    current
}

fn compare(v: &Value, op: Op, literal: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering = match (v, literal) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) if matches!(op, Op::Eq | Op::Ne) => Some(a.cmp(b)),
        (Value::Null, Value::Null) if matches!(op, Op::Eq | Op::Ne) => Some(Ordering::Equal),
        _ => None,
    };
    let Some(o) = ordering else {
        return false;
    };
    match op {
        Op::Eq => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
        Op::Lt => o == Ordering::Less,
        Op::Le => o != Ordering::Greater,
        Op::Gt => o == Ordering::Greater,
        Op::Ge => o != Ordering::Less,
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}' at character {}", self.pos + 1))
        }
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn steps(&mut self) -> Result<Vec<Step>, String> {
        let mut steps = Vec::new();
        loop {
            if self.eat('.') {
                if self.eat('*') {
                    steps.push(Step::AnyKey);
                } else if self.peek() == Some('"') {
                    steps.push(Step::Key(self.quoted()?));
                } else {
                    let start = self.pos;
                    while self
                        .peek()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
                    {
                        self.pos += 1;
                    }
                    if start == self.pos {
                        return Err(format!("expected a key at character {}", self.pos + 1));
                    }
                    steps.push(Step::Key(self.chars[start..self.pos].iter().collect()));
                }
            } else if self.eat('[') {
                self.ws();
                if self.eat('*') {
                    steps.push(Step::AnyIndex);
                } else {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.pos += 1;
                    }
                    let digits: String = self.chars[start..self.pos].iter().collect();
                    let index = digits
                        .parse()
                        .map_err(|_| format!("expected an index at character {}", start + 1))?;
                    steps.push(Step::Index(index));
                }
                self.ws();
                self.expect(']')?;
            } else {
                return Ok(steps);
            }
        }
    }

    fn quoted(&mut self) -> Result<String, String> {
        let start = self.pos;
        self.expect('"')?;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            self.pos += 1;
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                let raw: String = self.chars[start..self.pos].iter().collect();
                return serde_json::from_str(&raw).map_err(|e| format!("bad string: {e}"));
            }
        }
        Err("unterminated string".into())
    }

    fn eat_str(&mut self, word: &str) -> bool {
        let n = word.chars().count();
        if self.chars[self.pos..]
            .iter()
            .take(n)
            .copied()
            .eq(word.chars())
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    /// One test: `@path OP literal` or `@path like_regex "pattern" [flag "flags"]`.
    fn condition(&mut self) -> Result<Condition, String> {
        self.ws();
        self.expect('@')?;
        let path = self.steps()?;
        self.ws();
        let test = if self.eat_str("like_regex") {
            self.ws();
            let pattern = self.quoted()?;
            self.ws();
            let mut flags = String::new();
            if self.eat_str("flag") {
                self.ws();
                flags = self.quoted()?;
            }
            let mut builder = regex::RegexBuilder::new(&pattern);
            for f in flags.chars() {
                match f {
                    'i' => builder.case_insensitive(true),
                    's' => builder.dot_matches_new_line(true),
                    'm' => builder.multi_line(true),
                    'x' => builder.ignore_whitespace(true),
                    'q' => return Err("like_regex flag \"q\" is not supported".into()),
                    other => return Err(format!("unknown like_regex flag '{other}'")),
                };
            }
            let re = builder
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("bad like_regex pattern: {e}"))?;
            Test::Regex(pattern, re)
        } else {
            let op = self.op()?;
            self.ws();
            Test::Compare(op, self.literal()?)
        };
        self.ws();
        Ok(Condition { path, test })
    }

    fn op(&mut self) -> Result<Op, String> {
        let two: String = self.chars[self.pos..].iter().take(2).collect();
        let (op, len) = match two.as_str() {
            "==" => (Op::Eq, 2),
            "!=" | "<>" => (Op::Ne, 2),
            "<=" => (Op::Le, 2),
            ">=" => (Op::Ge, 2),
            _ if two.starts_with('<') => (Op::Lt, 1),
            _ if two.starts_with('>') => (Op::Gt, 1),
            _ => {
                return Err(format!(
                    "expected a comparison operator at character {}",
                    self.pos + 1
                ));
            }
        };
        self.pos += len;
        Ok(op)
    }

    fn literal(&mut self) -> Result<Value, String> {
        if self.peek() == Some('"') {
            return self.quoted().map(Value::String);
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '-' | '+' | '.'))
        {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        match word.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "null" => Ok(Value::Null),
            _ => serde_json::from_str::<serde_json::Number>(&word)
                .map(Value::Number)
                .map_err(|_| format!("expected a literal at character {}", start + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(expr: &str, v: &Value) -> bool {
        JsonPathFilter::parse(expr).unwrap().matches(v)
    }

    // Proves the documented filter forms behave like PostgreSQL's `@?` in lax mode. (FR-44)
    #[test]
    fn filters() {
        let v = json!({"study": "abc-1", "score": 0.8, "tags": ["draft", "x"], "a": {"b": true}});
        assert!(m("$.study", &v));
        assert!(m("study", &v), "$. is implied");
        assert!(!m("$.missing", &v));
        assert!(m("$.study ? (@ == \"abc-1\")", &v));
        assert!(!m("$.study ? (@ == \"abc-2\")", &v));
        assert!(m("$.score ? (@ > 0.75)", &v));
        assert!(!m("$.score ? (@ > 0.85)", &v));
        assert!(m("$.tags[*] ? (@ == \"draft\")", &v));
        assert!(m("$.tags ? (@ == \"x\")", &v), "arrays unwrap in lax mode");
        assert!(m("$.a ? (@.b == true)", &v));
        assert!(m("$.tags[1]", &v));
        assert!(!m("$.tags[5]", &v));
        assert!(!m("$.study ? (@ > 3)", &v), "type mismatch is false");
        assert!(JsonPathFilter::parse("$.a ? (@ ~~ 1)").is_err());
        assert!(JsonPathFilter::parse("$.a && $.b").is_err());
    }

    // Proves the SDKs' tag and note searches work: `&&`/`||` in one filter and `like_regex`
    // with the case-insensitive flag, as the Python SDK's `run list --tags/--query` sends
    // them. (FR-64)
    #[test]
    fn conjunctions_and_like_regex() {
        let v = json!({"sdk": {"tags": ["study-17", "batch-3"], "note": "First Pass"}});
        assert!(m(
            r#"$.sdk ? (@.tags[*] == "study-17" && @.tags[*] == "batch-3")"#,
            &v
        ));
        assert!(!m(
            r#"$.sdk ? (@.tags[*] == "study-17" && @.tags[*] == "batch-4")"#,
            &v
        ));
        assert!(m(
            r#"$.sdk ? (@.tags[*] == "nope" || @.note == "First Pass")"#,
            &v
        ));
        assert!(m(r#"$.sdk.tags ? (@ like_regex "^(batch-3|other)$")"#, &v));
        assert!(!m(r#"$.sdk.tags ? (@ like_regex "^(batch|other)$")"#, &v));
        assert!(m(r#"$.sdk.note ? (@ like_regex "first" flag "i")"#, &v));
        assert!(!m(r#"$.sdk.note ? (@ like_regex "first")"#, &v));
        assert!(JsonPathFilter::parse(r#"$.a ? (@ like_regex "(")"#).is_err());
        assert!(JsonPathFilter::parse(r#"$.a ? (@ like_regex "x" flag "z")"#).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
        // Proves any filter text, including `&&`, `||` and `like_regex` fragments, parses or is
        // refused without panicking, and a parsed one evaluates on any document. (FR-44)
        #[test]
        fn any_filter_parses_or_is_refused(
            text in "(\\$|@|\\.|\\[\\*\\]|\\?|\\(|\\)| |&&|\\|\\||==|like_regex|flag|\"[a-z^$|()*+.]{0,6}\"|[a-z0-9]{1,4}){0,16}",
            noise in "\\PC{0,40}",
        ) {
            for candidate in [text.as_str(), noise.as_str()] {
                if let Ok(filter) = JsonPathFilter::parse(candidate) {
                    let v = json!({"a": {"b": [1, "x", null]}, "sdk": {"tags": ["t"]}});
                    let _ = filter.matches(&v);
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        // Proves the SDK's tag filters are exact for any tag text (quotes, backslashes, control
        // characters, any Unicode): a run carrying the tags matches, one missing a tag does
        // not. (FR-64)
        #[test]
        fn tag_filters_match_exactly(tags in proptest::collection::btree_set("\\PC{0,8}|[\"\\\\\u{0}-\u{1f}]{1,3}", 1..4)) {
            let filter = aignostics::sdk_metadata::tags_filter(&tags).unwrap();
            let parsed = JsonPathFilter::parse(&filter).unwrap();
            let all: Vec<&String> = tags.iter().collect();
            let with_all = json!({"sdk": {"tags": all}});
            proptest::prop_assert!(parsed.matches(&with_all), "{} on {}", filter, with_all);
            let fewer: Vec<&String> = tags.iter().skip(1).collect();
            let with_fewer = json!({"sdk": {"tags": fewer}});
            proptest::prop_assert!(!parsed.matches(&with_fewer), "{} on {}", filter, with_fewer);
        }
    }
}
