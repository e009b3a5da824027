#!/usr/bin/env python3
"""HTTP benchmark of the gateway under `wrangler dev`: `GET /v1/tenant` (JWT verify,
tenant resolution in D1, the tenant's Durable Object for the rate limit) next to
`GET /healthz` in the same run, with wrk; then `wrangler deploy --dry-run` sizes.
Run it through `scripts/bench.sh http`."""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
from harness import Gateway, mint_jwt, superadmin_token  # noqa: E402

DURATION = "10s"
CONNECTIONS = "16"
HELLO_WORLD_GZIP_KIB = 84


def wrk(url, token=None):
    args = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", url]
    if token:
        args[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    def ms(label):
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"p50": ms("50"), "p99": ms("99"), "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "errors": int(non_2xx.group(1)) if non_2xx else 0}


def main():
    gateway = Gateway().start()
    try:
        created = gateway.request("POST", "/v1/admin/tenants", {"slug": "bench", "name": "Bench", "plan": "enterprise",
                                                                "billing_email": "b@bench.example", "owner_email": "o@bench.example"},
                                  token=superadmin_token()).json()
        tenant_id = created["tenant"]["id"]
        # The benchmark measures the path, not the plan's limit.
        gateway.sql(f"INSERT INTO limit_overrides (tenant_id, quota, value) VALUES ('{tenant_id}', 'requests_per_minute', 100000000)")
        token = mint_jwt({"sub": "u_bench", "tenant_id": tenant_id, "tenant_role": "owner",
                          "tenants": [{"id": tenant_id, "slug": "bench", "role": "owner"}]}, lifetime=3600)
        wrk(f"{gateway.url}/healthz")  # warm up
        health = wrk(f"{gateway.url}/healthz")
        tenant = wrk(f"{gateway.url}/v1/tenant", token)
    finally:
        gateway.stop()
    print(f"wrk, 2 threads, {CONNECTIONS} connections, {DURATION} each, wrangler dev on loopback")
    print("| route | p50 | p99 | req/s | non-2xx |")
    print("|---|---|---|---|---|")
    for name, r in (("GET /healthz", health), ("GET /v1/tenant", tenant)):
        print(f"| {name} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | {r['rps']:.0f} | {r['errors']} |")
    print(f"p50 ratio /v1/tenant / /healthz: {tenant['p50'] / health['p50']:.2f}x; throughput ratio: {health['rps'] / tenant['rps']:.2f}x")
    dry = subprocess.run(["wrangler", "deploy", "--dry-run", "--outdir", "/tmp/tenantry-dry-run"], cwd=ROOT,
                         capture_output=True, text=True, env=gateway.env())
    size = re.search(r"Total Upload: ([\d.]+) KiB / gzip: ([\d.]+) KiB", dry.stdout + dry.stderr)
    if size:
        gzip = float(size.group(2))
        print(f"gateway Worker: {size.group(1)} KiB, {gzip} KiB gzipped = {gzip / HELLO_WORLD_GZIP_KIB:.1f}x the 84 KiB hello-world floor")


if __name__ == "__main__":
    main()
