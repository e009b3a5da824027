"""Submission (587 with STARTTLS, 465 with TLS), AUTH with app passwords, sender rights,
sending limits, and the outbound queue to scripted remote MX hosts: real TCP, Python's
smtplib, the real relay binary."""
import base64
import pathlib
import smtplib
import ssl
import tempfile
import time
import unittest

from harness import RelayProcess, make_certificates, API_KEY, wait_for
from remote_mx import RemoteMx
from standin_gateway import StandinGateway

PARIS, LYON, SUSPENDED = "hopital-paris.example", "clinique-lyon.example", "clinique-nice.example"
ANN, BOB, EVE, ZOE = f"ann@{PARIS}", f"bob@{PARIS}", f"eve@{LYON}", f"zoe@{SUSPENDED}"
PW_ANN, PW_EVE, PW_ZOE = "abcd-efgh-ijkm-npqr-stuv-wxyz", "eeee-ffff-gggg-hhhh-iiii-jjjj", "zzzz-zzzz-zzzz-zzzz-zzzz-zzzz"


def tls_context(ca):
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    return context


def message(sender, to, subject, body="Bonjour.\r\n"):
    return f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n{body}".encode()


class SubmissionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gateway = StandinGateway(API_KEY)
        g = cls.gateway
        g.put_domain("t_paris", PARIS, sending={"messages_per_day": 6, "messages_per_minute": -1,
                                               "recipients_per_message": 3})
        g.put_domain("t_lyon", LYON)
        g.put_domain("t_nice", SUSPENDED, status="suspended")
        for address, tenant in ((ANN, "t_paris"), (BOB, "t_paris"), (EVE, "t_lyon"), (ZOE, "t_nice")):
            g.put_mailbox(tenant, address)
        g.put_alias("t_paris", f"accueil@{PARIS}", [ANN])
        g.put_credential("t_paris", "ap_ann", ANN, PW_ANN)
        g.put_credential("t_lyon", "ap_eve", EVE, PW_EVE)
        g.put_credential("t_nice", "ap_zoe", ZOE, PW_ZOE)
        cls.remote = RemoteMx()
        cls.certs = pathlib_dir = tempfile.mkdtemp(prefix="relay-sub-certs-")
        cls.ca = make_certificates(pathlib_dir, ["default", "mx.tenantry.test"])
        cls.relay = RelayProcess(g.url, cert_dir=cls.certs, outbound={
            "transport": {"remote.test": f"127.0.0.1:{cls.remote.port}",
                          "other.test": f"127.0.0.1:{cls.remote.port}"},
            "retry": {"first_retry_secs": 1, "max_retry_secs": 2, "give_up_after_secs": 3600},
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        cls.remote.stop()
        cls.gateway.stop()

    def submit(self, user=ANN, password=PW_ANN, implicit=False, source="127.0.0.1"):
        # Failed AUTH is throttled per client address: tests that fail on purpose come
        # from addresses of their own (any 127/8 address is loopback).
        if implicit:
            client = smtplib.SMTP_SSL("127.0.0.1", self.relay.submissions_port, timeout=20,
                                      context=tls_context(self.ca), source_address=(source, 0))
        else:
            client = smtplib.SMTP("127.0.0.1", self.relay.submission_port, timeout=20,
                                  source_address=(source, 0))
            client.starttls(context=tls_context(self.ca))
        client.ehlo("client.test")
        if user:
            client.login(user, password)
        return client

    def test_auth_is_refused_before_tls_and_not_offered(self):
        with smtplib.SMTP("127.0.0.1", self.relay.submission_port, timeout=10) as client:
            code, text = client.ehlo("x")
            self.assertNotIn(b"AUTH", text)
            self.assertIn(b"STARTTLS", text)
            plain = base64.b64encode(f"\0{ANN}\0{PW_ANN}".encode()).decode()
            self.assertEqual(client.docmd("AUTH", f"PLAIN {plain}")[0], 538)
            self.assertEqual(client.docmd("MAIL", f"FROM:<{ANN}>")[0], 538)

    def test_each_mechanism_on_both_ports_delivers_locally_and_remotely(self):
        for implicit, mechanism in ((False, "PLAIN"), (False, "LOGIN"), (True, "PLAIN"), (True, "LOGIN")):
            with self.subTest(implicit=implicit, mechanism=mechanism):
                subject = f"both {implicit} {mechanism}"
                client = self.submit(user=None, implicit=implicit)
                self.assertEqual(client.esmtp_features["auth"].split(), ["PLAIN", "LOGIN"])
                client.user, client.password = ANN, PW_ANN
                code, _ = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
                self.assertEqual(code, 235)
                refused = client.sendmail(ANN, [BOB, "x@remote.test"], message(ANN, BOB, subject))
                self.assertEqual(refused, {})
                client.quit()
                local = wait_for(lambda: [m for m in self.relay.messages(BOB) if subject.encode() in m],
                                 what="local delivery")
                self.assertIn(b"with ESMTPSA", local[0])
                remote = wait_for(lambda: [m for m in self.remote.received_by("x@remote.test")
                                           if subject.encode() in m[2]], what="remote delivery")
                self.assertEqual(remote[0][0], ANN)
                self.assertTrue(remote[0][2].endswith(message(ANN, BOB, subject)),
                                "the remote gets the message as submitted, after one Received line")

    def test_wrong_revoked_and_foreign_credentials(self):
        def auth_plain(client, user, password):
            # One AUTH each (smtplib's login() would try every mechanism in turn).
            plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            return client.docmd("AUTH", f"PLAIN {plain}")
        with self.submit(user=None, source="127.0.0.2") as client:
            self.assertEqual(auth_plain(client, ANN, "wrong-password-entirely")[0], 535)
            self.assertEqual(auth_plain(client, ANN, PW_EVE)[0], 535, "another tenant's password")
            self.assertEqual(auth_plain(client, ZOE, PW_ZOE), (535, b"5.7.8 Authentication credentials invalid"),
                             "a suspended domain")
            self.assertEqual(auth_plain(client, EVE, PW_EVE)[0], 235)
            # Lyon's mailbox cannot send as Paris, in the envelope or the header.
            with self.assertRaises(smtplib.SMTPSenderRefused) as e:
                client.sendmail(ANN, ["x@remote.test"], message(ANN, "x@remote.test", "spoof"))
            self.assertEqual((e.exception.smtp_code, e.exception.smtp_error[:5]), (553, b"5.7.1"))
            with self.assertRaises(smtplib.SMTPDataError) as e:
                client.sendmail(EVE, ["x@remote.test"], message(ANN, "x@remote.test", "spoof"))
            self.assertEqual((e.exception.smtp_code, e.exception.smtp_error[:5]), (553, b"5.7.1"))

    def test_exactly_one_from_field(self):
        """A second From: naming another tenant's address is refused, not judged by one of
        the two (readers differ on which they show)."""
        with self.submit() as client:
            for headers, code in ((f"From: {EVE}\r\nFrom: {ANN}\r\n", 554), (f"To: {BOB}\r\n", 554),
                                  (f"From: {ANN}\r\nSender: {EVE}\r\n", 553)):
                with self.assertRaises(smtplib.SMTPDataError) as e:
                    client.sendmail(ANN, [BOB], f"{headers}Subject: two\r\n\r\nhi\r\n".encode())
                self.assertEqual(e.exception.smtp_code, code, headers)

    def test_an_alias_is_an_address_of_its_mailbox(self):
        with self.submit() as client:
            self.assertEqual(client.sendmail(f"accueil@{PARIS}", [BOB],
                                             message(f"Accueil <accueil@{PARIS}>", BOB, "alias")), {})

    def test_a_revoked_password_stops_signing_in_after_one_sync(self):
        self.gateway.put_credential("t_paris", "ap_bob", BOB, "bob-pass-word-xxxx-yyyy-zzzz")
        self.wait_synced()
        self.assertTrue(self._can_login(BOB, "bob-pass-word-xxxx-yyyy-zzzz"))
        self.gateway.revoke_credential("ap_bob")
        self.wait_synced()
        self.assertFalse(self._can_login(BOB, "bob-pass-word-xxxx-yyyy-zzzz"))
        wait_for(lambda: "ap_bob" in self.gateway.passwords_used, what="last use reported")

    def wait_synced(self):
        self.relay.wait_for_version(self.gateway.version)

    def _can_login(self, user, password):
        with self.submit(user=None, source="127.0.0.3") as client:
            try:
                client.login(user, password)
                return True
            except smtplib.SMTPAuthenticationError:
                return False

    def test_plan_limits_recipients_and_messages_per_day(self):
        with self.submit() as client:
            client.mail(ANN)
            for n in range(3):
                self.assertEqual(client.rcpt(f"r{n}@remote.test")[0], 250)
            code, text = client.rcpt("r4@remote.test")
            self.assertEqual((code, text[:5]), (452, b"4.5.3"))
            client.rset()
        # The day's limit (6) is shared by every session of the tenant; earlier tests of
        # the class may have used some of it.
        codes = []
        for n in range(8):
            with self.submit() as client:
                code, text = client.mail(ANN)
                codes.append(code)
                if code == 250:
                    client.rcpt(BOB)
                    client.data(message(ANN, BOB, f"quota {n}"))
                else:
                    self.assertEqual(text[:5], b"4.7.1")
                    self.assertIn(b"per day", text)
        self.assertIn(451, codes)

    def test_parallel_sessions_sign_in_and_parallel_guesses_get_five_tries(self):
        """A client's parallel sessions with the right password all sign in, even on a
        fresh relay (one hash per account at a time, then the cache); parallel wrong
        guesses at one account get five tries between them."""
        import concurrent.futures
        relay = RelayProcess(self.gateway.url, cert_dir=self.certs).start()

        def attempt(n, user, password):
            client = smtplib.SMTP("127.0.0.1", relay.submission_port, timeout=30, source_address=(f"127.0.1.{n}", 0))
            client.starttls(context=tls_context(self.ca))
            client.ehlo("x")
            plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            code = client.docmd("AUTH", f"PLAIN {plain}")[0]
            client.close()
            return code

        try:
            with concurrent.futures.ThreadPoolExecutor(12) as pool:
                right = list(pool.map(lambda n: attempt(n, ANN, PW_ANN), range(1, 13)))
                wrong = list(pool.map(lambda n: attempt(n + 20, EVE, f"guess-{n}"), range(1, 13)))
            self.assertEqual(right, [235] * 12)
            self.assertEqual(sorted(wrong), [454] * 7 + [535] * 5)
        finally:
            relay.stop()

    def test_auth_failures_are_throttled_then_disconnected(self):
        # Its own relay: throttling is per client address, which every test shares.
        relay = RelayProcess(self.gateway.url, cert_dir=self.certs).start()
        try:
            codes = []
            for _ in range(7):
                client = smtplib.SMTP("127.0.0.1", relay.submission_port, timeout=10,
                                      source_address=("127.0.0.9", 0))
                client.starttls(context=tls_context(self.ca))
                client.ehlo("x")
                plain = base64.b64encode(f"\0{BOB}\0guess".encode()).decode()
                codes.append(client.docmd("AUTH", f"PLAIN {plain}")[0])
                client.close()
            self.assertEqual(codes[:5], [535] * 5)
            self.assertEqual(codes[5:], [454, 454])
            self.assertIn('relay_auth_total{outcome="throttled"} 2', relay.metrics())
        finally:
            relay.stop()


class QueueTest(unittest.TestCase):
    """Greylisting, bounces, operator commands and crashes, each with its own relay."""

    def setUp(self):
        self.gateway = StandinGateway(API_KEY)
        self.gateway.put_domain("t_paris", PARIS)
        self.gateway.put_mailbox("t_paris", ANN)
        self.gateway.put_credential("t_paris", "ap_ann", ANN, PW_ANN)
        self.certs = tempfile.mkdtemp(prefix="relay-q-certs-")
        self.ca = make_certificates(self.certs, ["default"])

    def tearDown(self):
        self.gateway.stop()

    def relay_for(self, remote, **retry):
        retry = {"first_retry_secs": 1, "max_retry_secs": 2, "give_up_after_secs": 3600, **retry}
        return RelayProcess(self.gateway.url, cert_dir=self.certs, outbound={
            "transport": {"remote.test": f"127.0.0.1:{remote.port}"}, "retry": retry}).start()

    def send(self, relay, rcpts, subject):
        client = smtplib.SMTP("127.0.0.1", relay.submission_port, timeout=20)
        client.starttls(context=tls_context(self.ca))
        client.login(ANN, PW_ANN)
        client.sendmail(ANN, rcpts, message(ANN, ", ".join(rcpts), subject))
        client.quit()

    def test_greylisting_is_retried(self):
        remote = RemoteMx(mode="greylist")
        relay = self.relay_for(remote)
        try:
            self.send(relay, ["grey@remote.test"], "greylisted")
            wait_for(lambda: remote.received_by("grey@remote.test"), what="delivery after the retry")
            self.assertEqual(remote.attempts["grey@remote.test"], 2)
            wait_for(lambda: "0 messages" in relay.run("queue", "list").stdout, what="an empty queue")
            metrics = relay.metrics()
            self.assertIn('relay_outbound_attempts_total{outcome="deferred",status="4.7.1"} 1', metrics)
            self.assertIn('relay_outbound_attempts_total{outcome="delivered",status="2.0.0"} 1', metrics)
        finally:
            relay.stop()
            remote.stop()

    def test_opportunistic_starttls_to_the_remote(self):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(f"{self.certs}/default/cert.pem", f"{self.certs}/default/key.pem")
        remote = RemoteMx(tls=context)
        relay = self.relay_for(remote)
        try:
            self.send(relay, ["secure@remote.test"], "encrypted hop")
            wait_for(lambda: remote.received_by("secure@remote.test"), what="delivery over TLS")
            self.assertEqual(remote.tls_sessions, 1, "the relay upgraded the connection the remote offered")
        finally:
            relay.stop()
            remote.stop()

    def test_permanent_failure_bounces_into_the_senders_mailbox(self):
        remote = RemoteMx()
        relay = self.relay_for(remote)
        try:
            self.send(relay, ["nobody@remote.test", "ok@remote.test"], "half bounced")
            dsn = wait_for(lambda: relay.messages(ANN), what="a bounce")[0]
            self.assertIn(b"Return-Path: <>", dsn)
            self.assertIn(b"report-type=delivery-status", dsn)
            self.assertIn(b"Final-Recipient: rfc822; nobody@remote.test\r\nAction: failed\r\nStatus: 5.1.1", dsn)
            self.assertNotIn(b"ok@remote.test\r\nAction", dsn)
            self.assertIn(b"Subject: half bounced", dsn)
            self.assertEqual(len(remote.received_by("ok@remote.test")), 1)
        finally:
            relay.stop()
            remote.stop()

    def test_expiry_bounces_with_4_4_7(self):
        remote = RemoteMx()
        remote.stop()  # nobody answers
        relay = self.relay_for(remote, give_up_after_secs=3)
        try:
            self.send(relay, ["late@remote.test"], "never answered")
            dsn = wait_for(lambda: relay.messages(ANN), timeout=30, what="an expiry bounce")[0]
            self.assertIn(b"Status: 4.4.7", dsn)
        finally:
            relay.stop()

    def test_operator_commands(self):
        remote = RemoteMx()
        remote.stop()
        relay = self.relay_for(remote, first_retry_secs=3600, max_retry_secs=3600)
        try:
            self.send(relay, ["held@remote.test"], "held")
            listing = wait_for(lambda: (lambda out: out if "held@remote.test" in out and "Connection refused" in out
                                        else None)(relay.run("queue", "list").stdout), what="a failed attempt")
            queue_id = listing.splitlines()[1].split("\t")[0]
            shown = relay.run("queue", "show", queue_id)
            self.assertEqual(shown.returncode, 0, shown.stderr)
            self.assertIn('"failures": 1', shown.stdout)
            remote2 = RemoteMx()
            # The same port cannot be reused reliably; point the retry at the new server by
            # restarting with its transport (the queue is on disk).
            relay.stop()
            relay2 = RelayProcess(self.gateway.url, workdir=relay.workdir, cert_dir=self.certs, outbound={
                "transport": {"remote.test": f"127.0.0.1:{remote2.port}"},
                "retry": {"first_retry_secs": 3600, "max_retry_secs": 3600}})
            relay2.start()
            try:
                self.assertEqual(remote2.received_by("held@remote.test"), [], "not due for an hour")
                retried = relay2.run("queue", "retry", queue_id)
                self.assertEqual(retried.returncode, 0, retried.stderr)
                wait_for(lambda: remote2.received_by("held@remote.test"), what="delivery after retry")
                # The remote is gone before the message arrives, so it stays queued.
                remote2.stop()
                self.send(relay2, ["gone@remote.test"], "deleted")
                listing = wait_for(lambda: (lambda out: out if "gone@remote.test" in out else None)(
                    relay2.run("queue", "list").stdout), what="queued")
                gone = [line.split("\t")[0] for line in listing.splitlines() if "gone@remote.test" in line][0]
                self.assertEqual(relay2.run("queue", "delete", gone).returncode, 0)
                wait_for(lambda: "0 messages" in relay2.run("queue", "list").stdout,
                         what="the deleted message gone, even from an attempt in progress")
                missing = relay2.run("queue", "show", gone)
                self.assertNotEqual(missing.returncode, 0)
                self.assertIn("no queued message", missing.stderr)
                self.assertNotEqual(relay2.run("queue", "show", "../etc").returncode, 0)
            finally:
                relay2.stop()
        finally:
            relay.stop()

    def test_kill_9_loses_nothing_acknowledged(self):
        """Four clients submit without pause while the relay is killed four times, during
        acceptance and during remote deliveries (the remote is slow to answer DATA). Every
        message answered 250 arrives; a recipient whose delivery the relay had recorded
        (logged "delivered") is never attempted again."""
        import json
        import threading
        remote = RemoteMx(data_delay=0.2)
        relay = self.relay_for(remote)
        acknowledged, lock, stop = [], threading.Lock(), threading.Event()

        def sender(n):
            i, client = 0, None
            while not stop.is_set() and i < 40:
                rcpt, subject = f"c{n}x{i}@remote.test", f"crash {n}-{i}"
                i += 1
                try:
                    if client is None:
                        client = smtplib.SMTP("127.0.0.1", relay.submission_port, timeout=20)
                        client.starttls(context=tls_context(self.ca))
                        client.login(ANN, PW_ANN)
                    client.sendmail(ANN, [rcpt], message(ANN, rcpt, subject))
                except (OSError, smtplib.SMTPException):
                    client = None  # not acknowledged: it may or may not arrive
                    time.sleep(0.05)
                    continue
                with lock:
                    acknowledged.append((rcpt, subject))
                time.sleep(0.1)  # a person's pace, spread over the kills

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
        try:
            for t in threads:
                t.start()
            for _ in range(4):
                time.sleep(1.5)
                relay.kill9()
                relay.start(wait_for_sync=False)
            time.sleep(0.5)
            stop.set()
            for t in threads:
                t.join(30)
            self.assertGreater(len(acknowledged), 8)
            for rcpt, subject in acknowledged:
                got = wait_for(lambda: remote.received_by(rcpt), timeout=60, what=f"{subject} delivered")
                self.assertTrue(all(subject.encode() in m[2] for m in got))
            # Message by message: no attempt after a recorded delivery, in this run or later ones.
            events = []
            for n in range(1, relay.starts + 1):
                for line in (relay.workdir / f"relay-{n}.log").read_text(errors="replace").splitlines():
                    fields = json.loads(line).get("fields", {}) if line.startswith("{") else {}
                    if fields.get("message") == "outbound attempt":
                        events.append((fields["recipient"], fields["outcome"]))
            delivered = set()
            for rcpt, outcome in events:
                self.assertNotIn(rcpt, delivered, f"{rcpt} attempted again after a recorded delivery")
                if outcome == "delivered":
                    delivered.add(rcpt)
            wait_for(lambda: "0 messages" in relay.run("queue", "list").stdout, what="an empty queue")
        finally:
            stop.set()
            relay.stop()
            remote.stop()

class PlatformMailTest(unittest.TestCase):
    def test_the_outbox_goes_out_through_the_queue_signed_with_the_platform_key(self):
        """A platform notice for a remote address is queued, signed with the platform's
        Ed25519 key, delivered to the remote MX, and verified there by dkimpy (an
        implementation independent of mail-auth) against the key's TXT record."""
        import dkim
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        gateway = StandinGateway(API_KEY)
        gateway.put_domain("t_paris", PARIS)
        remote = RemoteMx()
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="relay-platform-"))
        key = Ed25519PrivateKey.generate()
        key_file = workdir / "platform-dkim.pem"
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        txt = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(public)
        relay = RelayProcess(gateway.url, workdir=workdir / "relay", outbound={
            "transport": {"remote.test": f"127.0.0.1:{remote.port}"},
            "platform_dkim": {"domain": "tenantry.test", "selector": "platform", "private_key_file": str(key_file)},
        }).start()
        try:
            notice = (b"From: Tenantry <no-reply@tenantry.test>\r\nTo: <new.user@remote.test>\r\n"
                      b"Subject: You are invited\r\nDate: Tue, 24 Nov 2026 05:00:00 +0000\r\n"
                      b"Message-ID: <n1@tenantry.test>\r\n\r\nFollow the link.\r\n")
            with gateway.lock:
                gateway.outbox.append({"id": "obx_1", "recipient": "new.user@remote.test",
                                       "message": notice.decode()})
            got = wait_for(lambda: remote.received_by("new.user@remote.test"), what="the notice delivered")
            mail_from, _, data = got[0]
            self.assertEqual(mail_from, "", "notices go out with the null sender")
            self.assertEqual(gateway.outbox_acks, [{"id": "obx_1", "outcome": "delivered"}],
                             "acknowledged once the queue holds it")
            dns = lambda name, timeout=5: txt if name == b"platform._domainkey.tenantry.test." else None
            self.assertTrue(dkim.verify(data, dnsfunc=dns), data[:600])
            self.assertFalse(dkim.verify(data.replace(b"Follow the link.", b"Follow my link."), dnsfunc=dns),
                             "a changed body fails verification: the check can fail")
            self.assertIn('relay_dkim_signatures_total{outcome="signed"} 1', relay.metrics())
        finally:
            relay.stop()
            remote.stop()
            gateway.stop()


if __name__ == "__main__":
    unittest.main()
