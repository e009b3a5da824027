#!/usr/bin/env python3
"""Backs up one tenant: everything it owns (`GET /v1/export`, sealed secrets stay sealed)
written to a file readable by its owner only, and a line per table on stderr.

  scripts/export-tenant.py --tenant paris [--out paris-2026-11-23.json] [--url http://127.0.0.1:8787]

--tenant takes a slug or an id (t_...). The superadmin token is minted from JWT_SECRET
(environment, else .dev.vars).
"""
import argparse
import json
import os
import sys
import time

from tenantry_api import Api, superadmin_token


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8787", help="the gateway")
    parser.add_argument("--tenant", required=True, help="slug or id")
    parser.add_argument("--out", help="file to write (default: {slug}-{date}.json)")
    args = parser.parse_args()
    api = Api(args.url, superadmin_token())
    header = {"x-tenant-id": args.tenant} if args.tenant.startswith("t_") else {"x-tenant": args.tenant}
    document = api.call("GET", "/v1/export", headers=header)
    slug = document["tenant"]["slug"]
    out = args.out or f"{slug}-{time.strftime('%Y-%m-%d', time.gmtime())}.json"
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(document, file, indent=2, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
    for name, rows in sorted(document.items()):
        if isinstance(rows, list):
            print(f"  {name}: {len(rows)}", file=sys.stderr)
    print(f"exported tenant {slug} ({document['tenant']['id']}) to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
