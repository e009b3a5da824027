"""Mail from outside is authenticated: dnsmasq on a loopback port publishes the senders'
SPF, DKIM and DMARC records, dkimpy (an implementation independent of the relay's
mail-auth) signs the messages, the real relay checks them over real SMTP, and Dovecot shows
the Junk folder over IMAP. Each hosted domain's DMARC handling (policy, reject,
quarantine, tag) is the tenant's choice, fed through the stand-in gateway's directory."""
import base64
import imaplib
import pathlib
import shutil
import smtplib
import ssl
import tempfile
import time
import unittest

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from harness import API_KEY, DovecotProcess, LoopbackDns, RelayProcess, free_port, make_certificates, wait_for
from standin_gateway import StandinGateway

PARIS, LYON, NICE, TOULON = "hopital-paris.example", "clinique-lyon.example", "cabinet-nice.example", "centre-toulon.example"
ANN, EVE, NOE, TOM = f"ann@{PARIS}", f"eve@{LYON}", f"noe@{NICE}", f"tom@{TOULON}"
PW_ANN = "abcd-efgh-ijkm-npqr-stuv-wxyz"
AUTHSERV_ID = "mx.tenantry.test"
# Senders: the bank signs and publishes SPF and p=reject; the shop asks for quarantine;
# the newsletter only monitors (p=none); the flaky domain's DNS refuses to answer.
BANK, SHOP, NEWS, FLAKY = "bank.example", "shop.example", "news.example", "flaky.example"


def zone(public_key_b64, servfail_port):
    return [
        f'txt-record={BANK},"v=spf1 ip4:127.0.0.1 -all"',
        f'txt-record=s1._domainkey.{BANK},"v=DKIM1; k=rsa; p={public_key_b64}"',
        f'txt-record=_dmarc.{BANK},"v=DMARC1; p=reject"',
        f'txt-record={SHOP},"v=spf1 ip4:192.0.2.1 -all"',
        f'txt-record=_dmarc.{SHOP},"v=DMARC1; p=quarantine"',
        f'txt-record={NEWS},"v=spf1 ip4:192.0.2.1 -all"',
        f'txt-record=_dmarc.{NEWS},"v=DMARC1; p=none"',
        # The flaky domain's server answers SERVFAIL to everything, through dnsmasq.
        f"server=/{FLAKY}/127.0.0.1#{servfail_port}",
    ]


class ServfailDns:
    """A DNS server on a loopback UDP port that answers SERVFAIL to every query, as a
    domain's broken name server does (mail-auth alone would read that as "no record")."""

    def __init__(self):
        import dns.message
        import dns.rcode
        import socket
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

        def serve():
            while True:
                try:
                    data, peer = self.sock.recvfrom(4096)
                except OSError:
                    return
                reply = dns.message.make_response(dns.message.from_wire(data))
                reply.set_rcode(dns.rcode.SERVFAIL)
                self.sock.sendto(reply.to_wire(), peer)

        threading.Thread(target=serve, daemon=True).start()

    def stop(self):
        self.sock.close()


@unittest.skipUnless(shutil.which("dnsmasq") and shutil.which("dovecot"),
                     "needs dnsmasq and Dovecot (scripts/setup.sh installs them)")
class InboundAuthenticationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="relay-inbound-"))
        cls.work.chmod(0o755)  # the relay of the mail-is-read tests runs as its own user
        key = generate_private_key(public_exponent=65537, key_size=2048)
        cls.bank_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption())
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        cls.servfail = ServfailDns()
        cls.dns = LoopbackDns(zone(base64.b64encode(spki).decode(), cls.servfail.port), workdir=cls.work)
        cls.gateway = g = StandinGateway(API_KEY)
        g.put_domain("t_paris", PARIS)
        g.put_domain("t_lyon", LYON, dmarc_handling="tag")
        g.put_domain("t_nice", NICE, dmarc_handling="quarantine")
        g.put_domain("t_toulon", TOULON, dmarc_handling="reject")
        g.put_mailbox("t_paris", ANN)
        g.put_mailbox("t_lyon", EVE)
        g.put_mailbox("t_nice", NOE)
        g.put_mailbox("t_toulon", TOM)
        g.put_credential("t_paris", "ap_ann", ANN, PW_ANN)
        cls.certs = cls.work / "certs"
        cls.ca = make_certificates(cls.certs, ["default"])
        cls.relay = RelayProcess(g.url, workdir=cls.work / "relay", cert_dir=cls.certs, dovecot=True,
                                 outbound={"dns_servers": [cls.dns.server]})
        cls.dovecot = DovecotProcess(cls.relay, cls.certs)
        cls.relay.start()
        cls.dovecot.start()

    @classmethod
    def tearDownClass(cls):
        cls.dovecot.stop()
        cls.relay.stop()
        cls.gateway.stop()
        cls.dns.stop()
        cls.servfail.stop()

    def message(self, sender, to, subject, extra=b"", sign=False):
        body = (extra + f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
                f"Message-ID: <{subject.replace(' ', '-')}@test>\r\n\r\nBonjour.\r\n".encode())
        if sign:
            body = dkim.sign(body, b"s1", BANK.encode(), self.bank_key,
                             include_headers=[b"from", b"to", b"subject", b"message-id"]) + body
        return body

    def send(self, mail_from, rcpts, body):
        """The relay's reply to the message: (code, text) at the end of DATA."""
        with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=30) as client:
            client.ehlo("mail.sender.example")
            try:
                client.sendmail(mail_from, rcpts, body)
            except smtplib.SMTPDataError as refused:
                return refused.smtp_code, refused.smtp_error.decode()
        return 250, "OK"

    def stored(self, address, subject, folder=""):
        """The copy of `subject` in `address`'s inbox or folder (Maildir++ `.Junk`)."""
        local, domain = address.split("@")
        new = self.relay.mail_root / domain / local / folder / "new"
        return wait_for(lambda: next((p.read_bytes() for p in (new.iterdir() if new.exists() else ())
                                      if subject.encode() in p.read_bytes()), None),
                        what=f"{subject} in {address}'s {folder or 'inbox'}")

    def nothing_stored(self, address, subject):
        local, domain = address.split("@")
        root = self.relay.mail_root / domain / local
        found = [p for p in root.rglob("*") if p.is_file() and subject.encode() in p.read_bytes()] \
            if root.exists() else []
        self.assertEqual(found, [], f"{subject} was written for {address}")

    @staticmethod
    def results(stored):
        """The Authentication-Results fields of a stored message, unfolded."""
        header = stored.split(b"\r\n\r\n", 1)[0].decode()
        unfolded = header.replace("\r\n\t", " ").replace("\r\n ", " ")
        return [line for line in unfolded.split("\r\n") if line.lower().startswith("authentication-results:")]

    def test_a_signed_message_from_an_authorised_address_passes_with_its_results(self):
        subject = "signed statement"
        self.assertEqual(self.send(f"notices@{BANK}", [ANN], self.message(f"notices@{BANK}", ANN, subject, sign=True))[0], 250)
        results = self.results(self.stored(ANN, subject))
        self.assertEqual(len(results), 1, results)
        self.assertTrue(results[0].startswith(f"Authentication-Results: {AUTHSERV_ID};"), results)
        for clause in ("dkim=pass", f"header.d={BANK}", "spf=pass", f"smtp.mailfrom=notices@{BANK}",
                       "dmarc=pass", f"header.from={BANK}"):
            self.assertIn(clause, results[0])
        # dkimpy, an implementation independent of the relay's, agrees with the signature.
        stored = self.stored(ANN, subject)
        original = stored[stored.index(b"DKIM-Signature:"):]
        self.assertTrue(dkim.verify(original, dnsfunc=self.txt))

    def txt(self, name, timeout=5):
        import dns.resolver
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = ["127.0.0.1"], self.dns.port
        answer = resolver.resolve(name.decode().rstrip("."), "TXT")
        return b"".join(answer[0].strings)

    def test_a_forged_from_of_a_reject_domain_is_refused_and_nothing_is_written(self):
        subject = "forged statement"
        code, text = self.send(f"attacker@{SHOP}", [ANN], self.message(f"security@{BANK}", ANN, subject))
        self.assertEqual(code, 550)
        self.assertIn("5.7.1", text)
        self.assertIn("DMARC", text)
        time.sleep(0.5)
        self.nothing_stored(ANN, subject)
        self.assertIn('tenantry_relay_inbound_messages_total{outcome="refused"}', self.relay.metrics())

    def test_headers_that_read_one_way_to_dmarc_and_another_to_the_reader_are_refused(self):
        cases = {
            # Two author domains: DMARC cannot be evaluated, the reader sees the bank.
            "several domains": (f"From: security@{BANK}, x@{NEWS}\r\nSubject: several domains\r\n\r\nPay.\r\n", "5.7.1"),
            "two fields": (f"From: x@{NEWS}\r\nFrom: security@{BANK}\r\nSubject: two fields\r\n\r\nPay.\r\n", "5.7.1"),
            # A line that is no field: some parsers end the header there, readers do not.
            "no field": (f"junk\r\nFrom: security@{BANK}\r\nSubject: no field\r\n\r\nPay.\r\n", "5.6.0"),
        }
        for subject, (body, enhanced) in cases.items():
            code, text = self.send(f"attacker@{NEWS}", [EVE], body.encode())
            self.assertEqual((code, enhanced in text), (550, True), f"{subject}: {text}")
            self.nothing_stored(EVE, subject)

    def test_nothing_the_sender_writes_shapes_the_relays_results(self):
        subject = "injected through tags"
        # A DKIM tag that decodes to a line break, and an EHLO name with ';' and tabs.
        forged_signature = ("DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh=AAAA; b=AAAA;\r\n"
                            f"\ti=a@x.example=0D=0AAuthentication-Results:=20{AUTHSERV_ID}=3B=20dmarc=3Dpass\r\n")
        body = self.message(f"letters@{NEWS}", ANN, subject, extra=forged_signature.encode())
        with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=30) as client:
            client.ehlo(f"x;\tdmarc=pass\theader.from={BANK}")
            client.sendmail(f"letters@{NEWS}", [ANN], body)
        stored = self.stored(ANN, subject)
        header = stored.split(b"\r\n\r\n", 1)[0].decode()
        results = self.results(stored)
        self.assertEqual(len(results), 1, results)
        self.assertEqual(results[0].count("; dmarc="), 1, results[0])
        self.assertEqual(results[0].count(";"), 5, "one clause per method: " + results[0])
        self.assertIn("dmarc=fail", results[0])
        self.assertNotIn("\tdmarc=pass", header.split("Received:", 1)[1], "nor the trace's HELO name")

    def test_a_signature_that_no_longer_matches_fails_dmarc(self):
        subject = "altered statement"
        signed = self.message(f"notices@{BANK}", ANN, subject, sign=True).replace(b"Bonjour.", b"Pay now.")
        # Sent from an address SPF does not authorise either: nothing aligned passes.
        code, text = self.send(f"notices@{NEWS}", [ANN], signed)
        self.assertEqual((code, "5.7.1" in text), (550, True), text)

    def test_quarantine_goes_to_junk_and_imap_shows_it(self):
        subject = "quarantined offer"
        self.assertEqual(self.send(f"offers@{SHOP}", [ANN], self.message(f"offers@{SHOP}", ANN, subject))[0], 250)
        stored = self.stored(ANN, subject, folder=".Junk")
        self.assertIn("dmarc=fail", self.results(stored)[0])
        self.assertIn("policy.dmarc=quarantine", self.results(stored)[0])
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        with imaplib.IMAP4_SSL("127.0.0.1", self.dovecot.imaps_port, ssl_context=context, timeout=20) as imap:
            imap.login(ANN, PW_ANN)
            status, folders = imap.list()
            self.assertTrue(any(b'"Junk"' in f or f.endswith(b" Junk") for f in folders), folders)
            self.assertEqual(imap.select("Junk")[0], "OK")
            status, found = imap.search(None, "SUBJECT", f'"{subject}"')
            self.assertEqual((status, len(found[0].split())), ("OK", 1))
            imap.select("INBOX")
            status, found = imap.search(None, "SUBJECT", f'"{subject}"')
            self.assertEqual(found[0].split(), [], "a quarantined message is not in the inbox")

    def test_a_monitoring_policy_delivers_to_the_inbox_with_the_failure_recorded(self):
        subject = "monitored newsletter"
        self.assertEqual(self.send(f"letters@{NEWS}", [ANN], self.message(f"letters@{NEWS}", ANN, subject))[0], 250)
        results = self.results(self.stored(ANN, subject))
        self.assertIn("spf=fail", results[0])
        self.assertIn("dmarc=fail", results[0])
        self.assertIn("policy.dmarc=none", results[0])

    def test_results_claiming_the_relays_name_are_removed_others_kept(self):
        subject = "injected results"
        injected = (f"Authentication-Results: {AUTHSERV_ID}; dkim=pass header.d={BANK}; dmarc=pass\r\n"
                    f"Authentication-Results: (comment) MX.TENANTRY.TEST 1; spf=pass\r\n"
                    f"Authentication-Results: mx.elsewhere.example; spf=pass\r\n").encode()
        body = self.message(f"letters@{NEWS}", ANN, subject, extra=injected)
        self.assertEqual(self.send(f"letters@{NEWS}", [ANN], body)[0], 250)
        results = self.results(self.stored(ANN, subject))
        ours = [r for r in results if AUTHSERV_ID in r.lower()]
        self.assertEqual(len(ours), 1, results)
        self.assertIn("dmarc=fail", ours[0])
        self.assertIn("Authentication-Results: mx.elsewhere.example; spf=pass", results)

    def test_dns_that_fails_for_now_defers_instead_of_passing(self):
        subject = "flaky sender"
        code, text = self.send(f"someone@{FLAKY}", [ANN], self.message(f"someone@{FLAKY}", ANN, subject))
        self.assertEqual(code, 451, text)
        self.assertIn("4.7.0", text)
        self.nothing_stored(ANN, subject)

    def test_each_domain_chooses_what_a_failure_means(self):
        subject = "forged to every domain"
        forged = lambda to: self.message(f"security@{BANK}", to, subject)
        # tag: the inbox, the failure only in the header.
        self.assertEqual(self.send(f"attacker@{SHOP}", [EVE], forged(EVE))[0], 250)
        self.assertIn("dmarc=fail", self.results(self.stored(EVE, subject))[0])
        # quarantine: Junk, even under p=reject.
        self.assertEqual(self.send(f"attacker@{SHOP}", [NOE], forged(NOE))[0], 250)
        self.stored(NOE, subject, folder=".Junk")
        # reject: refused, even under p=none.
        code, text = self.send(f"letters@{NEWS}", [TOM], self.message(f"letters@{NEWS}", TOM, "monitored"))
        self.assertEqual((code, "5.7.1" in text), (550, True), text)
        # One message to a refusing and an accepting domain: delivered, to Junk where refused.
        subject = "forged to two domains"
        both = self.message(f"security@{BANK}", ANN, subject)
        self.assertEqual(self.send(f"attacker@{SHOP}", [ANN, EVE], both)[0], 250)
        self.stored(ANN, subject, folder=".Junk")
        self.stored(EVE, subject)

    def test_submitted_mail_is_vouched_for_by_the_sign_in_without_dns(self):
        subject = "from a colleague"
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        forged = f"Authentication-Results: {AUTHSERV_ID}; dmarc=pass header.from={BANK}\r\n".encode()
        with smtplib.SMTP("127.0.0.1", self.relay.submission_port, timeout=20) as client:
            client.starttls(context=context)
            client.login(ANN, PW_ANN)
            client.sendmail(ANN, [ANN], self.message(ANN, ANN, subject, extra=forged))
        results = self.results(self.stored(ANN, subject))
        self.assertEqual(results, [f"Authentication-Results: {AUTHSERV_ID}; auth=pass smtp.auth={ANN}"])


if __name__ == "__main__":
    unittest.main()
