"""End-to-end tests of tenantry-relay over real TCP with real SMTP clients (Python's
smtplib and swaks), against a stand-in for the gateway's relay API."""
import os
import pathlib
import resource
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import API_KEY, RelayProcess, body_of, make_certificates
from libsql_standin import LibsqlStandin
from standin_gateway import StandinGateway

PARIS, LYON, NICE = "hopital-paris.example", "clinique-lyon.example", "clinique-nice.example"
# A domain whose proof record has been missing beyond the grace period.
LAPSED = "clinique-lapsed.example"


def seed(gateway):
    gateway.put_domain("t_paris", PARIS, max_storage_mb=10)
    gateway.put_domain("t_lyon", LYON)
    gateway.put_domain("t_nice", NICE, status="suspended")
    for local in ("dr.martin", "accueil", "labo"):
        gateway.put_mailbox("t_paris", f"{local}@{PARIS}")
    gateway.put_mailbox("t_paris", f"small@{PARIS}", quota_mb=1)
    gateway.put_mailbox("t_paris", f"former@{PARIS}", status="disabled")
    gateway.put_alias("t_paris", f"urgences@{PARIS}", [f"dr.martin@{PARIS}", f"accueil@{PARIS}"])
    gateway.put_mailbox("t_lyon", f"secretariat@{LYON}")
    gateway.put_mailbox("t_nice", f"x@{NICE}")
    gateway.put_domain("t_lyon", LAPSED, status="lapsed")
    gateway.put_mailbox("t_lyon", f"accueil@{LAPSED}")


def message(subject, body="Bonjour.\r\n", size=0):
    text = f"From: patient@example.org\r\nSubject: {subject}\r\n\r\n{body}"
    if size:
        text += "x" * (size - len(text) - 2) + "\r\n"
    return text.encode()


