//! A mail domain's TLS certificate: uploaded by its tenant, checked by the core
//! (`mail::certificate::inspect`) with the signatures verified here by WebCrypto, the key
//! sealed with the tenant's keyring, and sent to relays with the directory (re-sealed
//! for them by the relay API), which serve it by SNI on SMTP and IMAP.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::mail::certificate::{
    self, CertificateError, Inspected, KeyKind, SignatureAlgorithm,
};
use tenantry_core::rbac::Required;
use tenantry_edge::db::{int, text};
use tenantry_edge::http::{json, not_found, read_json};
use tenantry_edge::mail_domain::{self, CURRENT_VERSION, next_version};
use tenantry_edge::tenant_ctx::TenantCtx;
use tenantry_edge::webcrypto::{js_error, subtle};
use tenantry_edge::{Outcome, config, new_id, random_bytes};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::{Request, Response};

/// A WebCrypto algorithm object.
fn algorithm(fields: &[(&str, &str)]) -> Outcome<js_sys::Object> {
    let object = js_sys::Object::new();
    for (name, value) in fields {
        js_sys::Reflect::set(&object, &(*name).into(), &(*value).into()).map_err(js_error)?;
    }
    Ok(object)
}

fn hash_name(bits: u16) -> &'static str {
    match bits {
        384 => "SHA-384",
        512 => "SHA-512",
        _ => "SHA-256",
    }
}

/// The import parameters of a key, and the sign/verify parameters for a digest.
fn key_params(key: KeyKind, hash_bits: u16) -> Outcome<(js_sys::Object, js_sys::Object)> {
    let hash = hash_name(hash_bits);
    Ok(match key {
        KeyKind::Rsa => {
            let params = algorithm(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", hash)])?;
            (params.clone(), params)
        }
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
            let curve = if key == KeyKind::EcdsaP256 {
                "P-256"
            } else {
                "P-384"
            };
            (
                algorithm(&[("name", "ECDSA"), ("namedCurve", curve)])?,
                algorithm(&[("name", "ECDSA"), ("hash", hash)])?,
            )
        }
        KeyKind::Ed25519 => {
            let params = algorithm(&[("name", "Ed25519")])?;
            (params.clone(), params)
        }
    })
}

/// Imports a key; `None` when the runtime refuses it (a key of another kind, garbage).
async fn import(
    format: &str,
    der: &[u8],
    params: &js_sys::Object,
    usage: &str,
) -> Outcome<Option<web_sys::CryptoKey>> {
    let data = js_sys::Uint8Array::from(der);
    let usages = js_sys::Array::of1(&usage.into());
    let promise = subtle()?
        .import_key_with_object(format, &data, params, false, &usages)
        .map_err(js_error)?;
    Ok(JsFuture::from(promise)
        .await
        .ok()
        .map(|key| key.unchecked_into()))
}

async fn verifies(
    key: &web_sys::CryptoKey,
    params: &js_sys::Object,
    signature: &[u8],
    signed: &[u8],
) -> Outcome<bool> {
    let promise = subtle()?
        .verify_with_object_and_u8_array_and_u8_array(params, key, signature, signed)
        .map_err(js_error)?;
    Ok(JsFuture::from(promise)
        .await
        .map_err(js_error)?
        .as_bool()
        .unwrap_or(false))
}

/// Whether the private key signs what the certificate's public key verifies.
async fn key_matches(inspected: &Inspected) -> Outcome<bool> {
    let (import_params, sign_params) = key_params(inspected.key, 256)?;
    let Some(private) = import(
        "pkcs8",
        &inspected.private_key_pkcs8,
        &import_params,
        "sign",
    )
    .await?
    else {
        return Ok(false);
    };
    let Some(public) = import("spki", &inspected.public_key_spki, &import_params, "verify").await?
    else {
        return Ok(false);
    };
    let challenge = random_bytes::<32>();
    let promise = subtle()?
        .sign_with_object_and_u8_array(&sign_params, &private, &challenge)
        .map_err(js_error)?;
    let Ok(signature) = JsFuture::from(promise).await else {
        return Ok(false);
    };
    let signature = js_sys::Uint8Array::new(&signature).to_vec();
    verifies(&public, &sign_params, &signature, &challenge).await
}

