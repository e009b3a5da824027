//! A hosted domain's TLS certificate, uploaded by its tenant: what makes an upload
//! acceptable, what is shown of it, and which names it serves by SNI.
//!
//! [`inspect`] parses and checks everything that needs no cryptography (PEM and DER,
//! the names, the validity period, the order of the chain) and returns the signatures
//! the shell must verify with its crypto provider (WebCrypto in the Workers): that the
//! private key signs what the certificate's public key verifies, and that each
//! certificate of the chain is signed by the next one. Sans-I/O: `now` is an argument.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;
use x509_cert::der::asn1::{AnyRef, UintRef};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Encode, Header, Sequence, SliceReader, Tag, TagNumber, Tagged};

mod distinguished_name;
pub use distinguished_name::rfc4514;

/// The PEM text of an upload, bounded before it is parsed.
pub const MAX_PEM_BYTES: usize = 64 * 1024;
/// Certificates in an upload, the domain's own included.
pub const MAX_CHAIN_CERTIFICATES: usize = 8;

/// The names of a domain a certificate may serve: the domain, and its usual mail hosts.
pub fn candidate_names(domain: &str) -> [String; 3] {
    [
        domain.to_string(),
        format!("mx.{domain}"),
        format!("mail.{domain}"),
    ]
}

/// The names of `domain` a certificate with these SAN DNS names serves by SNI: exact
/// names, and `*.{domain}` for the mail hosts. Names outside the domain are never served,
/// whatever the certificate says (another tenant's names stay theirs).
pub fn served_names(domain: &str, san: &[String]) -> Vec<String> {
    let wildcard = format!("*.{domain}");
    candidate_names(domain)
        .into_iter()
        .filter(|name| {
            san.iter().any(|s| {
                s.eq_ignore_ascii_case(name)
                    || (name != domain && s.eq_ignore_ascii_case(&wildcard))
            })
        })
        .collect()
}

/// Which uploaded certificate serves each name, from the replica: a name is served by the
/// certificate of the hosted domain it belongs to, which is the shortest hosted domain equal
/// to it or a parent of it (the owner of `a.example` controls `mx.a.example` in DNS, so
/// another tenant creating the domain `mx.a.example` does not take its name over), and
/// never when it is `reserved` (the relay's own hostname and the operator's certificate
/// files). Names are checked again against the domain ([`served_names`]).
pub fn sni_assignments<'a>(
    directory: &'a super::Directory,
    reserved: &[&str],
) -> Vec<(String, &'a CertificateEntry)> {
    fn owner_of<'n>(directory: &super::Directory, name: &'n str) -> Option<&'n str> {
        let mut owner = None;
        let mut rest = name;
        loop {
            if directory.domain(rest).is_some() {
                owner = Some(rest);
            }
            match rest.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => rest = parent,
                _ => return owner,
            }
        }
    }
    let mut assigned = Vec::new();
    for domain in directory.domains().filter(|d| d.status.is_proven()) {
        let Some(entry) = directory.certificate(&domain.domain) else {
            continue;
        };
        for name in served_names(&entry.domain, &entry.names) {
            let reserved = reserved.iter().any(|r| r.eq_ignore_ascii_case(&name));
            if !reserved && owner_of(directory, &name) == Some(entry.domain.as_str()) {
                assigned.push((name, entry));
            }
        }
    }
    assigned
}

/// The field a certificate's key is sealed under (bound to its upload).
pub fn sealed_field(id: &str) -> String {
    format!("certificate:{id}")
}

/// A public key algorithm the shell can verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// RSA.
    Rsa,
    /// ECDSA on P-256.
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
}

/// A signature algorithm of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, -384 or -512 (the digest's bits).
    RsaPkcs1(u16),
    /// ECDSA with SHA-256 or -384 (the digest's bits).
    Ecdsa(u16),
    /// Ed25519.
    Ed25519,
}

/// A signature the shell verifies: `signature` over `signed` with the public key `spki`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// What is checked, for the error message.
    pub what: String,
    /// The verifying key's algorithm.
    pub key: KeyKind,
    /// The verifying key (DER SubjectPublicKeyInfo).
    pub spki: Vec<u8>,
    /// The algorithm.
    pub algorithm: SignatureAlgorithm,
    /// The signed bytes.
    pub signed: Vec<u8>,
    /// The signature, ECDSA's as `r || s` (the form WebCrypto verifies).
    pub signature: Vec<u8>,
}

