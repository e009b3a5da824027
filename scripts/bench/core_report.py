#!/usr/bin/env python3
"""Prints the core benchmarks from criterion's estimates, each next to its peer."""
import json
import pathlib
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")

PAIRS = [
    ("HS256 verify", "jwt_verify_hs256/tenantry", "jwt_verify_hs256/jsonwebtoken", "jsonwebtoken"),
    ("Stripe verify 2 KiB", "stripe_verify_2KiB/tenantry", "stripe_verify_2KiB/bare_hmac_hex_ct", "bare HMAC+hex+ct"),
    ("rate limit, 1 key", "ratelimit_single_key/tenantry_sliding_window", "ratelimit_single_key/governor", "governor"),
    ("rate limit, 1,000 keys", "ratelimit_1000_keys/tenantry_sliding_window", "ratelimit_1000_keys/governor", "governor"),
]
SINGLES = [
    ("tenant resolution (subdomain)", "tenant_resolution_subdomain"),
    ("authorize, built-in allow", "authorize/builtin_allow"),
    ("authorize, :own allow", "authorize/own_allow"),
    ("authorize, deny", "authorize/deny"),
]


def mean_ns(bench):
    path = ROOT / bench / "new" / "estimates.json"
    return json.loads(path.read_text())["mean"]["point_estimate"]


def fmt(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"


print("| benchmark | tenantry | peer | peer time | peer / tenantry |")
print("|---|---|---|---|---|")
for label, ours, theirs, peer in PAIRS:
    a, b = mean_ns(ours), mean_ns(theirs)
    print(f"| {label} | {fmt(a)} | {peer} | {fmt(b)} | {b / a:.2f}x |")
for label, bench in SINGLES:
    print(f"| {label} | {fmt(mean_ns(bench))} | | | |")
