//! OData query options as Graph supports them on the collections mfactl reads: `$filter`
//! (`eq`, `ne`, `startswith`, `any`, `and`, `or`, `not`), `$top`, `$select`, `$orderby`,
//! `$count`, and server-driven paging through `@odata.nextLink` with an opaque `$skiptoken`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Map, Value};

/// Characters encoded in a query value; `$`, `'`, `(`, `)` and `,` stay readable as in Graph's links.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'&')
    .add(b'+')
    .add(b'%')
    .add(b'=');

use super::GraphError;

/// A value a record exposes to `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    /// A string, compared case-insensitively.
    Str(&'a str),
    /// A Boolean.
    Bool(bool),
    /// A string collection, for `any`.
    List(&'a [String]),
    /// Absent.
    Null,
}

/// What a filterable property is, to refuse unsupported operators up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// `eq`, `ne`, `startswith`.
    Str,
    /// `eq`, `ne`.
    Bool,
    /// `any(x:x eq '…')`.
    List,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Bool(bool),
    Null,
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not a`
    Not(Box<Filter>),
    /// `field eq literal` (or `ne` when `negate`)
    Eq {
        /// Property name.
        field: String,
        /// Compared value.
        value: LiteralValue,
        /// `ne` instead of `eq`.
        negate: bool,
    },
    /// `startswith(field, 'prefix')`
    StartsWith {
        /// Property name.
        field: String,
        /// Prefix, compared case-insensitively.
        prefix: String,
    },
    /// `field/any(x:x eq 'value')`
    Any {
        /// Collection property name.
        field: String,
        /// Member looked for.
        value: String,
    },
}

/// A literal on the right of `eq`.
#[derive(Debug, Clone, PartialEq)]
pub struct LiteralValue(Literal);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Open,
    Close,
    Comma,
    Colon,
}

fn invalid(msg: impl Into<String>) -> GraphError {
    GraphError::bad_request(format!("Invalid filter clause: {}", msg.into()))
}

fn tokenize(s: &str) -> Result<Vec<Token>, GraphError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            ':' => {
                out.push(Token::Colon);
                i += 1;
            }
            '\'' => {
                let mut lit = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(invalid("unterminated string literal")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            lit.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Str(lit));
            }
            c if c.is_alphanumeric() || c == '_' || c == '/' || c == '.' || c == '-' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '/' | '.' | '-'))
                {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(invalid(format!("unexpected character '{other}'"))),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    fields: &'a [(&'a str, FieldKind)],
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, t: Token) -> Result<(), GraphError> {
        match self.next() {
            Some(got) if got == t => Ok(()),
            other => Err(invalid(format!("expected {t:?}, found {other:?}"))),
        }
    }

    fn kind(&self, field: &str) -> Result<FieldKind, GraphError> {
        self.fields
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(field))
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                GraphError::bad_request(format!(
                    "Invalid filter clause: the property '{field}' is not supported in $filter."
                ))
            })
    }

    fn canonical(&self, field: &str) -> String {
        self.fields
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(field))
            .map(|(f, _)| (*f).to_string())
            .unwrap_or_else(|| field.to_string())
    }

    fn or_expr(&mut self) -> Result<Filter, GraphError> {
        let mut left = self.and_expr()?;
        while self.peek_word("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Filter, GraphError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, GraphError> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        match self.next() {
            Some(Token::Open) => {
                let e = self.or_expr()?;
                self.expect(Token::Close)?;
                Ok(e)
            }
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("startswith") => {
                self.expect(Token::Open)?;
                let Some(Token::Ident(field)) = self.next() else {
                    return Err(invalid("startswith needs a property name"));
                };
                if self.kind(&field)? != FieldKind::Str {
                    return Err(invalid(format!("startswith is not supported on '{field}'")));
                }
                self.expect(Token::Comma)?;
                let Some(Token::Str(prefix)) = self.next() else {
                    return Err(invalid("startswith needs a string literal"));
                };
                self.expect(Token::Close)?;
                Ok(Filter::StartsWith {
                    field: self.canonical(&field),
                    prefix,
                })
            }
            Some(Token::Ident(w)) if w.to_ascii_lowercase().ends_with("/any") => {
                let field = &w[..w.len() - 4];
                if self.kind(field)? != FieldKind::List {
                    return Err(invalid(format!("any is not supported on '{field}'")));
                }
                self.expect(Token::Open)?;
                let Some(Token::Ident(var)) = self.next() else {
                    return Err(invalid("any needs a range variable"));
                };
                self.expect(Token::Colon)?;
                match self.next() {
                    Some(Token::Ident(v)) if v == var => {}
                    _ => return Err(invalid("any must compare its range variable")),
                }
                if !self.peek_word("eq") {
                    return Err(invalid("any supports only eq"));
                }
                self.pos += 1;
                let Some(Token::Str(value)) = self.next() else {
                    return Err(invalid("any needs a string literal"));
                };
                self.expect(Token::Close)?;
                Ok(Filter::Any {
                    field: self.canonical(field),
                    value,
                })
            }
            Some(Token::Ident(field)) => {
                let kind = self.kind(&field)?;
                let negate = if self.peek_word("eq") {
                    false
                } else if self.peek_word("ne") {
                    true
                } else {
                    return Err(invalid(format!("unsupported operator after '{field}'")));
                };
                self.pos += 1;
                let value = match self.next() {
                    Some(Token::Str(s)) if kind == FieldKind::Str => Literal::Str(s),
                    Some(Token::Ident(w))
                        if kind == FieldKind::Bool && w.eq_ignore_ascii_case("true") =>
                    {
                        Literal::Bool(true)
                    }
                    Some(Token::Ident(w))
                        if kind == FieldKind::Bool && w.eq_ignore_ascii_case("false") =>
                    {
                        Literal::Bool(false)
                    }
                    Some(Token::Ident(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
                    other => {
                        return Err(invalid(format!(
                            "a literal of the wrong type for '{field}': {other:?}"
                        )));
                    }
                };
                Ok(Filter::Eq {
                    field: self.canonical(&field),
                    value: LiteralValue(value),
                    negate,
                })
            }
            other => Err(invalid(format!("unexpected {other:?}"))),
        }
    }
}

impl Filter {
    /// Parses `$filter`, accepting only the listed properties and their operators.
    pub fn parse(s: &str, fields: &[(&str, FieldKind)]) -> Result<Self, GraphError> {
        let mut p = Parser {
            tokens: tokenize(s)?,
            pos: 0,
            fields,
        };
        let e = p.or_expr()?;
        if p.pos < p.tokens.len() {
            return Err(invalid(format!("unexpected {:?}", p.tokens[p.pos])));
        }
        Ok(e)
    }

    /// Evaluates against a record.
    pub fn matches<'a>(&self, get: &dyn Fn(&str) -> Field<'a>) -> bool {
        match self {
            Filter::And(a, b) => a.matches(get) && b.matches(get),
            Filter::Or(a, b) => a.matches(get) || b.matches(get),
            Filter::Not(a) => !a.matches(get),
            Filter::Eq {
                field,
                value,
                negate,
            } => {
                let eq = match (get(field), &value.0) {
                    (Field::Str(s), Literal::Str(l)) => s.eq_ignore_ascii_case(l),
                    (Field::Bool(b), Literal::Bool(l)) => b == *l,
                    (Field::Null, Literal::Null) => true,
                    _ => false,
                };
                eq != *negate
            }
            Filter::StartsWith { field, prefix } => match get(field) {
                Field::Str(s) => s.to_lowercase().starts_with(&prefix.to_lowercase()),
                _ => false,
            },
            Filter::Any { field, value } => match get(field) {
                Field::List(items) => items.iter().any(|i| i.trim() == value),
                _ => false,
            },
        }
    }
}

/// The query options of a collection request.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// `$filter`, raw.
    pub filter: Option<String>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$select`, split.
    pub select: Option<Vec<String>>,
    /// `$orderby`: property and descending flag.
    pub order_by: Option<(String, bool)>,
    /// Offset from `$skiptoken`.
    pub skip: usize,
    /// `$count=true`.
    pub count: bool,
}

