"""Accounts for the operator scripts: password hashes in the PHC form the auth Worker
verifies (PBKDF2-HMAC-SHA256, 100,000 iterations, as `PASSWORD_HASH=pbkdf2-sha256`; a
login under a stronger policy rehashes it), and SQL run on D1 with wrangler."""
import argparse
import base64
import getpass
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
WRANGLER = ROOT / "node_modules" / ".bin" / "wrangler"
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")


def b64(data):
    return base64.b64encode(data).decode().rstrip("=")


def pbkdf2_phc(password, iterations=100_000):
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, 32)
    return f"$pbkdf2-sha256$i={iterations}${b64(salt)}${b64(digest)}"


def check_password(password):
    """The length rule of the core (12 to 128 characters); the Worker also refuses common ones."""
    if not 12 <= len(password) <= 128:
        sys.exit("the password must be 12 to 128 characters")


def check_email(email):
    email = email.strip().lower()
    if not EMAIL.match(email):
        sys.exit(f"not a mail address: {email!r}")
    return email


def quote(text):
    return "'" + text.replace("'", "''") + "'"


def d1(sql, where):
    """Runs `sql` on the D1 database `where` names: a local state directory, or `remote`."""
    target = ["--remote"] if where == "remote" else ["--local", "--persist-to", str(where)]
    result = subprocess.run([str(WRANGLER), "d1", "execute", "DB", *target, "--json", "--command", sql],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        sys.exit(f"wrangler d1 execute failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return json.loads(result.stdout)[0]["results"]


def parse_target(description):
    """EMAIL and where its D1 is (`--local DIR` or `--remote`): (email, where)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("email")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", metavar="DIR", help="the --persist-to directory of wrangler dev")
    where.add_argument("--remote", action="store_true")
    args = parser.parse_args()
    return check_email(args.email), "remote" if args.remote else args.local


def read_password():
    """TENANTRY_PASSWORD, or asked twice; the length rule checked."""
    password = os.environ.get("TENANTRY_PASSWORD")
    if password is None:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            sys.exit("the passwords differ")
    check_password(password)
    return password
