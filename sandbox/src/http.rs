//! The sandbox's own request and response types (independent of the HTTP server crate), the
//! FastAPI error bodies, and the query helpers shared by the endpoints.

use std::cmp::Ordering;
use std::io::{Cursor, Read};

use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::{Value, json};

use super::canonical::canonical_json;
use super::content::Generated;
use aignostics::models::{HTTPValidationError, LocationItem, ValidationError};

/// A request as the endpoints see it.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    /// Upper-case method.
    pub method: String,
    /// The path as sent (still percent-encoded), without the query.
    pub path: String,
    /// The raw query string (without `?`).
    pub raw_query: String,
    /// Path segments, percent-decoded (an encoded `/` stays inside its segment).
    pub segments: Vec<String>,
    /// Query pairs, decoded (`+` is a space, as form encoding has it).
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// Builds a request from its parts; `target` is the request target (`/path?query`).
    pub(crate) fn new(
        method: &str,
        target: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Self {
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let segments = path
            .trim_start_matches('/')
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            raw_query: raw_query.to_string(),
            segments,
            query: parse_form(raw_query),
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body,
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The last value of a query parameter (FastAPI takes the last for scalars).
    pub(crate) fn query_one(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated query parameter.
    pub(crate) fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs (query strings and token requests).
pub(crate) fn parse_form(text: &str) -> Vec<(String, String)> {
    decode_pairs(text, true)
}

/// Decodes `k=v&…` pairs; `plus_is_space` for form encoding (S3 clients write a space as
/// `%20` and mean `+` literally).
pub(crate) fn decode_pairs(text: &str, plus_is_space: bool) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                let s = if plus_is_space {
                    std::borrow::Cow::Owned(s.replace('+', " "))
                } else {
                    std::borrow::Cow::Borrowed(s)
                };
                percent_decode_str(&s).decode_utf8_lossy().into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// A response body: bytes in memory, generated artifact content, or stored bytes read as they
/// are sent.
pub(crate) enum Body {
    Bytes(Vec<u8>),
    Generated(Generated),
    Stream {
        reader: Box<dyn Read + Send>,
        len: u64,
    },
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bytes(b) => write!(f, "Bytes({})", b.len()),
            Self::Generated(g) => write!(f, "Generated({})", g.len()),
            Self::Stream { len, .. } => write!(f, "Stream({len})"),
        }
    }
}

impl Body {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Bytes(b) => b.len(),
            Self::Generated(g) => usize::try_from(g.len()).unwrap_or(usize::MAX),
            Self::Stream { len, .. } => usize::try_from(*len).unwrap_or(usize::MAX),
        }
    }

    pub(crate) fn into_reader(self) -> Box<dyn Read + Send> {
        match self {
            Self::Bytes(b) => Box::new(Cursor::new(b)),
            Self::Generated(g) => Box::new(g),
            Self::Stream { reader, .. } => reader,
        }
    }
}

/// A response of an endpoint.
#[derive(Debug)]
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// Endpoints return `Err` for early error answers, so `?` works on lookups.
pub(crate) type Answer = Result<Resp, Resp>;

