//! Text from outside shown safely on a terminal, and commands printed for a shell.
//!
//! Text from a zip (entry names, module.json fields), a module (names it registers) or a server
//! (error messages, names) can hold escape sequences that move the cursor, rewrite lines or
//! retitle the window: a zip could print a fake "OK: 0 errors" over the real result. Every human
//! rendering shows such text through [`sanitize`], which turns each control character into a
//! visible escape; JSON output goes through the report's terminal-safe JSON writer, which writes
//! the same characters as `\uXXXX`. Text from a server is also bounded: [`cut`] keeps its first
//! [`MAX_SERVER_TEXT_CHARS`] characters and says how much was left out. Commands rmpack prints
//! for the user to run (to resume a rollout, to heal drift) are built from words by
//! [`command_line`], which quotes each word for a POSIX shell.
//!
//! It is vocabulary, like `manifest`: the REST client bounds server text with it and the report
//! renders with it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The longest server string (in characters) that reaches a message or a rendering: longer
/// ones are cut there and marked with how much was left out (`… (49.9 MB more)`).
pub const MAX_SERVER_TEXT_CHARS: usize = 512;

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

/// `text` cut to its first [`MAX_SERVER_TEXT_CHARS`] characters, marked with the size of what
/// was left out (`… (49.9 MB more)`); shorter text is borrowed as is.
pub fn cut(text: &str) -> Cow<'_, str> {
    // A character takes at least one byte: short text needs no counting.
    if text.len() <= MAX_SERVER_TEXT_CHARS {
        return Cow::Borrowed(text);
    }
    match text.char_indices().nth(MAX_SERVER_TEXT_CHARS) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!(
            "{}… ({} more)",
            &text[..end],
            byte_size(text.len() - end)
        )),
    }
}

/// A byte count in decimal units, as the cut marker gives it: `12 bytes`, `3.4 kB`, `49.9 MB`.
pub fn byte_size(bytes: usize) -> String {
    const UNITS: [&str; 3] = ["kB", "MB", "GB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Characters a word may hold and still be left unquoted for a POSIX shell.
fn is_plain_shell_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c)
}

/// `word` quoted for a POSIX shell, so that the shell reads it back as exactly one word with no
/// expansion: left as is when it holds only letters, digits and `-_./:=,@+%` (and does not start
/// with `=`, which zsh expands); else in single quotes (`'` written as `'\''`). A word holding
/// a control character or a bidirectional override is written as `$'…'` with those characters
/// as `\xHH` bytes, so the quoted word is also safe to show on a terminal and stays on one line
/// (`$'…'` is POSIX.1-2024; bash, zsh, ksh and busybox sh read it).
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty() && !word.starts_with('=') && word.chars().all(is_plain_shell_char) {
        return word.to_string();
    }
    if !word.chars().any(is_unsafe_char) {
        return format!("'{}'", word.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    let mut after_hex_escape = false;
    for c in word.chars() {
        let escape = is_unsafe_char(c) || (after_hex_escape && c.is_ascii_hexdigit());
        after_hex_escape = escape;
        match c {
            _ if escape => {
                let mut bytes = [0u8; 4];
                for byte in c.encode_utf8(&mut bytes).bytes() {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            }
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `command` followed by a shell comment for the reader (`…   # ZIP: the zip of hello 1.2.3`).
/// The shell ignores a comment whole, so it needs no quoting, only to stay on its line: it is
/// shown with [`sanitize`].
pub fn with_comment(command: String, comment: &str) -> String {
    format!("{command}   # {}", sanitize(comment))
}

/// A command line for a POSIX shell: each word quoted by [`shell_quote`], joined by spaces.
/// Every command rmpack prints for the user to run is built here, so no value (a node uid, a
/// module name, a path) can add a command or an expansion.
pub fn command_line<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    words
        .into_iter()
        .map(|word| shell_quote(word.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_plain_and_others_are_quoted() {
        assert_eq!(shell_quote("--cluster"), "--cluster");
        assert_eq!(
            shell_quote("https://127.0.0.1:9443"),
            "https://127.0.0.1:9443"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("=ls"), "'=ls'");
        assert_eq!(shell_quote("1;touch${IFS}pwned"), "'1;touch${IFS}pwned'");
        assert_eq!(
            command_line(["rmpack", "upgrade", "--db", "1;touch${IFS}pwned,2,3"]),
            "rmpack upgrade --db '1;touch${IFS}pwned,2,3'"
        );
    }

    #[test]
    fn control_characters_are_quoted_as_bytes_on_one_line() {
        assert_eq!(shell_quote("a\nb"), r"$'a\x0a\x62'");
        assert_eq!(shell_quote("a\nz"), r"$'a\x0az'");
        assert_eq!(shell_quote("x\u{1b}[2J'\\"), r"$'x\x1b[2J\'\\'");
        // A hex digit right after an escape is escaped too: `\x0ab` would be unspecified.
        assert_eq!(shell_quote("\u{9b}a1"), r"$'\xc2\x9b\x61\x31'");
        assert_eq!(shell_quote("\u{202e}z"), r"$'\xe2\x80\xaez'");
        assert!(!shell_quote("a\u{2066}\t\r\n").chars().any(is_unsafe_char));
    }

    #[test]
    fn long_text_is_cut_and_says_how_much_is_left_out() {
        let short = "x".repeat(MAX_SERVER_TEXT_CHARS);
        assert!(matches!(cut(&short), Cow::Borrowed(_)));
        let long = "é".repeat(MAX_SERVER_TEXT_CHARS + 10);
        let shown = cut(&long);
        assert!(shown.starts_with(&"é".repeat(MAX_SERVER_TEXT_CHARS)));
        assert!(shown.ends_with("… (20 bytes more)"), "{shown}");
        let huge = "d".repeat(50_000_000);
        assert!(cut(&huge).ends_with("… (50.0 MB more)"));
        assert_eq!(byte_size(49_900_000), "49.9 MB");
        assert_eq!(byte_size(999), "999 bytes");
        assert_eq!(byte_size(1_500), "1.5 kB");
        assert_eq!(byte_size(999_999), "1.0 MB");
    }
}
