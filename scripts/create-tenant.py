#!/usr/bin/env python3
"""Creates a tenant through the gateway's platform API, with its owner membership and an
owner API key (printed once: store it now), and optionally a custom hostname.

  scripts/create-tenant.py --slug nantes --name "CHU de Nantes" --plan starter \\
      --billing-email billing@chu-nantes.example --owner-email direction@chu-nantes.example \\
      [--hostname portail.chu-nantes.example] [--url http://127.0.0.1:8787]

The superadmin token is minted from JWT_SECRET (environment, else .dev.vars).
"""
import argparse
import json

from tenantry_api import Api, superadmin_token


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8787", help="the gateway")
    parser.add_argument("--slug", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--plan", default="free", choices=["free", "starter", "professional", "enterprise"])
    parser.add_argument("--billing-email", required=True)
    parser.add_argument("--owner-email", required=True)
    parser.add_argument("--hostname", help="a custom hostname that resolves to the tenant")
    args = parser.parse_args()
    api = Api(args.url, superadmin_token())
    created = api.call("POST", "/v1/admin/tenants", {"slug": args.slug, "name": args.name, "plan": args.plan,
                                                     "billing_email": args.billing_email,
                                                     "owner_email": args.owner_email})
    if args.hostname:
        api.call("POST", f"/v1/admin/tenants/{created['tenant']['id']}/hostnames", {"hostname": args.hostname})
        created["hostname"] = args.hostname
    print(json.dumps(created, indent=2))


if __name__ == "__main__":
    main()