impl Query {
    /// Reads the options; an unparsable `$top` or `$skiptoken` is a 400.
    pub fn parse(query: &[(String, String)], max_top: usize) -> Result<Self, GraphError> {
        let mut q = Query::default();
        for (k, v) in query {
            match k.to_ascii_lowercase().as_str() {
                "$filter" => q.filter = Some(v.clone()),
                "$top" => {
                    let n: usize = v.parse().map_err(|_| {
                        GraphError::bad_request(format!("Invalid page size specified: '{v}'."))
                    })?;
                    if n == 0 || n > max_top {
                        return Err(GraphError::bad_request(format!(
                            "Invalid page size specified: '{v}'. Must be between 1 and {max_top} inclusive."
                        )));
                    }
                    q.top = Some(n);
                }
                "$select" => q.select = Some(v.split(',').map(|s| s.trim().to_string()).collect()),
                "$orderby" => {
                    let mut parts = v.split_whitespace();
                    let field = parts.next().unwrap_or_default().to_string();
                    let desc = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
                    q.order_by = Some((field, desc));
                }
                "$skiptoken" => q.skip = decode_skiptoken(v)?,
                "$count" => q.count = v.eq_ignore_ascii_case("true"),
                "$skip" => {
                    return Err(GraphError::bad_request(
                        "The query specified in the URI is not valid. Query option 'Skip' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.",
                    ));
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// Keeps only the `$select`ed properties (and annotations) of an item.
    pub fn project(&self, item: Value) -> Value {
        let (Some(select), Value::Object(map)) = (&self.select, &item) else {
            return item;
        };
        let mut out = Map::new();
        for (k, v) in map {
            if k.starts_with('@') || select.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                out.insert(k.clone(), v.clone());
            }
        }
        Value::Object(out)
    }
}

fn decode_skiptoken(token: &str) -> Result<usize, GraphError> {
    B64URL
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.strip_prefix("mfactl-emulator:")
                .and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| GraphError::bad_request("Invalid $skiptoken."))
}

/// A page of a collection: the items, and the `@odata.nextLink` when more remain.
pub fn page(
    base_url: &str,
    path: &str,
    query: &[(String, String)],
    q: &Query,
    default_top: usize,
    total: usize,
) -> (std::ops::Range<usize>, Option<String>) {
    let size = q.top.unwrap_or(default_top);
    let start = q.skip.min(total);
    let end = (start + size).min(total);
    let next = (end < total).then(|| next_link(base_url, path, query, end));
    (start..end, next)
}

/// The `@odata.nextLink` that continues at `position`: the original query options with a
/// fresh `$skiptoken`, on the host the client used.
pub fn next_link(
    base_url: &str,
    path: &str,
    query: &[(String, String)],
    position: usize,
) -> String {
    let token = B64URL.encode(format!("mfactl-emulator:{position}"));
    // Graph writes the option names literally (`$top=`), encoding only the values.
    let pairs: Vec<String> = query
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(std::iter::once(("$skiptoken", token.as_str())))
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, QUERY_VALUE),
                utf8_percent_encode(v, QUERY_VALUE)
            )
        })
        .collect();
    format!("{base_url}{path}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[(&str, FieldKind)] = &[
        ("userPrincipalName", FieldKind::Str),
        ("isMfaCapable", FieldKind::Bool),
        ("methodsRegistered", FieldKind::List),
    ];

    fn eval(filter: &str, upn: &str, mfa: bool, methods: &[String]) -> bool {
        let f = Filter::parse(filter, FIELDS).unwrap();
        f.matches(&|name| match name {
            "userPrincipalName" => Field::Str(upn),
            "isMfaCapable" => Field::Bool(mfa),
            "methodsRegistered" => Field::List(methods),
            _ => Field::Null,
        })
    }

    #[test]
    fn filters_evaluate_like_graph() {
        let m = vec!["mobilePhone".to_string()];
        assert!(eval(
            "userPrincipalName eq 'AlexW@contoso.com'",
            "alexw@CONTOSO.com",
            true,
            &m
        ));
        assert!(eval(
            "startswith(userPrincipalName,'alex')",
            "AlexW@contoso.com",
            true,
            &m
        ));
        assert!(eval(
            "methodsRegistered/any(x:x eq 'mobilePhone') and isMfaCapable eq true",
            "a",
            true,
            &m
        ));
        assert!(!eval(
            "methodsRegistered/any(x:x eq 'fido2')",
            "a",
            true,
            &m
        ));
        assert!(eval(
            "isMfaCapable eq false or userPrincipalName eq 'a'",
            "a",
            true,
            &m
        ));
        assert!(eval("not (isMfaCapable eq false)", "a", true, &m));
        assert!(eval("userPrincipalName eq 'O''Brien'", "o'brien", true, &m));
    }

    #[test]
    fn unsupported_properties_and_operators_are_400() {
        for bad in [
            "city eq 'x'",
            "isMfaCapable eq 'yes'",
            "startswith(isMfaCapable,'t')",
            "userPrincipalName gt 'a'",
            "userPrincipalName eq 'a' and",
            "(userPrincipalName eq 'a'",
        ] {
            let err = Filter::parse(bad, FIELDS).unwrap_err();
            assert_eq!(err.status, 400, "{bad}");
        }
    }

    #[test]
    fn paging_links_round_trip() {
        let query = vec![("$top".to_string(), "2".to_string())];
        let q = Query::parse(&query, 999).unwrap();
        let (range, next) = page("http://h", "/v1.0/users", &query, &q, 100, 5);
        assert_eq!(range, 0..2);
        let next = next.unwrap();
        let parsed = url::Url::parse(&next).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        let q2 = Query::parse(&pairs, 999).unwrap();
        assert_eq!(q2.skip, 2);
        assert_eq!(q2.top, Some(2));
        let (_, last) = page(
            "http://h",
            "/v1.0/users",
            &pairs,
            &Query { skip: 4, ..q2 },
            100,
            5,
        );
        assert!(last.is_none());
        assert!(Query::parse(&[("$top".into(), "1000".into())], 999).is_err());
        assert!(Query::parse(&[("$skiptoken".into(), "garbage".into())], 999).is_err());
    }
}
