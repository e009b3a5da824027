"""The gateway's HTTP API for the operator scripts: a superadmin token minted from
JWT_SECRET (environment or .dev.vars) and problem+json errors turned into a clear exit."""
import json
import pathlib
import sys
import urllib.error
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
mint_token = __import__("mint-token")


def superadmin_token(hours=1.0):
    secret = mint_token.dev_var("JWT_SECRET")
    if not secret:
        sys.exit("JWT_SECRET is not set (environment or .dev.vars)")
    return mint_token.mint({"sub": "u_operator", "platform_role": "superadmin"}, secret, hours,
                           mint_token.dev_var("JWT_ISSUER") or "tenantry",
                           mint_token.dev_var("JWT_AUDIENCE") or "tenantry-api")


class Api:
    def __init__(self, url, token):
        self.url, self.token = url.rstrip("/"), token

    def call(self, method, path, body=None, token=None, headers=None):
        """The decoded JSON answer; exits with the problem's status, code and detail."""
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("content-type", "application/json")
        request.add_header("authorization", f"Bearer {token or self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                problem = json.loads(text)
                text = f"{problem.get('code')}: {problem.get('detail')}"
            except ValueError:
                pass
            sys.exit(f"{method} {path}: {error.code} {text}")
        except urllib.error.URLError as error:
            sys.exit(f"{method} {self.url}{path}: {error.reason} (is the gateway running?)")
