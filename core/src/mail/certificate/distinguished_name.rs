//! An X.509 name as the string of RFC 4514, as `openssl x509 -nameopt RFC2253` prints it.
//!
//! Written here rather than taken from x509-cert's `Display`: that one names attribute
//! types from const-oid's whole database, which weighs 20 KiB gzipped in a Worker for a
//! handful of names; RFC 4514 itself says which short names to use (its section 3) and
//! that any other type is written as its OID, with the value's DER in hex.

use alloc::string::String;
use core::fmt::Write;
use x509_cert::der::Encode;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Tag, Tagged};
use x509_cert::name::Name;

/// The short names written for an attribute type: RFC 4514's table (section 3), and the
/// X.520 and PKCS #9 types of certificate subjects that OpenSSL writes by name too.
const SHORT_NAMES: &[(ObjectIdentifier, &str)] = &[
    (ObjectIdentifier::new_unwrap("2.5.4.3"), "CN"),
    (ObjectIdentifier::new_unwrap("2.5.4.7"), "L"),
    (ObjectIdentifier::new_unwrap("2.5.4.8"), "ST"),
    (ObjectIdentifier::new_unwrap("2.5.4.10"), "O"),
    (ObjectIdentifier::new_unwrap("2.5.4.11"), "OU"),
    (ObjectIdentifier::new_unwrap("2.5.4.6"), "C"),
    (ObjectIdentifier::new_unwrap("2.5.4.9"), "STREET"),
    (
        ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.25"),
        "DC",
    ),
    (
        ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1"),
        "UID",
    ),
    (ObjectIdentifier::new_unwrap("2.5.4.5"), "serialNumber"),
    (ObjectIdentifier::new_unwrap("2.5.4.4"), "SN"),
    (ObjectIdentifier::new_unwrap("2.5.4.42"), "GN"),
    (ObjectIdentifier::new_unwrap("2.5.4.12"), "title"),
    (
        ObjectIdentifier::new_unwrap("2.5.4.97"),
        "organizationIdentifier",
    ),
    (
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1"),
        "emailAddress",
    ),
];

/// The string form of `name`: its RDNs last first, separated by `,`, the attributes of a
/// multi-valued RDN by `+`.
pub fn rfc4514(name: &Name) -> String {
    let mut out = String::new();
    for (i, rdn) in name.0.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attribute) in rdn.0.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let short = SHORT_NAMES
                .iter()
                .find(|(oid, _)| *oid == attribute.oid)
                .map(|(_, short)| *short);
            let text = match attribute.value.tag() {
                Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString => {
                    core::str::from_utf8(attribute.value.value()).ok()
                }
                _ => None,
            };
            match (short, text) {
                (Some(short), Some(text)) => {
                    out.push_str(short);
                    out.push('=');
                    escape_into(&mut out, text);
                }
                _ => {
                    // A type without a short name is its OID, and its value the DER in hex.
                    let _ = write!(out, "{}=#", attribute.oid);
                    for byte in attribute.value.to_der().unwrap_or_default() {
                        let _ = write!(out, "{byte:02X}");
                    }
                }
            }
        }
    }
    out
}

/// A value with the characters RFC 4514 (section 2.4) escapes, and control characters
/// as `\hh` so that a name prints on one line.
fn escape_into(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0'..='\x1f' | '\x7f' => {
                let _ = write!(out, "\\{:02x}", c as u8);
            }
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rfc4514;
    use core::str::FromStr;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    use x509_cert::Certificate;
    use x509_cert::der::DecodePem;
    use x509_cert::name::Name;

    #[test]
    fn names_print_as_openssl_prints_them_in_rfc2253_form() {
        // Made by `openssl req -x509` from a config with these attributes; the expected
        // string is `openssl x509 -noout -subject -nameopt RFC2253` of it.
        let certificate = Certificate::from_pem(include_str!("../testdata/names.pem"))
            .expect("the fixture parses");
        assert_eq!(
            rfc4514(&certificate.tbs_certificate.subject),
            r#"1.3.6.1.4.1.99999.1=#0C0576616C7565,emailAddress=pki@a.example,CN=\#lead \<x\>,OU=a\+b\, c\;d,O=Tenantry \"tests\",C=FR"#
        );
    }

    #[test]
    fn leading_and_trailing_spaces_and_multi_valued_rdns() {
        // A SET OF is in DER order, so O comes before CN within the RDN.
        let name = Name::from_str(r"CN=\ a b\ +O=x,C=FR").unwrap();
        assert_eq!(rfc4514(&name), r"O=x+CN=\ a b\ ,C=FR");
        assert_eq!(rfc4514(&Name::default()), "");
    }
}