impl Resp {
    pub(crate) fn new(status: u16, content_type: &str, body: Body) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    /// A JSON answer encoded from one of the crate's models.
    pub(crate) fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
        Self::new(status, "application/json", Body::Bytes(body))
    }

    /// FastAPI's `{"detail": "..."}`.
    pub(crate) fn detail(status: u16, message: impl Into<String>) -> Self {
        Self::json(status, &json!({ "detail": message.into() }))
    }

    /// A 422 with FastAPI's validation body.
    pub(crate) fn validation(errors: Vec<ValidationError>) -> Self {
        Self::json(
            422,
            &HTTPValidationError {
                detail: Some(errors),
            },
        )
    }

    /// A 422 with one validation entry.
    pub(crate) fn invalid(
        loc: &[&str],
        error_type: &str,
        msg: impl Into<String>,
        input: Option<Value>,
        ctx: Option<Value>,
    ) -> Self {
        Self::validation(vec![ValidationError {
            loc: loc
                .iter()
                .map(|s| match s.parse::<i64>() {
                    Ok(i) if !s.starts_with('+') => LocationItem::Index(i),
                    _ => LocationItem::Field((*s).to_string()),
                })
                .collect(),
            msg: msg.into(),
            error_type: error_type.into(),
            input,
            ctx,
        }])
    }

    /// A 307 to `location`.
    pub(crate) fn redirect(location: String) -> Self {
        let mut r = Self::new(307, "application/json", Body::Bytes(Vec::new()));
        r.headers.push(("Location".into(), location));
        r
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

// ---- query validation, as FastAPI reports it ----------------------------------------------

/// An integer query parameter with bounds, or FastAPI's 422.
pub(crate) fn int_query(
    req: &Req,
    name: &str,
    default: i64,
    min: i64,
    max: Option<i64>,
) -> Result<i64, Resp> {
    let Some(raw) = req.query_one(name) else {
        return Ok(default);
    };
    let loc = ["query", name];
    let n: i64 = raw.trim().parse().map_err(|_| {
        Resp::invalid(
            &loc,
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
            Some(json!(raw)),
            None,
        )
    })?;
    if n < min {
        return Err(Resp::invalid(
            &loc,
            "greater_than_equal",
            format!("Input should be greater than or equal to {min}"),
            Some(json!(raw)),
            Some(json!({ "ge": min })),
        ));
    }
    if let Some(max) = max.filter(|m| n > *m) {
        return Err(Resp::invalid(
            &loc,
            "less_than_equal",
            format!("Input should be less than or equal to {max}"),
            Some(json!(raw)),
            Some(json!({ "le": max })),
        ));
    }
    Ok(n)
}

/// `page` and the page size (query name `size_name`), validated as the platform does.
pub(crate) fn paging(req: &Req, size_name: &str) -> Result<(usize, usize), Resp> {
    let page = int_query(req, "page", 1, 1, None)?;
    let size = int_query(req, size_name, 50, 5, Some(100))?;
    Ok((
        usize::try_from(page).unwrap_or(usize::MAX),
        usize::try_from(size).unwrap_or(50),
    ))
}

/// One page of the `selected` entries in the order `sort` asks for (validated against
/// `allowed`), each built by `view` and kept when `keep` says so. Without sort keys and without
/// `keep` the order is the stored one and only the page's entries are built, so listing page by
/// page stays linear in the pages however many entries there are.
pub(crate) fn sorted_page<S, V: Serialize>(
    selected: impl Iterator<Item = S>,
    mut view: impl FnMut(S) -> V,
    keep: Option<&dyn Fn(&V) -> bool>,
    sort: &[&str],
    allowed: &[&str],
    paging: (usize, usize),
) -> Result<Vec<V>, Resp> {
    if sort.is_empty() && keep.is_none() {
        return Ok(page_of(selected.collect(), paging)
            .into_iter()
            .map(view)
            .collect());
    }
    let mut rows: Vec<(Value, V)> = selected
        .map(&mut view)
        .filter(|v| keep.is_none_or(|keep| keep(v)))
        .map(|v| (serde_json::to_value(&v).unwrap_or_default(), v))
        .collect();
    sort_rows(&mut rows, sort, allowed)?;
    Ok(page_of(rows.into_iter().map(|(_, v)| v).collect(), paging))
}

/// One page of `items`.
pub(crate) fn page_of<T>(items: Vec<T>, (page, size): (usize, usize)) -> Vec<T> {
    items
        .into_iter()
        .skip(page.saturating_sub(1).saturating_mul(size))
        .take(size)
        .collect()
}

/// A boolean query parameter, accepting what pydantic accepts.
pub(crate) fn bool_query(req: &Req, name: &str) -> Result<Option<bool>, Resp> {
    let Some(raw) = req.query_one(name) else {
        return Ok(None);
    };
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Some(true)),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(Some(false)),
        _ => Err(Resp::invalid(
            &["query", name],
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
            Some(json!(raw)),
            None,
        )),
    }
}

