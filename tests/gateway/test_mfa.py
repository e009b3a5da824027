"""Second factors (issue "Enterprise sign-in", MFA with an authenticator app), against the
real gateway, auth and factors Workers on the local D1, with PyPI's pyotp as the
authenticator app: enrolment through the otpauth URI, confirmation with recovery codes,
sign-in answering mfa_required and completed with a code (each used once) or a recovery
code (each used once), wrong codes counted and throttled, the amr of the session's
tokens and sessions, disabling, the tenant's require_mfa setting admitted on the very
next request, and isolation: another account's challenge, codes or session get nothing.
Bad input is refused with stable codes and writes nothing (D1 read back)."""
import itertools
import time
import unittest
import urllib.parse

import pyotp

from test_auth import PASSWORD, AuthBase


def totp_from(uri):
    """The authenticator app: pyotp reads the otpauth URI as an app reads the QR code."""
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP), uri
    return parsed


def fresh_code(totp, used):
    """A code of a step later than any used yet (the server accepts each step once, and
    steps only forward): the current step's, else the next one's (one step of skew is
    accepted), else wait for the clock."""
    while True:
        now = time.time()
        step = int(now // 30)
        for candidate in (step, step + 1):
            if not used or candidate > max(used):
                used.add(candidate)
                return totp.at(candidate * 30)
        time.sleep(30 - now % 30 + 0.05)


def wrong_code(totp):
    """Six digits that are no code of the steps around now."""
    now = time.time()
    near = {totp.at(now + offset) for offset in (-30, 0, 30)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in near)


CLIENTS = itertools.count(1)


class MfaBase(AuthBase):
    PLAN = "enterprise"

    def setUp(self):
        n = next(CLIENTS)
        self.client_address = f"10.9.{n // 250}.{n % 250}"

    def req(self, method, path, body=None, **kwargs):
        # Codes are throttled per client address too: each test is its own client, so one
        # test's wrong codes never lock another's out.
        headers = {"cf-connecting-ip": self.client_address, **kwargs.pop("headers", {})}
        return super().req(method, path, body, headers=headers, **kwargs)

    def enrolled(self, email, role="employee"):
        """A member of A with a confirmed authenticator app: (tokens, totp, recovery codes, used steps)."""
        tokens = self.account(email, role=role)
        access = tokens["access_token"]
        r = self.req("POST", "/v1/auth/mfa/totp", token=access)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers["cache-control"], "no-store")
        totp = totp_from(r.json()["otpauth_uri"])
        self.assertEqual(totp.secret, r.json()["secret"])
        used = set()
        r = self.req("POST", "/v1/auth/mfa/totp/confirm", {"code": fresh_code(totp, used)}, token=access)
        self.assertEqual(r.status, 200, r)
        codes = r.json()["recovery_codes"]
        return tokens, totp, codes, used

    def challenge(self, email, **extra):
        r = self.login(email, **extra)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertIs(body.get("mfa_required"), True, body)
        self.assertNotIn("access_token", body)
        self.assertNotIn("refresh_token", body)
        self.assertEqual(body["methods"], ["totp", "recovery_code"])
        return body["mfa_token"]

    def verify(self, mfa_token, **factor):
        return self.req("POST", "/v1/auth/mfa/verify", {"mfa_token": mfa_token, **factor})


