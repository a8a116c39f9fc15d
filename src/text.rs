//! Text from files and folders shown to people: clipped by characters (never by bytes, which
//! could split a character), and with control characters escaped so a name cannot drive the
//! terminal or break a line.

use std::borrow::Cow;

/// `s` cut to at most `max` characters, the last of them `…` when anything was cut.
pub fn ellipsize(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) if max == 0 => Cow::Borrowed(""),
        Some(_) => {
            let end = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
            Cow::Owned(format!("{}…", &s[..end]))
        }
    }
}

/// Whether a character must not reach a terminal as it is: C0 and C1 controls, DEL, and the
/// bidirectional formatting characters that reorder what is displayed.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every [`is_unsafe_char`] written as a Rust escape (`\u{1b}`, `\n`, `\t`), so one
/// name is one line of plain text whatever bytes it holds.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape_controls_but(s, &[])
}

/// [`escape_controls`], leaving the characters in `keep` (a message's own `\n`) as they are.
pub fn escape_controls_but<'a>(s: &'a str, keep: &[char]) -> Cow<'a, str> {
    if !s.chars().any(|c| is_unsafe_char(c) && !keep.contains(&c)) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) && !keep.contains(&c) {
            o.extend(c.escape_default());
        } else {
            o.push(c);
        }
    }
    Cow::Owned(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsize_counts_characters_not_bytes() {
        assert_eq!(ellipsize("abc", 3), "abc");
        assert_eq!(ellipsize("abcd", 3), "ab…");
        let e = "é".repeat(40);
        assert_eq!(ellipsize(&e, 5), "éééé…");
        assert_eq!(ellipsize(&e, 5).chars().count(), 5);
        assert_eq!(ellipsize("", 0), "");
        assert_eq!(ellipsize("x", 0), "");
    }

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        assert_eq!(escape_controls("plain é"), "plain é");
        assert_eq!(
            escape_controls("a\x1b[31mb\nc\u{202e}d\u{9b}"),
            "a\\u{1b}[31mb\\nc\\u{202e}d\\u{9b}"
        );
        assert_eq!(escape_controls_but("a\nb\x07", &['\n']), "a\nb\\u{7}");
    }
}