/// A string enum query parameter: one of `allowed`, or FastAPI's 422.
pub(crate) fn enum_value(loc: &[&str], raw: &str, allowed: &[&str]) -> Result<String, Resp> {
    if allowed.contains(&raw) {
        return Ok(raw.to_string());
    }
    let expected = match allowed {
        [] => String::new(),
        [one] => format!("'{one}'"),
        [init @ .., last] => format!(
            "{} or '{last}'",
            init.iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(Resp::invalid(
        loc,
        "enum",
        format!("Input should be {expected}"),
        Some(json!(raw)),
        Some(json!({ "expected": expected })),
    ))
}

/// A UUID path or query parameter, normalised, or FastAPI's 422.
pub(crate) fn uuid_value(loc: &[&str], raw: &str) -> Result<String, Resp> {
    super::ids::parse_uuid(raw).ok_or_else(|| {
        Resp::invalid(
            loc,
            "uuid_parsing",
            "Input should be a valid UUID, invalid character or length",
            Some(json!(raw)),
            None,
        )
    })
}

/// Sorts `rows` (each with its JSON form) by `sort` fields (`field`, `+field`, `-field`);
/// a field outside `allowed` is a 422.
pub(crate) fn sort_rows<T>(
    rows: &mut [(Value, T)],
    sort: &[&str],
    allowed: &[&str],
) -> Result<(), Resp> {
    let mut keys = Vec::new();
    for raw in sort {
        // A raw `+` arrives decoded as a space.
        let raw = raw.trim_start();
        let (descending, field) = match raw.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, raw.strip_prefix('+').unwrap_or(raw)),
        };
        if !allowed.contains(&field) {
            return Err(Resp::invalid(
                &["query", "sort"],
                "value_error",
                format!(
                    "Value error, invalid sort field '{field}'; allowed: {}",
                    allowed.join(", ")
                ),
                Some(json!(raw)),
                None,
            ));
        }
        keys.push((descending, field.to_string()));
    }
    rows.sort_by(|(a, _), (b, _)| {
        for (descending, field) in &keys {
            let o = compare_values(&a[field.as_str()], &b[field.as_str()]);
            let o = if *descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

/// A total order on JSON values: null < booleans < numbers < strings < arrays/objects.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) | Value::Object(_) => 4,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(_) | Value::Object(_), Value::Array(_) | Value::Object(_)) => {
            let (mut x, mut y) = (String::new(), String::new());
            canonical_json(a, &mut x);
            canonical_json(b, &mut y);
            x.cmp(&y)
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Decodes a JSON body into a model, or answers 422 with the field's location.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(req: &Req) -> Result<T, Resp> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(Resp::invalid(
            &["body"],
            "missing",
            "Field required",
            Some(Value::Null),
            None,
        ));
    }
    let value: Value = serde_json::from_slice(&req.body).map_err(|e| {
        Resp::invalid(
            &["body", &e.column().to_string()],
            "json_invalid",
            "JSON decode error",
            Some(json!({})),
            Some(json!({ "error": e.to_string() })),
        )
    })?;
    if !value.is_object() {
        return Err(Resp::invalid(
            &["body"],
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
            Some(value),
            None,
        ));
    }
    serde_path_to_error::deserialize::<_, T>(&value).map_err(|e| {
        let mut loc: Vec<String> = vec!["body".into()];
        for segment in e.path().iter() {
            use serde_path_to_error::Segment;
            match segment {
                Segment::Seq { index } => loc.push(index.to_string()),
                Segment::Map { key } => loc.push(key.clone()),
                Segment::Enum { variant } => loc.push(variant.clone()),
                Segment::Unknown => {}
            }
        }
        let message = e.inner().to_string();
        let (error_type, msg) = match message
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            Some(field) => {
                loc.push(field.to_string());
                ("missing", "Field required".to_string())
            }
            None => ("value_error", message),
        };
        let loc: Vec<&str> = loc.iter().map(String::as_str).collect();
        Resp::invalid(&loc, error_type, msg, None, None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str) -> Req {
        Req::new("get", target, vec![("X-A".into(), "1".into())], Vec::new())
    }

    // Proves encoded slashes stay inside their segment and the query is form-decoded. (FR-44)
    #[test]
    fn parses_targets() {
        let r = req("/api/v1/runs/r1/items/a%2Fb%20c?sort=-x&sort=%2By&q=a+b");
        assert_eq!(r.method, "GET");
        assert_eq!(r.segments, ["api", "v1", "runs", "r1", "items", "a/b c"]);
        assert_eq!(r.query_all("sort"), ["-x", "+y"]);
        assert_eq!(r.query_one("q"), Some("a b"));
        assert_eq!(r.header("x-a"), Some("1"));
    }

    // Proves paging bounds answer FastAPI's 422 entries. (FR-44)
    #[test]
    fn paging_bounds() {
        assert_eq!(paging(&req("/x"), "page_size").unwrap(), (1, 50));
        assert_eq!(
            paging(&req("/x?page=2&page_size=5"), "page_size").unwrap(),
            (2, 5)
        );
        for bad in ["page_size=4", "page_size=101", "page=0", "page=x"] {
            let r = paging(&req(&format!("/x?{bad}")), "page_size").unwrap_err();
            assert_eq!(r.status, 422, "{bad}");
        }
        assert_eq!(page_of((0..12).collect(), (3, 5)), vec![10, 11]);
    }

    // Proves sorting honours direction, several keys, and rejects unknown fields. (FR-44)
    #[test]
    fn sorting() {
        let mut rows: Vec<(Value, u8)> = vec![
            (json!({"a": 1, "b": "x"}), 0),
            (json!({"a": 2, "b": "x"}), 1),
            (json!({"a": 3, "b": "w"}), 2),
        ];
        sort_rows(&mut rows, &["b", "-a"], &["a", "b"]).unwrap();
        assert_eq!(rows.iter().map(|r| r.1).collect::<Vec<_>>(), [2, 1, 0]);
        assert_eq!(
            sort_rows(&mut rows, &["c"], &["a"]).unwrap_err().status,
            422
        );
    }
}

/// What a `Range` header asks for, given the object length.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeSpec {
    Full,
    /// Inclusive byte range.
    Partial(u64, u64),
    Unsatisfiable,
}

/// Parses a single `bytes=` range; malformed or multi-range headers are ignored (the full
/// object is served), as RFC 9110 allows.
pub(crate) fn parse_range(header: Option<&str>, len: u64) -> RangeSpec {
    let Some(h) = header else {
        return RangeSpec::Full;
    };
    let h = h.trim();
    let Some(spec) = h
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))
        .map(|_| &h[6..])
    else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return match b.parse::<u64>() {
            Ok(0) => RangeSpec::Unsatisfiable,
            Ok(_) if len == 0 => RangeSpec::Unsatisfiable,
            Ok(n) => RangeSpec::Partial(len.saturating_sub(n), len - 1),
            Err(_) => RangeSpec::Full,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeSpec::Full;
    };
    let end = if b.is_empty() {
        None
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => Some(e),
            _ => return RangeSpec::Full,
        }
    };
    if start >= len {
        return RangeSpec::Unsatisfiable;
    }
    RangeSpec::Partial(start, end.map_or(len - 1, |e| e.min(len - 1)))
}
