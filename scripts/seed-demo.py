#!/usr/bin/env python3
"""Seeds the demo through the gateway's API: tenants paris (professional) and lyon
(starter), a mail domain each with mailboxes, an owner key, an employee token, a
platform relay key (issued by the superadmin), and for each tenant a CRM integration (pointing at
the EspoCRM stand-in given as the second argument, when there is one) and a WhatsApp
integration. Prints the credentials as JSON, with each domain's DNS challenge to publish.""" 
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
mint_token = __import__("mint-token")
from tenantry_api import Api, superadmin_token  # noqa: E402

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8787"
CRM_URL = sys.argv[2] if len(sys.argv) > 2 else None
CRM_API_KEY = "demo-espocrm-api-key"
SECRET = mint_token.dev_var("JWT_SECRET")
ADMIN = superadmin_token(hours=24)
call = Api(URL, ADMIN).call


DEMO = [
    ("paris", "Hôpital de Paris", "professional", "hopital-paris.example", "hospital", ["dr.martin", "accueil", "labo"]),
    ("lyon", "Clinique de Lyon", "starter", "clinique-lyon.example", "clinic", ["secretariat", "dr.bernard"]),
]


def main():
    out = {"gateway": URL, "superadmin_token": ADMIN, "tenants": {}}
    for slug, name, plan, domain, kind, locals_ in DEMO:
        created = call("POST", "/v1/admin/tenants", {"slug": slug, "name": name, "plan": plan,
                                                    "billing_email": f"billing@{domain}", "owner_email": f"direction@{domain}"})
        key = created["owner_api_key"]
        tenant_id = created["tenant"]["id"]
        # Claimed as a tenant claims it: pending until its challenge record is seen in DNS
        # (scripts/dev.sh serves the records printed here).
        claim = call("POST", "/v1/mail/domains", {"domain": domain, "organization_name": name, "organization_type": kind,
                                                  "max_mailboxes": 50, "max_storage_mb": 1024}, token=key)
        for local in locals_:
            call("POST", f"/v1/mail/domains/{domain}/mailboxes", {"address": f"{local}@{domain}", "kind": "personal"}, token=key)
        call("POST", "/v1/clients", {"name": "Camille Durand", "email": f"camille@{slug}.patients.example"}, token=key)
        employee = mint_token.mint({"sub": f"u_{slug}_employee", "tenant_id": tenant_id, "tenant_role": "employee",
                                    "tenants": [{"id": tenant_id, "slug": slug, "role": "employee"}]}, SECRET, hours=24)
        whatsapp = {"phone_number_id": f"3310000000{len(out['tenants'])}", "verify_token": f"demo-verify-{slug}",
                    "app_secret": f"demo-app-secret-{slug}", "access_token": f"demo-access-{slug}"}
        call("PUT", "/v1/integrations/whatsapp", whatsapp, token=key)
        if CRM_URL:
            call("PUT", "/v1/integrations/crm", {"base_url": CRM_URL, "api_key": CRM_API_KEY}, token=key)
        # A mail client's app password for the first mailbox, and a DKIM key for the domain.
        first = f"{locals_[0]}@{domain}"
        app_password = call("POST", f"/v1/mail/domains/{domain}/mailboxes/{first}/passwords", {"label": "demo mail client"},
                            token=key)["password"]
        # DKIM keys for the domain: the newest signs, so Ed25519 is made first and RSA (the one
        # every receiver verifies) signs, with the Ed25519 key still published beside it.
        dkim_keys = [call("POST", f"/v1/mail/domains/{domain}/dkim", {"algorithm": algorithm}, token=key)["dns"]
                     for algorithm in ("ed25519", "rsa")]
        dkim = dkim_keys[-1]
        out["tenants"][slug] = {"id": tenant_id, "owner_api_key": key, "employee_token": employee, "mail_domain": domain,
                                "mailboxes": [f"{l}@{domain}" for l in locals_], "whatsapp": whatsapp,
                                "app_password": {"mailbox": first, "password": app_password}, "dkim": dkim, "dkim_keys": dkim_keys,
                                "verification": claim["verification"]}
    # The relay's credential is a platform relay key, issued by the superadmin.
    out["relay_api_key"] = call("POST", "/v1/admin/relay-keys", {"name": "tenantry-relay (demo)"})["key"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
