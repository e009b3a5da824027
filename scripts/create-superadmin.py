#!/usr/bin/env python3
"""Bootstraps a platform operator: an account with platform_role = superadmin and a
password, verified. Superadmins are never self-service; this is how the first one (and
each next one) is made. The password comes from TENANTRY_PASSWORD or is asked twice.

    scripts/create-superadmin.py EMAIL --local .state/dev/d1     the local D1 of scripts/dev.sh
    scripts/create-superadmin.py EMAIL --remote                  the production D1 (wrangler login)

An existing account with that address becomes a superadmin and gets the new password.
Then sign in with POST /v1/auth/login."""
import secrets
import time

from tenantry_accounts import d1, parse_target, pbkdf2_phc, quote, read_password


def main():
    email, where = parse_target(__doc__.split("\n")[0])
    password = read_password()
    now = int(time.time())
    user_id = "u_" + secrets.token_hex(12)
    sql = (f"INSERT INTO users (id, email, platform_role, password_hash, email_verified, status, created_at, updated_at) "
           f"VALUES ({quote(user_id)}, {quote(email)}, 'superadmin', {quote(pbkdf2_phc(password))}, 1, 'active', {now}, {now}) "
           f"ON CONFLICT (email) DO UPDATE SET platform_role = 'superadmin', password_hash = excluded.password_hash, "
           f"email_verified = 1, status = 'active', updated_at = excluded.updated_at")
    d1(sql, where)
    print(f"superadmin {email} ready; sign in with POST /v1/auth/login")


if __name__ == "__main__":
    main()
