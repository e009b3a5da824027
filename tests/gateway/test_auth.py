"""People sign in (issue "People sign in"), against the real gateway and auth Worker on
the local D1, with the real relay delivering the platform's mail into a hosted Maildir:
login, refresh rotation and reuse detection (also under concurrency), logout, sessions,
switch, throttling, invitations, verification, resets, sign-up, memberships applying on
the very next request, and isolation. Bad input is refused with stable codes and writes
nothing (D1 read back)."""
import base64
import concurrent.futures
import importlib.util
import pathlib
import re
import time
import unittest

from harness import TwoTenants, superadmin_token

PASSWORD = "correct horse battery staple"

_spec = importlib.util.spec_from_file_location(
    "relay_harness", pathlib.Path(__file__).resolve().parents[1] / "relay" / "harness.py")
relay_harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(relay_harness)


def text_part(message):
    """The decoded text/plain part of a message the outbox rendered."""
    if isinstance(message, bytes):
        message = message.decode()
    part = message.split("text/plain; charset=utf-8", 1)[1].split("\r\n\r\n", 1)[1].split("--", 1)[0]
    return base64.b64decode("".join(part.split())).decode()


def token_in(message, prefix):
    found = re.search(rf"{prefix}[A-Za-z0-9_-]{{43}}", text_part(message))
    assert found, text_part(message)
    return found.group(0)


class AuthBase(TwoTenants):
    PLAN = "enterprise"

    def sql(self, query):
        return self.gateway.sql(query)

    def outbox(self, recipient):
        """The newest outbox message to `recipient` (as the relay would claim it)."""
        rows = self.sql(f"SELECT template, message, tenant_id FROM outbound_messages WHERE recipient = '{recipient}' "
                        "ORDER BY created_at DESC, rowid DESC LIMIT 1")
        self.assertTrue(rows, f"no outbox message to {recipient}")
        return rows[0]

    def invite(self, email, role="employee", key=None):
        r = self.req("POST", "/v1/invitations", {"email": email, "role": role}, token=key or self.key_a)
        self.assertEqual(r.status, 201, r)
        self.assertNotIn(b"inv_" + b"A" * 0, r.body.replace(r.json()["id"].encode(), b""))
        return r.json(), token_in(self.outbox(email)["message"], "inv_")

    def account(self, email, key=None, role="employee"):
        """A signed-in member of A (or of the key's tenant) made by invitation: its tokens."""
        _, token = self.invite(email, role, key)
        r = self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD})
        self.assertEqual(r.status, 200, r)
        return r.json()

    def login(self, email, password=PASSWORD, **extra):
        return self.req("POST", "/v1/auth/login", {"email": email, "password": password, **extra},
                        headers={"cf-connecting-ip": extra.pop("client", f"10.1.{hash(email) % 250}.{int(time.time()) % 250}")})

    def count(self, table, where="1=1"):
        return self.sql(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}")[0]["n"]