def raw_session(port, payload, read_until=None, timeout=10):
    """Sends bytes on a socket and returns everything the relay answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.recv(1024)
        s.sendall(payload)
        data = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            if read_until and read_until in data:
                break
        return data.decode(errors="replace")


class RelayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gateway = StandinGateway(API_KEY)
        seed(cls.gateway)
        cls.certs = tempfile.mkdtemp(prefix="relay-certs-")
        cls.ca = make_certificates(cls.certs, [PARIS, LYON, "default"])
        cls.relay = RelayProcess(cls.gateway.url, cert_dir=cls.certs).start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        cls.gateway.stop()

    def smtp(self):
        client = smtplib.SMTP("127.0.0.1", self.relay.port, timeout=10)
        client.ehlo("client.test")
        return client

    def rcpt(self, client, address):
        return client.rcpt(address)

    # Delivery -----------------------------------------------------------------

    def test_delivers_to_one_and_several_mailboxes_of_two_tenants(self):
        body = message("two tenants")
        with self.smtp() as client:
            refused = client.sendmail("sender@example.org",
                                      [f"dr.martin@{PARIS}", f"labo@{PARIS}", f"secretariat@{LYON}"], body)
        self.assertEqual(refused, {})
        for address in (f"dr.martin@{PARIS}", f"labo@{PARIS}", f"secretariat@{LYON}"):
            stored = [m for m in self.relay.messages(address) if b"Subject: two tenants" in m]
            self.assertEqual(len(stored), 1, address)
            self.assertEqual(body_of(stored[0]), body)
            # The relay's trace: Return-Path, its authentication results, then Received.
            self.assertRegex(stored[0], rb"\AReturn-Path: <sender@example.org>\r\n"
                                        rb"Authentication-Results: mx\.tenantry\.test;\r\n\tspf=none [^\r]*\r\n"
                                        rb"(\t[^\r]*\r\n)*Received: from client\.test")
        self.assertEqual(list(self.relay.maildir(f"dr.martin@{PARIS}", "tmp").iterdir()), [])

    def test_alias_subaddress_and_case(self):
        with self.smtp() as client:
            client.sendmail("s@example.org", [f"URGENCES@Hopital-Paris.Example"], message("alias"))
            client.sendmail("s@example.org", [f"labo+results@{PARIS}"], message("subaddress"))
        for address in (f"dr.martin@{PARIS}", f"accueil@{PARIS}"):
            self.assertTrue(any(b"Subject: alias" in m for m in self.relay.messages(address)), address)
        self.assertTrue(any(b"Subject: subaddress" in m for m in self.relay.messages(f"labo@{PARIS}")))

    def test_swaks_delivers(self):
        result = subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{self.relay.port}", "--to", f"accueil@{PARIS}",
             "--from", "swaks@example.org", "--header", "Subject: via swaks", "--body", "Hello from swaks"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("250 2.0.0 OK queued as", result.stdout)
        self.assertTrue(any(b"Subject: via swaks" in m for m in self.relay.messages(f"accueil@{PARIS}")))

    # Refusals ----------------------------------------------------------------------

    def test_open_relay_probes_are_all_refused(self):
        probes = [
            "victim@outside.example", f"victim@outside.example@{PARIS}", f"victim%outside.example@{PARIS}",
            f"@{PARIS}:victim@outside.example", f"outside.example!victim@{PARIS}", f'"victim@outside.example"@{PARIS}',
            "victim@[127.0.0.1]", "victim@localhost", f"victim@{PARIS}.outside.example", "victim@example",
            f"victim@sub.{PARIS}", "postmaster@outside.example",
        ]
        # A few probes per session: refusals count toward the session's error limit.
        for start in range(0, len(probes), 4):
            with self.smtp() as client:
                client.mail("probe@example.org")
                for probe in probes[start:start + 4]:
                    code, text = client.docmd(f"RCPT TO:<{probe}>")
                    self.assertGreaterEqual(code, 500, f"{probe}: {code} {text}")
                code, _ = client.docmd("DATA")
                self.assertEqual(code, 554, "no recipient was accepted")
        self.assertFalse((self.relay.mail_root / "outside.example").exists())

    def test_relay_denied_suspended_unknown_disabled(self):
        cases = {
            "someone@gmail.example": (550, b"5.7.1"),
            f"x@{NICE}": (550, b"5.7.1"),
            f"nobody@{PARIS}": (550, b"5.1.1"),
            f"former@{PARIS}": (550, b"5.2.1"),
            # Lapsed: kept waiting for the proof, never refused nor delivered.
            f"accueil@{LAPSED}": (451, b"4.7.0"),
        }
        with self.smtp() as client:
            client.mail("s@example.org")
            for address, (code, enhanced) in cases.items():
                got, text = self.rcpt(client, address)
                self.assertEqual((got, text[:5]), (code, enhanced), address)

    def test_too_many_recipients(self):
        with self.smtp() as client:
            client.mail("s@example.org")
            for _ in range(5):
                self.assertEqual(self.rcpt(client, f"labo@{PARIS}")[0], 250)
            code, text = self.rcpt(client, f"labo@{PARIS}")
            self.assertEqual((code, text[:5]), (452, b"4.5.3"))

    def test_message_over_size(self):
        with self.smtp() as client:
            self.assertIn(b"SIZE 200000", client.ehlo_resp)
            code, text = client.docmd("MAIL FROM:<s@example.org> SIZE=300000")
            self.assertEqual((code, text[:5]), (552, b"5.3.4"))
            client.rset()
            client.mail("s@example.org")
            client.rcpt(f"labo@{PARIS}")
            code, text = client.data(message("big", size=250_000))
            self.assertEqual((code, text[:5]), (552, b"5.3.4"))
        self.assertFalse(any(b"Subject: big" in m for m in self.relay.messages(f"labo@{PARIS}")))

    def test_mailbox_over_quota_is_deferred(self):
        quota_box = f"small@{PARIS}"
        with self.smtp() as client:
            for i in range(6):
                code, text = client.docmd("MAIL FROM:<s@example.org> SIZE=190000")
                self.assertEqual(code, 250)
                code, text = self.rcpt(client, quota_box)
                if code != 250:
                    self.assertEqual((code, text[:5]), (452, b"4.2.2"))
                    break
                code, text = client.data(message(f"fill {i}", size=190_000))
                if code != 250:
                    self.assertEqual((code, text[:5]), (452, b"4.2.2"))
                    break
            else:
                self.fail("a 1 MB mailbox accepted 6 x 190 kB")
        stored = sum(len(m) for m in self.relay.messages(quota_box))
        self.assertLessEqual(stored, 1024 * 1024)

    # Protocol ------------------------------------------------------------------------

    def test_pipelined_commands_get_replies_in_order(self):
        payload = (b"EHLO pipe.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<labo@" + PARIS.encode() +
                   b">\r\nRCPT TO:<nobody@outside.example>\r\nDATA\r\n")
        text = raw_session(self.relay.port, payload, read_until=b"354")
        codes = [line[:3] for line in text.split("\r\n") if line and line[3] == " "]
        self.assertEqual(codes, ["250", "250", "250", "550", "354"], text)

    def test_malformed_commands_and_bare_lf(self):
        text = raw_session(self.relay.port,
                           b"EHLO x\r\nFOO bar\r\nMAIL FROM:<not an address\r\nRCPT TO:<a@b>\r\nNOOP\nQUIT\r\n",
                           read_until=b"221")
        lines = [l for l in text.split("\r\n") if l and l[3] == " "]
        self.assertEqual([l[:3] for l in lines], ["250", "500", "501", "503", "500", "221"], text)
        self.assertIn("CRLF", lines[4])
        with self.smtp() as client:
            client.mail("s@example.org")
            client.rcpt(f"labo@{PARIS}")
            client.putcmd("DATA")
            self.assertEqual(client.getreply()[0], 354)
            client.send(b"Subject: smuggle\r\n\r\nline one\nline two\r\n.\r\n")
            code, text = client.getreply()
            self.assertEqual((code, text[:5]), (554, b"5.6.0"))
        self.assertFalse(any(b"smuggle" in m for m in self.relay.messages(f"labo@{PARIS}")))

    def test_dot_stuffing_is_undone(self):
        body = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\nend\r\n"
        with self.smtp() as client:
            client.sendmail("s@example.org", [f"labo@{PARIS}"], body)
        stored = [m for m in self.relay.messages(f"labo@{PARIS}") if b"Subject: dots" in m]
        self.assertEqual(body_of(stored[0]), body)

    def test_vrfy_rset_noop_help_and_unimplemented(self):
        with self.smtp() as client:
            self.assertEqual(client.docmd("VRFY labo")[0], 252)
            self.assertEqual(client.docmd("NOOP")[0], 250)
            self.assertEqual(client.docmd("RSET")[0], 250)
            self.assertEqual(client.docmd("HELP")[0], 214)
            self.assertEqual(client.docmd("EXPN staff")[0], 502)
            self.assertEqual(client.docmd("RCPT TO:<labo@hopital-paris.example>")[0], 503)

    def test_too_many_errors_disconnects(self):
        text = raw_session(self.relay.port, b"EHLO x\r\n" + b"BOGUS\r\n" * 12, read_until=b"421")
        self.assertIn("421 4.7.0", text)
        self.assertEqual(text.count("500 5.5.1"), 10)

    # TLS -------------------------------------------------------------------------------

    def tls_subject(self, server_name):
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=10) as client:
            client.ehlo("tls.test")
            self.assertTrue(client.has_extn("starttls"))
            client._host = server_name
            client.starttls(context=context)
            cert = client.sock.getpeercert()
            self.assertFalse(client.has_extn("starttls"), "EHLO after TLS must not offer STARTTLS")
            client.ehlo("tls.test")
            self.assertFalse(client.has_extn("starttls"))
            self.assertEqual(client.sendmail("s@example.org", [f"labo@{PARIS}"], message("over tls")), {})
        return dict(x[0] for x in cert["subject"])["commonName"]

    def test_starttls_presents_the_certificate_of_the_sni_name(self):
        self.assertEqual(self.tls_subject(PARIS), PARIS)
        self.assertEqual(self.tls_subject(LYON), LYON)
        self.assertEqual(self.tls_subject("unknown.example"), "mx.default.test")
        stored = [m for m in self.relay.messages(f"labo@{PARIS}") if b"over tls" in m]
        self.assertTrue(all(b"with ESMTPS" in m for m in stored) and stored)

    def test_commands_pipelined_after_starttls_are_discarded(self):
        with socket.create_connection(("127.0.0.1", self.relay.port), timeout=10) as s:
            s.recv(1024)
            s.sendall(b"EHLO x\r\n")
            time.sleep(0.2)
            s.recv(4096)
            s.sendall(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
            time.sleep(0.2)
            self.assertTrue(s.recv(1024).startswith(b"220 2.0.0"))
            context = ssl.create_default_context(cafile=str(self.ca))
            context.check_hostname = False
            with context.wrap_socket(s, server_hostname=PARIS) as t:
                t.sendall(b"RCPT TO:<labo@hopital-paris.example>\r\n")
                reply = t.recv(1024)
                self.assertTrue(reply.startswith(b"503"), reply)

    # Operations ------------------------------------------------------------------------

    def test_metrics_and_usage_reach_the_gateway(self):
        with self.smtp() as client:
            client.sendmail("s@example.org", [f"secretariat@{LYON}"], message("usage"))
        deadline = time.time() + 10
        while time.time() < deadline and not any(d == LYON for d, _ in self.gateway.usage):
            time.sleep(0.2)
        usage = {d: v for (d, _), v in self.gateway.usage.items()}
        self.assertIn(LYON, usage)
        self.assertGreaterEqual(usage[LYON]["messages"], 1)
        self.assertGreater(usage[LYON]["storage_bytes"], 0)
        metrics = self.relay.metrics()
        self.assertIn('relay_recipients_total{outcome="accepted",reason="2.1.5"}', metrics)
        self.assertIn("relay_delivery_seconds_count", metrics)
        self.assertRegex(metrics, r"relay_replica_age_seconds [0-9]")
        self.assertNotIn(b"Bonjour", self.relay.log().encode(), "logs never carry message bodies")
        self.assertNotIn(API_KEY, self.relay.log(), "logs never carry the API key")

    def test_a_relay_without_a_platform_key_says_so_at_start(self):
        self.assertIn("outbound.platform_dkim is not set", self.relay.log())

    def test_the_relay_reports_its_health(self):
        deadline = time.time() + 10
        while time.time() < deadline and not any(r["synced_at"] and r["certificates"] for r in self.gateway.health_reports):
            time.sleep(0.2)
        # Other tests start relays of their own on this gateway, without certificates.
        report = next((r for r in reversed(self.gateway.health_reports) if r["synced_at"] and r["certificates"]), None)
        self.assertIsNotNone(report, self.gateway.health_reports[-3:])
        self.assertEqual(report["hostname"], "mx.tenantry.test")
        self.assertEqual(report["directory_version"], self.gateway.version)
        self.assertEqual((report["queue_depth"], report["oldest_queued_at"]), (0, None))
        served = [c["domain"] for c in report["certificates"]]
        # Those served by SNI (the default certificate is the relay's own).
        self.assertEqual(sorted(served), sorted([PARIS, LYON]), report)
        expiries = [c["not_after"] for c in report["certificates"]]
        self.assertEqual(expiries, sorted(expiries), "soonest to expire first")
        self.assertGreater(min(expiries), time.time())

    def test_directory_changes_arrive_by_sync(self):
        address = f"new.doctor@{PARIS}"
        with self.smtp() as client:
            client.mail("s@example.org")
            self.assertEqual(self.rcpt(client, address)[0], 550)
        self.gateway.put_mailbox("t_paris", address)
        deadline = time.time() + 10
        while time.time() < deadline:
            with self.smtp() as client:
                client.mail("s@example.org")
                if self.rcpt(client, address)[0] == 250:
                    break
            time.sleep(0.3)
        else:
            self.fail("the new mailbox never arrived")
        self.gateway.remove_mailbox(address)
        deadline = time.time() + 10
        while time.time() < deadline:
            with self.smtp() as client:
                client.mail("s@example.org")
                if self.rcpt(client, address)[0] == 550:
                    return
            time.sleep(0.3)
        self.fail("the tombstone never arrived")

    def test_stalled_client_is_dropped_at_the_timeout(self):
        relay = RelayProcess(self.gateway.url, limits={"command_timeout_secs": 1}).start()
        try:
            with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as s:
                s.recv(1024)
                s.sendall(b"EHLO x\r\nMAIL FROM:<a@exa")  # and then nothing
                started = time.time()
                data = b""
                while chunk := s.recv(1024):
                    data += chunk
                self.assertIn(b"421 4.4.2", data)
                self.assertLess(time.time() - started, 5)
        finally:
            relay.stop()

    def test_thousand_concurrent_connections(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
        sockets = []
        try:
            for _ in range(1000):
                sockets.append(socket.create_connection(("127.0.0.1", self.relay.port), timeout=20))
            greeted = sum(1 for s in sockets if s.recv(128).startswith(b"220 "))
            self.assertEqual(greeted, 1000)
            self.assertIn("relay_connections_active 10", self.relay.metrics().replace("relay_connections_active 1000", "relay_connections_active 10"))
            for s in sockets:
                s.sendall(b"QUIT\r\n")
            answered = sum(1 for s in sockets if s.recv(128).startswith(b"221"))
            self.assertEqual(answered, 1000)
        finally:
            for s in sockets:
                s.close()

    def test_check_config_and_sync_once(self):
        result = self.relay.run("check-config")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("configuration OK", result.stdout)
        self.assertNotIn(API_KEY, result.stdout)
        result = self.relay.run("sync-once")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"directory version \d+ -> \d+: \d+ upserted, \d+ removed; 4 domains")


class ReplicaTest(unittest.TestCase):
    """The replica: stale means 451, a restart without the gateway serves what was stored."""

    def test_stale_replica_defers_and_stored_replica_survives_restart(self):
        gateway = StandinGateway(API_KEY)
        seed(gateway)
        relay = RelayProcess(gateway.url, limits={"max_replica_age_secs": 2}).start()
        try:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo("x")
                client.mail("s@example.org")
                self.assertEqual(client.rcpt(f"labo@{PARIS}")[0], 250)
            gateway.down = True
            time.sleep(3.5)
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo("x")
                client.mail("s@example.org")
                code, text = client.rcpt(f"labo@{PARIS}")
                self.assertEqual((code, text[:5]), (451, b"4.3.0"))
                code, text = client.rcpt("a@outside.example")
                self.assertEqual(code // 100, 4, "nothing is decided from a stale replica")
            self.assertRegex(relay.metrics(), r"relay_recipients_total\{outcome=\"deferred\",reason=\"4.3.0\"\} [1-9]")
            relay.stop()
            # Restart (same state database and mail root) while the gateway is down.
            relay2 = relay
            gateway.down = True
            relay2.start(wait_for_sync=False)
            try:
                self.assertIn("serving from the stored replica", relay2.log())
                # The stored replica is older than the 2 s bound: still deferred, not guessed.
                with smtplib.SMTP("127.0.0.1", relay2.port, timeout=10) as client:
                    client.ehlo("x")
                    client.mail("s@example.org")
                    self.assertEqual(client.rcpt(f"labo@{PARIS}")[0], 451)
                gateway.down = False
                deadline = time.time() + 10
                while time.time() < deadline:
                    with smtplib.SMTP("127.0.0.1", relay2.port, timeout=10) as client:
                        client.ehlo("x")
                        client.mail("s@example.org")
                        if client.rcpt(f"labo@{PARIS}")[0] == 250:
                            break
                    time.sleep(0.3)
                else:
                    self.fail("the relay never recovered after the gateway came back")
            finally:
                relay2.stop()
        finally:
            relay.stop()
            gateway.stop()

    def test_wrong_api_key_is_refused_by_the_gateway_and_logged(self):
        gateway = StandinGateway("rk_" + "X" * 43)
        seed(gateway)
        relay = RelayProcess(gateway.url).start(wait_for_sync=False)
        try:
            self.assertIn("401", relay.log())
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo("x")
                client.mail("s@example.org")
                self.assertEqual(client.rcpt(f"labo@{PARIS}")[0], 451, "no replica: defer, never guess")
        finally:
            relay.stop()
            gateway.stop()


class LimitsAndOutboxTest(unittest.TestCase):
    def test_connection_limit_per_client_address(self):
        gateway = StandinGateway(API_KEY)
        seed(gateway)
        relay = RelayProcess(gateway.url, limits={"max_connections_per_ip": 2}).start()
        try:
            first = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
            second = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
            self.assertTrue(first.recv(128).startswith(b"220") and second.recv(128).startswith(b"220"))
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as third:
                self.assertTrue(third.recv(128).startswith(b"421 4.7.0"))
            first.close()
            time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as again:
                self.assertTrue(again.recv(128).startswith(b"220"), "a freed slot is usable again")
            second.close()
            self.assertRegex(relay.metrics(), r"relay_connections_refused_total [1-9]")
        finally:
            relay.stop()
            gateway.stop()

    def test_in_flight_data_is_capped_relay_wide(self):
        gateway = StandinGateway(API_KEY)
        seed(gateway)
        # Room for two 64 KiB units of DATA in memory across every session.
        relay = RelayProcess(gateway.url, limits={"max_inflight_data_bytes": 128 * 1024}).start()
        def open_data():
            sock = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
            file = sock.makefile("rb")
            file.readline()
            sock.sendall(f"EHLO c.test\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<labo@{PARIS}>\r\nDATA\r\n".encode())
            while not file.readline().startswith(b"354"):
                pass
            return sock, file
        chunk = b"Subject: budget\r\n\r\n" + b"x" * 998 + b"\r\n"
        line = b"y" * 998 + b"\r\n"
        try:
            first, first_file = open_data()
            first.sendall(chunk + line * 100)  # about 100 KiB held: both units
            time.sleep(0.3)
            second, second_file = open_data()
            second.sendall(chunk + line * 100 + b".\r\n")
            self.assertTrue(second_file.readline().startswith(b"452 4.3.1"), "over the budget: try again later")
            first.sendall(b".\r\n")
            self.assertTrue(first_file.readline().startswith(b"250 "), "the first message is delivered")
            third, third_file = open_data()
            third.sendall(chunk + line * 100 + b".\r\n")
            self.assertTrue(third_file.readline().startswith(b"250 "), "the budget is given back after delivery")
            for sock in (first, second, third):
                sock.close()
            self.assertRegex(relay.metrics(), r"relay_data_budget_refusals_total 1")
        finally:
            relay.stop()
            gateway.stop()

    def test_usage_waits_in_the_outbox_while_the_gateway_is_down(self):
        gateway = StandinGateway(API_KEY)
        seed(gateway)
        relay = RelayProcess(gateway.url).start()
        try:
            gateway.down = True
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo("x")
                for _ in range(3):
                    client.sendmail("s@example.org", [f"secretariat@{LYON}"], message("outbox"))
            time.sleep(2.5)
            self.assertEqual(gateway.usage, {}, "nothing can have arrived")
            # A restart in between: the outbox is on disk.
            relay.stop()
            relay.start(wait_for_sync=False)
            gateway.down = False
            deadline = time.time() + 10
            while time.time() < deadline and not gateway.usage:
                time.sleep(0.2)
            usage = {d: v for (d, _), v in gateway.usage.items()}
            self.assertEqual(usage[LYON]["messages"], 3)
            posts = [r for r in gateway.requests if r[0] == "POST"]
            self.assertTrue(all(auth == f"Bearer {API_KEY}" for _, _, auth in posts))
            # Every batch id was applied once even though some were posted several times.
            self.assertEqual(len(gateway.batches), len({b for b in gateway.batches}))
        finally:
            relay.stop()
            gateway.stop()


class RemoteStateTest(unittest.TestCase):
    """state_db on a libSQL server (a Hrana-over-HTTP stand-in on a real SQLite file)."""

    TOKEN = "libsql-test-token-0123456789"

    def test_replica_and_outbox_live_on_the_server_and_survive_a_restart(self):
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="relay-remote-"))
        server = LibsqlStandin(workdir / "server.db", self.TOKEN).start()
        gateway = StandinGateway(API_KEY)
        seed(gateway)
        relay = RelayProcess(gateway.url, workdir=workdir / "relay", state_db=server.url,
                             state_db_auth_token=self.TOKEN).start()
        try:
            self.assertIn("state on a libSQL server", relay.log())
            self.assertIn((f"dr.martin@{PARIS}",), server.query("SELECT key FROM directory WHERE kind = 'mailbox'"))
            self.assertFalse(list((workdir / "relay").rglob("*.db")), "no local state file")
            # The outbox is kept on the server while the gateway is down ...
            gateway.down = True
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo("x")
                client.sendmail("s@example.org", [f"secretariat@{LYON}"], message("remote outbox"))
            deadline = time.time() + 10
            while time.time() < deadline and not server.query("SELECT * FROM usage_batches"):
                time.sleep(0.2)
            self.assertEqual(len(server.query("SELECT * FROM usage_batches")), 1)
            relay.stop()
            # ... and a restart with the gateway still down serves from the server's replica.
            relay.start(wait_for_sync=False)
            self.assertIn("serving from the stored replica", relay.log())
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.ehlo("x")
                client.mail("s@example.org")
                self.assertEqual(client.rcpt(f"labo@{PARIS}")[0], 250)
                self.assertEqual(client.rcpt("x@outside.example")[0], 550)
            gateway.down = False
            deadline = time.time() + 10
            while time.time() < deadline and server.query("SELECT * FROM usage_batches"):
                time.sleep(0.2)
            self.assertEqual(server.query("SELECT * FROM usage_batches"), [], "acknowledged, then forgotten")
            self.assertEqual({d: v["messages"] for (d, _), v in gateway.usage.items()}, {LYON: 1})
            self.assertEqual(server.refused, 0)
        finally:
            relay.stop()
            gateway.stop()
            server.stop()

    def test_a_wrong_token_stops_the_relay_with_a_clear_error_that_hides_it(self):
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="relay-remote-"))
        server = LibsqlStandin(workdir / "server.db", self.TOKEN).start()
        gateway = StandinGateway(API_KEY)
        relay = RelayProcess(gateway.url, workdir=workdir / "relay", state_db=server.url,
                             state_db_auth_token="wrong-token-abcdef")
        try:
            with self.assertRaises(RuntimeError):
                relay.start()
            self.assertEqual(relay.process.returncode, 1)
            log = relay.log()
            self.assertIn("creating the state schema", log)
            self.assertIn("401", log)
            self.assertNotIn("wrong-token-abcdef", log)
            self.assertGreaterEqual(server.refused, 1)
        finally:
            relay.stop()
            gateway.stop()
            server.stop()


class CrashTest(unittest.TestCase):
    """kill -9 while clients send: every message acknowledged with 250 is in new/,
    byte-identical, and no partial file is ever in new/."""

    def test_acknowledged_messages_survive_kill_9(self):
        gateway = StandinGateway(API_KEY)
        seed(gateway)
        relay = RelayProcess(gateway.url).start()
        acknowledged = []
        lock = threading.Lock()
        stop = threading.Event()

        def sender(n):
            i = 0
            while not stop.is_set():
                i += 1
                body = f"From: c{n}@example.org\r\nSubject: crash {n}-{i}\r\nX-Seq: {n}-{i}\r\n\r\n".encode()
                body += os.urandom(3000).hex().encode() + b"\r\n"
                try:
                    with smtplib.SMTP("127.0.0.1", relay.port, timeout=5) as client:
                        client.sendmail("c@example.org", [f"labo@{PARIS}"], body)
                    with lock:
                        acknowledged.append(body)
                except (OSError, smtplib.SMTPException):
                    time.sleep(0.05)

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        try:
            for _ in range(5):
                time.sleep(0.7)
                relay.kill9()
                relay.start(wait_for_sync=False)
        finally:
            stop.set()
            for t in threads:
                t.join()
            relay.stop()
            gateway.stop()
        self.assertGreater(len(acknowledged), 20, "the test must have sent through the kills")
        stored = [body_of(m) for m in relay.messages(f"labo@{PARIS}")]
        stored_set = set(stored)
        missing = [b for b in acknowledged if b not in stored_set]
        self.assertEqual(missing, [], f"{len(missing)} acknowledged messages lost")
        for m in relay.messages(f"labo@{PARIS}"):
            self.assertTrue(m.endswith(b"\r\n") and b"X-Seq:" in m, "a partial file is in new/")
            seq = m.split(b"X-Seq: ")[1].split(b"\r\n")[0]
            self.assertEqual(len(body_of(m)), len(next(b for b in stored if b"X-Seq: " + seq + b"\r\n" in b)))


if __name__ == "__main__":
    unittest.main()
