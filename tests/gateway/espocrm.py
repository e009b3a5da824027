"""A stand-in for one tenant's EspoCRM (it cannot run here). It enforces the parts of
EspoCRM's REST contract the proxy relies on and records every request it receives, so
tests can prove which credentials and headers arrived, and where.

- Auth: `X-Api-Key: <key>` (an API user) or `Authorization: Basic <user:password>` (the
  admin). Anything else: 401 with an empty body, as EspoCRM answers.
- `GET /api/v1/{Entity}` -> `{"total": n, "list": [...]}` (`maxSize`, `offset`);
  `GET|PUT|PATCH|DELETE /api/v1/{Entity}/{id}`; `POST /api/v1/{Entity}` -> the record.
  Unknown entity or id: 404. `User` is admin-only: 403 for the API user.
- Test hooks: `/api/v1/Slow` stalls, `/api/v1/Boom` answers 500, `/api/v1/Huge` streams
  a body without Content-Length; every response sets a session cookie (never to reach
  the client).

Run alone for benchmarks: `python3 tests/gateway/espocrm.py --port 9000 --api-key K`.
"""
import argparse
import base64
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENTITIES = ("Contact", "Account", "Lead", "User")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client closing its keep-alive connection (wrk at the end of a run) is not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
ADMIN_ONLY = ("User",)


class EspoCrm:
    def __init__(self, api_key, admin_user="admin", admin_password="admin-password", slow_secs=5.0,
                 huge_bytes=4 * 1024 * 1024):
        self.api_key, self.admin_user, self.admin_password = api_key, admin_user, admin_password
        self.slow_secs, self.huge_bytes = slow_secs, huge_bytes
        self.records = {entity: {} for entity in ENTITIES}
        self.received = []
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"crm": self})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def clear(self):
        with self.lock:
            self.received.clear()

    def user_of(self, headers):
        """`api`, `admin`, or None."""
        if headers.get("x-api-key") is not None:
            return "api" if headers["x-api-key"] == self.api_key else None
        auth = headers.get("authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return None
            if (user, password) == (self.admin_user, self.admin_password):
                return "admin"
        return None


class _Handler(BaseHTTPRequestHandler):
    crm = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=None, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("set-cookie", "auth-token=espo-session; HttpOnly")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(data)
            except OSError:
                pass  # the proxy gave up (a timeout test)

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        crm = self.crm
        with crm.lock:
            crm.received.append({"method": self.command, "path": self.path, "headers": headers, "body": body})
        user = crm.user_of(headers)
        if user is None:
            return self.reply(401, headers={"x-status-reason": "Unauthorized"})
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "v1"] or len(parts) < 3:
            return self.reply(404)
        entity, rest = parts[2], parts[3:]
        if entity == "Slow":
            time.sleep(crm.slow_secs)
            return self.reply(200, {"slow": True})
        if entity == "Boom":
            return self.reply(500, {"message": "internal error"})
        if entity == "Huge":
            return self.stream_huge(declared="declared=1" in query)
        if entity not in crm.records or len(rest) > 1:
            return self.reply(404)
        if entity in ADMIN_ONLY and user != "admin":
            return self.reply(403, headers={"x-status-reason": "Access denied"})
        table = crm.records[entity]
        with crm.lock:
            if not rest:
                if self.command in ("GET", "HEAD"):
                    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                    offset, size = int(params.get("offset", 0)), int(params.get("maxSize", 20))
                    rows = list(table.values())
                    return self.reply(200, {"total": len(rows), "list": rows[offset:offset + size]})
                if self.command == "POST":
                    try:
                        record = json.loads(body or b"{}")
                    except ValueError:
                        return self.reply(400)
                    record["id"] = uuid.uuid4().hex[:17]
                    table[record["id"]] = record
                    return self.reply(200, record)
                return self.reply(405)
            record = table.get(rest[0])
            if record is None:
                return self.reply(404)
            if self.command in ("GET", "HEAD"):
                return self.reply(200, record)
            if self.command in ("PUT", "PATCH"):
                record.update(json.loads(body or b"{}"))
                return self.reply(200, record)
            if self.command == "DELETE":
                del table[rest[0]]
                return self.reply(200, True)
            return self.reply(405)

    def stream_huge(self, declared):
        """`huge_bytes` of body, chunked (no length known ahead) or with Content-Length."""
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        if declared:
            self.send_header("content-length", str(self.crm.huge_bytes))
        else:
            self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < self.crm.huge_bytes:
                self.wfile.write(chunk if declared else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            if not declared:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    crm = EspoCrm(args.api_key)
    crm.server.server_close()
    handler = type("Handler", (_Handler,), {"crm": crm})
    server = _Server(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    for i in range(20):
        crm.records["Contact"][f"c{i}"] = {"id": f"c{i}", "name": f"Contact {i}"}
    print(f"EspoCRM stand-in on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
