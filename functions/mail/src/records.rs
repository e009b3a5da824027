//! `GET /v1/mail/domains/{domain}/records`: what a tenant publishes in its domain's DNS
//! for its mail (MX, SPF, DMARC, MTA-STS, TLS-RPT; the core's `mail::records`) and the
//! MTA-STS policy its `mta-sts.` host serves. The DKIM records are at `.../dkim`.

use crate::domains::load_domain;
use serde_json::json;
use tenantry_core::mail::records::{self, ReportAddresses};
use tenantry_core::rbac::Required;
use tenantry_edge::Outcome;
use tenantry_edge::config::{relay_hostnames, report_address};
use tenantry_edge::http::json;
use tenantry_edge::tenant_ctx::TenantCtx;
use worker::Response;

pub async fn get(t: &TenantCtx<'_>, domain: &str) -> Outcome<Response> {
    t.require(Required::new("mail", "read"))?;
    let d = load_domain(t, domain).await?;
    let relays = relay_hostnames(&t.ctx.env)?;
    let relays: Vec<&str> = relays.iter().map(String::as_str).collect();
    let dmarc = report_address(&t.ctx.env, "DMARC_REPORTS_TO")?;
    let tls = report_address(&t.ctx.env, "TLS_REPORTS_TO")?;
    let reports = ReportAddresses {
        dmarc: dmarc.as_deref(),
        tls: tls.as_deref(),
    };
    json(
        200,
        &json!({
            "records": records::for_domain(&d.domain, &relays, reports),
            "mta_sts": {
                "url": format!("https://mta-sts.{}/.well-known/mta-sts.txt", d.domain),
                "policy": records::mta_sts_policy(&relays),
            },
        }),
    )
}
