//! The two line formats: nginx's `combined` and JSON lines. Pure: a
//! [`Record`] in, one line (with its `\n`) appended to a buffer.
//!
//! `combined` is exactly nginx's predefined format,
//!
//! ```text
//! $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//! ```
//!
//! so that log tools that read nginx's (goaccess, awstats, …) read it:
//! `$remote_user` is always `-` (no authentication here), the time is UTC
//! (`+0000`, as nginx with `TZ=UTC`), `$request` is rebuilt from the
//! method, the target and the protocol, an absent or empty field is `-`,
//! and `"`, `\`, control bytes and bytes above 0x7e are written `\xHH`
//! as nginx's `ngx_http_log_escape` does.
//!
//! JSON lines: one object per request, keys in this order, absent ones
//! omitted (never `null`), so that a line holds what is known and no more:
//!
//! | key | value |
//! |---|---|
//! | `time` | when the response ended, RFC 3339 UTC with milliseconds |
//! | `remote_addr` | the client's IP address |
//! | `method`, `target`, `protocol` | the request line (`HTTP/1.1`, `HTTP/2.0`) |
//! | `host` | `Host` (HTTP/2: `:authority`); omitted if absent |
//! | `status` | the status sent (499: the client left before a response head) |
//! | `body_bytes_sent` | body bytes sent |
//! | `duration_ms` | from the request's arrival to the response's end, to the microsecond |
//! | `referer`, `user_agent` | omitted if absent |
//! | `request_id` | `X-Request-Id`, the client's or generated |
//! | `cache` | the edge only: `hit`, `miss`, `revalidated`, `stale`, `collapsed`, `pass`, `error`, `client-error` |
//! | `upstream_status`, `upstream_ms` | the edge only, when the origin was asked: its status, and the time from sending the request until its head was in (and its storing begun) |
//!
//! Field values that are not UTF-8 are written with U+FFFD in place of
//! the bytes that are not; JSON escaping is serde_json's.

use std::io::Write as _;

use http::HeaderValue;
use serde::Serialize;

use super::record::Record;

/// A line format of the access log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// nginx's `combined`.
    #[default]
    Combined,
    /// One JSON object per line.
    Json,
}

impl Format {
    /// The name in the config file and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Combined => "combined",
            Self::Json => "json",
        }
    }

    /// Appends `record` as one line, `\n` included, to `out`.
    pub fn write(self, record: &Record, out: &mut Vec<u8>) {
        match self {
            Self::Combined => combined(record, out),
            Self::Json => json(record, out),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "combined" => Ok(Self::Combined),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "access log format must be combined or json, got {other:?}"
            )),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn combined(record: &Record, out: &mut Vec<u8>) {
    let t = time::OffsetDateTime::from(record.time);
    let _ = write!(
        out,
        "{} - - [{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000] \"",
        record.remote.ip(),
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second(),
    );
    escape(record.method.as_str().as_bytes(), out);
    out.push(b' ');
    escape(record.target().as_bytes(), out);
    out.push(b' ');
    out.extend_from_slice(record.protocol().as_bytes());
    let _ = write!(out, "\" {} {} \"", record.status, record.body_bytes);
    field(record.referer.as_ref(), out);
    out.extend_from_slice(b"\" \"");
    field(record.user_agent.as_ref(), out);
    out.extend_from_slice(b"\"\n");
}

/// A header field's value, escaped; `-` when absent or empty.
fn field(value: Option<&HeaderValue>, out: &mut Vec<u8>) {
    match value {
        Some(value) if !value.is_empty() => escape(value.as_bytes(), out),
        _ => out.push(b'-'),
    }
}

/// nginx's escaping of logged variables: `"`, `\`, control bytes and
/// bytes outside printable ASCII become `\xHH`.
fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        } else {
            out.push(b);
        }
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    time: String,
    remote_addr: std::net::IpAddr,
    method: &'a str,
    target: &'a str,
    protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<std::borrow::Cow<'a, str>>,
    status: u16,
    body_bytes_sent: u64,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    referer: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<std::borrow::Cow<'a, str>>,
    request_id: std::borrow::Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_ms: Option<f64>,
}

fn text(value: &HeaderValue) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(value.as_bytes())
}

fn millis(duration: std::time::Duration) -> f64 {
    // To the microsecond: exact in an f64 for any plausible duration.
    duration.as_micros() as f64 / 1000.0
}

