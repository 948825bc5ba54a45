//! Text from outside shown safely on a terminal.
//!
//! Text from a zip (entry names, module.json fields), a module (names it registers) or a server
//! (error messages) can hold escape sequences that move the cursor, rewrite lines or retitle the
//! window: a zip could print a fake "OK: 0 errors" over the real result. Every human rendering
//! shows such text through [`sanitize`], which turns each control character into a visible
//! escape. It is vocabulary, like `manifest`: the REST client escapes server text with it and the
//! report renders with it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is: C0 and C1 control characters, DEL, and the
/// Unicode bidirectional overrides and isolates (which reorder what a line shows).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character shown as a visible escape: `\n`, `\r`, `\t`, `\x1b`
/// (C0 and DEL), `\u{9b}` (C1, bidirectional overrides). Text without one is borrowed as is.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}
