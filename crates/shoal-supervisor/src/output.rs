//! Turns a child's stdout/stderr bytes into lines: split, bounded, lossily decoded.

use shoal_logs::Stream;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

use crate::spec::OutputSink;

/// Longer lines are delivered in pieces of at most this many bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Accumulates bytes and emits complete lines. Pure: no I/O.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
}

impl LineSplitter {
    pub(crate) fn new(max: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            max: max.max(4),
        }
    }

    /// Adds `data` and emits every line it completes (without `\n` / `\r\n`), and
    /// `max`-byte pieces of lines that grew too long.
    pub(crate) fn push(&mut self, data: &[u8], emit: &mut impl FnMut(&[u8])) {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        loop {
            let rest = &self.buf[start..];
            let window = &rest[..rest.len().min(self.max + 1)];
            if let Some(pos) = window.iter().position(|b| *b == b'\n') {
                emit(strip_cr(&rest[..pos]));
                start += pos + 1;
            } else if rest.len() > self.max {
                let cut = char_boundary(rest, self.max);
                emit(&rest[..cut]);
                start += cut;
            } else {
                break;
            }
        }
        self.buf.drain(..start);
    }

    /// Emits a final line that had no terminator, if any.
    pub(crate) fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            emit(strip_cr(&self.buf));
            self.buf.clear();
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The largest cut `<= max` that does not split a UTF-8 sequence (when the data is UTF-8).
fn char_boundary(bytes: &[u8], max: usize) -> usize {
    let mut cut = max;
    while cut > max - 3 && cut < bytes.len() && (bytes[cut] & 0b1100_0000) == 0b1000_0000 {
        cut -= 1;
    }
    cut
}

/// Reads `pipe` until EOF, handing each line to `sink` as `stream`.
pub(crate) fn spawn_reader<R>(pipe: R, stream: Stream, sink: OutputSink) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut pipe = pipe;
        let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
        let mut emit = |line: &[u8]| sink(stream, &String::from_utf8_lossy(line));
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => splitter.push(&buf[..n], &mut emit),
                Err(e) => {
                    tracing::debug!(%stream, error = %e, "reading process output failed");
                    break;
                }
            }
        }
        splitter.finish(&mut emit);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        let mut splitter = LineSplitter::new(max);
        let mut emit = |l: &[u8]| out.push(String::from_utf8_lossy(l).into_owned());
        for chunk in chunks {
            splitter.push(chunk, &mut emit);
        }
        splitter.finish(&mut emit);
        out
    }

    #[test]
    fn splits_on_newlines_across_chunks() {
        assert_eq!(split(100, &[b"a\nb", b"c\n", b"\nd"]), ["a", "bc", "", "d"]);
    }

    #[test]
    fn strips_crlf() {
        assert_eq!(split(100, &[b"a\r\nb\r\n"]), ["a", "b"]);
    }

    #[test]
    fn a_line_of_exactly_max_bytes_stays_whole() {
        assert_eq!(split(4, &[b"abcd\nef"]), ["abcd", "ef"]);
    }

    #[test]
    fn long_lines_are_split_into_max_pieces() {
        assert_eq!(split(4, &[b"abcdefghij\nk"]), ["abcd", "efgh", "ij", "k"]);
        assert_eq!(split(4, &[b"ab", b"cdef", b"gh\n"]), ["abcd", "efgh"]);
    }

    #[test]
    fn pieces_do_not_split_utf8_characters() {
        // "aé" is 3 bytes; a cut at 4 would fall inside the second "é".
        let pieces = split(4, &["aééé\n".as_bytes()]);
        assert_eq!(pieces, ["aé", "éé"]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(split(100, &[b"a\xffb\n"]), ["a\u{fffd}b"]);
    }

    #[test]
    fn no_output_means_no_lines() {
        assert!(split(100, &[]).is_empty());
    }
}
