"""Runs the real gateway under `wrangler dev` (workerd + local D1) for tests: fresh state
directory, test secrets, migrations applied, ready check, and a stop that always runs."""
import base64
import hashlib
import hmac
import importlib.util
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import unittest
import urllib.request

import contract

ROOT = pathlib.Path(__file__).resolve().parents[2]
WRANGLER = ROOT / "node_modules" / ".bin" / "wrangler"
JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789"
# The deployment has rotated its master key once: k2 seals, k1 (retired) still opens.
SEAL_MASTER_KEY = "22" * 32
SEAL_KEY_ID = "k2"
SEAL_RETIRED_KEYS = {"k1": "11" * 32}
INTERNAL_SECRET = "test-internal-secret-0123456789"
# What the gateway seals DKIM keys for relays with (the relays' `seal_key`).
RELAY_SEAL_KEY = "33" * 32
STRIPE_SECRETS = ["whsec_test_current_0123456789", "whsec_test_rotating_out_0123456789"]
STRIPE_PRICE_PLANS = {"price_starter": "starter", "price_pro": "professional", "price_enterprise": "enterprise"}
CRM_TIMEOUT_MS = 1500
# What wrangler dev's proxy answers a request the reloading workerd dropped.
DEV_SERVER_RESTARTED = b"Your worker restarted mid-request."
CRM_MAX_RESPONSE_BYTES = 1024 * 1024
SECRETS = {
    "JWT_SECRET": JWT_SECRET, "SEAL_MASTER_KEY": SEAL_MASTER_KEY, "SEAL_KEY_ID": SEAL_KEY_ID,
    "SEAL_RETIRED_KEYS": ",".join(f"{k}:{v}" for k, v in SEAL_RETIRED_KEYS.items()), "INTERNAL_SECRET": INTERNAL_SECRET,
    "STRIPE_WEBHOOK_SECRETS": ",".join(STRIPE_SECRETS), "STRIPE_PRICE_PLANS": json.dumps(STRIPE_PRICE_PLANS),
    "STRIPE_SUSPEND_UNPAID": "true", "CRM_TIMEOUT_MS": str(CRM_TIMEOUT_MS),
    "CRM_MAX_RESPONSE_BYTES": str(CRM_MAX_RESPONSE_BYTES), "USAGE_FLUSH_SECS": "1",
    "RELAY_SEAL_KEY": RELAY_SEAL_KEY, "SIGNUP_MODE": "open", "CONSOLE_URL": "https://console.tenantry.test", "MAIL_FROM": "no-reply@tenantry.test",
    # Domain proofs: the relays' names and the operator's list are reserved; lookups and
    # the grace period in seconds, so that a lapse happens within a test.
    "RELAY_HOSTNAMES": "mx.tenantry.test,relay2.ops-tenantry.test", "RESERVED_DOMAINS": "reserved-provider.example",
    "DOMAIN_PROOF_PENDING_RECHECK_SECS": "1", "DOMAIN_PROOF_RECHECK_SECS": "1", "DOMAIN_PROOF_GRACE_SECS": "4",
}


