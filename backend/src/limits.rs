//! What a client may send: the body size and each text field's length, in characters. README's
//! "Limits" table documents the same numbers.

use crate::ApiError;

/// Over this a body is refused with 413 before it is parsed.
pub const BODY_BYTES: usize = 256 * 1024;

/// A text field a client writes, and the most characters it may have.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub max_chars: usize,
}

pub const TITLE: Field = Field {
    name: "title",
    max_chars: 200,
};
pub const DESCRIPTION: Field = Field {
    name: "description",
    max_chars: 20_000,
};
pub const COMMENT_BODY: Field = Field {
    name: "body",
    max_chars: 20_000,
};
pub const EMAIL: Field = Field {
    name: "email",
    max_chars: 254,
};
pub const DISPLAY_NAME: Field = Field {
    name: "display_name",
    max_chars: 200,
};
pub const QUEUE_NAME: Field = Field {
    name: "name",
    max_chars: 200,
};
pub const QUEUE_DESCRIPTION: Field = Field {
    name: "description",
    max_chars: 2_000,
};

/// Ticket lists carry the first this many characters of each description (the whole one is in
/// `GET /tickets/{id}`), so a page stays small however long the descriptions are.
pub const LISTED_DESCRIPTION_CHARS: i32 = 200;

impl Field {
    /// The value, refused with 422 when it is too long or holds a NUL (which PostgreSQL's text
    /// cannot store).
    pub fn check<'a>(&self, value: &'a str) -> Result<&'a str, ApiError> {
        if value.contains('\0') {
            return Err(ApiError::Unprocessable(format!(
                "{} may not contain NUL characters (\\u0000)",
                self.name
            )));
        }
        // Counting stops one past the limit: a huge value costs no more than a legal one.
        if value.chars().nth(self.max_chars).is_some() {
            return Err(ApiError::Unprocessable(format!(
                "{} may be at most {} characters",
                self.name, self.max_chars
            )));
        }
        Ok(value)
    }
}