class SessionTest(AuthBase):
    def test_login_gives_a_working_access_token_and_a_refresh_token(self):
        tokens = self.account("ana@login.example")
        r = self.login("ANA@login.example")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual((body["token_type"], body["expires_in"], body["tenant"]["id"]), ("Bearer", 900, self.id_a))
        self.assertRegex(body["refresh_token"], r"^rt_[A-Za-z0-9_-]{43}$")
        self.assertEqual(r.headers["cache-control"], "no-store")
        me = self.req("GET", "/v1/tenant", token=body["access_token"])
        self.assertEqual((me.status, me.json()["id"]), (200, self.id_a))
        # Only the hash of a refresh token is stored.
        stored = self.sql(f"SELECT token_hash FROM refresh_tokens WHERE session_id = '{body['session_id']}'")
        self.assertEqual(len(stored), 1)
        self.assertNotIn(body["refresh_token"], stored[0]["token_hash"])
        self.assertTrue(self.sql(f"SELECT 1 FROM audit_log WHERE tenant_id = '{self.id_a}' AND action = 'auth.login' "
                                 f"AND actor = '{tokens['user_id']}'"))

    def test_a_wrong_password_and_an_unknown_address_get_the_same_answer_and_write_nothing(self):
        self.account("bea@login.example")
        sessions = self.count("sessions")
        wrong = self.login("bea@login.example", "not the password at all")
        unknown = self.login("nobody-at-all@login.example", "not the password at all")
        for r in (wrong, unknown):
            body = self.assertProblem(r, 401, "invalid_credentials")
            self.assertEqual(body["detail"], "the email address or the password is wrong")
        self.assertEqual(self.count("sessions"), sessions)
        self.assertProblem(self.login("bea@login.example", "x" * 129), 401, "invalid_credentials")

    def test_refresh_rotates_and_a_reused_token_revokes_the_whole_session(self):
        self.account("cid@login.example")
        first = self.login("cid@login.example").json()
        second = self.req("POST", "/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
        self.assertEqual(second.status, 200, second)
        self.assertNotEqual(second.json()["refresh_token"], first["refresh_token"])
        self.assertEqual(second.json()["session_id"], first["session_id"])
        # The first token again: reuse. Its session (and the token just issued) end.
        self.assertProblem(self.req("POST", "/v1/auth/refresh", {"refresh_token": first["refresh_token"]}), 401, "token_reused")
        self.assertProblem(self.req("POST", "/v1/auth/refresh", {"refresh_token": second.json()["refresh_token"]}), 401, "unauthenticated")
        row = self.sql(f"SELECT revoked_reason FROM sessions WHERE id = '{first['session_id']}'")[0]
        self.assertEqual(row["revoked_reason"], "refresh_reuse")
        self.assertTrue(self.sql(f"SELECT 1 FROM audit_log WHERE action = 'auth.refresh_reused' AND resource_id = '{first['session_id']}'"))

    def test_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(self):
        self.account("dan@login.example")
        for attempt in range(3):
            token = self.login("dan@login.example").json()["refresh_token"]
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                results = list(pool.map(lambda _: self.req("POST", "/v1/auth/refresh", {"refresh_token": token}), range(2)))
            statuses = sorted(r.status for r in results)
            self.assertEqual(statuses, [200, 401], results)
            loser = next(r for r in results if r.status == 401)
            self.assertEqual(loser.json()["code"], "token_reused")

    def test_logout_ends_the_session_and_the_cookie(self):
        self.account("eve@login.example")
        body = self.login("eve@login.example", cookie=True).json()
        self.assertNotIn("refresh_token", body)
        r = self.login("eve@login.example", cookie=True)
        cookie = r.headers["set-cookie"]
        for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/v1/auth/", "Max-Age=2592000"):
            self.assertIn(attribute, cookie)
        value = cookie.split(";")[0]
        refreshed = self.req("POST", "/v1/auth/refresh", headers={"cookie": value}, content_type=None)
        self.assertEqual(refreshed.status, 200, refreshed)
        self.assertNotIn("refresh_token", refreshed.json())
        next_cookie = refreshed.headers["set-cookie"].split(";")[0]
        out = self.req("POST", "/v1/auth/logout", headers={"cookie": next_cookie}, content_type=None)
        self.assertEqual(out.status, 204, out)
        self.assertIn("Max-Age=0", out.headers["set-cookie"])
        self.assertProblem(self.req("POST", "/v1/auth/refresh", headers={"cookie": next_cookie}, content_type=None), 401, "unauthenticated")

    def test_an_ended_session_s_access_token_is_refused_on_its_next_request(self):
        self.account("ola@login.example")
        for end in ("logout", "delete", "reuse"):
            with self.subTest(end=end):
                session = self.login("ola@login.example").json()
                token = session["access_token"]
                self.assertEqual(self.req("GET", "/v1/tenant", token=token).status, 200)
                if end == "logout":
                    self.assertEqual(self.req("POST", "/v1/auth/logout", {"refresh_token": session["refresh_token"]}).status, 204)
                elif end == "delete":
                    other = self.login("ola@login.example").json()["access_token"]
                    self.assertEqual(self.req("DELETE", f"/v1/auth/sessions/{session['session_id']}", token=other).status, 204)
                else:
                    self.assertEqual(self.req("POST", "/v1/auth/refresh", {"refresh_token": session["refresh_token"]}).status, 200)
                    self.assertProblem(self.req("POST", "/v1/auth/refresh", {"refresh_token": session["refresh_token"]}), 401, "token_reused")
                self.assertProblem(self.req("GET", "/v1/tenant", token=token), 401, "unauthenticated")
                self.assertEnded(token)

    def assertEnded(self, token):
        """Every route family refuses an ended session's token on its very next request: the
        account's own routes too, and it cannot end the account's newer session."""
        self.assertProblem(self.req("GET", "/v1/auth/me", token=token), 401, "unauthenticated")
        self.assertProblem(self.req("GET", "/v1/auth/sessions", token=token), 401, "unauthenticated")
        self.assertProblem(self.req("POST", "/v1/auth/switch", {"tenant": self.slug_a}, token=token), 401, "unauthenticated")

    def test_an_ended_session_cannot_end_the_account_s_new_session(self):
        self.account("pia@login.example")
        stolen = self.login("pia@login.example").json()
        self.assertEqual(self.req("POST", "/v1/auth/logout", {"refresh_token": stolen["refresh_token"]}).status, 204)
        fresh = self.login("pia@login.example").json()
        r = self.req("DELETE", f"/v1/auth/sessions/{fresh['session_id']}", token=stolen["access_token"])
        self.assertProblem(r, 401, "unauthenticated")
        self.assertEqual(self.req("GET", "/v1/auth/me", token=fresh["access_token"]).status, 200)
        self.assertEqual(self.req("POST", "/v1/auth/refresh", {"refresh_token": fresh["refresh_token"]}).status, 200)

    def test_an_ended_operator_session_is_refused_on_admin_routes(self):
        import sys
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
        from tenantry_accounts import pbkdf2_phc
        now = int(time.time())
        user = f"u_{now + 7:024x}"[-26:]
        email = f"op-ended-{now}@platform.example"
        self.sql(f"INSERT INTO users (id, email, platform_role, password_hash, email_verified, created_at) "
                 f"VALUES ('{user}', '{email}', 'superadmin', '{pbkdf2_phc(PASSWORD)}', 1, {now})")
        for end in ("logout", "reuse"):
            with self.subTest(end=end):
                session = self.login(email).json()
                token = session["access_token"]
                self.assertEqual(self.req("GET", "/v1/admin/stats", token=token).status, 200)
                if end == "logout":
                    self.assertEqual(self.req("POST", "/v1/auth/logout", {"refresh_token": session["refresh_token"]}).status, 204)
                else:
                    self.assertEqual(self.req("POST", "/v1/auth/refresh", {"refresh_token": session["refresh_token"]}).status, 200)
                    self.assertProblem(self.req("POST", "/v1/auth/refresh", {"refresh_token": session["refresh_token"]}), 401, "token_reused")
                self.assertProblem(self.req("GET", "/v1/admin/stats", token=token), 401, "unauthenticated")
                self.assertProblem(self.req("GET", "/v1/admin/tenants", token=token), 401, "unauthenticated")
                self.assertProblem(self.req("GET", "/v1/auth/me", token=token), 401, "unauthenticated")
                self.assertProblem(self.req("GET", "/v1/tenant", token=token, headers={"x-tenant": self.slug_a}), 401, "unauthenticated")

    def test_a_suspended_operator_s_session_is_refused_at_once(self):
        import sys
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
        from tenantry_accounts import pbkdf2_phc
        now = int(time.time())
        user = f"u_{now:024x}"[-26:]
        self.sql(f"INSERT INTO users (id, email, platform_role, password_hash, email_verified, created_at) "
                 f"VALUES ('{user}', 'op-{now}@platform.example', 'superadmin', '{pbkdf2_phc(PASSWORD)}', 1, {now})")
        token = self.login(f"op-{now}@platform.example").json()["access_token"]
        self.assertEqual(self.req("GET", "/v1/admin/stats", token=token).status, 200)
        self.assertEqual(self.req("GET", "/v1/tenant", token=token, headers={"x-tenant": self.slug_a}).status, 200)
        self.assertEqual(self.req("POST", f"/v1/admin/users/{user}/suspend", token=superadmin_token()).status, 200)
        self.assertProblem(self.req("GET", "/v1/admin/stats", token=token), 403, "account_suspended")
        self.assertProblem(self.req("GET", "/v1/tenant", token=token, headers={"x-tenant": self.slug_a}), 403, "account_suspended")
        self.assertProblem(self.req("GET", "/v1/auth/me", token=token), 403, "account_suspended")
        # The script's PBKDF2 hash became argon2id at the first sign-in.
        self.assertTrue(self.sql(f"SELECT password_hash FROM users WHERE id = '{user}'")[0]["password_hash"].startswith("$argon2id$"))

    def test_sessions_are_listed_and_ended_one_by_one_and_only_ones_own(self):
        self.account("fay@login.example")
        one = self.login("fay@login.example").json()
        two = self.login("fay@login.example").json()
        listed = self.req("GET", "/v1/auth/sessions", token=two["access_token"]).json()["sessions"]
        ids = {s["id"]: s["current"] for s in listed}
        self.assertEqual((ids.get(one["session_id"]), ids.get(two["session_id"])), (False, True))
        other = self.account("gus@login.example")
        self.assertProblem(self.req("DELETE", f"/v1/auth/sessions/{one['session_id']}", token=other["access_token"]), 404, "not_found")
        self.assertEqual(self.req("DELETE", f"/v1/auth/sessions/{one['session_id']}", token=two["access_token"]).status, 204)
        self.assertProblem(self.req("POST", "/v1/auth/refresh", {"refresh_token": one["refresh_token"]}), 401, "unauthenticated")
        self.assertEqual(self.req("POST", "/v1/auth/refresh", {"refresh_token": two["refresh_token"]}).status, 200)
        # An API key is no person: the account's routes refuse it.
        self.assertProblem(self.req("GET", "/v1/auth/sessions", token=self.key_a), 403, "forbidden")

    def test_switch_issues_a_token_for_another_membership_only(self):
        a = self.account("hal@switch.example")
        self.account("hal@switch.example", key=self.key_b)  # the same account joins B
        token = self.login("hal@switch.example", tenant=self.slug_a).json()["access_token"]
        self.assertEqual(self.req("GET", "/v1/tenant", token=token).json()["id"], self.id_a)
        switched = self.req("POST", "/v1/auth/switch", {"tenant": self.slug_b}, token=token)
        self.assertEqual(switched.status, 200, switched)
        self.assertEqual(switched.json()["tenant"]["id"], self.id_b)
        self.assertEqual(self.req("GET", "/v1/tenant", token=switched.json()["access_token"]).json()["id"], self.id_b)
        me = self.req("GET", "/v1/auth/me", token=token).json()
        self.assertEqual(sorted(t["tenant_id"] for t in me["tenants"]), sorted([self.id_a, self.id_b]))
        outsider = self.gateway.create_tenant(f"switch-c-{int(time.time())}")
        self.assertProblem(self.req("POST", "/v1/auth/switch", {"tenant": outsider["tenant"]["slug"]}, token=token), 403, "tenant_mismatch")
        self.assertTrue(a["tenants"])


class MembershipChangeTest(AuthBase):
    def test_removal_role_change_and_suspension_apply_to_the_very_next_request(self):
        tokens = self.account("ian@members.example", role="manager")
        token, user = tokens["access_token"], tokens["user_id"]
        self.assertEqual(self.req("POST", "/v1/clients", {"name": "by a manager"}, token=token).status, 201)
        self.assertEqual(self.req("PATCH", f"/v1/members/{user}", {"role": "viewer"}, token=self.key_a).status, 200)
        self.assertProblem(self.req("POST", "/v1/clients", {"name": "by a viewer"}, token=token), 403, "forbidden")
        self.assertEqual(self.req("GET", "/v1/clients", token=token).status, 200)
        admin = superadmin_token()
        self.assertEqual(self.req("POST", f"/v1/admin/users/{user}/suspend", token=admin).status, 200)
        self.assertProblem(self.req("GET", "/v1/clients", token=token), 403, "account_suspended")
        self.assertProblem(self.login("ian@members.example"), 403, "account_suspended")
        self.assertEqual(self.req("POST", f"/v1/admin/users/{user}/activate", token=admin).status, 200)
        # The suspension ended its sessions: the old token stays refused, a new sign-in works.
        self.assertProblem(self.req("GET", "/v1/clients", token=token), 401, "unauthenticated")
        token = self.login("ian@members.example").json()["access_token"]
        self.assertEqual(self.req("GET", "/v1/clients", token=token).status, 200)
        self.assertEqual(self.req("DELETE", f"/v1/members/{user}", token=self.key_a).status, 204)
        self.assertProblem(self.req("GET", "/v1/clients", token=token), 403, "tenant_mismatch")


class ThrottleTest(AuthBase):
    def test_five_failures_lock_an_address_whether_or_not_it_has_an_account(self):
        self.account("jo@throttle.example")
        for email in ("jo@throttle.example", "ghost@throttle.example"):
            for i in range(5):
                r = self.req("POST", "/v1/auth/login", {"email": email, "password": "wrong wrong wrong"},
                             headers={"cf-connecting-ip": f"10.2.0.{i}"})
                self.assertProblem(r, 401, "invalid_credentials")
            locked = self.req("POST", "/v1/auth/login", {"email": email, "password": PASSWORD},
                              headers={"cf-connecting-ip": "10.2.0.99"})
            body = self.assertProblem(locked, 429, "too_many_attempts")
            self.assertGreater(int(locked.headers["retry-after"]), 800)
            self.assertEqual(int(locked.headers["retry-after"]), body["retry_after"])
        sessions = self.count("sessions", "user_id = (SELECT id FROM users WHERE email = 'jo@throttle.example')")
        self.assertEqual(sessions, 1, "only the acceptance's session; the locked correct login opened none")

    def test_concurrent_guesses_get_no_more_than_five_tries(self):
        self.account("pat@throttle.example")
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda i: self.req("POST", "/v1/auth/login", {"email": "pat@throttle.example", "password": f"guess number {i:04d}"},
                                                       headers={"cf-connecting-ip": f"10.4.0.{i}"}), range(12)))
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses.count(401), 5, statuses)
        self.assertEqual(statuses.count(429), 7, statuses)

    def test_five_failures_from_one_client_lock_that_client(self):
        for i in range(5):
            self.req("POST", "/v1/auth/login", {"email": f"spray{i}@throttle.example", "password": "wrong wrong wrong"},
                     headers={"cf-connecting-ip": "10.3.3.3"})
        self.assertProblem(self.req("POST", "/v1/auth/login", {"email": "fresh@throttle.example", "password": "wrong wrong wrong"},
                                    headers={"cf-connecting-ip": "10.3.3.3"}), 429, "too_many_attempts")
        self.assertProblem(self.req("POST", "/v1/auth/login", {"email": "fresh@throttle.example", "password": "wrong wrong wrong"},
                                    headers={"cf-connecting-ip": "10.3.3.4"}), 401, "invalid_credentials")