fn rfc3339_millis(time: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn json(record: &Record, out: &mut Vec<u8>) {
    let upstream = record.upstream;
    let line = JsonLine {
        time: rfc3339_millis(record.time),
        remote_addr: record.remote.ip(),
        method: record.method.as_str(),
        target: record.target(),
        protocol: record.protocol(),
        host: record.host.as_ref().map(text),
        status: record.status,
        body_bytes_sent: record.body_bytes,
        duration_ms: millis(record.duration),
        referer: record.referer.as_ref().map(text),
        user_agent: record.user_agent.as_ref().map(text),
        request_id: text(&record.request_id),
        cache: upstream.map(|u| u.cache),
        upstream_status: upstream.and_then(|u| u.status),
        upstream_ms: upstream.and_then(|u| u.duration).map(millis),
    };
    // Serializing these types into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use http::{Method, Version};

    use super::*;
    use crate::access_log::Upstream;

    fn record() -> Record {
        Record {
            // 2026-12-06T15:02:56.123Z
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_569_376_123),
            duration: Duration::from_micros(2_345),
            remote: "192.0.2.7:51000".parse().unwrap(),
            method: Method::GET,
            uri: "/a/b?c=d".parse().unwrap(),
            version: Version::HTTP_11,
            host: Some(HeaderValue::from_static("example.com")),
            referer: None,
            user_agent: Some(HeaderValue::from_static("curl/8.5.0")),
            request_id: HeaderValue::from_static("id-1"),
            status: 200,
            body_bytes: 1234,
            upstream: None,
        }
    }

    fn line(format: Format, record: &Record) -> String {
        let mut out = Vec::new();
        format.write(record, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn combined_is_nginx_combined() {
        assert_eq!(
            line(Format::Combined, &record()),
            "192.0.2.7 - - [06/Dec/2026:15:02:56 +0000] \"GET /a/b?c=d HTTP/1.1\" 200 1234 \"-\" \"curl/8.5.0\"\n"
        );
    }

    #[test]
    fn combined_escapes_as_nginx_does() {
        // (user agent as sent, as logged)
        let cases: [(&[u8], &str); 5] = [
            (b"plain agent/1.0", "plain agent/1.0"),
            (b"say \"hi\"", "say \\x22hi\\x22"),
            (b"back\\slash", "back\\x5Cslash"),
            (b"tab\there", "tab\\x09here"),
            (b"caf\xc3\xa9", "caf\\xC3\\xA9"),
        ];
        for (sent, logged) in cases {
            let mut r = record();
            r.user_agent = Some(HeaderValue::from_bytes(sent).unwrap());
            let l = line(Format::Combined, &r);
            assert!(l.ends_with(&format!(" \"-\" \"{logged}\"\n")), "{sent:?}: {l}");
        }
    }

    #[test]
    fn control_bytes_and_del_are_escaped() {
        let mut out = Vec::new();
        escape(b"a\x01\n\x7f\x80z", &mut out);
        assert_eq!(out, b"a\\x01\\x0A\\x7F\\x80z");
    }

    #[test]
    fn combined_writes_empty_fields_as_a_dash_and_http2_as_nginx_names_it() {
        let mut r = record();
        r.user_agent = Some(HeaderValue::from_static(""));
        r.version = Version::HTTP_2;
        r.uri = "https://example.com/x".parse().unwrap();
        r.remote = "[2001:db8::1]:443".parse().unwrap();
        assert_eq!(
            line(Format::Combined, &r),
            "2001:db8::1 - - [06/Dec/2026:15:02:56 +0000] \"GET /x HTTP/2.0\" 200 1234 \"-\" \"-\"\n"
        );
    }

    #[test]
    fn json_has_one_object_per_line_and_omits_what_is_absent() {
        let l = line(Format::Json, &record());
        assert!(l.ends_with('\n') && !l[..l.len() - 1].contains('\n'));
        assert_eq!(
            l,
            concat!(
                r#"{"time":"2026-12-06T15:02:56.123Z","remote_addr":"192.0.2.7","method":"GET","target":"/a/b?c=d","#,
                r#""protocol":"HTTP/1.1","host":"example.com","status":200,"body_bytes_sent":1234,"duration_ms":2.345,"#,
                r#""user_agent":"curl/8.5.0","request_id":"id-1"}"#,
                "\n"
            )
        );
    }

    #[test]
    fn json_escapes_and_carries_the_upstream() {
        let mut r = record();
        r.referer = Some(HeaderValue::from_bytes(b"a\"b\\c\td\xff").unwrap());
        r.upstream = Some(Upstream {
            cache: "miss",
            status: Some(304),
            duration: Some(Duration::from_micros(1_500)),
        });
        let l = line(Format::Json, &r);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["referer"], "a\"b\\c\td\u{fffd}");
        assert_eq!(v["cache"], "miss");
        assert_eq!(v["upstream_status"], 304);
        assert_eq!(v["upstream_ms"], 1.5);
        assert!(l.contains(r#""referer":"a\"b\\c\td"#), "{l}");
    }

    #[test]
    fn formats_parse_from_their_names() {
        assert_eq!("combined".parse::<Format>(), Ok(Format::Combined));
        assert_eq!("json".parse::<Format>(), Ok(Format::Json));
        assert!("common".parse::<Format>().is_err());
    }
}