class EnrolmentTest(MfaBase):
    def test_enrolment_shows_an_otpauth_uri_and_confirmation_gives_ten_recovery_codes(self):
        tokens = self.account("eve@mfa-enrol.example")
        access = tokens["access_token"]
        self.assertEqual(tokens["amr"], ["pwd"])
        r = self.req("GET", "/v1/auth/mfa", token=access)
        self.assertEqual(r.json(), {"totp": {"enrolled": False, "pending": False, "confirmed_at": None},
                                    "recovery_codes_left": 0})
        r = self.req("POST", "/v1/auth/mfa/totp", token=access)
        self.assertEqual(r.status, 201, r)
        body = r.json()
        uri = urllib.parse.urlparse(body["otpauth_uri"])
        self.assertEqual((uri.scheme, uri.netloc), ("otpauth", "totp"))
        self.assertEqual(urllib.parse.unquote(uri.path), "/Tenantry:eve@mfa-enrol.example")
        query = urllib.parse.parse_qs(uri.query)
        self.assertEqual((query["issuer"], query["digits"], query["period"], query["algorithm"]),
                         (["Tenantry"], ["6"], ["30"], ["SHA1"]))
        self.assertEqual(len(body["secret"]), 32)
        # Pending until confirmed: a sign-in still needs only the password.
        self.assertEqual(self.req("GET", "/v1/auth/mfa", token=access).json()["totp"]["pending"], True)
        self.assertIn("access_token", self.login("eve@mfa-enrol.example").json())
        totp = totp_from(body["otpauth_uri"])
        # A wrong code confirms nothing.
        wrong = wrong_code(totp)
        self.assertProblem(self.req("POST", "/v1/auth/mfa/totp/confirm", {"code": wrong}, token=access),
                           401, "invalid_code")
        self.assertProblem(self.req("POST", "/v1/auth/mfa/totp/confirm", {"code": "12345"}, token=access),
                           400, "invalid_request")
        self.assertIsNone(self.sql("SELECT confirmed_at FROM totp_factors WHERE user_id = "
                                   f"'{tokens['user_id']}'")[0]["confirmed_at"])
        r = self.req("POST", "/v1/auth/mfa/totp/confirm", {"code": totp.now()}, token=access)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["cache-control"], "no-store")
        codes = r.json()["recovery_codes"]
        self.assertEqual(len(set(codes)), 10)
        for code in codes:
            self.assertRegex(code, r"^[a-z2-7]{5}-[a-z2-7]{5}$")
        # The session that confirmed proved both factors; its refreshes say so.
        self.assertEqual(r.json()["amr"], ["pwd", "otp", "mfa"])
        refreshed = self.req("POST", "/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        self.assertEqual(refreshed.json()["amr"], ["pwd", "otp", "mfa"])
        status = self.req("GET", "/v1/auth/mfa", token=access).json()
        self.assertEqual((status["totp"]["enrolled"], status["recovery_codes_left"]), (True, 10))
        # Stored sealed and hashed: neither the secret nor a code is in D1.
        stored = str(self.sql(f"SELECT * FROM totp_factors WHERE user_id = '{tokens['user_id']}'"))
        self.assertNotIn(body["secret"], stored)
        codes_stored = str(self.sql(f"SELECT code_hash FROM recovery_codes WHERE user_id = '{tokens['user_id']}'"))
        self.assertFalse(any(code.replace("-", "") in codes_stored for code in codes))
        # A confirmed app is not replaced by a second enrolment.
        self.assertProblem(self.req("POST", "/v1/auth/mfa/totp", token=access), 409, "conflict")
        self.assertEqual(self.count("audit_log", f"actor = '{tokens['user_id']}' AND action = 'auth.mfa_enrolled'"), 1)

    def test_routes_take_a_signed_in_person_not_a_key_nor_nobody(self):
        for method, path in (("GET", "/v1/auth/mfa"), ("POST", "/v1/auth/mfa/totp"),
                             ("POST", "/v1/auth/mfa/totp/confirm"), ("POST", "/v1/auth/mfa/totp/disable"),
                             ("POST", "/v1/auth/mfa/recovery-codes")):
            with self.subTest(path=path):
                body = {"code": "123456"} if method == "POST" else None
                self.assertProblem(self.req(method, path, body), 401, "unauthenticated")
                self.assertProblem(self.req(method, path, body, token=self.key_a), 403, "forbidden")


class SignInTest(MfaBase):
    def test_sign_in_needs_the_code_and_each_code_opens_one_session(self):
        tokens, totp, _, used = self.enrolled("ana@mfa-signin.example")
        mfa_token = self.challenge("ana@mfa-signin.example", tenant=self.slug_a)
        self.assertRegex(mfa_token, r"^mfa_[A-Za-z0-9_-]{43}$")
        code = fresh_code(totp, used)
        r = self.verify(mfa_token, code=code)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual((body["tenant"]["id"], body["amr"]), (self.id_a, ["pwd", "otp", "mfa"]))
        self.assertEqual(self.req("GET", "/v1/tenant", token=body["access_token"]).status, 200)
        sessions = self.req("GET", "/v1/auth/sessions", token=body["access_token"]).json()["sessions"]
        current = [s for s in sessions if s["current"]]
        self.assertEqual(current[0]["amr"], ["pwd", "otp", "mfa"])
        # The challenge is spent, and the code's step too.
        self.assertProblem(self.verify(mfa_token, code=code), 400, "token_invalid")
        again = self.challenge("ana@mfa-signin.example")
        self.assertProblem(self.verify(again, code=code), 401, "invalid_code")
        self.assertEqual(self.verify(again, code=fresh_code(totp, used)).status, 200)

    def test_a_recovery_code_signs_in_once(self):
        _, _, codes, _ = self.enrolled("bea@mfa-recovery.example")
        r = self.verify(self.challenge("bea@mfa-recovery.example"), recovery_code=codes[0].upper().replace("-", " "))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["amr"], ["pwd", "rec", "mfa"])
        self.assertProblem(self.verify(self.challenge("bea@mfa-recovery.example"), recovery_code=codes[0]),
                           401, "invalid_code")
        left = self.req("GET", "/v1/auth/mfa", token=r.json()["access_token"]).json()["recovery_codes_left"]
        self.assertEqual(left, 9)

    def test_a_challenge_takes_five_wrong_codes_then_the_password_again(self):
        _, totp, _, used = self.enrolled("cid@mfa-wrong.example")
        mfa_token = self.challenge("cid@mfa-wrong.example")
        wrong = wrong_code(totp)
        for _ in range(5):
            self.assertProblem(self.verify(mfa_token, code=wrong), 401, "invalid_code")
        # Spent, even for the right code.
        self.assertProblem(self.verify(mfa_token, code=fresh_code(totp, used)), 429, "too_many_attempts")
        # And five wrong codes in 15 minutes throttle the account's codes on any challenge.
        locked = self.verify(self.challenge("cid@mfa-wrong.example"), code=fresh_code(totp, used))
        body = self.assertProblem(locked, 429, "too_many_attempts")
        self.assertEqual(int(locked.headers["retry-after"]), body["retry_after"])

    def test_bad_verify_bodies_are_refused_and_spend_nothing(self):
        _, totp, _, used = self.enrolled("dan@mfa-bad.example")
        mfa_token = self.challenge("dan@mfa-bad.example")
        for body, status, code in (
                ({"mfa_token": mfa_token}, 400, "invalid_request"),
                ({"mfa_token": mfa_token, "code": "123456", "recovery_code": "aaaaa-aaaaa"}, 400, "invalid_request"),
                ({"mfa_token": mfa_token, "code": "12345a"}, 400, "invalid_request"),
                ({"mfa_token": mfa_token, "code": "123456", "extra": 1}, 400, "invalid_request"),
                ({"mfa_token": "mfa_" + "A" * 43, "code": "123456"}, 400, "token_invalid"),
                ({"mfa_token": "rt_" + "A" * 43, "code": "123456"}, 400, "token_invalid")):
            with self.subTest(body=body):
                self.assertProblem(self.req("POST", "/v1/auth/mfa/verify", body), status, code)
        self.assertEqual(self.count("mfa_challenges", "attempts > 0 AND user_id = "
                                    f"(SELECT id FROM users WHERE email = 'dan@mfa-bad.example')"), 0)
        r = self.verify(mfa_token, code=fresh_code(totp, used))
        self.assertEqual(r.status, 200, r)

    def test_an_invitation_accepted_by_an_account_with_a_factor_asks_for_it(self):
        _, totp, _, used = self.enrolled("eli@mfa-invite.example")
        _, token = self.invite("eli@mfa-invite.example", key=self.key_b)
        r = self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD})
        self.assertEqual(r.status, 200, r)
        mfa_token = r.json()["mfa_token"]
        r = self.verify(mfa_token, code=fresh_code(totp, used))
        self.assertEqual((r.status, r.json()["tenant"]["id"]), (200, self.id_b), r)

    def test_disabling_takes_a_fresh_code_and_sign_in_needs_the_password_only_again(self):
        tokens, totp, codes, used = self.enrolled("fay@mfa-disable.example")
        access = tokens["access_token"]
        self.assertProblem(self.req("POST", "/v1/auth/mfa/totp/disable", {"code": wrong_code(totp)}, token=access),
                           401, "invalid_code")
        self.assertProblem(self.req("POST", "/v1/auth/mfa/totp/disable", {}, token=access), 400, "invalid_request")
        # New recovery codes replace the old ones.
        r = self.req("POST", "/v1/auth/mfa/recovery-codes", {"recovery_code": codes[0]}, token=access)
        self.assertEqual(r.status, 200, r)
        fresh = r.json()["recovery_codes"]
        self.assertProblem(self.req("POST", "/v1/auth/mfa/totp/disable", {"recovery_code": codes[1]}, token=access),
                           401, "invalid_code")
        r = self.req("POST", "/v1/auth/mfa/totp/disable", {"code": fresh_code(totp, used)}, token=access)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.count("recovery_codes", f"user_id = '{tokens['user_id']}'"), 0)
        self.assertIn("access_token", self.login("fay@mfa-disable.example").json())
        self.assertProblem(self.req("POST", "/v1/auth/mfa/totp/disable", {"recovery_code": fresh[0]}, token=access),
                           409, "conflict")


