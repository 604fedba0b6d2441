//! Taking the `ssl*` parameters out of a connection string (a URL's query or key/value pairs),
//! leaving the rest as written for the `postgres` crate's parser.

/// The connection-string parameters this module owns.
const PARAMETERS: [&str; 5] = [
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslnegotiation",
];

pub(super) fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// Splits `?a=1&b=2` off a URL the way the `postgres` crate does: the query starts at the first
/// `?` after the user info.
pub(super) fn take_from_url(text: &str) -> (String, Vec<(String, String)>) {
    let after_credentials = text.find('@').map_or(0, |at| at + 1);
    let Some(question) = text[after_credentials..]
        .find('?')
        .map(|at| at + after_credentials)
    else {
        return (text.to_owned(), Vec::new());
    };
    let (mut kept, mut taken) = (Vec::new(), Vec::new());
    for pair in text[question + 1..]
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        if PARAMETERS.contains(&key.as_str()) {
            taken.push((key, percent_decode(value)));
        } else {
            kept.push(pair);
        }
    }
    let mut rest = text[..question].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    (rest, taken)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Takes the TLS pairs out of `key=value key='quoted value'`, keeping every other pair's text
/// as written (quotes, escapes and all). Stops at anything malformed, leaving it in place.
pub(super) fn take_from_key_values(text: &str) -> (String, Vec<(String, String)>) {
    let mut chars = text.char_indices().peekable();
    let mut rest = String::new();
    let mut kept_from = 0;
    let mut taken = Vec::new();
    let skip_space = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_space(&mut chars);
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        skip_space(&mut chars);
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            break;
        }
        skip_space(&mut chars);
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut value = String::new();
        let mut closed = !quoted;
        while let Some(&(_, c)) = chars.peek() {
            if quoted && c == '\'' {
                chars.next();
                closed = true;
                break;
            }
            if !quoted && c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '\\' {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            } else {
                value.push(c);
            }
        }
        if !closed {
            break;
        }
        if PARAMETERS.contains(&key.as_str()) {
            rest.push_str(&text[kept_from..start]);
            skip_space(&mut chars);
            kept_from = chars.peek().map_or(text.len(), |&(at, _)| at);
            taken.push((key, value));
        }
    }
    rest.push_str(&text[kept_from..]);
    (rest.trim().to_owned(), taken)
}
