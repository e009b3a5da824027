#!/usr/bin/env python3
"""HTTP benchmarks of the edge under `wrangler dev` (the gateway with the route Workers of
functions/workers.toml behind it, on one local D1), each request next to its peer, with wrk.

Each pair is interleaved over several rounds (5 by default): in every round its peer runs,
then its subject, a few seconds each (5 s by default, after a warm-up of every request), so
that whatever drifts during the run (another process, the machine's clock speed, the local
D1 growing) falls on both sides alike. The pairs:

- `GET /v1/tenant` (JWT verify, the tenant's Durable Object: hot state and counts, no D1)
  next to `GET /healthz`, on 16 connections, then the same on one connection;
- a signed Stripe webhook through the gateway next to `GET /healthz`: every request a
  fresh event signed by stripe-python, distinct across all rounds (each run gets its own
  pre-signed events, and a wrk thread that has sent its share stops rather than send one
  twice);
- a CRM GET through the gateway and the CRM Worker next to the same GET straight to the
  EspoCRM stand-in.

Each round gives a ratio of the subject's p50 to its peer's; each pair is reported as the
median of those ratios with their spread (min-max and interquartile range), and the median
p50, p99 and req/s of each side, in markdown tables for the README. Then the Workers' sizes
(`wrangler deploy --dry-run`, measured by scripts/worker-sizes.py) against their budgets
and the hello-world floor.

    scripts/bench.sh http [--rounds N] [--duration SECONDS] [--warmup SECONDS]

(or TENANTRY_BENCH_ROUNDS, TENANTRY_BENCH_DURATION, TENANTRY_BENCH_WARMUP)."""
import argparse
import importlib.util
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, NamedTuple, Optional

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
import stripe  # noqa: E402
from espocrm import EspoCrm  # noqa: E402
from harness import STRIPE_SECRETS, Gateway, mint_jwt, superadmin_token  # noqa: E402


