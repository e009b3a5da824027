//! A tenant's invitations: the grant rule decides which roles a principal may offer;
//! the token (7 days, single use) is mailed through the outbox in the same batch as the
//! invitation and never shown in the API. `POST /v1/auth/accept-invitation` (the auth
//! Worker) spends it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tenantry_core::auth::{TokenKind, generate_token};
use tenantry_core::mail::Address;
use tenantry_core::notify::{Locale, Notice};
use tenantry_core::rbac::Required;
use tenantry_core::{ErrorCode, Problem};
use tenantry_edge::db::{int, text};
use tenantry_edge::http::{invalid, json, not_found, read_json};
use tenantry_edge::outbox::{self, Outgoing};
use tenantry_edge::paging::{Order, Page};
use tenantry_edge::tenant_ctx::TenantCtx;
use tenantry_edge::{Outcome, new_id, random_bytes};
use worker::{D1PreparedStatement, Request, Response};

static CREATED: Order = Order {
    columns: &["created_at", "id"],
    descending: false,
};

#[derive(Serialize, Deserialize)]
struct InvitationRow {
    id: String,
    email: String,
    role: String,
    invited_by: String,
    created_at: i64,
    expires_at: i64,
}

const PENDING: &str = "accepted_at IS NULL AND revoked_at IS NULL";