class RequireMfaTest(MfaBase):
    def test_a_tenant_requiring_mfa_admits_only_two_factor_sessions_on_the_next_request(self):
        password_only = self.account("gus@mfa-require.example")
        two_factor, totp, _, used = self.enrolled("hal@mfa-require.example")
        for tokens in (password_only, two_factor):
            self.assertEqual(self.req("GET", "/v1/tenant", token=tokens["access_token"]).status, 200)
        self.assertProblem(self.req("PATCH", "/v1/settings", {"require_mfa": "yes"}, token=self.key_a),
                           400, "invalid_request")
        r = self.req("PATCH", "/v1/settings", {"require_mfa": True}, token=self.key_a)
        self.assertEqual(r.status, 200, r)
        refused = self.req("GET", "/v1/tenant", token=password_only["access_token"])
        self.assertIn("/v1/auth/mfa/totp", self.assertProblem(refused, 403, "mfa_required")["detail"])
        self.assertProblem(self.req("GET", "/v1/clients", token=password_only["access_token"]), 403, "mfa_required")
        self.assertEqual(self.req("GET", "/v1/tenant", token=two_factor["access_token"]).status, 200)
        # API keys are not sessions: the tenant's own keys go on working.
        self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_a).status, 200)
        # Another tenant's setting binds nobody here.
        self.assertEqual(self.req("GET", "/v1/tenant", token=self.key_b).status, 200)
        # Enrolling from the refused session makes it a two-factor one: admitted at once.
        access = password_only["access_token"]
        r = self.req("POST", "/v1/auth/mfa/totp", token=access)
        gus = totp_from(r.json()["otpauth_uri"])
        self.assertEqual(self.req("POST", "/v1/auth/mfa/totp/confirm", {"code": gus.now()}, token=access).status, 200)
        self.assertEqual(self.req("GET", "/v1/tenant", token=access).status, 200)
        # A new sign-in of hal's is admitted once its code is verified.
        r = self.verify(self.challenge("hal@mfa-require.example"), code=fresh_code(totp, used))
        self.assertEqual(self.req("GET", "/v1/tenant", token=r.json()["access_token"]).status, 200)
        self.req("PATCH", "/v1/settings", {"require_mfa": None}, token=self.key_a)


class IsolationTest(MfaBase):
    def test_another_accounts_codes_or_challenge_open_nothing(self):
        _, totp_a, codes_a, used_a = self.enrolled("ivy@mfa-iso.example")
        _, totp_b, codes_b, used_b = self.enrolled("jon@mfa-iso.example")
        challenge_b = self.challenge("jon@mfa-iso.example")
        # ivy's code and recovery code are nothing on jon's challenge.
        self.assertProblem(self.verify(challenge_b, code=fresh_code(totp_a, used_a)), 401, "invalid_code")
        self.assertProblem(self.verify(challenge_b, recovery_code=codes_a[0]), 401, "invalid_code")
        r = self.verify(challenge_b, recovery_code=codes_b[0])
        self.assertEqual((r.status, r.json()["user_id"]), (200, self.sql(
            "SELECT id FROM users WHERE email = 'jon@mfa-iso.example'")[0]["id"]))
        # ivy's recovery code still works for ivy: jon's attempt did not spend it.
        self.assertEqual(self.verify(self.challenge("ivy@mfa-iso.example"), recovery_code=codes_a[0]).status, 200)


if __name__ == "__main__":
    unittest.main()
