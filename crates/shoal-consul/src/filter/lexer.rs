//! Splits a filter expression into tokens, each with its byte offset, following
//! go-bexpr's lexical rules: identifiers `[a-zA-Z][a-zA-Z0-9_]*`, numbers
//! `-?(0|[1-9][0-9]*)(.[0-9]+)?` ending at whitespace, `)` or the end, double-quoted
//! strings with Go escapes (ending at the first `"`), backtick raw strings.

use super::FilterError;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Eq,
    Ne,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    End,
}

/// A token, where it starts, and whether whitespace comes right before it (a selector's
/// `.` and `[` must touch the name before them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
    pub spaced: bool,
}

/// The tokens of `src`, ending with [`Tok::End`].
pub fn lex(src: &str) -> Result<Vec<Token>, FilterError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut spaced = false;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                spaced = true;
                i += 1;
                continue;
            }
            b'(' => single(&mut i, Tok::LParen),
            b')' => single(&mut i, Tok::RParen),
            b'[' => single(&mut i, Tok::LBracket),
            b']' => single(&mut i, Tok::RBracket),
            b'.' => single(&mut i, Tok::Dot),
            b'=' | b'!' if bytes.get(i + 1) == Some(&b'=') => {
                i += 2;
                if c == b'=' {
                    Tok::Eq
                } else {
                    Tok::Ne
                }
            }
            b'=' => return Err(FilterError::new(src, i, "expected \"==\"")),
            b'!' => return Err(FilterError::new(src, i, "expected \"!=\"")),
            b'"' | b'`' => {
                let (s, end) = string(src, i)?;
                i = end;
                Tok::Str(s)
            }
            b'-' | b'0'..=b'9' => {
                let end = number(src, i)?;
                i = end;
                Tok::Num(src[start..end].to_string())
            }
            c if c.is_ascii_alphabetic() => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Tok::Ident(src[start..i].to_string())
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(FilterError::new(
                    src,
                    i,
                    format!("unexpected character {ch:?}"),
                ));
            }
        };
        out.push(Token {
            tok,
            pos: start,
            spaced,
        });
        spaced = false;
    }
    out.push(Token {
        tok: Tok::End,
        pos: src.len(),
        spaced,
    });
    Ok(out)
}

fn single(i: &mut usize, tok: Tok) -> Tok {
    *i += 1;
    tok
}

/// The end of the number starting at `start`; it must be followed by whitespace, `)` or
/// the end of the expression.
fn number(src: &str, start: usize) -> Result<usize, FilterError> {
    let b = src.as_bytes();
    let mut i = start;
    if b[i] == b'-' {
        i += 1;
    }
    let digits = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let int_start = i;
    i = digits(i);
    let invalid = || FilterError::new(src, start, "invalid number literal");
    if i == int_start {
        return Err(FilterError::new(src, start, "unexpected \"-\""));
    }
    if b[int_start] == b'0' && i - int_start > 1 {
        return Err(invalid());
    }
    if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i = digits(i + 1);
    }
    match b.get(i) {
        None | Some(b' ' | b'\t' | b'\r' | b'\n' | b')') => Ok(i),
        Some(_) => Err(invalid()),
    }
}

/// A quoted string starting at `start` (a `"` or a backtick): its value and the offset
/// after its closing quote.
fn string(src: &str, start: usize) -> Result<(String, usize), FilterError> {
    let quote = src.as_bytes()[start];
    let body_start = start + 1;
    let Some(len) = src[body_start..].bytes().position(|c| c == quote) else {
        return Err(FilterError::new(src, start, "unterminated string literal"));
    };
    let body = &src[body_start..body_start + len];
    let value = if quote == b'`' {
        body.replace('\r', "")
    } else {
        unescape(src, body_start, body)?
    };
    Ok((value, body_start + len + 1))
}