/// An upload that passed every check but the signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// The domain certificate's subject (RFC 4514).
    pub subject: String,
    /// Its SAN DNS names.
    pub san: Vec<String>,
    /// The names of the domain it serves by SNI.
    pub names: Vec<String>,
    /// Its issuer (RFC 4514).
    pub issuer: String,
    /// Its serial number, hex bytes separated by colons.
    pub serial: String,
    /// Validity, Unix seconds.
    pub not_before: i64,
    /// Expiry, Unix seconds.
    pub not_after: i64,
    /// The domain certificate then its chain, as PEM.
    pub chain_pem: String,
    /// The private key as PKCS#8 DER, whatever form it came in.
    pub private_key_pkcs8: Vec<u8>,
    /// The key's algorithm (the certificate's).
    pub key: KeyKind,
    /// The domain certificate's public key (DER SubjectPublicKeyInfo).
    pub public_key_spki: Vec<u8>,
    /// The chain's signatures, each certificate by the next.
    pub chain_signatures: Vec<SignatureCheck>,
}

/// Why an upload is refused; each names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Larger than [`MAX_PEM_BYTES`].
    #[error("is larger than {MAX_PEM_BYTES} bytes")]
    TooLarge(&'static str),
    /// Not PEM certificates.
    #[error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate(&'static str),
    /// A certificate that does not parse.
    #[error("certificate {index} does not parse as X.509: {reason}")]
    Unparsable {
        /// The field.
        field: &'static str,
        /// Its position in the upload, from 1.
        index: usize,
        /// What the parser said.
        reason: String,
    },
    /// More certificates than [`MAX_CHAIN_CERTIFICATES`].
    #[error("holds more than {MAX_CHAIN_CERTIFICATES} certificates")]
    ChainTooLong(&'static str),
    /// The key is not a PEM private key.
    #[error("is not a PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY): {reason}")]
    Key {
        /// What is wrong.
        reason: &'static str,
    },
    /// A passphrase-protected key.
    #[error("is encrypted: upload the key without its passphrase")]
    EncryptedKey,
    /// A public key algorithm not served (DSA, other curves, RSA-PSS keys).
    #[error("the certificate's key is not RSA, ECDSA P-256/P-384 or Ed25519")]
    UnsupportedKey,
    /// The SAN does not name the domain or its mail hosts.
    #[error(
        "does not cover {domain}, mx.{domain} or mail.{domain} in its subjectAltName (it names {names})"
    )]
    NotCovering {
        /// The domain.
        domain: String,
        /// The names it has.
        names: String,
    },
    /// Not valid yet.
    #[error("certificate {index} is not valid before {not_before} (Unix time)")]
    NotYetValid {
        /// The field.
        field: &'static str,
        /// Its position.
        index: usize,
        /// When it becomes valid.
        not_before: i64,
    },
    /// Expired.
    #[error("certificate {index} expired at {not_after} (Unix time)")]
    Expired {
        /// The field.
        field: &'static str,
        /// Its position.
        index: usize,
        /// When it expired.
        not_after: i64,
    },
    /// The chain is missing or out of order.
    #[error("{0}")]
    ChainOrder(String),
    /// A signature algorithm the shell cannot verify.
    #[error("certificate {index} is signed with an unsupported algorithm ({oid})")]
    UnsupportedSignature {
        /// Its position.
        index: usize,
        /// The algorithm.
        oid: String,
    },
    /// The key does not sign for the certificate's public key.
    #[error("does not match the certificate's public key")]
    KeyMismatch,
    /// A signature of the chain does not verify.
    #[error("{0} does not verify")]
    BadSignature(String),
}

impl CertificateError {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            CertificateError::TooLarge(field)
            | CertificateError::NoCertificate(field)
            | CertificateError::ChainTooLong(field)
            | CertificateError::Unparsable { field, .. }
            | CertificateError::NotYetValid { field, .. }
            | CertificateError::Expired { field, .. } => field,
            CertificateError::Key { .. }
            | CertificateError::EncryptedKey
            | CertificateError::KeyMismatch => "private_key_pem",
            CertificateError::ChainOrder(_) | CertificateError::BadSignature(_) => "chain_pem",
            CertificateError::UnsupportedKey
            | CertificateError::NotCovering { .. }
            | CertificateError::UnsupportedSignature { .. } => "certificate_pem",
        }
    }
}

