//! The header fields only the relay writes, removed from what arrives so that nobody
//! outside can speak in the relay's name.

use super::policy::Reply;
use super::spam;
use alloc::borrow::Cow;
use alloc::vec::Vec;

/// The replies of a header that reads one way to a parser and another to a reader.
pub mod replies {
    use super::Reply;

    /// A header line that is no field (no `name:`) before the blank line: parsers
    /// disagree on where such a header ends.
    pub const MALFORMED_HEADER: Reply = Reply::new(
        550,
        "5.6.0",
        "Refused: a header line is not a field (name: value)",
    );
    /// Two `From:` fields: DMARC would read one, the reader another.
    pub const SEVERAL_FROM_FIELDS: Reply = Reply::new(
        550,
        "5.7.1",
        "Refused: the message has more than one From: field",
    );
}

/// Whether a message from outside has a header every reader parses alike: each line up
/// to the blank line a field (`name:`) or the fold of one, and one `From:` at most.
pub fn well_formed_header(message: &[u8]) -> Result<(), Reply> {
    let mut from_fields = 0;
    for (start, end) in header_fields(message) {
        let field = &message[start..end];
        let Some(colon) = field.iter().position(|&b| b == b':') else {
            return Err(replies::MALFORMED_HEADER);
        };
        let name = &field[..colon];
        let first_line_end = field
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(field.len());
        if name.is_empty() || colon > first_line_end || !name.iter().all(|b| b.is_ascii_graphic()) {
            return Err(replies::MALFORMED_HEADER);
        }
        if name.eq_ignore_ascii_case(b"from") {
            from_fields += 1;
        }
    }
    if from_fields > 1 {
        return Err(replies::SEVERAL_FROM_FIELDS);
    }
    Ok(())
}

/// The message without the header fields only the relay writes: `Authentication-Results`
/// whose authserv-id is `authserv_id` (RFC 8601 section 5) and the `X-Spam-*` fields of
/// [`spam::header_fields`]; borrowed when there were none.
pub fn strip_relay_fields<'m>(message: &'m [u8], authserv_id: &str) -> Cow<'m, [u8]> {
    let fields = header_fields(message);
    let forged: Vec<(usize, usize)> = fields
        .into_iter()
        .filter(|&(start, end)| written_by_relay(&message[start..end], authserv_id))
        .collect();
    if forged.is_empty() {
        return Cow::Borrowed(message);
    }
    let mut kept = Vec::with_capacity(message.len());
    let mut at = 0;
    for (start, end) in forged {
        kept.extend_from_slice(&message[at..start]);
        at = end;
    }
    kept.extend_from_slice(&message[at..]);
    Cow::Owned(kept)
}

/// The byte ranges of the header's fields, each with its folded lines and line end.
fn header_fields(message: &[u8]) -> Vec<(usize, usize)> {
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let end = message[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(message.len(), |i| at + i + 1);
        let line = &message[at..end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        match (line[0], fields.last_mut()) {
            (b' ' | b'\t', Some(field)) => field.1 = end,
            _ => fields.push((at, end)),
        }
        at = end;
    }
    fields
}

/// Whether a field is one the relay writes: `X-Spam-*`, or `Authentication-Results:`
/// with this authserv-id (the first token of its value, after comments and white space,
/// compared without case).
fn written_by_relay(field: &[u8], authserv_id: &str) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = &field[..colon];
    if spam::is_spam_field(name) {
        return true;
    }
    if !name
        .trim_ascii_end()
        .eq_ignore_ascii_case(b"authentication-results")
    {
        return false;
    }
    let value = skip_cfws(&field[colon + 1..]);
    // RFC 8601 allows the id as a quoted string too.
    if let Some(quoted) = value.strip_prefix(b"\"") {
        let mut id = Vec::new();
        let mut bytes = quoted.iter();
        while let Some(&b) = bytes.next() {
            match b {
                b'"' => return id.eq_ignore_ascii_case(authserv_id.as_bytes()),
                b'\\' => id.extend(bytes.next()),
                _ => id.push(b),
            }
        }
        return false;
    }
    let token_end = value
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b';' || b == b'(')
        .unwrap_or(value.len());
    value[..token_end].eq_ignore_ascii_case(authserv_id.as_bytes())
}

