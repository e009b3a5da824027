#!/usr/bin/env python3
"""Bootstraps a platform operator: an account with platform_role = superadmin and a
password, verified. Superadmins are never self-service; this is how the first one (and
each next one) is made. The password comes from TENANTRY_PASSWORD or is asked twice.

    scripts/create-superadmin.py EMAIL --local .state/dev/d1     the local D1 of scripts/dev.sh
    scripts/create-superadmin.py EMAIL --remote                  the production D1 (wrangler login)

An existing account with that address becomes a superadmin and gets the new password.
Then sign in with POST /v1/auth/login."""
import argparse
import getpass
import os
import secrets
import sys
import time

from tenantry_accounts import check_email, check_password, d1, pbkdf2_phc, quote


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("email")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", metavar="DIR", help="the --persist-to directory of wrangler dev")
    where.add_argument("--remote", action="store_true")
    args = parser.parse_args()
    email = check_email(args.email)
    password = os.environ.get("TENANTRY_PASSWORD")
    if password is None:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            sys.exit("the passwords differ")
    check_password(password)
    now = int(time.time())
    user_id = "u_" + secrets.token_hex(12)
    sql = (f"INSERT INTO users (id, email, platform_role, password_hash, email_verified, status, created_at, updated_at) "
           f"VALUES ({quote(user_id)}, {quote(email)}, 'superadmin', {quote(pbkdf2_phc(password))}, 1, 'active', {now}, {now}) "
           f"ON CONFLICT (email) DO UPDATE SET platform_role = 'superadmin', password_hash = excluded.password_hash, "
           f"email_verified = 1, status = 'active', updated_at = excluded.updated_at")
    d1(sql, "remote" if args.remote else args.local)
    print(f"superadmin {email} ready; sign in with POST /v1/auth/login")


if __name__ == "__main__":
    main()