impl From<CertificateError> for crate::Problem {
    fn from(error: CertificateError) -> Self {
        let field = error.field();
        crate::Problem::new(
            crate::ErrorCode::InvalidRequest,
            format!("{field}: {error}"),
        )
        .with("field", field)
    }
}

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

fn key_kind(certificate: &Certificate) -> Result<KeyKind, CertificateError> {
    let algorithm = &certificate
        .tbs_certificate
        .subject_public_key_info
        .algorithm;
    let curve = algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    match (algorithm.oid, curve) {
        (RSA_ENCRYPTION, _) => Ok(KeyKind::Rsa),
        (EC_PUBLIC_KEY, Some(P256)) => Ok(KeyKind::EcdsaP256),
        (EC_PUBLIC_KEY, Some(P384)) => Ok(KeyKind::EcdsaP384),
        (ED25519, _) => Ok(KeyKind::Ed25519),
        _ => Err(CertificateError::UnsupportedKey),
    }
}

/// A certificate of an upload, with the DER it was decoded from (kept, so that nothing is
/// encoded again: the chain is served and signatures are checked over the bytes as sent).
struct Parsed {
    certificate: Certificate,
    der: Vec<u8>,
}

impl Parsed {
    /// The DER of the `tbsCertificate`, which the issuer's signature covers.
    fn signed_bytes(&self) -> Option<&[u8]> {
        let outer = AnyRef::from_der(&self.der).ok()?;
        let mut reader = SliceReader::new(outer.value()).ok()?;
        let header = Header::decode(&mut reader).ok()?;
        let length = usize::try_from((header.encoded_len().ok()? + header.length).ok()?).ok()?;
        outer.value().get(..length)
    }
}

fn parse_certificates(
    field: &'static str,
    pem: &str,
    first_index: usize,
) -> Result<Vec<Parsed>, CertificateError> {
    if pem.len() > MAX_PEM_BYTES {
        return Err(CertificateError::TooLarge(field));
    }
    let count = pem.matches("-----BEGIN CERTIFICATE-----").count();
    if count > MAX_CHAIN_CERTIFICATES {
        return Err(CertificateError::ChainTooLong(field));
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    // The parser reads the blocks in turn; text around them (openssl's "subject=" lines)
    // is left out first.
    let mut blocks = String::new();
    for block in pem.split("-----BEGIN CERTIFICATE-----").skip(1) {
        let body = block
            .split("-----END CERTIFICATE-----")
            .next()
            .unwrap_or("");
        blocks.push_str("-----BEGIN CERTIFICATE-----");
        blocks.push_str(body);
        blocks.push_str("-----END CERTIFICATE-----\n");
    }
    let mut certificates = Vec::with_capacity(count);
    for (offset, block) in blocks
        .split_inclusive("-----END CERTIFICATE-----\n")
        .enumerate()
    {
        // The PEM is decoded first and the DER parsed from the slice, so one decoder (the
        // slice reader's) is compiled in rather than a second one for PEM.
        let unparsable = |e: x509_cert::der::Error| CertificateError::Unparsable {
            field,
            index: first_index + offset,
            reason: e.to_string(),
        };
        let (_, der) =
            x509_cert::der::pem::decode_vec(block.as_bytes()).map_err(|e| unparsable(e.into()))?;
        let certificate = Certificate::from_der(&der).map_err(unparsable)?;
        certificates.push(Parsed { certificate, der });
    }
    Ok(certificates)
}

const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// The `dNSName`s of the subjectAltName: `[2] IMPLICIT IA5String` entries of its
/// `GeneralNames`, the other kinds skipped unparsed (only DNS names are served).
fn san_names(certificate: &Certificate) -> Vec<String> {
    const DNS_NAME: Tag = Tag::ContextSpecific {
        constructed: false,
        number: TagNumber::N2,
    };
    let extensions = certificate.tbs_certificate.extensions.iter().flatten();
    let Some(san) = extensions
        .filter(|e| e.extn_id == SUBJECT_ALT_NAME)
        .map(|e| e.extn_value.as_bytes())
        .next()
    else {
        return Vec::new();
    };
    let Ok(names) = Vec::<AnyRef<'_>>::from_der(san) else {
        return Vec::new();
    };
    names
        .iter()
        .filter(|name| name.tag() == DNS_NAME)
        .filter_map(|name| core::str::from_utf8(name.value()).ok())
        .filter(|name| name.is_ascii())
        .map(|name| name.to_ascii_lowercase())
        .collect()
}