/// Skips white space and (nested) comments.
fn skip_cfws(mut value: &[u8]) -> &[u8] {
    loop {
        value = value.trim_ascii_start();
        if value.first() != Some(&b'(') {
            return value;
        }
        let mut depth = 0usize;
        let mut end = value.len();
        let mut escaped = false;
        for (i, &b) in value.iter().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        value = &value[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const ID: &str = "mx.tenantry.test";
    #[test]
    fn the_relays_own_results_are_removed_and_others_kept() {
        let message = b"Authentication-Results: mx.tenantry.test; dmarc=pass\r\n\
    Subject: hello\r\n\
    authentication-results:  (forged)  MX.Tenantry.Test 1;\r\n\tspf=pass smtp.mailfrom=a@b.example\r\n\
    Authentication-Results: mx.other.example; dkim=pass\r\n\
    Authentication-Results: mx.tenantry.test.evil.example; dkim=pass\r\n\
    \r\n\
    Authentication-Results: mx.tenantry.test; in the body stays\r\n";
        let stripped = strip_relay_fields(message, ID);
        assert_eq!(
            &*stripped,
            &b"Subject: hello\r\n\
    Authentication-Results: mx.other.example; dkim=pass\r\n\
    Authentication-Results: mx.tenantry.test.evil.example; dkim=pass\r\n\
    \r\n\
    Authentication-Results: mx.tenantry.test; in the body stays\r\n"[..]
        );
    }

    #[test]
    fn a_message_without_forged_results_is_borrowed() {
        let message = b"Subject: x\r\nX-Authentication-Results: mx.tenantry.test; none\r\n\r\nbody";
        assert!(matches!(strip_relay_fields(message, ID), Cow::Borrowed(_)));
        assert!(matches!(strip_relay_fields(b"", ID), Cow::Borrowed(_)));
    }

    #[test]
    fn comments_before_the_id_nest_and_escape() {
        let message =
            b"Authentication-Results: (a (nested \\) comment) here) mx.tenantry.test;none\r\n\r\n";
        assert_eq!(&*strip_relay_fields(message, ID), b"\r\n");
        let unterminated = b"Authentication-Results: (never closed mx.tenantry.test;\r\n\r\n";
        assert_eq!(&*strip_relay_fields(unterminated, ID), &unterminated[..]);
        let bare_lf = b"Authentication-Results: mx.tenantry.test; x\n\n";
        assert_eq!(&*strip_relay_fields(bare_lf, ID), b"\n");
    }

    #[test]
    fn a_quoted_id_is_the_relays_too() {
        let message = b"Authentication-Results: \"mx.tenantry.test\"; dmarc=pass\r\n\
Authentication-Results: \"mx.tenant\\ry.test\" ; dmarc=pass\r\n\
Authentication-Results: \"mx.tenantry.test.other\"; dmarc=pass\r\n\r\n";
        assert_eq!(
            &*strip_relay_fields(message, ID),
            &b"Authentication-Results: \"mx.tenantry.test.other\"; dmarc=pass\r\n\r\n"[..]
        );
    }

    #[test]
    fn a_header_must_read_alike_to_every_parser() {
        assert_eq!(
            well_formed_header(b"From: a@b.example\r\nSubject: x\r\n\tfolded\r\n\r\nbody"),
            Ok(())
        );
        assert_eq!(
            well_formed_header(b"Subject: x\r\n\r\nno from: fine\r\n"),
            Ok(())
        );
        assert_eq!(
            well_formed_header(b"junk\r\nFrom: ceo@bank.example\r\n\r\nPay.\r\n"),
            Err(replies::MALFORMED_HEADER)
        );
        assert_eq!(
            well_formed_header(b"Subject x\r\n\tfrom: a\r\n\r\n"),
            Err(replies::MALFORMED_HEADER),
            "the colon of a fold is not the field's"
        );
        assert_eq!(
            well_formed_header(b"From: a@b.example\r\nfrom: ceo@bank.example\r\n\r\n"),
            Err(replies::SEVERAL_FROM_FIELDS)
        );
        assert_eq!(
            well_formed_header(b": value\r\n\r\n"),
            Err(replies::MALFORMED_HEADER)
        );
    }
}
