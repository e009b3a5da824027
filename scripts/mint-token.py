#!/usr/bin/env python3
"""Mints a platform JWT (HS256) signed with JWT_SECRET (from the environment or .dev.vars,
or the file TENANTRY_DEV_VARS names).

  scripts/mint-token.py --superadmin
  scripts/mint-token.py --sub u_123 --tenant-id t_abc --role employee [--slug paris] [--hours 8]

Operators use it for local work and break-glass access; in production the platform's
identity service issues these tokens with the same claims.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def dev_var(name):
    if os.environ.get(name):
        return os.environ[name]
    path = pathlib.Path(os.environ.get("TENANTRY_DEV_VARS") or ROOT / ".dev.vars")
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == name:
                return value.strip().strip('"')
    return None


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims, secret, hours=8.0, issuer="tenantry", audience="tenantry-api"):
    now = int(time.time())
    body = {"iat": now, "exp": now + int(hours * 3600), "iss": issuer, "aud": audience, **claims}
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(body).encode())}"
    return f"{signing_input}.{b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sub", default="u_operator")
    parser.add_argument("--superadmin", action="store_true")
    parser.add_argument("--tenant-id")
    parser.add_argument("--slug", default="")
    parser.add_argument("--role")
    parser.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args()
    secret = dev_var("JWT_SECRET")
    if not secret:
        sys.exit("JWT_SECRET is not set (environment or .dev.vars)")
    claims = {"sub": args.sub}
    if args.superadmin:
        claims["platform_role"] = "superadmin"
    if args.tenant_id:
        if not args.role:
            sys.exit("--tenant-id needs --role")
        claims.update(tenant_id=args.tenant_id, tenant_role=args.role,
                      tenants=[{"id": args.tenant_id, "slug": args.slug, "role": args.role}])
    print(mint(claims, secret, args.hours, dev_var("JWT_ISSUER") or "tenantry", dev_var("JWT_AUDIENCE") or "tenantry-api"))


if __name__ == "__main__":
    main()
