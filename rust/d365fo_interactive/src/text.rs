//! Text that reaches a person's terminal or a transcript: values echoed in messages, and everything an
//! authority sends (message, URLs, user code, error descriptions). Nothing that could move the cursor,
//! change colours, reorder or hide characters, or flood the screen gets through.

/// Characters that change how text is shown without being visible themselves: bidirectional overrides and
/// isolates, zero-width characters, the byte-order mark, and the other invisible format characters.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}')
}

/// Whether `c` is safe to print: not a control character (C0, DEL, C1) and not an invisible format character.
pub fn is_safe_char(c: char) -> bool {
    !c.is_control() && !is_invisible_format(c)
}

/// Text for one line of a person's screen: line breaks and tabs become spaces, every other unsafe
/// character is dropped, runs of spaces collapse, and anything past `max_chars` is cut with '…'.
pub fn display_line(s: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut last_space = true;
    for c in s.chars() {
        let c = if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c };
        if !is_safe_char(c) {
            continue;
        }
        if c == ' ' && last_space {
            continue;
        }
        if count == max_chars {
            out.push('…');
            return out.trim_end().to_string();
        }
        last_space = c == ' ';
        out.push(c);
        count += 1;
    }
    out.trim_end().to_string()
}

/// The first non-empty line of `s`, as `display_line` (Entra puts Trace ID / Correlation ID on later lines).
pub fn first_line(s: &str, max_chars: usize) -> String {
    let line = s.split(['\r', '\n']).map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    display_line(line, max_chars)
}

/// A value echoed in an error message: unsafe characters shown escaped, at most 100 characters.
pub fn printable(s: &str) -> String {
    let mut out: String =
        s.chars().take(100).flat_map(|c| if is_safe_char(c) { vec![c] } else { c.escape_unicode().collect::<Vec<_>>() }).collect();
    if s.chars().count() > 100 {
        out.push('…');
    }
    out
}

/// A user code a person can read and type: 1 to 32 ASCII letters, digits, '-' or spaces (not leading or
/// trailing). Anything else is refused rather than shown.
pub fn is_plain_user_code(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.trim() == s && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ')
}

/// Largest access token accepted (JWTs with many group claims reach several kilobytes; nothing real is near this).
pub const MAX_TOKEN_CHARS: usize = 64 * 1024;

/// RFC 6750 `b64token`: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Only such a token can
/// go into an `Authorization: Bearer` header without changing the header's meaning.
pub fn is_b64token(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_TOKEN_CHARS {
        return false;
    }
    let body = s.trim_end_matches('=');
    !body.is_empty() && body.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_bidi_and_zero_width_never_pass() {
        let hostile = "A\u{1b}[2J\u{1b}]0;title\u{7}B\u{202E}C\u{200B}D\u{FEFF}E\u{9b}F\u{2066}G";
        let shown = display_line(hostile, 200);
        assert_eq!(shown, "A[2J]0;titleBCDEFG");
        assert!(shown.chars().all(is_safe_char));
        assert_eq!(display_line("a\r\n\tb   c", 50), "a b c");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let s = "x".repeat(3_000_000);
        let shown = display_line(&s, 500);
        assert_eq!(shown.chars().count(), 501);
        assert!(shown.ends_with('…'));
        assert_eq!(first_line("AADSTS70016: pending\r\nTrace ID: 1", 300), "AADSTS70016: pending");
    }

    #[test]
    fn printable_escapes_instead_of_dropping() {
        assert_eq!(printable("a\u{1b}b"), "a\\u{1b}b");
        assert_eq!(printable("a\u{202E}b"), "a\\u{202e}b");
        assert!(printable(&"y".repeat(300)).ends_with('…'));
    }

    #[test]
    fn user_codes() {
        for ok in ["EZ2KYPAW4", "ABCD-EFGH", "AB CD"] {
            assert!(is_plain_user_code(ok), "{ok}");
        }
        for bad in ["", " A", "A\u{200B}B", "AB\u{202E}", "A\u{1b}[1m", "Ä", &"A".repeat(33)] {
            assert!(!is_plain_user_code(bad), "{bad:?}");
        }
    }

    #[test]
    fn bearer_tokens_are_b64token() {
        assert!(is_b64token("eyJ0eXAi.eyJhdWQi.sig-_~+/"));
        assert!(is_b64token("abc=="));
        for bad in ["", "===", "a b", "a\r\nX-Evil: 1", "a\u{1b}b", "ä", "a,b", &"a".repeat(MAX_TOKEN_CHARS + 1)] {
            assert!(!is_b64token(bad), "{bad:?}");
        }
    }
}
