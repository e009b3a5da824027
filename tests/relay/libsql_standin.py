"""A stand-in for a libSQL server (sqld), which cannot be installed here: the
Hrana-over-HTTP v2 endpoint `POST /v2/pipeline` on a real SQLite file, as the relay's
remote `state_db` speaks to it.

It enforces what the client relies on: `Authorization: Bearer <token>` (401 otherwise),
JSON requests `{"baton", "requests": [execute | batch | close]}`, batch step conditions
(`ok`, `error`, `not`, `and`, `or`), Hrana values (integers as decimal strings, blobs as
base64), one stream per baton with its transaction rolled back when the stream closes,
and errors as `{"type": "error", "error": {"message"}}`. It counts the pipelines it served.
"""
import base64
import json
import secrets
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _decode(value):
    kind = value["type"]
    if kind == "null":
        return None
    if kind == "integer":
        return int(value["value"])
    if kind == "float":
        return float(value["value"])
    if kind == "text":
        return value["value"]
    if kind == "blob":
        return base64.b64decode(value["base64"] + "=" * (-len(value["base64"]) % 4))
    raise ValueError(f"unknown value type {kind!r}")


def _encode(value):
    if value is None:
        return {"type": "null"}
    if isinstance(value, int):
        return {"type": "integer", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    if isinstance(value, bytes):
        return {"type": "blob", "base64": base64.b64encode(value).decode().rstrip("=")}
    return {"type": "text", "value": value}


class LibsqlStandin:
    def __init__(self, path, token):
        self.path, self.token = str(path), token
        self.streams = {}
        self.lock = threading.Lock()
        self.pipelines = 0
        self.refused = 0
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def query(self, sql, args=()):
        """Reads the database directly, as an operator would."""
        with sqlite3.connect(self.path) as db:
            return db.execute(sql, args).fetchall()

    # --- Hrana ---------------------------------------------------------------------

    def _execute(self, db, stmt):
        if stmt.get("named_args"):
            raise ValueError("named arguments are not used by the relay")
        cursor = db.execute(stmt["sql"], [_decode(v) for v in stmt.get("args", [])])
        rows = cursor.fetchall() if stmt.get("want_rows", True) else []
        return {"cols": [{"name": d[0], "decltype": None} for d in cursor.description or []],
                "rows": [[_encode(v) for v in row] for row in rows],
                "affected_row_count": max(cursor.rowcount, 0),
                "last_insert_rowid": str(cursor.lastrowid) if cursor.lastrowid else None}

    def _condition(self, cond, results, errors):
        if cond is None:
            return True
        kind = cond["type"]
        if kind == "ok":
            return results[cond["step"]] is not None
        if kind == "error":
            return errors[cond["step"]] is not None
        if kind == "not":
            return not self._condition(cond["cond"], results, errors)
        if kind == "and":
            return all(self._condition(c, results, errors) for c in cond["conds"])
        if kind == "or":
            return any(self._condition(c, results, errors) for c in cond["conds"])
        raise ValueError(f"unknown condition {kind!r}")

    def _batch(self, db, batch):
        results, errors = [], []
        for step in batch["steps"]:
            if not self._condition(step.get("condition"), results, errors):
                results.append(None)
                errors.append(None)
                continue
            try:
                results.append(self._execute(db, step["stmt"]))
                errors.append(None)
            except sqlite3.Error as error:
                results.append(None)
                errors.append({"message": str(error), "code": "SQLITE_ERROR"})
        return {"step_results": results, "step_errors": errors}

    def pipeline(self, message):
        baton = message.get("baton")
        with self.lock:
            self.pipelines += 1
            if baton is None:
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            elif baton in self.streams:
                db = self.streams.pop(baton)
            else:
                return 400, {"error": "unknown baton"}
            results, closed = [], False
            for request in message["requests"]:
                kind = request["type"]
                try:
                    if kind == "execute":
                        results.append({"type": "ok", "response": {"type": "execute",
                                                                   "result": self._execute(db, request["stmt"])}})
                    elif kind == "batch":
                        results.append({"type": "ok", "response": {"type": "batch",
                                                                   "result": self._batch(db, request["batch"])}})
                    elif kind == "close":
                        if db.in_transaction:
                            db.execute("ROLLBACK")
                        db.close()
                        closed = True
                        results.append({"type": "ok", "response": {"type": "close"}})
                    else:
                        results.append({"type": "error", "error": {"message": f"unknown request {kind!r}"}})
                except (sqlite3.Error, ValueError, KeyError) as error:
                    results.append({"type": "error", "error": {"message": str(error)}})
            new_baton = None
            if not closed:
                new_baton = secrets.token_hex(8)
                self.streams[new_baton] = db
            return 200, {"baton": new_baton, "base_url": None, "results": results}


class _Handler(BaseHTTPRequestHandler):
    server_state = None

    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        state = self.server_state
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length)
        if self.path != "/v2/pipeline":
            return self._answer(404, {"error": "not found"})
        if self.headers.get("authorization") != f"Bearer {state.token}":
            state.refused += 1
            return self._answer(401, {"error": "Authentication failed"})
        try:
            message = json.loads(body)
        except ValueError:
            return self._answer(400, {"error": "the body is not JSON"})
        self._answer(*state.pipeline(message))
