#!/usr/bin/env python3
"""Sign-in benchmarks under `wrangler dev` (the gateway, the auth Worker and the others on
one local D1), each next to `GET /healthz` in the same run, one request at a time on one
keep-alive connection:

- the two password-hash candidates under workerd, through the superadmin's
  `POST /v1/auth/password-benchmark`: argon2id (RustCrypto `argon2` in WebAssembly, OWASP's
  minimum m=19 MiB, t=2, p=1) and PBKDF2-HMAC-SHA256 through WebCrypto at 100,000 iterations
  (the most Workers allow);
- `POST /v1/auth/login` (throttle check, account read, argon2id verify, session write);
- `POST /v1/auth/refresh` (the rotation's conditional update, the next token);
- `GET /v1/tenant` with a freshly issued session token (the tenant's Durable Object also
  checks the membership as it is now);
- a sign-in with a second factor: `POST /v1/auth/login` answering `mfa_required` (argon2id
  verify, the challenge written), then `POST /v1/auth/mfa/verify` with an authenticator
  code computed by PyPI's pyotp (the challenge read, the secret unsealed, the code's step
  claimed, the session written). A code is accepted once per 30-second step and account, so
  each round signs in a different enrolled account.

Run it through `scripts/bench.sh auth`."""
import base64
import http.client
import json
import pathlib
import re
import statistics
import sys
import time

import pyotp

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
from harness import Gateway, superadmin_token  # noqa: E402

SAMPLES = 60
PASSWORD = "correct horse battery staple"


class Client:
    def __init__(self, url):
        self.connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=60)

    def call(self, method, path, body=None, token=None):
        headers = {"content-type": "application/json"} if body is not None else {}
        if token:
            headers["authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        self.connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return elapsed, json.loads(data) if data else None


def summary(samples):
    ordered = sorted(samples)
    return {"p50": statistics.median(ordered), "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]}


def join(client, gateway, key, email, role):
    """Invites `email` to the bench tenant and accepts the mailed invitation: its session."""
    client.call("POST", "/v1/invitations", {"email": email, "role": role}, token=key)
    message = gateway.sql(f"SELECT message FROM outbound_messages WHERE recipient = '{email}'")[0]["message"]
    part = message.split("text/plain; charset=utf-8", 1)[1].split("\r\n\r\n", 1)[1].split("--", 1)[0]
    invitation = re.search(r"inv_[A-Za-z0-9_-]{43}", base64.b64decode("".join(part.split())).decode()).group(0)
    return client.call("POST", "/v1/auth/accept-invitation", {"token": invitation, "password": PASSWORD})[1]


def enrol(client, gateway, key, email):
    """A member of the bench tenant with a confirmed authenticator app: (email, pyotp.TOTP)."""
    session = join(client, gateway, key, email, "employee")
    _, app = client.call("POST", "/v1/auth/mfa/totp", token=session["access_token"])
    totp = pyotp.parse_uri(app["otpauth_uri"])
    client.call("POST", "/v1/auth/mfa/totp/confirm", {"code": totp.now()}, token=session["access_token"])
    return email, totp


def main():
    gateway = Gateway().start()
    try:
        client = Client(gateway.url)
        tenant = gateway.create_tenant("bench-auth", plan="enterprise")
        key = tenant["owner_api_key"]
        join(client, gateway, key, "bench@auth.example", "admin")
        print(f"enrolling {SAMPLES} accounts with an authenticator app (pyotp) ...", file=sys.stderr)
        enrolled = [enrol(client, gateway, key, f"mfa{n}@auth.example") for n in range(SAMPLES)]
        # Their confirmation used this step's code: wait for the next step.
        time.sleep(30.5 - time.time() % 30)
        client = Client(gateway.url)  # the idle keep-alive connection was closed meanwhile
        admin = superadmin_token()
        login = {"email": "bench@auth.example", "password": PASSWORD}
        # Warm every path once (isolates, the tenant's object, the argon2 memory).
        client.call("GET", "/healthz")
        for scheme in ("argon2id", "pbkdf2-sha256"):
            client.call("POST", "/v1/auth/password-benchmark", {"scheme": scheme}, token=admin)
        _, session = client.call("POST", "/v1/auth/login", login)
        client.call("GET", "/v1/tenant", token=session["access_token"])
        results = {name: [] for name in ("healthz", "argon2id", "pbkdf2-sha256", "login", "refresh", "tenant",
                                          "mfa_login", "mfa_verify")}
        refresh = session["refresh_token"]
        print(f"timing {SAMPLES} rounds of each, interleaved", file=sys.stderr)
        for round_ in range(SAMPLES):
            results["healthz"].append(client.call("GET", "/healthz")[0])
            for scheme in ("argon2id", "pbkdf2-sha256"):
                results[scheme].append(client.call("POST", "/v1/auth/password-benchmark", {"scheme": scheme}, token=admin)[0])
            elapsed, fresh = client.call("POST", "/v1/auth/login", login)
            results["login"].append(elapsed)
            results["tenant"].append(client.call("GET", "/v1/tenant", token=fresh["access_token"])[0])
            elapsed, rotated = client.call("POST", "/v1/auth/refresh", {"refresh_token": refresh})
            results["refresh"].append(elapsed)
            refresh = rotated["refresh_token"]
            email, totp = enrolled[round_]
            elapsed, challenge = client.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
            results["mfa_login"].append(elapsed)
            elapsed, _ = client.call("POST", "/v1/auth/mfa/verify", {"mfa_token": challenge["mfa_token"], "code": totp.now()})
            results["mfa_verify"].append(elapsed)
            if round_ % 20 == 19:
                print(f"  {round_ + 1}/{SAMPLES}", file=sys.stderr)
        base = summary(results["healthz"])["p50"]
        print("| request (one at a time) | p50 ms | p99 ms | p50 / healthz |")
        print("|---|---|---|---|")
        labels = {"healthz": "`GET /healthz` (peer)", "argon2id": "hash: argon2id m=19 MiB t=2 p=1 (wasm)",
                  "pbkdf2-sha256": "hash: PBKDF2-SHA256 100,000 (WebCrypto)", "login": "`POST /v1/auth/login` (argon2id)",
                  "refresh": "`POST /v1/auth/refresh`", "tenant": "`GET /v1/tenant`, fresh session token",
                  "mfa_login": "`POST /v1/auth/login` answering `mfa_required` (argon2id)",
                  "mfa_verify": "`POST /v1/auth/mfa/verify` (TOTP code)"}
        for name, label in labels.items():
            s = summary(results[name])
            print(f"| {label} | {s['p50']:.1f} | {s['p99']:.1f} | {s['p50'] / base:.2f}x |")
        argon = summary(results["argon2id"])["p50"] - base
        pbkdf2 = summary(results["pbkdf2-sha256"])["p50"] - base
        two_factor = summary(results["mfa_login"])["p50"] + summary(results["mfa_verify"])["p50"]
        print(f"\nsign-in with a second factor (both requests, p50): {two_factor:.1f} ms, "
              f"{two_factor / summary(results['login'])['p50']:.2f}x a password-only sign-in")
        print(f"hash cost above /healthz: argon2id {argon:.1f} ms, PBKDF2 {pbkdf2:.1f} ms ({argon / pbkdf2:.1f}x)")
    finally:
        gateway.stop()


if __name__ == "__main__":
    main()
