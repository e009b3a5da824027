#!/usr/bin/env python3
"""Sets the password of an existing account, marks its address verified (an operator
vouching for it, e.g. the owners `create-tenant.py` made) and ends its sessions (their
access tokens are refused once the tenants' objects reload, within 60 s). The password comes from
TENANTRY_PASSWORD or is asked twice.

    scripts/set-password.py EMAIL --local .state/dev/d1 | --remote"""
import sys
import time

from tenantry_accounts import d1, parse_target, pbkdf2_phc, quote, read_password


def main():
    email, where = parse_target(__doc__.split("\n")[0])
    password = read_password()
    found = d1(f"UPDATE users SET password_hash = {quote(pbkdf2_phc(password))}, email_verified = 1, "
               f"updated_at = {int(time.time())} WHERE email = {quote(email)} RETURNING id", where)
    if not found:
        sys.exit(f"no account has the address {email}")
    # A password an operator resets (a compromised account, say) ends every session.
    d1(f"UPDATE sessions SET revoked_at = {int(time.time())}, revoked_reason = 'password_set' "
       f"WHERE user_id = {quote(found[0]['id'])} AND revoked_at IS NULL", where)
    print(f"password set for {email}; its sessions are ended")


if __name__ == "__main__":
    main()