def relay_module(name):
    """A module of the relay's suite (tests/relay/{name}.py): its harness, its scripted MX."""
    spec = importlib.util.spec_from_file_location(name, pathlib.Path(__file__).resolve().parents[1] / "relay" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(claims, secret=JWT_SECRET, lifetime=3600, now=None):
    """A platform JWT (HS256), as the platform's identity service would issue it."""
    now = int(time.time()) if now is None else now
    body = {"iat": now, "exp": now + lifetime, "iss": "tenantry", "aud": "tenantry-api", **claims}
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(body).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def seal(tenant_id, field, plaintext, key_id, master_hex):
    """A value sealed as tenantry-core's seal module does (HKDF-SHA256 per tenant, AES-256-GCM,
    `v1.{key id}.{base64url(nonce | ciphertext)}`), written independently from its spec to
    stage values made under other master keys."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tenantry/seal/v1",
               info=tenant_id.encode()).derive(bytes.fromhex(master_hex))
    nonce = os.urandom(12)
    aad = b"tenantry/seal/v1\0" + tenant_id.encode() + b"\0" + field.encode()
    return f"v1.{key_id}.{b64(nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), aad))}"


def superadmin_token():
    return mint_jwt({"sub": "u_platform_admin", "platform_role": "superadmin"})


def whole_numbers_are_integers(literal):
    """Every count, id and time the API answers is an integer: `1.0` is a JS number that
    went out as a float (D1 hands integers to a Worker as numbers), a defect in any route."""
    value = float(literal)
    assert not value.is_integer(), f"{literal} in a response: integers are written as integers"
    return value


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body, parse_float=whole_numbers_are_integers)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Gateway:
    def __init__(self):
        self.state = pathlib.Path(tempfile.mkdtemp(prefix="gateway-state-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.state / "wrangler.log"
        self.process = None

    def env(self):
        # The same settings as scripts/env.sh, so the harness also works on its own.
        home = pathlib.Path.home()
        return {"WASM_BINDGEN_BIN": str(home / ".cargo" / "bin" / "wasm-bindgen"),
                "WASM_OPT_BIN": str(ROOT / "node_modules" / ".bin" / "wasm-opt"),
                **os.environ,
                "PATH": f"{ROOT / 'node_modules' / '.bin'}:{home / '.cargo' / 'bin'}:{os.environ['PATH']}",
                "WRANGLER_SEND_METRICS": "false", "WRANGLER_SEND_ERROR_REPORTS": "false",
                "CLOUDFLARE_CF_FETCH_ENABLED": "false", "CI": "1", "NO_COLOR": "1"}

    def start(self):
        subprocess.run([str(ROOT / "scripts" / "migrate.sh"), "local", "--persist-to", str(self.state)],
                       cwd=ROOT, env=self.env(), check=True, capture_output=True, timeout=300)
        vars_file = self.state / "test.vars"
        vars_file.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
        args = self.command(vars_file)
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(args, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.time() + 1500  # a first run builds every Worker of functions/workers.toml
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("wrangler dev exited:\n" + self.log())
            try:
                if self.ready():
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("wrangler dev did not become ready:\n" + self.log())

    def ready(self):
        return self.request("GET", "/healthz").status == 200

    def command(self, vars_file):
        """The gateway with the WhatsApp, Stripe and CRM Workers behind it."""
        return [str(ROOT / "scripts" / "serve-workers.py"), "--port", str(self.port), "--persist-to", str(self.state),
                "--vars", str(vars_file), "--", "--inspector-port", str(free_port())]

    def sql(self, command):
        """Runs SQL on the local D1 database, as an operator would with wrangler."""
        # The running gateway holds the same SQLite file: a write of its (the Durable
        # Object's usage flush, say) can hold the lock for a moment, so a locked database is
        # retried, as an operator would.
        for attempt in range(8):
            result = subprocess.run([str(WRANGLER), "d1", "execute", "DB", "--local", "--persist-to", str(self.state),
                                     "--json", "--command", command], cwd=ROOT, env=self.env(), capture_output=True,
                                    text=True, timeout=120)
            if result.returncode == 0:
                return json.loads(result.stdout)[0]["results"]
            if "SQLITE_BUSY" not in result.stdout + result.stderr:
                break
            time.sleep(0.5 * (attempt + 1))
        raise RuntimeError(result.stdout + result.stderr)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
        shutil.rmtree(self.state, ignore_errors=True)

    def create_tenant(self, slug, plan="starter"):
        """A tenant made through the platform API: its JSON (tenant, owner, owner_api_key)."""
        r = self.request("POST", "/v1/admin/tenants", {"slug": slug, "name": slug.title(), "plan": plan,
                                                        "billing_email": f"billing@{slug}.example",
                                                        "owner_email": f"owner@{slug}.example"},
                         token=superadmin_token())
        assert r.status == 201, r
        return r.json()

    def vouch(self, domain, tenant_id):
        """A superadmin vouches for a tenant's mail domain instead of DNS (as the operator
        of establishments' domains does): hosted from the relays' next sync."""
        r = self.request("PATCH", f"/v1/mail/domains/{domain}", {"status": "active"}, token=superadmin_token(),
                         headers={"X-Tenant-ID": tenant_id})
        assert r.status == 200 and r.json()["status"] == "active", r
        return r.json()

    def create_relay_key(self, name="relay", tenants=None):
        """A platform relay key (superadmin), optionally limited to tenant ids: its JSON."""
        body = {"name": name} if tenants is None else {"name": name, "tenants": tenants}
        r = self.request("POST", "/v1/admin/relay-keys", body, token=superadmin_token())
        assert r.status == 201, r
        return r.json()

    @staticmethod
    def send(request):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())

    def request(self, method, path, body=None, token=None, headers=None, raw=None, content_type="application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None and content_type:
            request.add_header("content-type", content_type)
        if token:
            request.add_header("authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        result = self.send(request)
        if result.status == 503 and result.body.startswith(DEV_SERVER_RESTARTED):
            # wrangler dev's own proxy answered, not the Worker: workerd was reloading (a
            # watched build output changed, or workerd restarted). Its advice is to send the
            # request again; the reload is named so that a run shows how often it happens.
            print(f"\n[harness] wrangler dev restarted during {method} {path}; sent again. Its log says:\n"
                  + "\n".join(self.log().splitlines()[-15:]), file=sys.stderr)
            result = self.send(request)
        # Every response the tests see must match openapi.yaml.
        contract.check(method, path, result.status, result.headers.get("content-type"), result.body)
        return result


class RouteWorker(Gateway):
    """One route Worker (whatsapp, stripe or crm) served alone on a port, to prove that
    it refuses whatever does not come from the gateway."""

    def __init__(self, name):
        super().__init__()
        self.name = name

    def command(self, vars_file):
        import importlib.util
        spec = importlib.util.spec_from_file_location("serve_workers", ROOT / "scripts" / "serve-workers.py")
        serve_workers = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(serve_workers)
        directory = serve_workers.route_worker_config(self.name, self.state)
        (directory / ".dev.vars").write_text(vars_file.read_text())
        return [str(WRANGLER), "dev", "-c", str(directory / "wrangler.toml"), "--ip", "127.0.0.1",
                "--port", str(self.port), "--persist-to", str(self.state), "--inspector-port", str(free_port()),
                "--show-interactive-dev-session=false"]

    def ready(self):
        # Any answer means workerd serves the Worker; without a context it must be 401.
        return self.raw("GET", "/").status in (401, 404, 405)

    def raw(self, method, path, body=None, headers=None):
        request = urllib.request.Request(self.url + path, data=body, method=method)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        return self.send(request)


def internal_context(method, path, tenant_id=None, subject=None, issued_at=None, secret=INTERNAL_SECRET):
    """An X-Tenantry-Context value as the gateway signs it (tenantry-core::internal)."""
    payload = {"request_id": "req_test", "method": method, "path": path,
               "issued_at": int(time.time()) if issued_at is None else issued_at}
    if tenant_id:
        payload["tenant_id"] = tenant_id
    if subject:
        payload["subject"] = subject
    encoded = b64(json.dumps(payload).encode())
    mac = hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()
    return f"{encoded}.{b64(mac)}"


_SHARED = None


def shared_gateway():
    """One gateway for every test module of the run, stopped when the run ends."""
    global _SHARED
    if _SHARED is None:
        import atexit
        _SHARED = Gateway().start()
        atexit.register(_SHARED.stop)
    return _SHARED


class TwoTenants(unittest.TestCase):
    """Tests against the shared gateway with two fresh tenants, A and B, each with its owner
    API key; `PLAN` is theirs."""

    PLAN = "starter"

    @classmethod
    def setUpClass(cls):
        cls.gateway = shared_gateway()
        prefix = cls.__name__.lower()[:10]
        cls.a = cls.gateway.create_tenant(prefix + "-a", plan=cls.PLAN)
        cls.b = cls.gateway.create_tenant(prefix + "-b", plan=cls.PLAN)
        cls.key_a, cls.key_b = cls.a["owner_api_key"], cls.b["owner_api_key"]
        cls.slug_a, cls.slug_b = cls.a["tenant"]["slug"], cls.b["tenant"]["slug"]
        cls.id_a, cls.id_b = cls.a["tenant"]["id"], cls.b["tenant"]["id"]

    def req(self, *args, **kwargs):
        return self.gateway.request(*args, **kwargs)

    def assertProblem(self, response, status, code):
        """The response is problem+json with this status and code; returns its body."""
        self.assertEqual(response.status, status, response)
        self.assertEqual(response.headers["content-type"], "application/problem+json")
        body = response.json()
        self.assertEqual((body["status"], body["code"]), (status, code), body)
        self.assertTrue(response.headers["x-request-id"])
        return body
