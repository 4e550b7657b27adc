//! Validated names: a [`CollectionName`] and a [`ResourceKey`] (collection plus id).
//!
//! Names come from request paths, so they are checked here, once, before
//! they reach SQL: a key that exists is a valid key, and every store method
//! takes the validated types. Bad names are an [`InvalidKey`], never a
//! database error.

use std::fmt;

/// Longest collection name accepted, in bytes.
pub const MAX_COLLECTION_LEN: usize = 64;
/// Longest resource id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Which part of a key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPart {
    /// The collection name (`/api/{collection}`).
    Collection,
    /// The resource id (`/api/{collection}/{id}`).
    Id,
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Collection => "collection name",
            Self::Id => "resource id",
        })
    }
}

/// Why a collection name or resource id was refused.
///
/// The message never repeats the offending value, so it can go into a
/// problem detail as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    /// The name is empty.
    #[error("{part} is empty")]
    Empty {
        /// Which name.
        part: KeyPart,
    },
    /// The name is longer than the limit.
    #[error("{part} is longer than {max} bytes")]
    TooLong {
        /// Which name.
        part: KeyPart,
        /// The limit.
        max: usize,
    },
    /// A byte that the grammar does not allow at this position.
    #[error(
        "{part} has a character that is not allowed at byte {position} \
         (collection: [a-z0-9][a-z0-9_-]*, id: [A-Za-z0-9._~-]+)"
    )]
    BadCharacter {
        /// Which name.
        part: KeyPart,
        /// Byte offset of the first refused byte.
        position: usize,
    },
    /// The id is `.` or `..`, which a path normaliser would remove.
    #[error("resource id must not be \".\" or \"..\"")]
    DotSegment,
}

/// A collection name: `[a-z0-9][a-z0-9_-]{0,63}`.
///
/// ```
/// use revalidate_store::CollectionName;
///
/// assert!(CollectionName::new("notes").is_ok());
/// assert!(CollectionName::new("Notes").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionName(String);

impl CollectionName {
    /// Checks `name` against `[a-z0-9][a-z0-9_-]{0,63}`.
    pub fn new(name: &str) -> Result<Self, InvalidKey> {
        let part = KeyPart::Collection;
        check_length(part, name, MAX_COLLECTION_LEN)?;
        let allowed_first = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let allowed_rest = |b: u8| allowed_first(b) || b == b'_' || b == b'-';
        for (position, b) in name.bytes().enumerate() {
            let ok = if position == 0 {
                allowed_first(b)
            } else {
                allowed_rest(b)
            };
            if !ok {
                return Err(InvalidKey::BadCharacter { part, position });
            }
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// The address of one resource: a collection and an id in it.
///
/// Ids use the URI `unreserved` characters ([RFC 3986 §2.3]) so they need
/// no percent-encoding in a path: `[A-Za-z0-9._~-]{1,128}`, except `.` and
/// `..`.
///
/// ```
/// use revalidate_store::{InvalidKey, ResourceKey};
///
/// let key = ResourceKey::new("notes", "2026-11-22.todo").unwrap();
/// assert_eq!(key.to_string(), "notes/2026-11-22.todo");
/// assert_eq!(ResourceKey::new("notes", ".."), Err(InvalidKey::DotSegment));
/// ```
///
/// [RFC 3986 §2.3]: https://www.rfc-editor.org/rfc/rfc3986#section-2.3
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    collection: CollectionName,
    id: String,
}

impl ResourceKey {
    /// Checks both names.
    pub fn new(collection: &str, id: &str) -> Result<Self, InvalidKey> {
        let collection = CollectionName::new(collection)?;
        Self::in_collection(collection, id)
    }

    /// A key in an already validated collection; checks the id.
    pub fn in_collection(collection: CollectionName, id: &str) -> Result<Self, InvalidKey> {
        let part = KeyPart::Id;
        check_length(part, id, MAX_ID_LEN)?;
        if id == "." || id == ".." {
            return Err(InvalidKey::DotSegment);
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-');
        if let Some(position) = id.bytes().position(|b| !allowed(b)) {
            return Err(InvalidKey::BadCharacter { part, position });
        }
        Ok(Self {
            collection,
            id: id.to_owned(),
        })
    }

    /// The collection.
    pub fn collection(&self) -> &CollectionName {
        &self.collection
    }

    /// The id within the collection.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.collection, self.id)
    }
}

impl fmt::Debug for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceKey({self})")
    }
}

fn check_length(part: KeyPart, name: &str, max: usize) -> Result<(), InvalidKey> {
    if name.is_empty() {
        return Err(InvalidKey::Empty { part });
    }
    if name.len() > max {
        return Err(InvalidKey::TooLong { part, max });
    }
    Ok(())
}