/// `GET /v1/invitations`: pending (not accepted, revoked or expired), oldest first.
pub async fn list(req: &Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("members", "read"))?;
    let page = Page::from_request(req, &CREATED)?;
    let (clause, mut args) = page.clause(3);
    args.insert(0, int(t.ctx.now));
    let rows: Vec<InvitationRow> = t
        .db
        .all(&format!("SELECT id, email, role, invited_by, created_at, expires_at FROM invitations WHERE tenant_id = ?1 AND {PENDING} AND expires_at > ?2{clause}"), &args)
        .await?;
    let (rows, next) = page.finish(rows, |r| vec![json!(r.created_at), json!(r.id)]);
    json(200, &json!({"invitations": rows, "next_cursor": next}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvitation {
    email: String,
    role: String,
}

fn locale(req: &Request) -> Locale {
    Locale::from_accept_language(
        req.headers()
            .get("accept-language")
            .ok()
            .flatten()
            .as_deref(),
    )
}

/// The new token's message to `email`, to go in the batch that stores its hash.
fn message(
    t: &TenantCtx<'_>,
    email: &Address,
    role: &str,
    token: &str,
    locale: Locale,
) -> Outcome<D1PreparedStatement> {
    let link = outbox::link(&t.ctx.env, "accept-invitation", token)?;
    outbox::statement(
        &t.ctx.env,
        &t.ctx.db,
        Outgoing {
            tenant_id: Some(&t.tenant.id),
            sender_name: &t.tenant.name,
            to: email,
            notice: Notice::Invitation {
                tenant: &t.tenant.name,
                role,
                link: &link,
            },
            locale,
        },
        t.ctx.now,
    )
}

/// `POST /v1/invitations {email, role}`.
pub async fn create(req: &mut Request, t: &TenantCtx<'_>) -> Outcome<Response> {
    t.require(Required::new("members", "create"))?;
    let body: NewInvitation = read_json(req).await?;
    let email = Address::parse(body.email.trim()).map_err(|e| invalid("email", e))?;
    t.may_grant(&body.role)?;
    crate::members::check_users_quota(t).await?;
    let member = t
        .db
        .count(
            "SELECT COUNT(*) AS n FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ?1 AND u.email = ?2",
            &[text(email.as_str())],
        )
        .await?;
    if member > 0 {
        return Err(
            Problem::new(ErrorCode::Conflict, "this address is a member already")
                .with("field", "email"),
        );
    }
    let pending = t
        .db
        .count(
            &format!("SELECT COUNT(*) AS n FROM invitations WHERE tenant_id = ?1 AND email = ?2 AND {PENDING} AND expires_at > ?3"),
            &[text(email.as_str()), int(t.ctx.now)],
        )
        .await?;
    if pending > 0 {
        return Err(Problem::new(
            ErrorCode::Conflict,
            "an invitation to this address is pending; resend it (POST /v1/invitations/{id}/resend) or revoke it",
        )
        .with("field", "email"));
    }
    let id = new_id("inv");
    let token = generate_token(TokenKind::Invitation, &random_bytes());
    let expires_at = t.ctx.now + TokenKind::Invitation.lifetime_secs();
    let statements = vec![
        t.db.statement(
            "INSERT INTO invitations (tenant_id, id, email, role, token_hash, invited_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &[text(&id), text(email.as_str()), text(&body.role), text(&token.hash), text(&t.principal.subject), int(t.ctx.now), int(expires_at)],
        )?,
        message(t, &email, &body.role, &token.plaintext, locale(req))?,
        t.audit(
            "invitation.create",
            "invitations",
            Some(&id),
            None,
            Some(json!({"email": email.as_str(), "role": body.role})),
        )?,
    ];
    t.db.batch(statements).await?;
    json(
        201,
        &json!({"id": id, "email": email.as_str(), "role": body.role, "invited_by": t.principal.subject,
                "created_at": t.ctx.now, "expires_at": expires_at}),
    )
}

/// A pending invitation of this tenant; 404 otherwise (another tenant's id included).
async fn pending(t: &TenantCtx<'_>, id: &str) -> Outcome<InvitationRow> {
    tenantry_core::ids::check(id, "inv")?;
    t.db.first(
        &format!("SELECT id, email, role, invited_by, created_at, expires_at FROM invitations WHERE tenant_id = ?1 AND id = ?2 AND {PENDING}"),
        &[text(id)],
    )
    .await?
    .ok_or_else(|| not_found("invitation"))
}

/// `DELETE /v1/invitations/{id}`: the token stops working at once.
pub async fn revoke(t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
    t.require(Required::new("members", "delete"))?;
    let invitation = pending(t, id).await?;
    // Revoking an offer of a role is taking it back: only who could grant it.
    t.may_grant(&invitation.role)?;
    let statements = vec![
        t.db.statement(
            &format!("UPDATE invitations SET revoked_at = ?3 WHERE tenant_id = ?1 AND id = ?2 AND {PENDING}"),
            &[text(id), int(t.ctx.now)],
        )?,
        t.audit(
            "invitation.revoke",
            "invitations",
            Some(id),
            Some(json!({"email": invitation.email, "role": invitation.role})),
            None,
        )?,
    ];
    t.db.batch(statements).await?;
    tenantry_edge::http::no_content()
}

/// `POST /v1/invitations/{id}/resend`: a new token (the old one stops working) and 7
/// more days.
pub async fn resend(req: &Request, t: &TenantCtx<'_>, id: &str) -> Outcome<Response> {
    t.require(Required::new("members", "create"))?;
    let invitation = pending(t, id).await?;
    t.may_grant(&invitation.role)?;
    let email = Address::parse(&invitation.email).map_err(tenantry_edge::internal)?;
    let token = generate_token(TokenKind::Invitation, &random_bytes());
    let expires_at = t.ctx.now + TokenKind::Invitation.lifetime_secs();
    let statements = vec![
        t.db.statement(
            &format!("UPDATE invitations SET token_hash = ?3, expires_at = ?4 WHERE tenant_id = ?1 AND id = ?2 AND {PENDING}"),
            &[text(id), text(&token.hash), int(expires_at)],
        )?,
        message(t, &email, &invitation.role, &token.plaintext, locale(req))?,
        t.audit(
            "invitation.resend",
            "invitations",
            Some(id),
            None,
            Some(json!({"email": invitation.email, "expires_at": expires_at})),
        )?,
    ];
    t.db.batch(statements).await?;
    json(
        200,
        &json!({"id": invitation.id, "email": invitation.email, "role": invitation.role, "invited_by": invitation.invited_by,
                "created_at": invitation.created_at, "expires_at": expires_at}),
    )
}
