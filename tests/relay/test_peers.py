"""Verified peers: a sector authority made with `openssl ca` issues client certificates;
the relay asks for one at STARTTLS, verifies it against `tls.client_ca` and `tls.crl`
after the handshake, names the verified subject in `Received:`, and refuses mail from the
domains of `tls.require_client_cert_from` without one (530 5.7.0), in MAIL FROM or in the
message's From:. CRLs reload without
a restart. Real TLS clients (Python's ssl with client certificates), the real relay."""
import os
import pathlib
import smtplib
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import API_KEY, RelayProcess, make_certificates
from standin_gateway import StandinGateway

PARIS = "hopital-paris.example"
ANN = f"ann@{PARIS}"
PEER = "chu-lyon.example"

CA_CONFIG = """[ca]
default_ca = authority
[authority]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 2
default_crl_days = 2
policy = any
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
[client]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
"""


class Authority:
    """A certificate authority driven with `openssl ca`: issue, revoke, publish a CRL."""

    def __init__(self, directory, name):
        self.dir = pathlib.Path(directory) / name
        self.dir.mkdir(parents=True)
        (self.dir / "index.txt").write_text("")
        (self.dir / "serial").write_text("1000\n")
        (self.dir / "crlnumber").write_text("1000\n")
        self.config = self.dir / "ca.cnf"
        self.config.write_text(CA_CONFIG.format(dir=self.dir))
        self.key, self.cert, self.crl = self.dir / "ca.key", self.dir / "ca.pem", self.dir / "crl.pem"
        self.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", f"/CN={name}/O=Sector Authority")
        self.publish_crl()

    def run(self, *args):
        subprocess.run([str(a) for a in args], check=True, capture_output=True)

    def ca(self, *args):
        self.run("openssl", "ca", "-batch", "-config", self.config, "-keyfile", self.key, "-cert", self.cert, *args)

    def issue(self, common_name, organization):
        stem = self.dir / common_name
        self.run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={common_name}/O={organization}")
        self.ca("-extensions", "client", "-in", f"{stem}.csr", "-out", f"{stem}.pem", "-notext")
        return f"{stem}.pem", f"{stem}.key"

    def revoke(self, cert):
        self.ca("-revoke", cert)
        self.publish_crl()

    def publish_crl(self):
        # Written beside, then renamed: the relay never reads half a CRL.
        self.ca("-gencrl", "-out", f"{self.crl}.new")
        os.replace(f"{self.crl}.new", self.crl)


class PeersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gateway = StandinGateway(API_KEY)
        cls.gateway.put_domain("t_paris", PARIS)
        cls.gateway.put_mailbox("t_paris", ANN)
        cls.tmp = tempfile.mkdtemp(prefix="relay-peers-")
        cls.certs = pathlib.Path(cls.tmp) / "server"
        cls.server_ca = make_certificates(cls.certs, ["default"])
        cls.authority = Authority(cls.tmp, "Sector-CA")
        cls.stranger = Authority(cls.tmp, "Unknown-CA")
        cls.valid = cls.authority.issue("mx.chu-lyon.example", "CHU Lyon")
        cls.later_revoked = cls.authority.issue("mx2.chu-lyon.example", "CHU Lyon")
        cls.revoked = cls.authority.issue("old.chu-lyon.example", "CHU Lyon")
        cls.authority.revoke(cls.revoked[0])
        cls.unknown = cls.stranger.issue("mx.chu-lyon.example", "Impostor")
        cls.relay = RelayProcess(cls.gateway.url, cert_dir=cls.certs, peer_tls={
            "client_ca": str(cls.authority.cert), "crl": [str(cls.authority.crl)],
            "require_client_cert_from": [PEER]}).start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        cls.gateway.stop()

    def send(self, sender, subject, certificate=None, tls=True):
        """MAIL FROM `sender` to ann over STARTTLS (with a client certificate if given):
        the stored message, or the SMTP error."""
        context = ssl.create_default_context(cafile=str(self.server_ca))
        context.check_hostname = False
        if certificate:
            context.load_cert_chain(*certificate)
        body = f"From: {sender}\r\nTo: {ANN}\r\nSubject: {subject}\r\n\r\nBonjour.\r\n".encode()
        with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=20) as client:
            if tls:
                client.starttls(context=context)
            try:
                client.sendmail(sender, [ANN], body)
            except smtplib.SMTPSenderRefused as refused:
                return refused
        return next(m for m in self.relay.messages(ANN) if subject.encode() in m)

    def assertRefused(self, outcome):
        self.assertIsInstance(outcome, smtplib.SMTPSenderRefused, outcome)
        self.assertEqual(outcome.smtp_code, 530, outcome)
        self.assertIn(b"5.7.0", outcome.smtp_error)

    def test_a_verified_certificate_is_accepted_and_named_in_received(self):
        stored = self.send(f"dr@{PEER}", "verified", self.valid)
        received = stored.split(b"\r\n\r\n")[0].decode()
        self.assertRegex(received, r'verified client certificate "[^"]*CN=mx\.chu-lyon\.example')
        self.assertIn("O=CHU Lyon", received)

    def test_required_peers_without_a_verified_certificate_are_refused(self):
        self.assertRefused(self.send(f"dr@{PEER}", "no certificate"))
        self.assertRefused(self.send(f"dr@{PEER}", "no tls", tls=False))
        self.assertRefused(self.send(f"dr@{PEER}", "unknown authority", self.unknown))
        self.assertRefused(self.send(f"dr@{PEER}", "revoked", self.revoked))
        self.assertFalse([m for m in self.relay.messages(ANN) if b"unknown authority" in m or b"revoked" in m])

    def test_a_required_peer_only_in_from_is_refused_at_the_end_of_data(self):
        """DMARC aligns on the From: domain: an impostor may not put a peer's domain (or a
        subdomain of it) there behind an envelope sender of its own."""
        context = ssl.create_default_context(cafile=str(self.server_ca))
        context.check_hostname = False
        for header_from in (f"dr@{PEER}", f"dr@mail.{PEER}"):
            subject = f"impostor as {header_from}"
            body = f"From: {header_from}\r\nTo: {ANN}\r\nSubject: {subject}\r\n\r\nPay.\r\n".encode()
            with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=20) as client:
                client.starttls(context=context)
                with self.assertRaises(smtplib.SMTPDataError) as refused:
                    client.sendmail("someone@elsewhere.example", [ANN], body)
            self.assertEqual(refused.exception.smtp_code, 530)
            self.assertIn(b"5.7.0", refused.exception.smtp_error)
            self.assertFalse([m for m in self.relay.messages(ANN) if subject.encode() in m])
        stored = self.send(f"dr@{PEER}", "peer in from with its certificate", self.valid)
        self.assertIn(b"peer in from with its certificate", stored)

    def test_other_senders_need_no_certificate_and_an_unverified_one_is_not_named(self):
        stored = self.send("someone@elsewhere.example", "unlisted")
        self.assertNotIn(b"verified client certificate", stored)
        stored = self.send("someone@elsewhere.example", "unlisted with an unknown certificate", self.unknown)
        self.assertNotIn(b"verified client certificate", stored)

    def test_a_crl_published_later_is_read_without_a_restart(self):
        self.send(f"dr@{PEER}", "before revocation", self.later_revoked)
        self.authority.revoke(self.later_revoked[0])
        deadline = time.time() + 20
        while True:
            outcome = self.send(f"dr@{PEER}", f"after revocation {time.time()}", self.later_revoked)
            if isinstance(outcome, smtplib.SMTPSenderRefused) or time.time() > deadline:
                break
            time.sleep(0.3)
        self.assertRefused(outcome)
        self.assertIn("CRLs reloaded", self.relay.log())


if __name__ == "__main__":
    unittest.main()
