"""Spam is scored by a real engine: Debian's Rspamd (its own configuration, loopback ports,
DNS from dnsmasq) scores each message from outside through its HTTP protocol; each
tenant's thresholds decide between the inbox, Junk and a refusal; Rspamd down is fail-open
(delivered, marked and counted) or fail-closed (451 4.7.1) as the relay is configured."""
import shutil
import smtplib
import time
import unittest

from harness import API_KEY, LoopbackDns, RelayProcess, RspamdProcess, free_port, wait_for
from standin_gateway import StandinGateway

PARIS, LYON = "hopital-paris.example", "clinique-lyon.example"
ANN, EVE = f"ann@{PARIS}", f"eve@{LYON}"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def message(to, subject, body="Shall we meet at noon tomorrow? Regards, Ann.", extra=""):
    return (f"{extra}From: Ann Martin <ann@sender.example>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@sender.example>\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
            f"\r\n{body}\r\n").encode()


@unittest.skipUnless(shutil.which("rspamd") and shutil.which("dnsmasq"),
                     "needs Rspamd and dnsmasq (scripts/setup.sh installs them)")
class SpamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = LoopbackDns()
        cls.rspamd = RspamdProcess(cls.dns).start()
        cls.gateway = g = StandinGateway(API_KEY)
        g.put_domain("t_paris", PARIS)
        # Lyon's tenant only files spam away: Junk from 10, refused never in practice.
        g.put_domain("t_lyon", LYON, spam={"junk_at": 10.0, "reject_at": 1000.0})
        g.put_mailbox("t_paris", ANN)
        g.put_mailbox("t_lyon", EVE)
        dns = {"dns_servers": [cls.dns.server]}
        cls.relay = RelayProcess(g.url, outbound=dns, spam={"rspamd_url": cls.rspamd.url}).start()
        dead = f"http://127.0.0.1:{free_port()}"
        cls.open_relay = RelayProcess(g.url, outbound=dns, spam={"rspamd_url": dead, "timeout_secs": 2}).start()
        cls.closed_relay = RelayProcess(g.url, outbound=dns, spam={"rspamd_url": dead, "timeout_secs": 2,
                                                                    "when_unscored": "defer"}).start()

    @classmethod
    def tearDownClass(cls):
        for process in (cls.relay, cls.open_relay, cls.closed_relay, cls.gateway, cls.rspamd, cls.dns):
            process.stop()

    def send(self, relay, to, body):
        """(code, text) at the end of DATA."""
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.ehlo("mail.sender.example")
            try:
                client.sendmail("ann@sender.example", [to], body)
            except smtplib.SMTPDataError as refused:
                return refused.smtp_code, refused.smtp_error.decode()
        return 250, "OK"

    def stored(self, relay, address, subject, folder=""):
        local, domain = address.split("@")
        new = relay.mail_root / domain / local / folder / "new"
        return wait_for(lambda: next((p.read_bytes() for p in (new.iterdir() if new.exists() else ())
                                      if subject.encode() in p.read_bytes()), None),
                        what=f"{subject} in {address}'s {folder or 'inbox'}")

    @staticmethod
    def fields(stored, name):
        header = stored.split(b"\r\n\r\n", 1)[0].decode()
        return [line.split(":", 1)[1].strip() for line in header.split("\r\n") if line.lower().startswith(name.lower() + ":")]

    def test_gtube_is_refused_under_the_default_thresholds_and_nothing_is_written(self):
        code, text = self.send(self.relay, ANN, message(ANN, "gtube refused", GTUBE))
        self.assertEqual(code, 550, text)
        self.assertIn("5.7.1", text)
        self.assertIn("spam", text)
        time.sleep(0.5)
        self.assertFalse([m for m in self.relay.messages(ANN) if b"gtube refused" in m])
        self.assertIn('tenantry_relay_spam_checks_total{outcome="scored"}', self.relay.metrics())

    def test_a_tenant_that_only_files_spam_away_finds_gtube_in_junk(self):
        self.assertEqual(self.send(self.relay, EVE, message(EVE, "gtube filed", GTUBE))[0], 250)
        stored = self.stored(self.relay, EVE, "gtube filed", folder=".Junk")
        self.assertEqual(self.fields(stored, "X-Spam-Flag"), ["YES"])
        self.assertTrue(self.fields(stored, "X-Spam-Status")[0].startswith("Yes, score=15.00 junk=10.00 reject=1000.00"),
                        self.fields(stored, "X-Spam-Status"))
        self.assertEqual(list(self.relay.maildir(EVE).iterdir()) if self.relay.maildir(EVE).exists() else [], [],
                         "not in the inbox")

    def test_a_clean_message_arrives_in_the_inbox_with_its_score_and_forged_fields_removed(self):
        forged = "X-Spam-Flag: NO\r\nX-Spam-Status: No, score=-100\r\n"
        self.assertEqual(self.send(self.relay, ANN, message(ANN, "lunch", extra=forged))[0], 250)
        stored = self.stored(self.relay, ANN, "lunch")
        self.assertEqual(self.fields(stored, "X-Spam-Flag"), ["NO"])
        status = self.fields(stored, "X-Spam-Status")
        self.assertEqual(len(status), 1, status)
        self.assertRegex(status[0], r"^No, score=-?\d+\.\d\d junk=6\.00 reject=15\.00$")
        score = float(self.fields(stored, "X-Spam-Score")[0])
        self.assertLess(score, 6.0)

    def test_rspamd_down_fails_open_by_default_marked_and_counted(self):
        self.assertEqual(self.send(self.open_relay, ANN, message(ANN, "unscored gtube", GTUBE))[0], 250)
        stored = self.stored(self.open_relay, ANN, "unscored gtube")
        self.assertEqual(self.fields(stored, "X-Spam-Status"), ["Unscored"])
        self.assertIn('tenantry_relay_spam_checks_total{outcome="unscored"} 1', self.open_relay.metrics())
        self.assertIn("message not scored for spam", self.open_relay.log())

    def test_rspamd_down_fails_closed_when_configured(self):
        code, text = self.send(self.closed_relay, ANN, message(ANN, "deferred", "hello"))
        self.assertEqual(code, 451, text)
        self.assertIn("4.7.1", text)
        self.assertFalse([m for m in self.closed_relay.messages(ANN) if b"deferred" in m])


if __name__ == "__main__":
    unittest.main()
