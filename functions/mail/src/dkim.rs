//! DKIM keys of a mail domain: made with WebCrypto (native RSA key generation, which
//! WebAssembly would take seconds over), the private key sealed with the tenant's key,
//! the TXT record answered to publish. The relay receives active and previous keys with
//! the directory, re-sealed for relays.

use crate::domains::{CURRENT_VERSION, load_domain, next_version};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::mail::dkim::{self, DkimAlgorithm, DkimState};
use tenantry_core::rbac::Required;
use tenantry_edge::db::text;
use tenantry_edge::http::{invalid, json, read_json};
use tenantry_edge::tenant_ctx::TenantCtx;
use tenantry_edge::webcrypto::{js_error, subtle};
use tenantry_edge::{Outcome, config, new_id, random_bytes};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Request, Response};

/// A new key pair: the PKCS#8 private key and the public key as the TXT record wants it.
async fn generate(algorithm: DkimAlgorithm) -> Outcome<(Vec<u8>, Vec<u8>)> {
    let subtle = subtle()?;
    let params = js_sys::Object::new();
    let set = |name: &str, value: JsValue| {
        js_sys::Reflect::set(&params, &name.into(), &value).map_err(js_error)
    };
    match algorithm {
        DkimAlgorithm::Rsa => {
            set("name", "RSASSA-PKCS1-v1_5".into())?;
            set("modulusLength", JsValue::from_f64(2048.0))?;
            set(
                "publicExponent",
                js_sys::Uint8Array::from(&[1u8, 0, 1][..]).into(),
            )?;
            set("hash", "SHA-256".into())?;
        }
        DkimAlgorithm::Ed25519 => {
            set("name", "Ed25519".into())?;
        }
    }
    let usages = js_sys::Array::of2(&"sign".into(), &"verify".into());
    let pair = JsFuture::from(
        subtle
            .generate_key_with_object(&params, true, &usages)
            .map_err(js_error)?,
    )
    .await
    .map_err(js_error)?;
    let key = |name: &str| -> Outcome<web_sys::CryptoKey> {
        Ok(js_sys::Reflect::get(&pair, &name.into())
            .map_err(js_error)?
            .unchecked_into())
    };
    let export = |format: &'static str, key: web_sys::CryptoKey| {
        let promise = subtle.export_key(format, &key);
        async move {
            let buffer = JsFuture::from(promise.map_err(js_error)?)
                .await
                .map_err(js_error)?;
            Outcome::Ok(js_sys::Uint8Array::new(&buffer).to_vec())
        }
    };
    let private = export("pkcs8", key("privateKey")?).await?;
    // RFC 8463: an Ed25519 record holds the raw key; RSA's holds the SubjectPublicKeyInfo.
    let public_format = match algorithm {
        DkimAlgorithm::Ed25519 => "raw",
        DkimAlgorithm::Rsa => "spki",
    };
    let public = export(public_format, key("publicKey")?).await?;
    Ok((private, public))
}

#[derive(Serialize, Deserialize)]
struct KeyRow {
    id: String,
    selector: String,
    algorithm: String,
    state: String,
    public_key: String,
    created_at: i64,
}

fn describe(domain: &str, row: &KeyRow) -> serde_json::Value {
    use base64::Engine;
    let algorithm = DkimAlgorithm::parse(&row.algorithm).unwrap_or(DkimAlgorithm::Rsa);
    let public = base64::engine::general_purpose::STANDARD
        .decode(&row.public_key)
        .unwrap_or_default();
    json!({
        "id": row.id,
        "selector": row.selector,
        "algorithm": row.algorithm,
        "state": row.state,
        "created_at": row.created_at,
        "dns": {
            "name": dkim::record_name(&row.selector, domain),
            "type": "TXT",
            "value": dkim::txt_record(algorithm, &public),
        },
    })
}

/// Keys of a domain that are still published (a domain has at most two).
async fn live_keys(t: &TenantCtx<'_>, domain: &str) -> Outcome<Vec<KeyRow>> {
    t.db.all(
        "SELECT id, selector, algorithm, state, public_key, created_at FROM mail_dkim_keys \
         WHERE tenant_id = ?1 AND domain = ?2 AND state != 'retired' AND deleted = 0 ORDER BY state = 'active' DESC, created_at DESC, id LIMIT 10",
        &[text(domain)],
    )
    .await
}

pub async fn list(t: &TenantCtx<'_>, domain: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "read"))?;
    let d = load_domain(t, domain).await?;
    let keys = live_keys(t, &d.domain).await?;
    let keys: Vec<_> = keys.iter().map(|k| describe(&d.domain, k)).collect();
    json(200, &json!({"domain": d.domain, "keys": keys}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    algorithm: String,
}

pub async fn create(req: &mut Request, t: &TenantCtx<'_>, domain: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "update"))?;
    let d = load_domain(t, domain).await?;
    let body: NewKey = read_json(req).await?;
    let algorithm = DkimAlgorithm::parse(&body.algorithm)
        .ok_or_else(|| invalid("algorithm", "must be ed25519 or rsa"))?;
    let keyring = config::keyring(&t.ctx.env)?;
    let (private, public) = generate(algorithm).await?;
    let id = new_id("dk");
    let selector = dkim::selector(t.ctx.now, random_bytes());
    let sealed = keyring.seal(
        &t.tenant.id,
        &dkim::sealed_field(&id),
        &private,
        random_bytes(),
    );
    let public_b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&public)
    };
    let existing = live_keys(t, &d.domain).await?;
    let mut statements = vec![next_version(t)?];
    for (key_id, state) in dkim::rotate(existing.iter().filter_map(|k| {
        let state = match k.state.as_str() {
            "active" => DkimState::Active,
            "previous" => DkimState::Previous,
            _ => return None,
        };
        Some((k.id.as_str(), state))
    })) {
        // A retired key's private half is erased; the relay receives a tombstone.
        statements.push(t.db.statement(
            &format!("UPDATE mail_dkim_keys SET state = ?3, private_key = CASE WHEN ?3 = 'retired' THEN '' ELSE private_key END, version = {CURRENT_VERSION} WHERE tenant_id = ?1 AND id = ?2"),
            &[text(&key_id), text(state.as_str())],
        )?);
    }
    statements.push(t.db.statement(
        &format!("INSERT INTO mail_dkim_keys (tenant_id, id, domain, selector, algorithm, state, public_key, private_key, created_at, version) \
                  VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7, ?8, {CURRENT_VERSION})"),
        &[text(&id), text(&d.domain), text(&selector), text(algorithm.as_str()), text(&public_b64), text(&sealed), tenantry_edge::db::int(t.ctx.now)],
    )?);
    statements.push(t.audit(
        "mail.dkim.create",
        "mail",
        Some(&id),
        None,
        Some(json!({"domain": d.domain, "selector": selector, "algorithm": algorithm.as_str()})),
    )?);
    t.db.batch(statements).await?;
    let row = KeyRow {
        id,
        selector,
        algorithm: algorithm.as_str().into(),
        state: "active".into(),
        public_key: public_b64,
        created_at: t.ctx.now,
    };
    json(201, &describe(&d.domain, &row))
}