/// Verifies every signature of the chain, each certificate by the next.
async fn chain_verifies(inspected: &Inspected) -> Outcome<Result<(), CertificateError>> {
    for check in &inspected.chain_signatures {
        let bits = match check.algorithm {
            SignatureAlgorithm::RsaPkcs1(bits) | SignatureAlgorithm::Ecdsa(bits) => bits,
            SignatureAlgorithm::Ed25519 => 256,
        };
        let (import_params, verify_params) = key_params(check.key, bits)?;
        let verified = match import("spki", &check.spki, &import_params, "verify").await? {
            Some(key) => verifies(&key, &verify_params, &check.signature, &check.signed).await?,
            None => false,
        };
        if !verified {
            return Ok(Err(CertificateError::BadSignature(check.what.clone())));
        }
    }
    Ok(Ok(()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    certificate_pem: String,
    private_key_pem: String,
    #[serde(default)]
    chain_pem: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CertificateRow {
    id: String,
    subject: String,
    san: String,
    names: String,
    issuer: String,
    serial: String,
    not_before: i64,
    not_after: i64,
    uploaded_at: i64,
}

fn describe(domain: &str, row: &CertificateRow) -> serde_json::Value {
    let list = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap_or_default();
    json!({
        "domain": domain,
        "id": row.id,
        "subject": row.subject,
        "san": list(&row.san),
        "names": list(&row.names),
        "issuer": row.issuer,
        "serial": row.serial,
        "not_before": row.not_before,
        "not_after": row.not_after,
        "uploaded_at": row.uploaded_at,
    })
}

async fn current(t: &TenantCtx<'_>, domain: &str) -> Outcome<Option<CertificateRow>> {
    t.db.first(
        "SELECT id, subject, san, names, issuer, serial, not_before, not_after, uploaded_at FROM mail_certificates WHERE tenant_id = ?1 AND domain = ?2 AND deleted = 0",
        &[text(domain)],
    )
    .await
}

pub async fn get(t: &TenantCtx<'_>, domain: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "read"))?;
    let d = mail_domain::find(t, domain).await?;
    let row = current(t, &d.domain)
        .await?
        .ok_or_else(|| not_found("certificate (the domain is served with the relay's default)"))?;
    json(200, &describe(&d.domain, &row))
}

pub async fn put(req: &mut Request, t: &TenantCtx<'_>, domain: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "update"))?;
    let d = mail_domain::find(t, domain).await?;
    let upload: Upload = read_json(req).await?;
    let inspected = certificate::inspect(
        &d.domain,
        &upload.certificate_pem,
        upload.chain_pem.as_deref(),
        &upload.private_key_pem,
        t.ctx.now,
    )?;
    if !key_matches(&inspected).await? {
        return Err(CertificateError::KeyMismatch.into());
    }
    chain_verifies(&inspected).await??;
    let keyring = config::keyring(&t.ctx.env)?;
    let id = new_id("crt");
    let sealed = keyring.seal(
        &t.tenant.id,
        &certificate::sealed_field(&id),
        &inspected.private_key_pkcs8,
        random_bytes(),
    );
    let to_json = |names: &[String]| serde_json::to_string(names).unwrap_or_default();
    let row = CertificateRow {
        id,
        subject: inspected.subject.clone(),
        san: to_json(&inspected.san),
        names: to_json(&inspected.names),
        issuer: inspected.issuer.clone(),
        serial: inspected.serial.clone(),
        not_before: inspected.not_before,
        not_after: inspected.not_after,
        uploaded_at: t.ctx.now,
    };
    let replaced = current(t, &d.domain).await?.is_some();
    t.db.batch(vec![
        next_version(t)?,
        // The domain is this tenant's (mail_domain::find); the update clause stays scoped too.
        t.db.statement(
            &format!("INSERT INTO mail_certificates (tenant_id, domain, id, subject, san, names, issuer, serial, not_before, not_after, chain_pem, private_key, uploaded_at, version, deleted) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, {CURRENT_VERSION}, 0) \
                      ON CONFLICT (tenant_id, domain) DO UPDATE SET id = excluded.id, subject = excluded.subject, san = excluded.san, names = excluded.names, issuer = excluded.issuer, \
                      serial = excluded.serial, not_before = excluded.not_before, not_after = excluded.not_after, chain_pem = excluded.chain_pem, private_key = excluded.private_key, \
                      uploaded_at = excluded.uploaded_at, version = excluded.version, deleted = 0 WHERE mail_certificates.tenant_id = ?1"),
            &[
                text(&d.domain), text(&row.id), text(&row.subject), text(&row.san), text(&row.names), text(&row.issuer), text(&row.serial),
                int(row.not_before), int(row.not_after), text(&inspected.chain_pem), text(&sealed), int(row.uploaded_at),
            ],
        )?,
        t.audit(
            "mail.certificate.put",
            "mail",
            Some(&row.id),
            None,
            Some(json!({"domain": d.domain, "subject": row.subject, "serial": row.serial, "not_after": row.not_after})),
        )?,
    ])
    .await?;
    json(if replaced { 200 } else { 201 }, &describe(&d.domain, &row))
}

pub async fn delete(t: &TenantCtx<'_>, domain: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "update"))?;
    let d = mail_domain::find(t, domain).await?;
    let row = current(t, &d.domain)
        .await?
        .ok_or_else(|| not_found("certificate"))?;
    t.db.batch(vec![
        next_version(t)?,
        // The key and chain are erased; the tombstone tells relays to fall back.
        t.db.statement(
            &format!("UPDATE mail_certificates SET deleted = 1, private_key = '', chain_pem = '', version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND domain = ?2"),
            &[text(&d.domain)],
        )?,
        t.audit(
            "mail.certificate.delete",
            "mail",
            Some(&row.id),
            None,
            Some(json!({"domain": d.domain, "serial": row.serial})),
        )?,
    ])
    .await?;
    tenantry_edge::http::no_content()
}