fn unix(time: x509_cert::time::Time) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn der(value: &impl Encode) -> Vec<u8> {
    // Re-encoding what was just decoded from DER cannot fail.
    value.to_der().unwrap_or_default()
}

#[derive(Sequence)]
struct EcdsaSignature<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// An X.509 ECDSA signature (DER) as `r || s`, each padded to the curve's size.
fn ecdsa_raw(der_signature: &[u8], key: KeyKind) -> Option<Vec<u8>> {
    let size = match key {
        KeyKind::EcdsaP256 => 32,
        KeyKind::EcdsaP384 => 48,
        _ => return None,
    };
    let parsed = EcdsaSignature::from_der(der_signature).ok()?;
    let mut raw = Vec::with_capacity(size * 2);
    for part in [parsed.r.as_bytes(), parsed.s.as_bytes()] {
        if part.len() > size {
            return None;
        }
        raw.resize(raw.len() + size - part.len(), 0);
        raw.extend_from_slice(part);
    }
    Some(raw)
}

fn signature_check(
    index: usize,
    subject: &Parsed,
    issuer: &Certificate,
) -> Result<SignatureCheck, CertificateError> {
    let signed = subject
        .signed_bytes()
        .ok_or_else(|| CertificateError::Unparsable {
            field: "chain_pem",
            index,
            reason: "no tbsCertificate".to_string(),
        })?
        .to_vec();
    let subject = &subject.certificate;
    let oid = subject.signature_algorithm.oid;
    let unsupported = || CertificateError::UnsupportedSignature {
        index,
        oid: oid.to_string(),
    };
    let algorithm = match oid {
        SHA256_RSA => SignatureAlgorithm::RsaPkcs1(256),
        SHA384_RSA => SignatureAlgorithm::RsaPkcs1(384),
        SHA512_RSA => SignatureAlgorithm::RsaPkcs1(512),
        ECDSA_SHA256 => SignatureAlgorithm::Ecdsa(256),
        ECDSA_SHA384 => SignatureAlgorithm::Ecdsa(384),
        ED25519 => SignatureAlgorithm::Ed25519,
        _ => return Err(unsupported()),
    };
    let key = key_kind(issuer).map_err(|_| unsupported())?;
    let raw = subject.signature.raw_bytes();
    let signature = match algorithm {
        SignatureAlgorithm::Ecdsa(_) => ecdsa_raw(raw, key).ok_or_else(unsupported)?,
        _ => raw.to_vec(),
    };
    Ok(SignatureCheck {
        what: format!(
            "the signature of certificate {index} ({}) by {}",
            rfc4514(&subject.tbs_certificate.subject),
            rfc4514(&issuer.tbs_certificate.subject)
        ),
        key,
        spki: der(&issuer.tbs_certificate.subject_public_key_info),
        algorithm,
        signed,
        signature,
    })
}

