//! Checks of single values in the settings: tenant names, ids, environment variable names,
//! Graph and authority URLs, durations.

use std::time::Duration;

use url::Url;

use super::DEFAULT_AUTHORITY_HOST;

/// A duration as the flags write it (`15m`, `1h30m`, `90s`): the inverse of
/// [`parse_duration`], whole seconds.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// Parses `90s`, `15m`, `1h`, `1h30m` or plain seconds (`--interval`, `remindAfter`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("'{s}' is not a duration such as 30s, 15m or 1h");
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// One of the constant default URLs of the parent module.
pub(super) fn default_url(s: &'static str) -> Url {
    // A constant that parses (unit-tested below): this cannot fail at run time.
    #[allow(clippy::expect_used)]
    Url::parse(s).expect("constant URL parses")
}

pub(super) fn check_name(name: &str) -> Result<(), String> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid tenant name (letters, digits, `-`, `_`, `.`; starting with a letter or digit)"
        ))
    }
}

pub(super) fn check_tenant_id(id: &str) -> Result<(), String> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is neither a tenant GUID nor a domain such as contoso.onmicrosoft.com"
        ))
    }
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

pub(super) fn check_client_id(id: &str) -> Result<(), String> {
    if is_guid(id) {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not an application (client) id; expected a GUID like 11111111-2222-3333-4444-555555555555"
        ))
    }
}

pub(super) fn check_object_id(id: &str) -> Result<(), String> {
    if is_guid(id) {
        Ok(())
    } else {
        Err(format!("`{id}` is not an object id; expected a GUID"))
    }
}

pub(super) fn check_resource_id(id: &str) -> Result<(), String> {
    let lower = id.to_ascii_lowercase();
    if lower.starts_with("/subscriptions/")
        && lower.contains("/providers/microsoft.managedidentity/userassignedidentities/")
    {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a user-assigned identity's resource id \
             (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME)"
        ))
    }
}

pub(super) fn check_env_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
    {
        Ok(())
    } else {
        // The value may be a secret pasted in the wrong place: do not quote it.
        Err("is not an environment variable name (letters, digits and `_`)".to_string())
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Graph's base URL: https, or http on a loopback address (the emulator); no query.
pub(super) fn parse_graph_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if url.host().is_none() {
        return Err(format!("`{s}` has no host"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "`{s}` is plain http: tokens are sent only over https (http is allowed for localhost)"
            ));
        }
        other => return Err(format!("`{s}`: unsupported scheme `{other}`")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{s}` must not have a query or fragment"));
    }
    Ok(url)
}

/// The token authority: https (azure_identity refuses anything else), no path.
pub(super) fn parse_authority_host(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err(format!(
            "`{s}` must use https (the Azure identity library refuses other schemes)"
        ));
    }
    if url.host().is_none() {
        return Err(format!("`{s}` has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{s}` must be a bare origin such as {DEFAULT_AUTHORITY_HOST}: a path is ignored"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_GRAPH_URL;

    #[test]
    fn default_urls_parse() {
        assert_eq!(
            default_url(DEFAULT_GRAPH_URL).as_str(),
            "https://graph.microsoft.com/"
        );
        assert!(parse_authority_host(DEFAULT_AUTHORITY_HOST).is_ok());
    }

    #[test]
    fn urls_are_checked() {
        assert!(parse_graph_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_graph_url("http://localhost:8080").is_ok());
        assert!(parse_graph_url("http://graph.example.com").is_err());
        assert!(parse_graph_url("https://graph.microsoft.com").is_ok());
        assert!(parse_authority_host("http://localhost:1").is_err());
        assert!(parse_authority_host("https://login.microsoftonline.com/tenant").is_err());
        assert!(parse_authority_host("https://localhost:4443").is_ok());
        assert!(is_guid("11111111-1111-1111-1111-111111111111"));
        assert!(!is_guid("11111111-1111-1111-1111-11111111111"));
    }

    #[test]
    fn durations_print_as_the_flags_write_them() {
        for written in ["15m", "1h", "30s", "1h30m", "2h0m5s", "90s"] {
            let d = parse_duration(written).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d, "{written}");
        }
        assert_eq!(format_duration(parse_duration("15m").unwrap()), "15m");
        assert_eq!(format_duration(parse_duration("90s").unwrap()), "1m30s");
        assert_eq!(format_duration(parse_duration("1h").unwrap()), "1h");
    }
}