class InvitationTest(AuthBase):
    def test_the_grant_rule_listing_revocation_and_resend(self):
        employee = self.account("kim@invite.example", role="employee")
        self.assertProblem(self.req("POST", "/v1/invitations", {"email": "x@invite.example", "role": "admin"},
                                    token=employee["access_token"]), 403, "forbidden")
        manager_key = self.req("POST", "/v1/api-keys", {"name": "m", "role": "manager"}, token=self.key_a).json()["key"]
        self.assertProblem(self.req("POST", "/v1/invitations", {"email": "x@invite.example", "role": "admin"}, token=manager_key), 403, "forbidden")
        invitation, token = self.invite("lea@invite.example")
        self.assertProblem(self.req("POST", "/v1/invitations", {"email": "lea@invite.example", "role": "employee"}, token=self.key_a), 409, "conflict")
        listed = self.req("GET", "/v1/invitations", token=self.key_a).json()["invitations"]
        self.assertIn(invitation["id"], [i["id"] for i in listed])
        self.assertNotIn(token.encode(), self.req("GET", "/v1/invitations", token=self.key_a).body)
        resent = self.req("POST", f"/v1/invitations/{invitation['id']}/resend", token=self.key_a)
        self.assertEqual(resent.status, 200, resent)
        new_token = token_in(self.outbox("lea@invite.example")["message"], "inv_")
        self.assertNotEqual(new_token, token)
        self.assertProblem(self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD}), 410, "invitation_invalid")
        self.assertEqual(self.req("DELETE", f"/v1/invitations/{invitation['id']}", token=self.key_a).status, 204)
        users = self.count("users")
        self.assertProblem(self.req("POST", "/v1/auth/accept-invitation", {"token": new_token, "password": PASSWORD}), 410, "invitation_invalid")
        self.assertEqual(self.count("users"), users, "a revoked invitation creates nothing")
        self.assertProblem(self.req("DELETE", f"/v1/invitations/{invitation['id']}", token=self.key_a), 404, "not_found")

    def test_pending_invitations_count_against_the_users_quota(self):
        tenant = self.gateway.create_tenant(f"quota-{int(time.time())}", plan="starter")  # 5 users
        key = tenant["owner_api_key"]
        for i in range(4):
            self.assertEqual(self.req("POST", "/v1/invitations", {"email": f"q{i}@quota.example", "role": "viewer"}, token=key).status, 201)
        body = self.assertProblem(self.req("POST", "/v1/invitations", {"email": "q9@quota.example", "role": "viewer"}, token=key), 403, "quota_exceeded")
        self.assertEqual((body["current"], body["limit"]), (5, 5))
        self.assertProblem(self.req("POST", "/v1/members", {"email": "q9@quota.example", "role": "viewer"}, token=key), 403, "quota_exceeded")

    def test_an_invitation_is_read_by_its_token_without_being_spent(self):
        _, token = self.invite("uma@invite.example", role="admin")
        before = (self.count("users"), self.count("memberships"), self.count("sessions"))
        r = self.req("POST", "/v1/auth/invitation", {"token": token})
        self.assertEqual(r.status, 200, r)
        shown = r.json()
        tenant = self.req("GET", "/v1/tenant", token=self.key_a).json()
        self.assertEqual(shown["tenant"], {"name": tenant["name"], "slug": self.slug_a})
        self.assertEqual((shown["role"], shown["email"], shown["account_exists"]), ("admin", "uma@invite.example", False))
        self.assertEqual((self.count("users"), self.count("memberships"), self.count("sessions")), before)
        self.assertNotIn(token.encode(), r.body)
        # An account that exists accepts with its own password: the page asks for that one.
        self.account("vic@invite.example", key=self.key_b)
        _, vic = self.invite("vic@invite.example")
        self.assertTrue(self.req("POST", "/v1/auth/invitation", {"token": vic}).json()["account_exists"])
        self.assertEqual(self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD}).status, 200)
        for spent in (token, "inv_" + "A" * 43, "rt_" + "A" * 43):
            self.assertProblem(self.req("POST", "/v1/auth/invitation", {"token": spent}), 410, "invitation_invalid")
        self.assertProblem(self.req("POST", "/v1/auth/invitation", {"token": vic, "password": PASSWORD}), 400, "invalid_request")

    def test_used_and_expired_tokens_are_410_and_change_nothing(self):
        _, token = self.invite("max@invite.example")
        self.assertEqual(self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD}).status, 200)
        self.assertProblem(self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD}), 410, "invitation_invalid")
        invitation, expired = self.invite("ned@invite.example")
        self.sql(f"UPDATE invitations SET expires_at = 1000 WHERE id = '{invitation['id']}'")
        before = (self.count("users"), self.count("memberships"), self.count("sessions"))
        self.assertProblem(self.req("POST", "/v1/auth/accept-invitation", {"token": expired, "password": PASSWORD}), 410, "invitation_invalid")
        self.assertProblem(self.req("POST", "/v1/auth/accept-invitation", {"token": "inv_" + "A" * 43, "password": PASSWORD}), 410, "invitation_invalid")
        self.assertProblem(self.req("POST", "/v1/auth/accept-invitation", {"token": "rt_" + "A" * 43, "password": PASSWORD}), 410, "invitation_invalid")
        self.assertEqual((self.count("users"), self.count("memberships"), self.count("sessions")), before)

    def test_a_member_of_another_tenant_joins_with_its_own_password_and_b_s_token_joins_only_b(self):
        self.account("oli@invite.example", key=self.key_b)
        invitation, token = self.invite("oli@invite.example")  # A invites B's member
        self.assertProblem(self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": "a different password"},
                                    headers={"cf-connecting-ip": "10.5.0.1"}), 401, "invalid_credentials")
        r = self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD})
        self.assertEqual((r.status, r.json()["tenant"]["id"]), (200, self.id_a), r)
        row = self.sql(f"SELECT invited_at, joined_at, role FROM memberships WHERE tenant_id = '{self.id_a}' AND user_id = '{r.json()['user_id']}'")[0]
        self.assertEqual(row["invited_at"], invitation["created_at"])
        self.assertGreaterEqual(row["joined_at"], row["invited_at"])
        self.assertTrue(self.sql(f"SELECT 1 FROM audit_log WHERE tenant_id = '{self.id_a}' AND action = 'invitation.accept'"))
        # B's invitation token joins B, whatever the request names.
        _, b_token = self.invite("pia@invite.example", key=self.key_b)
        joined = self.req("POST", "/v1/auth/accept-invitation", {"token": b_token, "password": PASSWORD},
                          headers={"x-tenant": self.slug_a})
        self.assertEqual(joined.json()["tenant"]["id"], self.id_b)
        self.assertFalse(self.sql(f"SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id "
                                  f"WHERE m.tenant_id = '{self.id_a}' AND u.email = 'pia@invite.example'"))

    def test_a_new_password_follows_the_rules(self):
        _, token = self.invite("quy@invite.example")
        for weak, why in (("short", "at least 12"), ("Password1234", "too common"), ("a" * 129, "at most 128")):
            body = self.assertProblem(self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": weak}), 400, "weak_password")
            self.assertIn(why, body["detail"])
            self.assertEqual(body["field"], "password")
        self.assertEqual(self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD}).status, 200)