/// The private key as PKCS#8 DER: PKCS#8 as it is, PKCS#1 (RSA) and SEC1 (EC) wrapped
/// with the certificate's own algorithm identifier (the signature check proves they match).
fn private_key_pkcs8(pem: &str, certificate: &Certificate) -> Result<Vec<u8>, CertificateError> {
    if pem.len() > MAX_PEM_BYTES {
        return Err(CertificateError::TooLarge("private_key_pem"));
    }
    let start = pem.find("-----BEGIN ").ok_or(CertificateError::Key {
        reason: "no -----BEGIN line",
    })?;
    let (label, body) = x509_cert::der::pem::decode_vec(pem[start..].trim_end().as_bytes())
        .map_err(|_| CertificateError::Key {
            reason: "the PEM block does not decode",
        })?;
    let spki_algorithm = &certificate
        .tbs_certificate
        .subject_public_key_info
        .algorithm;
    let wrap = |expected: ObjectIdentifier| {
        if spki_algorithm.oid != expected {
            return Err(CertificateError::KeyMismatch);
        }
        let info = pkcs8::PrivateKeyInfo {
            algorithm: pkcs8::AlgorithmIdentifierRef {
                oid: spki_algorithm.oid,
                parameters: spki_algorithm
                    .parameters
                    .as_ref()
                    .map(x509_cert::der::asn1::AnyRef::from),
            },
            private_key: &body,
            public_key: None,
        };
        info.to_der().map_err(|_| CertificateError::Key {
            reason: "the key does not encode as PKCS#8",
        })
    };
    match label {
        "PRIVATE KEY" => {
            pkcs8::PrivateKeyInfo::from_der(&body).map_err(|_| CertificateError::Key {
                reason: "the PRIVATE KEY block is not PKCS#8",
            })?;
            Ok(body)
        }
        "RSA PRIVATE KEY" => wrap(RSA_ENCRYPTION),
        "EC PRIVATE KEY" => wrap(EC_PUBLIC_KEY),
        "ENCRYPTED PRIVATE KEY" => Err(CertificateError::EncryptedKey),
        _ if pem.contains("Proc-Type: 4,ENCRYPTED") => Err(CertificateError::EncryptedKey),
        _ => Err(CertificateError::Key {
            reason: "unknown PEM label",
        }),
    }
}

/// Checks an upload for `domain` at `now`: `certificate_pem` holds the domain's
/// certificate (and may continue with its chain, as a full-chain file does),
/// `chain_pem` the rest of the chain in order.
pub fn inspect(
    domain: &str,
    certificate_pem: &str,
    chain_pem: Option<&str>,
    private_key_pem: &str,
    now: i64,
) -> Result<Inspected, CertificateError> {
    let mut certificates = parse_certificates("certificate_pem", certificate_pem, 1)?;
    if certificates.is_empty() {
        return Err(CertificateError::NoCertificate("certificate_pem"));
    }
    let fields: Vec<&'static str> = core::iter::repeat_n("certificate_pem", certificates.len())
        .chain(core::iter::repeat("chain_pem"))
        .take(MAX_CHAIN_CERTIFICATES + 1)
        .collect();
    if let Some(chain) = chain_pem.filter(|c| !c.trim().is_empty()) {
        let more = parse_certificates("chain_pem", chain, certificates.len() + 1)?;
        if more.is_empty() {
            return Err(CertificateError::NoCertificate("chain_pem"));
        }
        certificates.extend(more);
    }
    if certificates.len() > MAX_CHAIN_CERTIFICATES {
        return Err(CertificateError::ChainTooLong("chain_pem"));
    }
    let leaf = &certificates[0].certificate;
    let key = key_kind(leaf)?;
    let san = san_names(leaf);
    let names = served_names(domain, &san);
    if names.is_empty() {
        return Err(CertificateError::NotCovering {
            domain: domain.to_string(),
            names: if san.is_empty() {
                "no DNS name".to_string()
            } else {
                san.join(", ")
            },
        });
    }
    for (i, parsed) in certificates.iter().enumerate() {
        let validity = &parsed.certificate.tbs_certificate.validity;
        let (not_before, not_after) = (unix(validity.not_before), unix(validity.not_after));
        let field = fields[i];
        if now < not_before {
            return Err(CertificateError::NotYetValid {
                field,
                index: i + 1,
                not_before,
            });
        }
        if now > not_after {
            return Err(CertificateError::Expired {
                field,
                index: i + 1,
                not_after,
            });
        }
    }
    let mut chain_signatures = Vec::new();
    for (i, pair) in certificates.windows(2).enumerate() {
        let (subject, issuer) = (&pair[0].certificate, &pair[1].certificate);
        if subject.tbs_certificate.issuer != issuer.tbs_certificate.subject {
            return Err(CertificateError::ChainOrder(format!(
                "certificate {} is issued by {}, but certificate {} is {} (the chain goes from the domain's certificate up, each followed by its issuer)",
                i + 1,
                rfc4514(&subject.tbs_certificate.issuer),
                i + 2,
                rfc4514(&issuer.tbs_certificate.subject)
            )));
        }
        chain_signatures.push(signature_check(i + 1, &pair[0], issuer)?);
    }
    let last = certificates.last().map_or(leaf, |last| &last.certificate);
    if last.tbs_certificate.issuer != last.tbs_certificate.subject && certificates.len() == 1 {
        return Err(CertificateError::ChainOrder(format!(
            "the certificate is issued by {}; send that issuer's certificate (and its own, up to the root or the last intermediate) as chain_pem",
            rfc4514(&last.tbs_certificate.issuer)
        )));
    }
    let mut chain = String::new();
    for parsed in &certificates {
        let pem = x509_cert::der::pem::encode_string(
            "CERTIFICATE",
            x509_cert::der::pem::LineEnding::LF,
            &parsed.der,
        )
        .map_err(|_| CertificateError::Unparsable {
            field: "certificate_pem",
            index: 1,
            reason: "does not encode as PEM".to_string(),
        })?;
        chain.push_str(&pem);
    }
    let validity = &leaf.tbs_certificate.validity;
    Ok(Inspected {
        subject: rfc4514(&leaf.tbs_certificate.subject),
        issuer: rfc4514(&leaf.tbs_certificate.issuer),
        serial: leaf.tbs_certificate.serial_number.to_string(),
        not_before: unix(validity.not_before),
        not_after: unix(validity.not_after),
        private_key_pkcs8: private_key_pkcs8(private_key_pem, leaf)?,
        key,
        public_key_spki: der(&leaf.tbs_certificate.subject_public_key_info),
        names,
        san,
        chain_pem: chain,
        chain_signatures,
    })
}

