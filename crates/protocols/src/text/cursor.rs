//! A byte cursor over one line of exposition text.

/// Walks one line; every method stops at the end of the line instead of panicking.
pub(super) struct Cursor<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(line: &'a str) -> Cursor<'a> {
        Cursor { line, pos: 0 }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// Consumes `b` if it is next.
    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips spaces and tabs; returns whether any were skipped.
    pub(super) fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Consumes the longest run of `[a-zA-Z0-9_:]` (the classic name alphabet; the
    /// caller checks the first character and whether `:` is allowed).
    pub(super) fn name(&mut self) -> &'a str {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        {
            self.pos += 1;
        }
        &self.line[start..self.pos]
    }

    /// Consumes everything up to the next blank or the end of the line.
    pub(super) fn token(&mut self) -> &'a str {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b != b' ' && b != b'\t') {
            self.pos += 1;
        }
        &self.line[start..self.pos]
    }

    /// The unconsumed remainder of the line.
    pub(super) fn rest(&self) -> &'a str {
        &self.line[self.pos.min(self.line.len())..]
    }

    /// Consumes a double-quoted string with the escapes `\\`, `\"` and `\n`.
    pub(super) fn quoted(&mut self) -> Result<String, String> {
        if !self.eat(b'"') {
            return Err("expected '\"'".into());
        }
        let mut out = String::new();
        let bytes = self.line.as_bytes();
        let mut run_start = self.pos;
        while self.pos < bytes.len() {
            match bytes[self.pos] {
                b'"' => {
                    out.push_str(&self.line[run_start..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.line[run_start..self.pos]);
                    let escaped = match bytes.get(self.pos + 1) {
                        Some(b'\\') => '\\',
                        Some(b'"') => '"',
                        Some(b'n') => '\n',
                        Some(_) => return Err("invalid escape sequence in quoted string".into()),
                        None => return Err("unterminated quoted string".into()),
                    };
                    out.push(escaped);
                    self.pos += 2;
                    run_start = self.pos;
                }
                _ => self.pos += 1,
            }
        }
        Err("unterminated quoted string".into())
    }
}

/// True for the classic metric-name alphabet's first character (`[a-zA-Z_:]`).
pub(super) fn is_metric_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_handles_escapes_and_multibyte_text() {
        let mut c = Cursor::new(r#""a\\b\"c\nd é" rest"#);
        assert_eq!(c.quoted().unwrap(), "a\\b\"c\nd é");
        assert_eq!(c.rest(), " rest");
        assert!(Cursor::new(r#""abc"#).quoted().is_err());
        assert!(Cursor::new(r#""a\tb""#).quoted().is_err());
        assert!(Cursor::new(r#""a\"#).quoted().is_err());
    }
}