def _worker_sizes():
    spec = importlib.util.spec_from_file_location("worker_sizes", ROOT / "scripts" / "worker-sizes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker_sizes = _worker_sizes()

THREADS = 2
CONNECTIONS = 16
ROUNDS = int(os.environ.get("TENANTRY_BENCH_ROUNDS", "5"))
DURATION_SECS = int(os.environ.get("TENANTRY_BENCH_DURATION", "5"))
WARMUP_SECS = int(os.environ.get("TENANTRY_BENCH_WARMUP", "5"))
HELLO_WORLD_GZIP_KIB = 84
# Pre-signed Stripe events for each webhook run: this many per second of the run, far above
# what the webhook does under wrangler dev (425 req/s in the README's run). A wrk thread that
# has sent its share stops instead of sending an event twice, and a run in which one did is
# refused (its rate would be short), so that no number here ever comes from a replay.
STRIPE_EVENTS_PER_SECOND = 2_400

# Each wrk thread walks its own share of the pre-signed requests (the n-th thread the n-th,
# n+THREADS-th, ... request) and stops when it has sent them all; `done` reports how many
# threads ran out.
STRIPE_LUA = """
local requests = dofile("%s")
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("offset", #threads)
end
exhausted = 0
local next_index = nil
function request()
  if next_index == nil then next_index = offset end
  if next_index > #requests then
    exhausted = 1
    wrk.thread:stop()
    return ""
  end
  local r = requests[next_index]
  next_index = next_index + %d
  return r
end
function done()
  local out = 0
  for _, thread in ipairs(threads) do out = out + thread:get("exhausted") end
  io.write(string.format("Stripe threads out of events: %%d\\n", out))
end
"""


def wrk(url, headers=(), script=None, connections=CONNECTIONS, seconds=DURATION_SECS):
    """One wrk run: p50 and p99 in ms (from --latency), req/s, responses, non-2xx."""
    args = ["wrk", f"-t{min(THREADS, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers:
        args += ["-H", header]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout

    def ms(label):
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not found:
            raise RuntimeError(f"wrk printed no {label}% latency for {url}:\n{out}")
        value, unit = found.groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    exhausted = re.search(r"Stripe threads out of events: (\d+)", out)
    return {"p50": ms("50"), "p99": ms("99"), "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "errors": int(non_2xx.group(1)) if non_2xx else 0,
            "exhausted": int(exhausted.group(1)) if exhausted else 0}


def stripe_script(directory, gateway, tenant_id, tag, count):
    """A Lua file of `count` complete HTTP requests, each a distinct subscription event
    signed (now) by Stripe's SDK, ids `evt_bench_{tag}_{n}`, and the wrk script that sends
    them."""
    host = gateway.url.removeprefix("http://")
    now = int(time.time())
    entries = []
    for n in range(count):
        body = json.dumps({"id": f"evt_bench_{tag}_{n}", "object": "event", "api_version": "2024-06-20",
                           "created": now + n, "type": "customer.subscription.updated", "livemode": False,
                           "data": {"object": {"id": "sub_bench", "object": "subscription", "customer": "cus_bench",
                                               "status": "active", "metadata": {"tenant_id": tenant_id},
                                               "items": {"object": "list", "data": [
                                                   {"id": "si_1", "price": {"id": "price_enterprise",
                                                                            "object": "price"}}]}}}})
        header = stripe.WebhookSignature.generate_signature_header(body, STRIPE_SECRETS[0], timestamp=now)
        entries.append(f"POST /webhook/stripe HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                       f"Stripe-Signature: {header}\r\nContent-Length: {len(body)}\r\n\r\n{body}")
    requests = directory / f"stripe-requests-{tag}.lua"
    requests.write_text("return {\n" + ",\n".join(f"[==[{e}]==]" for e in entries) + "\n}\n")
    script = directory / f"stripe-{tag}.lua"
    script.write_text(STRIPE_LUA % (requests, THREADS))
    return str(script)


class Pair(NamedTuple):
    """A subject measured next to its peer: each side a function of what `prepare` made
    for the round (run before the peer, so that it is not timed between the two)."""
    key: str
    title: str  # the pair, in the tables
    ratio: str  # the ratio's name
    peer_label: str
    subject_label: str
    peer: Callable
    subject: Callable
    prepare: Optional[Callable] = None


def measure(pairs, rounds, progress=sys.stderr):
    """{pair key: [(peer result, subject result) per round]}: in each round every pair,
    its peer then its subject."""
    results = {pair.key: [] for pair in pairs}
    for n in range(1, rounds + 1):
        for pair in pairs:
            ready = pair.prepare(n) if pair.prepare else None
            print(f"round {n}/{rounds}: {pair.title}: {pair.peer_label}, then {pair.subject_label}",
                  file=progress, flush=True)
            peer = pair.peer(ready)
            subject = pair.subject(ready)
            results[pair.key].append((peer, subject))
    return results


def spread(values):
    """(median, min, max, first quartile, third quartile)."""
    values = sorted(values)
    q1, q3 = statistics.quantiles(values, n=4, method="inclusive")[::2] if len(values) > 1 else (values[0],) * 2
    return statistics.median(values), values[0], values[-1], q1, q3


def side(results):
    return {"p50": statistics.median(r["p50"] for r in results), "p99": statistics.median(r["p99"] for r in results),
            "rps": statistics.median(r["rps"] for r in results), "requests": sum(r["requests"] for r in results),
            "errors": sum(r["errors"] for r in results)}


def summarize(rounds):
    """A pair's rounds as the report shows them."""
    ratios = [subject["p50"] / peer["p50"] for peer, subject in rounds]
    return {"ratios": ratios, "ratio": spread(ratios),
            "peer": side([peer for peer, _ in rounds]), "subject": side([subject for _, subject in rounds]),
            "throughput": statistics.median(peer["rps"] / subject["rps"] for peer, subject in rounds),
            "overhead_ms": statistics.median(subject["p50"] - peer["p50"] for peer, subject in rounds)}


def report(pairs, results, rounds, seconds, warmup):
    summaries = {pair.key: summarize(results[pair.key]) for pair in pairs}
    print(f"\nwrk, {THREADS} threads, {CONNECTIONS} connections (one for the one-connection pair), "
          f"{rounds} rounds of {seconds} s per request after a {warmup} s warm-up of each; in every round "
          f"each pair's peer runs, then its subject; wrangler dev on loopback. p50, p99 and req/s are the "
          f"medians over the rounds, non-2xx the sum.\n")
    print("| pair | request | p50 | p99 | req/s | non-2xx |")
    print("|---|---|---|---|---|---|")
    for pair in pairs:
        s = summaries[pair.key]
        for label, r in ((pair.peer_label, s["peer"]), (pair.subject_label, s["subject"])):
            print(f"| {pair.title} | {label} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | {r['rps']:,.0f} | {r['errors']} |")
    print(f"\n| ratio (p50) | median of {rounds} rounds | min-max | interquartile range | each round |")
    print("|---|---|---|---|---|")
    for pair in pairs:
        median, low, high, q1, q3 = summaries[pair.key]["ratio"]
        each = ", ".join(f"{r:.2f}" for r in summaries[pair.key]["ratios"])
        print(f"| {pair.ratio} | **{median:.2f}x** | {low:.2f}-{high:.2f}x | {q1:.2f}-{q3:.2f}x | {each} |")
    return summaries


def main():
    parser = argparse.ArgumentParser(description="HTTP benchmarks of the edge under wrangler dev, with wrk.")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds of each pair (default {ROUNDS})")
    parser.add_argument("--duration", type=int, default=DURATION_SECS,
                        help=f"seconds of each run (default {DURATION_SECS})")
    parser.add_argument("--warmup", type=int, default=WARMUP_SECS,
                        help=f"seconds of each request's warm-up (default {WARMUP_SECS})")
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0:
        parser.error("--rounds and --duration must be at least 1, --warmup at least 0")
    if max(args.duration, args.warmup) > 120:
        # A round's events are signed before its peer runs, and Stripe's signatures hold 300 s.
        parser.error("--duration and --warmup are at most 120 s (the Stripe signatures' tolerance is 300 s)")
    seconds = args.duration
    events = STRIPE_EVENTS_PER_SECOND * max(seconds, args.warmup)

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
                          "tenants": [{"id": tenant_id, "slug": "bench", "role": "owner"}]},
                         lifetime=3600 + args.rounds * 8 * (seconds + 5))
        bearer = [f"Authorization: Bearer {token}"]

        def signed_events(tag):
            print(f"signing {events:,} Stripe events ({tag}) with stripe-python ...", file=sys.stderr, flush=True)
            return stripe_script(work, gateway, tenant_id, tag, events)

        def webhook(script, run_seconds=seconds):
            result = wrk(f"{gateway.url}/webhook/stripe", script=script, seconds=run_seconds)
            if result["exhausted"]:
                raise RuntimeError(f"a wrk thread sent all its share of the {events:,} pre-signed Stripe events "
                                   f"in {run_seconds} s ({result['rps']:.0f} req/s): raise STRIPE_EVENTS_PER_SECOND")
            return result

        health = f"{gateway.url}/healthz"
        pairs = [
            Pair("tenant", "gateway, 16 connections", "`/v1/tenant` / `/healthz`, 16 connections",
                 "`GET /healthz`", "`GET /v1/tenant` (JWT; the tenant's Durable Object, no D1)",
                 lambda _: wrk(health, seconds=seconds),
                 lambda _: wrk(f"{gateway.url}/v1/tenant", bearer, seconds=seconds)),
            Pair("tenant_one", "gateway, one connection", "`/v1/tenant` / `/healthz`, one connection",
                 "`GET /healthz`", "`GET /v1/tenant`",
                 lambda _: wrk(health, connections=1, seconds=seconds),
                 lambda _: wrk(f"{gateway.url}/v1/tenant", bearer, connections=1, seconds=seconds)),
            Pair("webhook", "Stripe webhook", "Stripe webhook / `/healthz`",
                 "`GET /healthz`", "`POST /webhook/stripe` (signed, a fresh event each: verify, dedupe, apply)",
                 lambda _: wrk(health, seconds=seconds), webhook,
                 prepare=lambda n: signed_events(f"r{n}")),
            Pair("crm", "CRM proxy", "CRM proxied / direct",
                 "`GET /api/v1/Contact` straight to the EspoCRM stand-in",
                 "`GET /v1/crm/api/v1/Contact` through the gateway and the CRM Worker",
                 lambda _: wrk(f"{crm.base_url}/api/v1/Contact", ["X-Api-Key: bench-espo-key"], seconds=seconds),
                 lambda _: wrk(f"{gateway.url}/v1/crm/api/v1/Contact", bearer, seconds=seconds)),
        ]
        if args.warmup:
            print(f"warming up ({args.warmup} s each) ...", file=sys.stderr, flush=True)
            wrk(health, seconds=args.warmup)
            wrk(f"{gateway.url}/v1/tenant", bearer, seconds=args.warmup)
            webhook(signed_events("w"), args.warmup)
            wrk(f"{gateway.url}/v1/crm/api/v1/Contact", bearer, seconds=args.warmup)
        results = measure(pairs, args.rounds)
        applied = gateway.sql("SELECT COUNT(*) AS n FROM stripe_events WHERE event_id LIKE 'evt_bench_r%'")[0]["n"]
    finally:
        crm.stop()
        gateway.stop()

    summaries = report(pairs, results, args.rounds, seconds, args.warmup)
    tenant, webhook_summary, crm_summary = summaries["tenant"], summaries["webhook"], summaries["crm"]
    print(f"\n`/healthz` serves {tenant['throughput']:.2f}x the req/s of `/v1/tenant` on 16 connections "
          f"(median of the rounds). The CRM proxy adds {crm_summary['overhead_ms']:.2f} ms at p50 (median of the "
          f"rounds). Stripe: {applied:,} distinct events applied over {args.rounds} rounds ({events:,} signed for "
          f"each run); wrk counted {webhook_summary['subject']['requests']:,} responses, "
          f"{webhook_summary['subject']['errors']} of them non-2xx.")

    # Sized after wrangler dev has stopped: the dry runs rebuild the Workers it would watch.
    workers = {name: table for name, table in worker_sizes.load().items()
               if isinstance(table, dict) and worker_sizes.is_valid(table)}
    sizes, errors = worker_sizes.measure_all(workers)
    print(f"\nWorker sizes (wrangler deploy --dry-run), budgets from {worker_sizes.WORKERS_TOML}, "
          f"x the {HELLO_WORLD_GZIP_KIB} KiB gzipped hello-world floor\n")
    print(worker_sizes.markdown(workers, sizes, errors, floor_kib=HELLO_WORLD_GZIP_KIB))
    for line in worker_sizes.failures(workers, sizes, errors):
        print(line)


if __name__ == "__main__":
    main()
