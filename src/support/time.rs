//! Timestamps as Graph writes them.

/// Now as Graph writes `innerError.date`: `2025-02-13T10:17:05` (UTC, no zone).
pub fn now_graph_date() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Now in RFC 3339 with 7 fractional digits, as Graph writes `lastModifiedDateTime`.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{}.{:07}Z", now_graph_date(), now.nanosecond() / 100)
}