/// Go's escapes in a double-quoted string (`strconv.Unquote`): `\a \b \f \n \r \t \v \\`,
/// `\xHH`, `\ooo`, `\uHHHH`, `\UHHHHHHHH`. A raw newline is not allowed.
fn unescape(src: &str, offset: usize, body: &str) -> Result<String, FilterError> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    let mut bytes: Vec<u8> = Vec::new(); // \x and octal escapes are bytes
    let flush = |bytes: &mut Vec<u8>, out: &mut String, at: usize| -> Result<(), FilterError> {
        if !bytes.is_empty() {
            let s = String::from_utf8(std::mem::take(bytes))
                .map_err(|_| FilterError::new(src, at, "escaped bytes are not valid UTF-8"))?;
            out.push_str(&s);
        }
        Ok(())
    };
    while let Some((i, c)) = chars.next() {
        let at = offset + i;
        if c == '\n' {
            return Err(FilterError::new(src, at, "newline in string literal"));
        }
        if c != '\\' {
            flush(&mut bytes, &mut out, at)?;
            out.push(c);
            continue;
        }
        let bad = || FilterError::new(src, at, "invalid escape sequence in string literal");
        let (_, e) = chars.next().ok_or_else(bad)?;
        let hex = |n: usize, chars: &mut std::iter::Peekable<std::str::CharIndices>| {
            let mut v: u32 = 0;
            for _ in 0..n {
                let (_, h) = chars.next().ok_or_else(bad)?;
                v = v * 16 + h.to_digit(16).ok_or_else(bad)?;
            }
            Ok::<u32, FilterError>(v)
        };
        match e {
            'x' => {
                let v = hex(2, &mut chars)?;
                bytes.push(v as u8);
                continue;
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let (_, o) = chars.next().ok_or_else(bad)?;
                    v = v * 8 + o.to_digit(8).ok_or_else(bad)?;
                }
                if v > 255 {
                    return Err(bad());
                }
                bytes.push(v as u8);
                continue;
            }
            _ => {}
        }
        flush(&mut bytes, &mut out, at)?;
        let ch = match e {
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            '\\' => '\\',
            'u' => char::from_u32(hex(4, &mut chars)?).ok_or_else(bad)?,
            'U' => char::from_u32(hex(8, &mut chars)?).ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        out.push(ch);
    }
    flush(&mut bytes, &mut out, offset + body.len())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src)
            .map(|t| t.into_iter().map(|t| t.tok).collect())
            .unwrap_or_else(|e| panic!("{src:?}: {e}"))
    }

    fn err(src: &str) -> FilterError {
        match lex(src) {
            Ok(t) => panic!("{src:?} lexed: {t:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn tokens_with_offsets_and_spacing() {
        let t = lex("Meta[\"k\"] != -1.5").unwrap_or_default();
        let got: Vec<(Tok, usize, bool)> =
            t.into_iter().map(|t| (t.tok, t.pos, t.spaced)).collect();
        assert_eq!(
            got,
            vec![
                (Tok::Ident("Meta".into()), 0, false),
                (Tok::LBracket, 4, false),
                (Tok::Str("k".into()), 5, false),
                (Tok::RBracket, 8, false),
                (Tok::Ne, 10, true),
                (Tok::Num("-1.5".into()), 13, true),
                (Tok::End, 17, false),
            ]
        );
    }

    #[test]
    fn strings_follow_go_quoting() {
        assert_eq!(
            toks(r#""a\tb\x41\101\u00e9""#)[0],
            Tok::Str("a\tbAAé".into())
        );
        assert_eq!(toks("`a\\n\r`")[0], Tok::Str("a\\n".into()));
        assert_eq!(toks(r#""\xc3\xa9""#)[0], Tok::Str("é".into()));
        // The string ends at the first quote: an escaped quote cannot be written.
        assert_eq!(err(r#"x == "a\"b""#).offset, 7);
        assert_eq!(err(r#"x == "abc"#).message, "unterminated string literal");
        assert_eq!(err("x == \"a\nb\"").offset, 7);
        assert!(err(r#""\q""#).message.contains("escape"));
        assert!(err(r#""\xff""#).message.contains("UTF-8"));
    }

    #[test]
    fn numbers_end_cleanly() {
        assert_eq!(
            toks("0 1.25 -7)")[..4],
            [
                Tok::Num("0".into()),
                Tok::Num("1.25".into()),
                Tok::Num("-7".into()),
                Tok::RParen
            ]
        );
        assert_eq!(err("Port == 08").message, "invalid number literal");
        assert_eq!(err("Port == 8a").offset, 8);
        assert_eq!(err("Port == -").message, "unexpected \"-\"");
    }

    #[test]
    fn stray_characters_are_located() {
        let e = err("Name = x");
        assert_eq!((e.offset, e.message.as_str()), (5, "expected \"==\""));
        let e = err("Name == x &&");
        assert_eq!((e.line, e.column), (1, 11));
        let e = err("Name ==\n  é");
        assert_eq!((e.line, e.column), (2, 3));
    }
}