class MailRoundTripTest(AuthBase):
    """The relay drains the outbox into the hosted Maildir; the tokens are read there."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.domain = f"{cls.slug_a}.people.example"
        created = cls.gateway.request("POST", "/v1/mail/domains", {"domain": cls.domain, "organization_name": "People", "organization_type": "clinic",
                                                                   "max_mailboxes": 20, "max_storage_mb": 50}, token=cls.key_a)
        assert created.status == 201, created
        cls.gateway.vouch(cls.domain, cls.id_a)
        for local in ("rae", "sam", "tom", "uma"):
            made = cls.gateway.request("POST", f"/v1/mail/domains/{cls.domain}/mailboxes", {"address": f"{local}@{cls.domain}", "kind": "personal"}, token=cls.key_a)
            assert made.status == 201, made
        key = cls.gateway.create_relay_key("auth-mail")["key"]
        cls.relay = relay_harness.RelayProcess(cls.gateway.url, api_key=key).start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()

    def delivered(self, address, count=1):
        deadline = time.time() + 20
        while time.time() < deadline:
            messages = self.relay.messages(address)
            if len(messages) >= count:
                return messages
            time.sleep(0.3)
        self.fail(f"the relay delivered nothing more to {address}: {self.relay.log()[-2000:]}")

    def test_an_invitation_read_from_the_maildir_joins_the_tenant(self):
        address = f"rae@{self.domain}"
        self.req("POST", "/v1/invitations", {"email": address, "role": "employee"}, token=self.key_a,
                 headers={"accept-language": "fr-FR,fr;q=0.9"})
        message = self.delivered(address)[0]
        self.assertIn(b"Received: from the platform outbox by mx.tenantry.test", message)
        self.assertIn("Vous êtes invité(e) à rejoindre", text_part(message[message.index(b"From:"):]))
        token = token_in(message[message.index(b"From:"):], "inv_")
        r = self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD})
        self.assertEqual((r.status, r.json()["tenant"]["id"]), (200, self.id_a), r)
        deadline = time.time() + 10
        while time.time() < deadline and self.sql(f"SELECT sent_at FROM outbound_messages WHERE recipient = '{address}'")[0]["sent_at"] is None:
            time.sleep(0.3)
        row = self.sql(f"SELECT sent_at, message FROM outbound_messages WHERE recipient = '{address}'")[0]
        self.assertIsNotNone(row["sent_at"], "acknowledged")
        self.assertEqual(row["message"], "", "a delivered message's links (live tokens) are erased from the outbox")

    def test_a_reset_read_from_the_maildir_sets_the_password_and_ends_every_session(self):
        address = f"sam@{self.domain}"
        # The relay may deliver (and so erase from the outbox) the invitation at any moment:
        # its token is read from the Maildir, like every token of this class.
        self.assertEqual(self.req("POST", "/v1/invitations", {"email": address, "role": "employee"}, token=self.key_a).status, 201)
        message = self.delivered(address)[0]
        token = token_in(message[message.index(b"From:"):], "inv_")
        self.assertEqual(self.req("POST", "/v1/auth/accept-invitation", {"token": token, "password": PASSWORD}).status, 200)
        old = self.login(address).json()
        self.assertEqual(self.req("GET", "/v1/auth/me", token=old["access_token"]).status, 200)
        outbox = self.count("outbound_messages")
        for email in (address, f"nobody@{self.domain}"):
            r = self.req("POST", "/v1/auth/forgot-password", {"email": email})
            self.assertEqual((r.status, r.json()["status"]), (202, "accepted"))
        self.assertEqual(self.count("outbound_messages"), outbox + 1, "nothing is sent for an unknown address")
        reset = None
        for m in self.delivered(address, 2):
            body = text_part(m[m.index(b"From:"):])
            found = re.search(r"pr_[A-Za-z0-9_-]{43}", body)
            if found:
                reset = found.group(0)
        self.assertTrue(reset, "the reset link reached the Maildir")
        # Another account's reset token, or a verification token, sets nothing here.
        self.assertProblem(self.req("POST", "/v1/auth/reset-password", {"token": "ev_" + reset[3:], "password": "a brand new passphrase"}), 400, "token_invalid")
        r = self.req("POST", "/v1/auth/reset-password", {"token": reset, "password": "a brand new passphrase"})
        self.assertEqual(r.status, 200, r)
        self.assertProblem(self.req("POST", "/v1/auth/refresh", {"refresh_token": old["refresh_token"]}), 401, "unauthenticated")
        # The stolen access token dies with the reset, on every route.
        self.assertProblem(self.req("GET", "/v1/auth/me", token=old["access_token"]), 401, "unauthenticated")
        self.assertProblem(self.req("GET", "/v1/auth/sessions", token=old["access_token"]), 401, "unauthenticated")
        self.assertProblem(self.req("GET", "/v1/tenant", token=old["access_token"]), 401, "unauthenticated")
        self.assertProblem(self.login(address), 401, "invalid_credentials")
        self.assertEqual(self.login(address, "a brand new passphrase").status, 200)
        self.assertProblem(self.req("POST", "/v1/auth/reset-password", {"token": reset, "password": "yet another passphrase"}), 400, "token_invalid")

    def test_sign_up_verify_from_the_maildir_activates_the_tenant(self):
        address = f"tom@{self.domain}"
        slug = f"signup-{int(time.time())}"
        r = self.req("POST", "/v1/auth/signup", {"email": address, "password": PASSWORD, "tenant": {"slug": slug, "name": "Salon Tom"}})
        self.assertEqual(r.status, 202, r)
        tenant_id = self.sql(f"SELECT id FROM tenants WHERE slug = '{slug}'")[0]["id"]
        self.assertEqual(self.sql(f"SELECT status, plan FROM tenants WHERE id = '{tenant_id}'")[0], {"status": "pending", "plan": "free"})
        self.assertProblem(self.login(address), 403, "email_unverified")
        message = self.delivered(address)[0]
        token = token_in(message[message.index(b"From:"):], "ev_")
        verified = self.req("POST", "/v1/auth/verify-email", {"token": token})
        self.assertEqual((verified.status, verified.json()["activated_tenants"]), (200, [tenant_id]))
        self.assertProblem(self.req("POST", "/v1/auth/verify-email", {"token": token}), 400, "token_invalid")
        session = self.login(address).json()
        info = self.req("GET", "/v1/tenant", token=session["access_token"]).json()
        self.assertEqual((info["id"], info["status"]), (tenant_id, "active"))
        self.assertTrue(self.sql(f"SELECT 1 FROM audit_log WHERE tenant_id = '{tenant_id}' AND action = 'auth.signup'"))
        welcome = self.delivered(address, 2)
        self.assertTrue(any(b"Welcome" in m or b"V2VsY29tZ" in m for m in welcome))
        # Signing up again with the address answers exactly as a new sign-up, creates nothing,
        # and tells the address's owner by mail.
        tenants = self.count("tenants")
        again = self.req("POST", "/v1/auth/signup", {"email": address.upper(), "password": PASSWORD,
                                                     "tenant": {"slug": slug + "-x", "name": "Again"}})
        self.assertEqual((again.status, again.json()), (r.status, r.json()))
        self.assertEqual(self.count("tenants"), tenants)
        self.assertEqual(self.outbox(address)["template"], "account_exists")
        self.assertProblem(self.req("POST", "/v1/auth/signup", {"email": f"uma@{self.domain}", "password": PASSWORD,
                                                               "tenant": {"slug": slug, "name": "Taken"}}), 409, "conflict")


class BadInputTest(AuthBase):
    def test_malformed_bodies_and_tokens_get_stable_codes_and_write_nothing(self):
        before = [self.count(t) for t in ("users", "sessions", "refresh_tokens", "invitations", "outbound_messages", "tenants")]
        cases = [
            ("/v1/auth/login", {"email": "a@b.example", "password": "x", "extra": 1}, 400, "invalid_request"),
            ("/v1/auth/login", {"email": "a@b.example"}, 400, "invalid_request"),
            ("/v1/auth/refresh", {"refresh_token": "not-a-token"}, 401, "unauthenticated"),
            ("/v1/auth/refresh", {}, 401, "unauthenticated"),
            ("/v1/auth/verify-email", {"token": "ev_short"}, 400, "token_invalid"),
            ("/v1/auth/reset-password", {"token": "pr_" + "B" * 43, "password": PASSWORD}, 400, "token_invalid"),
            ("/v1/auth/signup", {"email": "not an address", "password": PASSWORD, "tenant": {"slug": "ok-slug", "name": "x"}}, 400, "invalid_request"),
            ("/v1/auth/signup", {"email": "v@w.example", "password": PASSWORD, "tenant": {"slug": "Bad Slug!", "name": "x"}}, 400, "invalid_request"),
            ("/v1/auth/signup", {"email": "v@w.example", "password": "short", "tenant": {"slug": "fine-slug", "name": "x"}}, 400, "weak_password"),
            ("/v1/auth/forgot-password", {"email": "not an address"}, 400, "invalid_request"),
        ]
        for path, body, status, code in cases:
            with self.subTest(path=path, body=body):
                self.assertProblem(self.req("POST", path, body), status, code)
        self.assertProblem(self.req("POST", "/v1/auth/login", raw=b"email=a", content_type="application/x-www-form-urlencoded"), 415, "unsupported_media_type")
        self.assertProblem(self.req("POST", "/v1/auth/login", raw=b"{" + b" " * 70000 + b"}"), 413, "payload_too_large")
        self.assertEqual([self.count(t) for t in ("users", "sessions", "refresh_tokens", "invitations", "outbound_messages", "tenants")], before)

    def test_a_session_of_a_s_member_never_acts_on_b(self):
        tokens = self.account("vic@iso.example")
        token = tokens["access_token"]
        for headers in ({"x-tenant": self.slug_b}, {"x-tenant-id": self.id_b}, {"host": f"{self.slug_b}.app.example"}):
            self.assertProblem(self.req("GET", "/v1/clients", token=token, headers=headers), 403, "tenant_mismatch")
        self.assertProblem(self.req("GET", f"/v1/t/{self.slug_b}/clients", token=token), 403, "tenant_mismatch")
        self.assertProblem(self.req("POST", "/v1/auth/switch", {"tenant": self.id_b}, token=token), 403, "tenant_mismatch")
        # The platform's routes refuse a tenant member's session.
        self.assertProblem(self.req("GET", "/v1/admin/tenants", token=token), 403, "forbidden")
        self.assertProblem(self.req("POST", "/v1/auth/password-benchmark", {"scheme": "pbkdf2-sha256"}, token=token), 403, "forbidden")


if __name__ == "__main__":
    unittest.main()
