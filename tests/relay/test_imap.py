"""Mail is read: Debian's Dovecot serves IMAP over the relay's Maildir, with the accounts
the relay writes from its replica and `tenantry-relay dovecot-auth` as its checkpassword
passdb and userdb. Real SMTP in, Python's imaplib out."""
import imaplib
import itertools
import smtplib
import socket
import ssl
import tempfile
import time
import unittest

from harness import API_KEY, DovecotProcess, RelayProcess, make_certificates, wait_for
from standin_gateway import StandinGateway

PARIS, LYON = "hopital-paris.example", "clinique-lyon.example"
ANN, BOB, EVE, ZOE = f"ann@{PARIS}", f"bob@{PARIS}", f"eve@{LYON}", f"zoe@{PARIS}"
PW_ZOE, PW_ZOE_2 = "zzzz-yyyy-xxxx-wwww-vvvv-uuuu", "z2z2-y3y3-x4x4-w5w5-v6v6-u7u7"
PW_ANN, PW_ANN_2, PW_BOB, PW_EVE = ("abcd-efgh-ijkm-npqr-stuv-wxyz", "a2a2-b3b3-c4c4-d5d5-e6e6-f7f7",
                                    "bbbb-cccc-dddd-eeee-ffff-gggg", "eeee-ffff-gggg-hhhh-iiii-jjjj")


class SourcedImap(imaplib.IMAP4_SSL):
    """IMAPS from a chosen loopback address: Dovecot delays failed logins per client
    address (its anvil penalty), so each refusal the tests provoke comes from its own."""

    def __init__(self, *args, source="127.0.0.1", **kwargs):
        self.source = source
        super().__init__(*args, **kwargs)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


SOURCES = (f"127.0.{i}.{j}" for i, j in itertools.product(range(1, 250), range(1, 250)))


class ImapTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gateway = g = StandinGateway(API_KEY)
        g.put_domain("t_paris", PARIS)
        g.put_domain("t_lyon", LYON)
        g.put_mailbox("t_paris", ANN, quota_mb=5)
        g.put_mailbox("t_paris", BOB)
        g.put_mailbox("t_lyon", EVE)
        g.put_credential("t_paris", "ap_ann", ANN, PW_ANN)
        g.put_credential("t_paris", "ap_ann_2", ANN, PW_ANN_2)
        g.put_credential("t_paris", "ap_bob", BOB, PW_BOB)
        g.put_credential("t_lyon", "ap_eve", EVE, PW_EVE)
        g.put_mailbox("t_paris", ZOE)
        g.put_credential("t_paris", "ap_zoe", ZOE, PW_ZOE)
        g.put_credential("t_paris", "ap_zoe_2", ZOE, PW_ZOE_2)
        cls.certs = tempfile.mkdtemp(prefix="relay-imap-certs-")
        cls.ca = make_certificates(cls.certs, ["default"])
        cls.relay = RelayProcess(g.url, cert_dir=cls.certs, dovecot=True)
        cls.dovecot = DovecotProcess(cls.relay, cls.certs)
        cls.relay.start()
        cls.dovecot.start()

    @classmethod
    def tearDownClass(cls):
        cls.dovecot.stop()
        cls.relay.stop()
        cls.gateway.stop()

    def imap(self, user, password, source="127.0.0.1"):
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        client = SourcedImap("127.0.0.1", self.dovecot.imaps_port, ssl_context=context, timeout=20, source=source)
        client.login(user, password)
        return client

    def refused(self, user, password):
        with self.assertRaises(imaplib.IMAP4.error, msg=f"{user} signed in"):
            self.imap(user, password, source=next(SOURCES)).logout()

    def deliver(self, to, subject):
        body = f"From: someone@elsewhere.example\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nBonjour.\r\n".encode()
        with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=20) as client:
            client.sendmail("someone@elsewhere.example", [to], body)
        return wait_for(lambda: next((m for m in self.relay.messages(to) if subject.encode() in m), None),
                        what=f"{subject} in {to}'s Maildir")

    def wait_synced(self):
        self.relay.wait_for_version(self.gateway.version)

    def test_a_delivered_message_is_read_byte_for_byte_and_flags_persist(self):
        stored = self.deliver(ANN, "Compte rendu")
        client = self.imap(ANN, PW_ANN)
        status, data = client.select("INBOX")
        self.assertEqual(status, "OK")
        status, found = client.search(None, "SUBJECT", '"Compte rendu"')
        number = found[0].split()[-1]
        status, fetched = client.fetch(number, "(BODY.PEEK[])")
        self.assertEqual(fetched[0][1], stored, "IMAP serves the bytes the relay stored")
        client.store(number, "+FLAGS", "(\\Flagged \\Seen)")
        client.logout()
        client = self.imap(ANN, PW_ANN_2)
        client.select("INBOX", readonly=True)
        status, flags = client.fetch(number, "(FLAGS)")
        self.assertIn(b"\\Flagged", flags[0])
        self.assertIn(b"\\Seen", flags[0])
        client.logout()

    def test_the_mailbox_quota_is_the_api_quota(self):
        client = self.imap(ANN, PW_ANN)
        status, data = client.getquotaroot("INBOX")
        self.assertEqual(status, "OK")
        quota = b" ".join(item for part in data for item in part if item)
        self.assertRegex(quota, rb"\(STORAGE \d+ 5120\)", "5 MB as Dovecot counts it (KiB)")
        client.logout()
        client = self.imap(BOB, PW_BOB)
        status, data = client.getquotaroot("INBOX")
        self.assertNotIn(b"STORAGE", b" ".join(item for part in data for item in part if item), "no quota: no limit")
        client.logout()

    def test_wrong_passwords_and_other_accounts_are_refused(self):
        self.refused(ANN, "wrong-password-wrong-pass")
        self.refused(ANN, PW_BOB)
        self.refused(EVE, PW_ANN)
        self.refused(f"nobody@{PARIS}", PW_ANN)
        self.refused("../../etc/passwd", PW_ANN)
        self.refused(f"ann@../{PARIS}", PW_ANN)
        client = self.imap(ANN, PW_ANN)
        # Another account's mail is out of reach from a signed-in session.
        for name in (f"../bob", f"../../{LYON}/eve", "/etc"):
            status, _ = client.select(f'"{name}"')
            self.assertEqual(status, "NO", name)
        client.logout()

    def test_a_revoked_password_stops_signing_in_after_one_sync(self):
        self.gateway.put_credential("t_paris", "ap_bob_temp", BOB, "tttt-uuuu-vvvv-wwww-xxxx-yyyy")
        self.wait_synced()
        self.imap(BOB, "tttt-uuuu-vvvv-wwww-xxxx-yyyy").logout()
        self.gateway.revoke_credential("ap_bob_temp")
        self.wait_synced()
        self.refused(BOB, "tttt-uuuu-vvvv-wwww-xxxx-yyyy")
        self.imap(BOB, PW_BOB).logout()

    def test_a_suspended_domain_or_disabled_mailbox_cannot_sign_in_after_one_sync(self):
        self.imap(EVE, PW_EVE).logout()
        self.gateway.put_domain("t_lyon", LYON, status="suspended")
        self.wait_synced()
        self.refused(EVE, PW_EVE)
        self.gateway.put_domain("t_lyon", LYON)
        self.wait_synced()
        self.imap(EVE, PW_EVE).logout()
        self.gateway.put_mailbox("t_lyon", EVE, status="disabled")
        self.wait_synced()
        self.refused(EVE, PW_EVE)
        self.gateway.put_mailbox("t_lyon", EVE)
        self.wait_synced()

    def test_guesses_are_throttled_per_account_and_a_verified_password_still_signs_in(self):
        # The app password a mail client uses signs in (and is remembered as verified).
        self.imap(ZOE, PW_ZOE, source=next(SOURCES)).logout()
        # Six guesses from six addresses: Dovecot's per-address penalty never applies,
        # the account's failure rule does (5 in 15 minutes, as SMTP AUTH).
        for _ in range(6):
            self.refused(ZOE, "wrong-guess-0000-0000-0000")
        # A right password that never verified is not even tried while the account is
        # throttled; SMTP AUTH, throttled on its own, shows it is right.
        self.refused(ZOE, PW_ZOE_2)
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", self.relay.submission_port, timeout=20) as client:
            client.starttls(context=context)
            self.assertEqual(client.login(ZOE, PW_ZOE_2)[0], 235)
        # The mail client's verified password still signs in, from yet another address.
        client = self.imap(ZOE, PW_ZOE, source=next(SOURCES))
        self.assertEqual(client.select("INBOX")[0], "OK")
        client.logout()
        # Another account of the domain is not throttled by Zoe's guesses.
        self.imap(BOB, PW_BOB, source=next(SOURCES)).logout()

    def test_the_accounts_file_holds_hashes_only(self):
        text = (self.relay.dovecot_view / "accounts" / PARIS).read_text()
        self.assertIn("$argon2id$", text)
        for password in (PW_ANN, PW_ANN_2, PW_BOB):
            self.assertNotIn(password, text)
        self.assertEqual(oct((self.relay.dovecot_view / "accounts" / PARIS).stat().st_mode & 0o777), "0o600")


if __name__ == "__main__":
    unittest.main()
