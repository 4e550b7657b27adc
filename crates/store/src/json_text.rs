//! [`JsonText`]: a JSON document as bytes, checked once and then kept
//! exactly as they are.
//!
//! A client's `PUT` is stored byte for byte: an origin "MUST NOT send a
//! validator field (Section 8.8), such as an ETag or Last-Modified field,
//! in a successful response to PUT unless the request's representation
//! data was saved without any transformation applied to the body"
//! ([RFC 9110 §9.3.4]). Re-serialising a parsed value would change
//! whitespace, key order, `1.0` and `\u00e9`; keeping the text does not,
//! so the validators the PUT answers with name the bytes a later GET
//! returns.
//!
//! [RFC 9110 §9.3.4]: https://www.rfc-editor.org/rfc/rfc9110#section-9.3.4

use serde_json::Value;

/// One JSON text ([RFC 8259 §2]) in UTF-8, valid by construction: either
/// a client's bytes that parsed ([`JsonText::parse`]), or a value the
/// server computed, serialised ([`JsonText::from_value`]).
///
/// ```
/// use revalidate_store::JsonText;
///
/// let sent = b"{ \"b\": 1.0,  \"a\": \"\\u00e9\" }\n";
/// let text = JsonText::parse(sent).unwrap();
/// assert_eq!(text.as_str().as_bytes(), sent); // kept as sent
/// assert_eq!(text.to_value().unwrap()["a"], "é");
/// assert!(JsonText::parse(b"{\"a\":").is_err());
/// ```
///
/// [RFC 8259 §2]: https://www.rfc-editor.org/rfc/rfc8259#section-2
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonText(String);

/// Why bytes are not a JSON text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidJson(String);

impl JsonText {
    /// Checks that `bytes` are one JSON text in UTF-8 (as strictly as
    /// `serde_json` parses a value, so [`to_value`](Self::to_value) of the
    /// result succeeds) and keeps them unchanged.
    pub fn parse(bytes: &[u8]) -> Result<Self, InvalidJson> {
        let text = std::str::from_utf8(bytes).map_err(|e| InvalidJson(format!("not UTF-8: {e}")))?;
        serde_json::from_str::<Value>(text).map_err(|e| InvalidJson(e.to_string()))?;
        Ok(Self(text.to_owned()))
    }

    /// The compact serialisation of a value the server computed (a merged
    /// `PATCH`, a test's document).
    pub fn from_value(value: &Value) -> Self {
        // `Value`'s map keys are strings, so serialising cannot fail.
        Self(value.to_string())
    }

    /// Text read back from the database: the store wrote it from a
    /// [`JsonText`], so it is only checked to be well-formed (no value is
    /// built, which keeps reads cheap).
    pub(crate) fn from_stored(text: String) -> Result<Self, InvalidJson> {
        serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|e| InvalidJson(e.to_string()))?;
        Ok(Self(text))
    }

    /// The text, exactly as sent or serialised.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty (never, for a valid JSON text).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text parsed as a value (for `PATCH`, which computes a new
    /// document from the current one). Fails only for a stored row edited
    /// by hand into something `serde_json` refuses.
    pub fn to_value(&self) -> Result<Value, InvalidJson> {
        serde_json::from_str(&self.0).map_err(|e| InvalidJson(e.to_string()))
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

impl From<&Value> for JsonText {
    fn from(value: &Value) -> Self {
        Self::from_value(value)
    }
}
