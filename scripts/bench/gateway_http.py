#!/usr/bin/env python3
"""HTTP benchmarks of the edge under `wrangler dev` (the gateway with the WhatsApp, Stripe
and CRM Workers behind it, on one local D1), each next to its peer in the same run, with wrk:

- `GET /v1/tenant` (JWT verify, the tenant's Durable Object: hot state and counts, no D1)
  next to `GET /healthz`;
- a signed Stripe webhook through the gateway (every request a fresh event, signed by
  stripe-python) next to `GET /healthz`;
- a CRM GET through the gateway and the CRM Worker next to the same GET straight to the
  EspoCRM stand-in;
- `wrangler deploy --dry-run` sizes of the ten Workers against the hello-world floor.

Run it through `scripts/bench.sh http`."""
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
import stripe  # noqa: E402
from espocrm import EspoCrm  # noqa: E402
from harness import STRIPE_SECRETS, Gateway, mint_jwt, superadmin_token  # noqa: E402

DURATION = "10s"
THREADS = 2
CONNECTIONS = 16
HELLO_WORLD_GZIP_KIB = 84
STRIPE_EVENTS = 12_000  # more than wrk sends in DURATION, so no event is a replay
WORKERS = (("gateway", "wrangler.toml"), ("people", "functions/people/wrangler.toml"),
           ("records", "functions/records/wrangler.toml"), ("mail", "functions/mail/wrangler.toml"),
           ("admin", "functions/admin/wrangler.toml"),
           ("relay-api", "functions/relay-api/wrangler.toml"), ("auth", "functions/auth/wrangler.toml"), ("whatsapp", "functions/whatsapp/wrangler.toml"),
           ("stripe", "functions/stripe/wrangler.toml"), ("crm", "functions/crm/wrangler.toml"))

# Each wrk thread walks its own share of the pre-signed requests.
STRIPE_LUA = """
local requests = dofile("%s")
local counter = 1
function setup(thread) thread:set("offset", counter); counter = counter + 1 end
local next_index = nil
function request()
  if next_index == nil then next_index = offset end
  local r = requests[(next_index - 1) %% #requests + 1]
  next_index = next_index + %d
  return r
end
"""


def wrk(url, headers=(), script=None, connections=CONNECTIONS):
    args = ["wrk", f"-t{min(THREADS, connections)}", f"-c{connections}", f"-d{DURATION}", "--latency"]
    for header in headers:
        args += ["-H", header]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout

    def ms(label):
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"p50": ms("50"), "p99": ms("99"), "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "errors": int(non_2xx.group(1)) if non_2xx else 0}


