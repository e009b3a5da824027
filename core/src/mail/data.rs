//! The DATA section of an SMTP transaction, line by line: the end marker, dot-unstuffing
//! (RFC 5321 4.5.2), the size limit and bare LFs. The relay reads lines off the wire and
//! feeds them here; what to keep and how to answer are decided here.

use super::policy::{Reply, replies};

/// What to do with one line of DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataLine<'a> {
    /// The lone `.` line: the message is complete.
    End,
    /// Message content to keep (the line with its stuffed dot removed).
    Content(&'a [u8]),
    /// Nothing to keep: the message is already refused; read on to the end marker.
    Skip,
}

/// How a complete DATA section is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataOutcome {
    /// Deliver the content kept.
    Accept,
    /// Over the size limit (a line over the line cap counts as that).
    TooBig,
    /// A line ended in a bare LF: the way SMTP smuggling hides a second message.
    BareLf,
}

impl DataOutcome {
    /// The refusal to answer, `None` for [`DataOutcome::Accept`].
    pub const fn reply(self) -> Option<Reply> {
        match self {
            DataOutcome::Accept => None,
            DataOutcome::TooBig => Some(replies::MESSAGE_TOO_BIG),
            DataOutcome::BareLf => Some(replies::BARE_LF),
        }
    }
}

/// The state of one DATA section.
#[derive(Debug, Clone)]
pub struct DataDecoder {
    max_bytes: u64,
    kept: u64,
    too_big: bool,
    bare_lf: bool,
}

impl DataDecoder {
    /// A decoder for a message of at most `max_bytes` of content.
    pub const fn new(max_bytes: u64) -> Self {
        DataDecoder {
            max_bytes,
            kept: 0,
            too_big: false,
            bare_lf: false,
        }
    }

    /// One line as read, its line ending included (a last line without one is taken as
    /// it is).
    pub fn line<'a>(&mut self, line: &'a [u8]) -> DataLine<'a> {
        if line == b".\r\n" {
            return DataLine::End;
        }
        if !line.ends_with(b"\r\n") {
            self.bare_lf = true;
        }
        let content = line.strip_prefix(b".").unwrap_or(line);
        let length = content.len() as u64;
        if self.too_big || self.kept.saturating_add(length) > self.max_bytes {
            self.too_big = true;
            return DataLine::Skip;
        }
        self.kept += length;
        DataLine::Content(content)
    }

    /// A line longer than the reader's line cap: the message is too big.
    pub fn line_too_long(&mut self) {
        self.too_big = true;
    }

    /// Whether the message is refused already (what was kept may be dropped).
    pub const fn refused(&self) -> bool {
        self.too_big
    }

    /// The answer once the end marker came.
    pub const fn outcome(&self) -> DataOutcome {
        if self.too_big {
            DataOutcome::TooBig
        } else if self.bare_lf {
            DataOutcome::BareLf
        } else {
            DataOutcome::Accept
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn decode(max: u64, lines: &[&[u8]]) -> (Vec<u8>, DataOutcome, bool) {
        let mut decoder = DataDecoder::new(max);
        let mut kept = Vec::new();
        for line in lines {
            match decoder.line(line) {
                DataLine::End => return (kept, decoder.outcome(), true),
                DataLine::Content(c) => kept.extend_from_slice(c),
                DataLine::Skip => {}
            }
        }
        (kept, decoder.outcome(), false)
    }

    #[test]
    fn end_marker_and_dot_unstuffing() {
        let (kept, outcome, ended) = decode(
            100,
            &[
                b"Subject: x\r\n",
                b"\r\n",
                b"..leading dot\r\n",
                b".\r\n",
                b"after\r\n",
            ],
        );
        assert_eq!(kept, b"Subject: x\r\n\r\n.leading dot\r\n");
        assert_eq!((outcome, ended), (DataOutcome::Accept, true));
    }

    #[test]
    fn size_bare_lf_and_long_lines() {
        let (kept, outcome, _) = decode(10, &[b"12345678\r\n", b"x\r\n", b".\r\n"]);
        assert_eq!((kept.len(), outcome), (10, DataOutcome::TooBig));
        let (_, outcome, ended) = decode(100, &[b"a\n", b".\n", b".\r\n"]);
        assert_eq!(
            (outcome, ended),
            (DataOutcome::BareLf, true),
            "a bare-LF dot is no end marker"
        );
        assert_eq!(DataOutcome::BareLf.reply().unwrap().enhanced, "5.6.0");
        let mut decoder = DataDecoder::new(100);
        decoder.line_too_long();
        assert!(decoder.refused());
        assert_eq!(decoder.outcome().reply(), Some(replies::MESSAGE_TOO_BIG));
    }

    proptest! {
        #[test]
        fn kept_content_never_exceeds_the_limit(max in 0u64..64, lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 0..12)) {
            let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
            let (kept, outcome, _) = decode(max, &refs);
            prop_assert!(kept.len() as u64 <= max);
            if outcome == DataOutcome::Accept {
                prop_assert!(refs.iter().all(|l| l.ends_with(b"\r\n") || *l == b".\r\n"));
            }
        }
    }
}
