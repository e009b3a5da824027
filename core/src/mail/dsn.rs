//! Delivery status notifications (RFC 3464): what a sender finds in their mailbox when
//! the relay gives up on some recipients of a message.

use alloc::format;
use alloc::string::String;

/// One recipient the report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedRecipient<'a> {
    /// The recipient address.
    pub address: &'a str,
    /// The RFC 3463 status, e.g. `5.1.1`; `4.4.7` when the queue gave up.
    pub status: &'a str,
    /// The remote server's last reply or the local reason, e.g. `550 5.1.1 No such user`.
    pub diagnostic: &'a str,
    /// The server that answered, when one did.
    pub remote_mta: Option<&'a str>,
}

/// A delivery failure report for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReport<'a> {
    /// The relay's host name (`Reporting-MTA`).
    pub reporting_mta: &'a str,
    /// The sender the report goes to (the original MAIL FROM).
    pub sender: &'a str,
    /// The queue id of the original message.
    pub queue_id: &'a str,
    /// `Date:` of the report (RFC 5322).
    pub date: &'a str,
    /// When the original arrived (RFC 5322).
    pub arrival_date: &'a str,
    /// The report's own Message-ID, without brackets.
    pub message_id: &'a str,
    /// Recipients that failed.
    pub recipients: &'a [FailedRecipient<'a>],
    /// The original message's header block (returned as `text/rfc822-headers`).
    pub original_headers: &'a [u8],
}

/// Keeps a single-line field single-line (a remote reply is untrusted text).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The header block of a message: everything before the first empty line.
pub fn header_block(message: &[u8]) -> &[u8] {
    message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message, |end| &message[..end + 2])
}

impl FailureReport<'_> {
    /// The report as an RFC 5322 message with a null envelope sender, in CRLF.
    pub fn render(&self) -> String {
        let boundary = format!("dsn-{}", self.queue_id);
        let mut out = format!(
            "From: Mail Delivery System <MAILER-DAEMON@{mta}>\r\nTo: <{to}>\r\nSubject: Undelivered Mail Returned to Sender\r\nDate: {date}\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-replied\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n",
            mta = self.reporting_mta,
            to = self.sender,
            date = self.date,
            id = self.message_id,
        );
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour message could not be delivered to the following recipients:\r\n\r\n"
        ));
        for r in self.recipients {
            out.push_str(&format!(
                "  <{}>: {}\r\n",
                r.address,
                one_line(r.diagnostic)
            ));
        }
        out.push_str(&format!(
            "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; {}\r\nX-Tenantry-Queue-ID: {}\r\nArrival-Date: {}\r\n",
            self.reporting_mta, self.queue_id, self.arrival_date
        ));
        for r in self.recipients {
            out.push_str(&format!(
                "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\n",
                r.address, r.status
            ));
            if let Some(mta) = r.remote_mta {
                out.push_str(&format!("Remote-MTA: dns; {}\r\n", one_line(mta)));
            }
            out.push_str(&format!(
                "Diagnostic-Code: smtp; {}\r\n",
                one_line(r.diagnostic)
            ));
        }
        out.push_str(&format!(
            "\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        ));
        out.push_str(&String::from_utf8_lossy(header_block(
            self.original_headers,
        )));
        out.push_str(&format!("\r\n--{boundary}--\r\n"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_report_names_each_recipient_and_keeps_the_headers() {
        let original = b"From: ann@paris.test\r\nSubject: hello\r\n\r\nsecret body\r\n";
        let report = FailureReport {
            reporting_mta: "mx.tenantry.test",
            sender: "ann@paris.test",
            queue_id: "q123",
            date: "Tue, 24 Nov 2026 05:00:00 +0000",
            arrival_date: "Tue, 24 Nov 2026 04:00:00 +0000",
            message_id: "q123.dsn@mx.tenantry.test",
            recipients: &[FailedRecipient {
                address: "nobody@remote.test",
                status: "5.1.1",
                diagnostic: "550 5.1.1 No such user\r\nInjected: header",
                remote_mta: Some("mx.remote.test"),
            }],
            original_headers: original,
        }
        .render();
        assert!(report.contains("report-type=delivery-status"));
        assert!(report.contains(
            "Final-Recipient: rfc822; nobody@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        ));
        assert!(report.contains("Remote-MTA: dns; mx.remote.test\r\n"));
        assert!(
            report.contains("Diagnostic-Code: smtp; 550 5.1.1 No such user  Injected: header\r\n")
        );
        assert!(report.contains("Subject: hello\r\n"));
        assert!(!report.contains("secret body"));
        assert!(!report.contains("\r\nInjected"));
    }
}