def stripe_script(directory, gateway, tenant_id):
    """A Lua file of complete HTTP requests, each a distinct subscription event signed by
    Stripe's SDK, and the wrk script that sends them."""
    host = gateway.url.removeprefix("http://")
    now = int(time.time())
    entries = []
    for n in range(STRIPE_EVENTS):
        body = json.dumps({"id": f"evt_bench_{n}", "object": "event", "api_version": "2024-06-20",
                           "created": now + n, "type": "customer.subscription.updated", "livemode": False,
                           "data": {"object": {"id": "sub_bench", "object": "subscription", "customer": "cus_bench",
                                               "status": "active", "metadata": {"tenant_id": tenant_id},
                                               "items": {"object": "list", "data": [
                                                   {"id": "si_1", "price": {"id": "price_enterprise",
                                                                            "object": "price"}}]}}}})
        header = stripe.WebhookSignature.generate_signature_header(body, STRIPE_SECRETS[0], timestamp=now)
        entries.append(f"POST /webhook/stripe HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                       f"Stripe-Signature: {header}\r\nContent-Length: {len(body)}\r\n\r\n{body}")
    requests = directory / "stripe-requests.lua"
    requests.write_text("return {\n" + ",\n".join(f"[==[{e}]==]" for e in entries) + "\n}\n")
    script = directory / "stripe.lua"
    script.write_text(STRIPE_LUA % (requests, THREADS))
    return str(script)


def sizes(env):
    rows = []
    for name, config in WORKERS:
        dry = subprocess.run(["wrangler", "deploy", "--dry-run", "-c", config, "--outdir", f"/tmp/tenantry-dry-run/{name}"],
                             cwd=ROOT, capture_output=True, text=True, env=env)
        size = re.search(r"Total Upload: ([\d.]+) KiB / gzip: ([\d.]+) KiB", dry.stdout + dry.stderr)
        if not size:
            raise RuntimeError(f"wrangler deploy --dry-run -c {config} failed:\n{dry.stdout}{dry.stderr}")
        rows.append((name, float(size.group(1)), float(size.group(2))))
    return rows


def table(title, rows):
    print(f"\n{title}")
    print("| request | p50 | p99 | req/s | non-2xx |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | {r['rps']:.0f} | {r['errors']} |")


def main():
    gateway = Gateway().start()
    crm = EspoCrm("bench-espo-key").start()
    for n in range(20):
        crm.records["Contact"][f"c{n}"] = {"id": f"c{n}", "name": f"Contact {n}"}
    work = pathlib.Path(tempfile.mkdtemp(prefix="tenantry-bench-"))
    try:
        created = gateway.request("POST", "/v1/admin/tenants", {"slug": "bench", "name": "Bench", "plan": "enterprise",
                                                                "billing_email": "b@bench.example", "owner_email": "o@bench.example"},
                                  token=superadmin_token()).json()
        tenant_id = created["tenant"]["id"]
        # The benchmark measures the path, not the plan's limits.
        gateway.sql(f"INSERT INTO limit_overrides (tenant_id, quota, value) VALUES "
                    f"('{tenant_id}', 'requests_per_minute', 100000000), ('{tenant_id}', 'api_calls_per_month', -1)")
        put = gateway.request("PUT", "/v1/integrations/crm", {"base_url": crm.base_url, "api_key": "bench-espo-key"},
                              token=created["owner_api_key"])
        assert put.status == 200, put
        token = mint_jwt({"sub": "u_bench", "tenant_id": tenant_id, "tenant_role": "owner",
                          "tenants": [{"id": tenant_id, "slug": "bench", "role": "owner"}]}, lifetime=3600)
        bearer = [f"Authorization: Bearer {token}"]
        print("signing the Stripe events with stripe-python ...", file=sys.stderr)
        script = stripe_script(work, gateway, tenant_id)
        print("warming up ...", file=sys.stderr)
        wrk(f"{gateway.url}/healthz")
        wrk(f"{gateway.url}/v1/crm/api/v1/Contact", bearer)
        print("measuring ...", file=sys.stderr)
        health = wrk(f"{gateway.url}/healthz")
        tenant = wrk(f"{gateway.url}/v1/tenant", bearer)
        health_one = wrk(f"{gateway.url}/healthz", connections=1)
        tenant_one = wrk(f"{gateway.url}/v1/tenant", bearer, connections=1)
        webhook = wrk(f"{gateway.url}/webhook/stripe", script=script)
        applied = gateway.sql("SELECT COUNT(*) AS n FROM stripe_events")[0]["n"]
        proxied = wrk(f"{gateway.url}/v1/crm/api/v1/Contact", bearer)
        direct = wrk(f"{crm.base_url}/api/v1/Contact", ["X-Api-Key: bench-espo-key"])
        worker_sizes = sizes(gateway.env())
    finally:
        crm.stop()
        gateway.stop()
    print(f"wrk, {THREADS} threads, {CONNECTIONS} connections, {DURATION} each, wrangler dev on loopback")
    table("Gateway", [("GET /healthz", health), ("GET /v1/tenant", tenant)])
    print(f"p50 ratio /v1/tenant / /healthz: {tenant['p50'] / health['p50']:.2f}x; "
          f"throughput ratio: {health['rps'] / tenant['rps']:.2f}x")
    table("Gateway, one connection", [("GET /healthz", health_one), ("GET /v1/tenant", tenant_one)])
    print(f"p50 ratio /v1/tenant / /healthz: {tenant_one['p50'] / health_one['p50']:.2f}x")
    table("Stripe webhook", [("GET /healthz", health), ("POST /webhook/stripe (signed, fresh event)", webhook)])
    print(f"p50 ratio webhook / /healthz: {webhook['p50'] / health['p50']:.2f}x "
          f"({applied} distinct events applied; wrk counted {webhook['requests']} responses)")
    table("CRM proxy", [("GET /api/v1/Contact straight to the stand-in", direct),
                        ("GET /v1/crm/api/v1/Contact through gateway + CRM Worker", proxied)])
    print(f"p50 ratio proxied / direct: {proxied['p50'] / direct['p50']:.2f}x; "
          f"overhead {proxied['p50'] - direct['p50']:.2f} ms")
    print(f"\nWorker sizes (wrangler deploy --dry-run), hello-world floor {HELLO_WORLD_GZIP_KIB} KiB gzipped")
    print("| Worker | size | gzipped | x floor |")
    print("|---|---|---|---|")
    for name, raw, gzip in worker_sizes:
        print(f"| {name} | {raw:.0f} KiB | {gzip:.0f} KiB | {gzip / HELLO_WORLD_GZIP_KIB:.1f}x |")


if __name__ == "__main__":
    main()
