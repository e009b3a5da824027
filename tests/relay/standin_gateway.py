"""A stand-in for the gateway's relay API, for testing the relay alone.

It enforces the contract of API.md: `Authorization: Bearer <relay key>` or 401
problem+json; `GET /v1/relay/directory?since=N` returns the rows changed after N with
tombstones (`since=0`: a full snapshot); `POST /v1/relay/usage` applies each `batch_id`
once; `POST /v1/relay/health` keeps the relay's report (exactly its fields). Tests change the directory through `StandinGateway` methods and can make the
gateway fail to simulate an outage.
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class StandinGateway:
    def __init__(self, api_key):
        self.api_key = api_key
        self.version = 0
        self.rows = {"domains": {}, "mailboxes": {}, "aliases": {}, "credentials": {}}
        self.passwords_used = {}
        self.outbox, self.outbox_acks = [], []
        # Domain proofs: the names the relay is asked to look up, and what it reported.
        self.proof_checks, self.proof_results = [], []
        self.batches = {}
        self.usage = {}
        self.health_reports = []
        self.down = False
        self.requests = []
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body, content_type="application/json"):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def problem(self, status, code):
                self.reply(status, {"type": f"https://tenantry.dev/problems/{code}", "title": code,
                                    "status": status, "code": code, "detail": code},
                           "application/problem+json")

            def authorized(self):
                gateway.requests.append((self.command, self.path, self.headers.get("authorization")))
                if gateway.down:
                    self.problem(503, "upstream_error")
                    return False
                if self.headers.get("authorization") != f"Bearer {gateway.api_key}":
                    self.problem(401, "unauthenticated")
                    return False
                return True

            def do_GET(self):
                url = urlparse(self.path)
                if url.path == "/v1/relay/outbox":
                    # The platform's outbox as the real gateway answers it when empty.
                    if self.authorized():
                        with gateway.lock:
                            claimed, gateway.outbox = gateway.outbox, []
                        self.reply(200, {"claim_id": "clm_" + "0" * 24, "lease_seconds": 300, "messages": claimed})
                    return
                if url.path == "/v1/relay/proofs":
                    # The names due for a proof lookup, as the real gateway lists them.
                    if self.authorized():
                        with gateway.lock:
                            self.reply(200, {"checks": list(gateway.proof_checks)})
                    return
                if url.path != "/v1/relay/directory":
                    return self.problem(404, "not_found")
                if not self.authorized():
                    return
                try:
                    since = int(parse_qs(url.query).get("since", ["0"])[0])
                except ValueError:
                    return self.problem(400, "invalid_request")
                self.reply(200, gateway.delta(since))

            def do_POST(self):
                if urlparse(self.path).path == "/v1/relay/outbox/ack" and self.authorized():
                    body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                    with gateway.lock:
                        gateway.outbox_acks.extend(body["results"])
                    return self.reply(200, {"acknowledged": len(body["results"])})
                if urlparse(self.path).path == "/v1/relay/proofs" and self.authorized():
                    body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                    with gateway.lock:
                        gateway.proof_results.extend(body["results"])
                    return self.reply(200, {"settled": [], "refused": []})
                if urlparse(self.path).path == "/v1/relay/health" and self.authorized():
                    body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                    fields = {"hostname", "synced_at", "directory_version", "queue_depth", "oldest_queued_at", "certificates"}
                    if set(body) != fields:
                        return self.problem(400, "invalid_request")
                    with gateway.lock:
                        gateway.health_reports.append(body)
                    return self.reply(200, {"reported_at": 0})
                if urlparse(self.path).path != "/v1/relay/usage":
                    return self.problem(404, "not_found")
                if not self.authorized():
                    return
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                gateway.apply_usage(body)
                self.reply(200, {"batch_id": body["batch_id"]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()

    def _bump(self):
        self.version += 1
        return self.version

    def put_domain(self, tenant_id, domain, status="active", max_mailboxes=10, max_storage_mb=10,
                   sending=None, dmarc_handling="policy", spam=None):
        with self.lock:
            self.rows["domains"][domain] = {
                "tenant_id": tenant_id, "domain": domain, "status": status, "max_mailboxes": max_mailboxes,
                "max_storage_mb": max_storage_mb, "version": self._bump(), "deleted": False,
                "dmarc_handling": dmarc_handling, "spam": spam or {"junk_at": 6.0, "reject_at": 15.0},
                "sending": sending or {"messages_per_day": -1, "messages_per_minute": -1,
                                       "recipients_per_message": -1}}

    def put_credential(self, tenant_id, credential_id, mailbox, password):
        """An app password as the mail Worker stores it: an Argon2id PHC string (made with
        the `cryptography` package, an implementation independent of the relay's)."""
        import base64, os
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
        salt = os.urandom(16)
        digest = Argon2id(salt=salt, length=32, iterations=2, lanes=1, memory_cost=19456).derive(password.encode())
        b64 = lambda b: base64.b64encode(b).decode().rstrip("=")
        phc = f"$argon2id$v=19$m=19456,t=2,p=1${b64(salt)}${b64(digest)}"
        with self.lock:
            self.rows["credentials"][credential_id] = {
                "tenant_id": tenant_id, "id": credential_id, "mailbox": mailbox, "hash": phc,
                "version": self._bump(), "deleted": False}

    def revoke_credential(self, credential_id):
        with self.lock:
            self.rows["credentials"][credential_id].update(deleted=True, hash="", version=self._bump())

    def put_mailbox(self, tenant_id, address, quota_mb=-1, status="active"):
        with self.lock:
            self.rows["mailboxes"][address] = {
                "tenant_id": tenant_id, "address": address, "kind": "personal", "status": status,
                "quota_mb": quota_mb, "version": self._bump(), "deleted": False}

    def put_alias(self, tenant_id, address, targets):
        with self.lock:
            self.rows["aliases"][address] = {
                "tenant_id": tenant_id, "address": address, "targets": targets, "version": self._bump(),
                "deleted": False}

    def remove_mailbox(self, address):
        with self.lock:
            row = self.rows["mailboxes"][address]
            row.update(deleted=True, version=self._bump())

    def delta(self, since):
        with self.lock:
            full = since == 0
            out = {"version": self.version, "full": full}
            for kind, rows in self.rows.items():
                out[kind] = [r for r in rows.values() if r["version"] > since and not (full and r["deleted"])]
            return out

    def apply_usage(self, batch):
        with self.lock:
            if batch["batch_id"] in self.batches:
                return
            self.batches[batch["batch_id"]] = batch
            for used in batch.get("app_passwords_used", []):
                self.passwords_used[used["id"]] = used["at"]
            for item in batch["items"]:
                key = (item["domain"], item["day"])
                current = self.usage.setdefault(key, {"messages": 0, "bytes": 0, "storage_bytes": 0})
                current["messages"] += item["messages"]
                current["bytes"] += item["bytes"]
                current["storage_bytes"] = item["storage_bytes"]