/// The subject (RFC 4514) and expiry (Unix seconds) of a DER certificate, for logs,
/// `Received:` fields and metrics.
pub fn subject_and_expiry(der: &[u8]) -> Option<(String, i64)> {
    let certificate = Certificate::from_der(der).ok()?;
    Some((
        rfc4514(&certificate.tbs_certificate.subject),
        unix(certificate.tbs_certificate.validity.not_after),
    ))
}

/// A domain's certificate as relays receive it with the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateEntry {
    /// The owning tenant.
    pub tenant_id: String,
    /// The domain.
    pub domain: String,
    /// The upload's id (the sealed key is bound to it).
    pub id: String,
    /// The names served by SNI.
    #[serde(default)]
    pub names: Vec<String>,
    /// The domain certificate then its chain, PEM.
    #[serde(default)]
    pub chain_pem: String,
    /// The PKCS#8 key sealed for relays (the relay's `seal_key`); empty in a tombstone
    /// or when it could not be sealed.
    #[serde(default)]
    pub sealed_key: String,
    /// Expiry, Unix seconds.
    #[serde(default)]
    pub not_after: i64,
    /// The directory version of this row.
    pub version: u64,
    /// A tombstone (deleted, or replaced by DELETE).
    #[serde(default)]
    pub deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn only_the_domain_and_its_mail_hosts_are_served() {
        let san = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            served_names("a.example", &san(&["mx.a.example", "b.example"])),
            ["mx.a.example"]
        );
        assert_eq!(
            served_names("a.example", &san(&["*.a.example"])),
            ["mx.a.example", "mail.a.example"]
        );
        assert_eq!(
            served_names("a.example", &san(&["A.EXAMPLE"])),
            ["a.example"]
        );
        assert!(served_names("a.example", &san(&["*.example", "mx.b.example"])).is_empty());
    }

    #[test]
    fn garbage_is_refused_with_the_field_at_fault() {
        let error = inspect("a.example", "hello", None, "", 0).unwrap_err();
        assert_eq!(error, CertificateError::NoCertificate("certificate_pem"));
        let error = inspect(
            "a.example",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            None,
            "",
            0,
        )
        .unwrap_err();
        assert!(matches!(
            error,
            CertificateError::Unparsable { index: 1, .. }
        ));
        let big = "x".repeat(MAX_PEM_BYTES + 1);
        assert_eq!(
            inspect("a.example", &big, None, "", 0).unwrap_err().field(),
            "certificate_pem"
        );
        let problem: crate::Problem = CertificateError::KeyMismatch.into();
        assert!(problem.detail.starts_with("private_key_pem: "));
    }

    const LEAF: &str = include_str!("testdata/leaf.pem");
    const LEAF_KEY: &str = include_str!("testdata/leaf.key");
    const CA: &str = include_str!("testdata/ca.pem");
    const NOW: i64 = 1_900_000_000;

    #[test]
    fn signatures_are_checked_over_the_bytes_as_sent() {
        let parsed = parse_certificates("certificate_pem", LEAF, 1).unwrap();
        let [leaf] = &parsed[..] else {
            panic!("one certificate");
        };
        assert_eq!(
            leaf.signed_bytes().unwrap(),
            leaf.certificate.tbs_certificate.to_der().unwrap()
        );
        let inspected = inspect("a.example", LEAF, Some(CA), LEAF_KEY, NOW).unwrap();
        assert_eq!(
            inspected.chain_signatures[0].signed,
            leaf.signed_bytes().unwrap()
        );
        // The chain served is the upload's DER, block for block.
        let served = parse_certificates("chain_pem", &inspected.chain_pem, 1).unwrap();
        let sent = parse_certificates("chain_pem", &alloc::format!("{LEAF}{CA}"), 1).unwrap();
        assert_eq!(
            served.iter().map(|p| &p.der).collect::<Vec<_>>(),
            sent.iter().map(|p| &p.der).collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_openssl_certificate_with_its_chain_is_inspected() {
        let inspected = inspect("a.example", LEAF, Some(CA), LEAF_KEY, NOW).unwrap();
        assert_eq!(inspected.subject, "CN=mx.a.example");
        assert_eq!(inspected.names, ["a.example", "mx.a.example"]);
        assert_eq!(inspected.key, KeyKind::Rsa);
        assert!(
            inspected.issuer.contains("CN=Test Sector CA"),
            "{}",
            inspected.issuer
        );
        assert!(inspected.not_after > NOW && inspected.not_before < NOW);
        assert_eq!(inspected.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
        let [check] = &inspected.chain_signatures[..] else {
            panic!("one link");
        };
        assert_eq!(
            (check.key, check.algorithm, check.signature.len()),
            (KeyKind::EcdsaP256, SignatureAlgorithm::Ecdsa(256), 64)
        );
        // The PKCS#1 key came back as PKCS#8.
        assert!(pkcs8::PrivateKeyInfo::from_der(&inspected.private_key_pkcs8).is_ok());
        // A full-chain file in certificate_pem is the same upload.
        let full = alloc::format!("{LEAF}{CA}");
        assert_eq!(
            inspect("a.example", &full, None, LEAF_KEY, NOW)
                .unwrap()
                .chain_pem,
            inspected.chain_pem
        );
    }

    #[test]
    fn each_kind_of_bad_upload_names_what_is_wrong() {
        let refused = |domain, cert: &str, chain: Option<&str>, key, now| {
            inspect(domain, cert, chain, key, now).unwrap_err()
        };
        assert!(matches!(
            refused("b.example", LEAF, Some(CA), LEAF_KEY, NOW),
            CertificateError::NotCovering { .. }
        ));
        assert!(matches!(
            refused("a.example", LEAF, Some(CA), LEAF_KEY, 42_000_000_000),
            CertificateError::Expired { index: 1, .. }
        ));
        assert!(matches!(
            refused("a.example", LEAF, Some(CA), LEAF_KEY, 1),
            CertificateError::NotYetValid { .. }
        ));
        assert!(matches!(
            refused("a.example", LEAF, None, LEAF_KEY, NOW),
            CertificateError::ChainOrder(_)
        ));
        let backwards = alloc::format!("{CA}{LEAF}");
        assert!(matches!(
            refused("a.example", LEAF, Some(&backwards), LEAF_KEY, NOW),
            CertificateError::ChainOrder(_)
        ));
        assert_eq!(
            refused(
                "a.example",
                LEAF,
                Some(CA),
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                NOW
            ),
            CertificateError::EncryptedKey
        );
        assert!(matches!(
            refused("a.example", LEAF, Some(CA), "not a key", NOW),
            CertificateError::Key { .. }
        ));
        // An EC key offered for an RSA certificate.
        let ec = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(
            refused("a.example", LEAF, Some(CA), ec, NOW),
            CertificateError::KeyMismatch
        );
    }

    #[test]
    fn a_name_is_served_by_the_domain_it_belongs_to_and_never_when_reserved() {
        use crate::mail::directory::tests::domain;
        use crate::mail::{Directory, DirectoryDelta};
        let entry = |tenant: &str, domain: &str, names: &[&str]| CertificateEntry {
            tenant_id: tenant.into(),
            domain: domain.into(),
            id: alloc::format!("crt_{domain}"),
            names: names.iter().map(|n| n.to_string()).collect(),
            chain_pem: String::new(),
            sealed_key: String::new(),
            not_after: 0,
            version: 1,
            deleted: false,
        };
        let mut squatter = domain("mx.a.example", 1);
        squatter.tenant_id = "t_lyon".into();
        let mut platform = domain("tenantry.example", 1);
        platform.tenant_id = "t_lyon".into();
        let mut directory = Directory::default();
        directory
            .apply(DirectoryDelta {
                version: 1,
                full: true,
                domains: alloc::vec![domain("a.example", 1), squatter, platform],
                certificates: alloc::vec![
                    entry(
                        "t_paris",
                        "a.example",
                        &["a.example", "mx.a.example", "mail.a.example"]
                    ),
                    entry("t_lyon", "mx.a.example", &["mx.a.example"]),
                    entry(
                        "t_lyon",
                        "tenantry.example",
                        &["mx.tenantry.example", "tenantry.example"]
                    ),
                ],
                ..DirectoryDelta::default()
            })
            .unwrap();
        let assigned: Vec<(String, String)> = sni_assignments(&directory, &["mx.tenantry.example"])
            .into_iter()
            .map(|(name, entry)| (name, entry.domain.clone()))
            .collect();
        let owned = |name: &str, domain: &str| (name.to_string(), domain.to_string());
        assert_eq!(
            assigned,
            [
                owned("a.example", "a.example"),
                owned("mx.a.example", "a.example"),
                owned("mail.a.example", "a.example"),
                owned("tenantry.example", "tenantry.example"),
            ]
        );
    }

    #[test]
    fn a_lapsed_domain_is_served_with_no_certificate_and_signs_nothing() {
        use crate::mail::directory::tests::domain;
        use crate::mail::dkim::{DkimAlgorithm, DkimEntry, DkimState};
        use crate::mail::{Directory, DirectoryDelta, DomainStatus};
        let mut lapsed = domain("lapsed.example", 1);
        lapsed.status = DomainStatus::Lapsed;
        let certificate = |domain: &str| CertificateEntry {
            tenant_id: "t_paris".into(),
            domain: domain.into(),
            id: alloc::format!("crt_{domain}"),
            names: alloc::vec![domain.to_string()],
            chain_pem: String::new(),
            sealed_key: String::new(),
            not_after: 0,
            version: 1,
            deleted: false,
        };
        let key = |domain: &str| DkimEntry {
            tenant_id: "t_paris".into(),
            id: alloc::format!("dk_{domain}"),
            domain: domain.into(),
            selector: "s1".into(),
            algorithm: DkimAlgorithm::Ed25519,
            state: DkimState::Active,
            sealed_key: "sealed".into(),
            version: 1,
            deleted: false,
        };
        let mut directory = Directory::default();
        directory
            .apply(DirectoryDelta {
                version: 1,
                full: true,
                domains: alloc::vec![domain("a.example", 1), lapsed],
                certificates: alloc::vec![certificate("a.example"), certificate("lapsed.example")],
                dkim: alloc::vec![key("a.example"), key("lapsed.example")],
                ..DirectoryDelta::default()
            })
            .unwrap();
        let served: Vec<String> = sni_assignments(&directory, &[])
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(served, ["a.example"]);
        assert!(directory.dkim_signing_key("a.example").is_some());
        assert!(directory.dkim_signing_key("lapsed.example").is_none());
    }

    #[test]
    fn ecdsa_signatures_become_fixed_size() {
        // SEQUENCE { INTEGER 0x00ff (a leading zero), INTEGER 0x01 }
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01];
        let raw = ecdsa_raw(&der, KeyKind::EcdsaP256).unwrap();
        assert_eq!(raw.len(), 64);
        assert_eq!(raw[31], 0xff);
        assert_eq!(raw[63], 0x01);
        assert!(ecdsa_raw(&der, KeyKind::Rsa).is_none());
    }
}
