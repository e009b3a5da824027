"""MTA-STS (RFC 8461) on outbound mail: dnsmasq publishes each destination's `_mta-sts`
record, MX and addresses, a loopback HTTPS server (its certificates from a test CA the
relay trusts through `outbound.tls_ca_file`) serves their policies, and scripted MX hosts on
loopback addresses of their own offer STARTTLS with good or bad certificates. An enforced
policy delivers only to a listed MX over verified TLS, with no clear fallback."""
import http.server
import pathlib
import shutil
import smtplib
import ssl
import tempfile
import threading
import time
import unittest

from harness import PARSEDMARC_PYTHON, API_KEY, LoopbackDns, RelayProcess, free_port, make_certificates, parsedmarc, wait_for
from remote_mx import RemoteMx
from standin_gateway import StandinGateway

PARIS = "hopital-paris.example"
ANN, PW_ANN = f"ann@{PARIS}", "abcd-efgh-ijkm-npqr-stuv-wxyz"
# domain: (its MX's loopback address, the name on the MX's certificate, the policy).
DESTINATIONS = {
    "strict.example": ("127.0.0.21", "mx.strict.example", "mode: enforce\nmx: mx.strict.example"),
    "badcert.example": ("127.0.0.22", "impostor.example", "mode: enforce\nmx: mx.badcert.example"),
    "unlisted.example": ("127.0.0.23", "mx.unlisted.example", "mode: enforce\nmx: mx.elsewhere.example"),
    "testing.example": ("127.0.0.24", "impostor.example", "mode: testing\nmx: mx.testing.example"),
    "plain.example": ("127.0.0.25", None, None),
}
# Where the strict and badcert domains ask for their TLS reports (plain MX, no policy).
REPORTS = "reports.example"


class PolicyServer:
    """HTTPS on loopback: the policy of the domain named by SNI and the Host header."""

    def __init__(self, certs, policies):
        contexts = {}
        for domain in policies:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certs / f"mta-sts.{domain}" / "cert.pem", certs / f"mta-sts.{domain}" / "key.pem")
            contexts[f"mta-sts.{domain}"] = context
        default = next(iter(contexts.values()))
        default.sni_callback = lambda sock, name, _: setattr(sock, "context", contexts.get(name, default))
        self.fetches = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):
                host = handler.headers.get("Host", "").split(":")[0]
                domain = host.removeprefix("mta-sts.")
                self.fetches.append((host, handler.path))
                policy = policies.get(domain)
                if handler.path != "/.well-known/mta-sts.txt" or policy is None:
                    handler.send_error(404)
                    return
                body = f"version: STSv1\n{policy}\nmax_age: 86400\n".encode()
                handler.send_response(200)
                handler.send_header("Content-Type", "text/plain")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            def log_message(handler, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = default.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


@unittest.skipUnless(shutil.which("dnsmasq"), "needs dnsmasq (scripts/setup.sh installs it)")
class MtaStsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="relay-mta-sts-"))
        certs = cls.work / "certs"
        names = {name for _, name, _ in DESTINATIONS.values() if name} | {f"mta-sts.{d}" for d, v in DESTINATIONS.items() if v[2]}
        cls.ca = make_certificates(certs, ["default", *sorted(names)])
        policies = {domain: policy for domain, (_, _, policy) in DESTINATIONS.items() if policy}
        cls.policies = PolicyServer(certs, policies)
        zone = []
        for domain, (address, _, policy) in DESTINATIONS.items():
            zone += [f"mx-host={domain},mx.{domain},10", f"address=/mx.{domain}/{address}"]
            if policy:
                zone += [f'txt-record=_mta-sts.{domain},"v=STSv1; id=20261208T000000"', f"address=/mta-sts.{domain}/127.0.0.1"]
        zone += [f"mx-host={REPORTS},mx.{REPORTS},10", f"address=/mx.{REPORTS}/127.0.0.26"]
        for domain in ("strict.example", "badcert.example"):
            zone.append(f'txt-record=_smtp._tls.{domain},"v=TLSRPTv1; rua=mailto:tls@{REPORTS},https://{REPORTS}/tlsrpt"')
        cls.dns = LoopbackDns(zone, workdir=cls.work)
        cls.mx_port = free_port()
        cls.remotes = {}
        for domain, (address, name, _) in DESTINATIONS.items():
            tls = None
            if name:
                tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                tls.load_cert_chain(certs / name / "cert.pem", certs / name / "key.pem")
            cls.remotes[domain] = RemoteMx(tls=tls, host=address, port=cls.mx_port)
        cls.reports = RemoteMx(host="127.0.0.26", port=cls.mx_port)
        cls.gateway = StandinGateway(API_KEY)
        cls.gateway.put_domain("t_paris", PARIS)
        cls.gateway.put_mailbox("t_paris", ANN)
        cls.gateway.put_credential("t_paris", "ap_ann", ANN, PW_ANN)
        cls.relay = RelayProcess(cls.gateway.url, workdir=cls.work / "relay", cert_dir=certs, outbound={
            "dns_servers": [cls.dns.server], "mx_port": cls.mx_port, "mta_sts_port": cls.policies.port,
            "tls_ca_file": str(cls.ca), "retry": {"first_retry_secs": 1, "max_retry_secs": 1, "give_up_after_secs": 3600},
            "tls_reports": {"from": "tls-reports@tenantry.test", "interval_secs": 3, "organization": "Tenantry tests"},
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        cls.gateway.stop()
        for remote in (*cls.remotes.values(), cls.reports):
            remote.stop()
        cls.policies.stop()
        cls.dns.stop()

    def submit(self, rcpt, subject):
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", self.relay.submission_port, timeout=20) as client:
            client.starttls(context=context)
            client.login(ANN, PW_ANN)
            client.sendmail(ANN, [rcpt], f"From: {ANN}\r\nSubject: {subject}\r\n\r\nBonjour.\r\n".encode())

    def test_an_enforced_policy_delivers_over_verified_tls(self):
        remote = self.remotes["strict.example"]
        self.submit("dr@strict.example", "strict")
        wait_for(lambda: remote.received_by("dr@strict.example"), what="delivery to the listed MX")
        self.assertGreaterEqual(remote.tls_sessions, 1)
        self.assertIn(("mta-sts.strict.example", "/.well-known/mta-sts.txt"), self.policies.fetches)
        self.assertIn("MTA-STS policy fetched", self.relay.log())

    def test_a_bad_certificate_under_enforce_is_never_sent_to_not_even_in_clear(self):
        self.submit("dr@badcert.example", "bad certificate")
        wait_for(lambda: "TLS refused under the domain's MTA-STS policy" in self.relay.log(), what="the refused TLS")
        time.sleep(2.5)  # two more retries (1 s apart): still nothing, and never in clear
        self.assertEqual(self.remotes["badcert.example"].received_by("dr@badcert.example"), [])
        listed = self.relay.run("queue", "list")
        self.assertIn("dr@badcert.example", listed.stdout)

    def test_an_mx_the_policy_does_not_list_gets_nothing(self):
        self.submit("dr@unlisted.example", "unlisted")
        wait_for(lambda: "no MX host of unlisted.example is listed in its MTA-STS policy" in self.relay.log(),
                 what="the deferral")
        time.sleep(2.5)
        self.assertIn("dr@unlisted.example", self.relay.run("queue", "list").stdout, "still queued")
        self.assertEqual(self.remotes["unlisted.example"].received_by("dr@unlisted.example"), [])
        self.assertEqual(self.remotes["unlisted.example"].tls_sessions, 0, "not even connected to")

    def test_a_testing_policy_still_delivers_as_before(self):
        self.submit("dr@testing.example", "testing")
        wait_for(lambda: self.remotes["testing.example"].received_by("dr@testing.example"), what="delivery under testing")

    def test_a_domain_without_a_policy_is_delivered_opportunistically(self):
        self.submit("dr@plain.example", "plain")
        wait_for(lambda: self.remotes["plain.example"].received_by("dr@plain.example"), what="delivery in clear")
        self.assertNotIn(("mta-sts.plain.example", "/.well-known/mta-sts.txt"), self.policies.fetches)

    def test_tls_reports_go_where_each_domain_asks_and_parse_with_parsedmarc(self):
        """RFC 8460: every reporting period (3 s here, a day by default), one report per policy
        domain that named a mailto: address, counted from the sessions under its policy."""
        if not PARSEDMARC_PYTHON.exists():
            self.skipTest("needs parsedmarc's virtual environment (scripts/setup.sh makes it)")
        self.submit("dr2@strict.example", "strict for the report")
        self.submit("dr2@badcert.example", "bad certificate for the report")
        wait_for(lambda: self.remotes["strict.example"].received_by("dr2@strict.example"), what="the strict delivery")

        def parsed():
            reports = [parsedmarc(data) for _, rcpts, data in self.reports.received_by(f"tls@{REPORTS}")]
            return {d: [r for r in reports if r["report"]["policies"][0]["policy_domain"] == d]
                    for d in ("strict.example", "badcert.example")}

        def both_seen():
            found = parsed()
            failed = sum(r["report"]["policies"][0]["failed_session_count"] for r in found["badcert.example"])
            succeeded = sum(r["report"]["policies"][0]["successful_session_count"] for r in found["strict.example"])
            return found if failed and succeeded else None

        found = wait_for(both_seen, timeout=40, what="TLS reports for both domains")
        bad = next(r for r in found["badcert.example"] if r["report"]["policies"][0]["failed_session_count"])
        self.assertEqual(bad["report_type"], "smtp_tls")
        policy = bad["report"]["policies"][0]
        self.assertEqual(policy["policy_type"], "sts")
        self.assertIn("mode: enforce", policy["policy_strings"])
        self.assertEqual({d["result_type"] for d in policy["failure_details"]}, {"certificate-host-mismatch"})
        self.assertEqual({d["receiving_mx_hostname"] for d in policy["failure_details"]}, {"mx.badcert.example"})
        self.assertEqual(bad["report"]["organization_name"], "Tenantry tests")
        # The report is the platform's mail: signed when a key is set, from the null sender.
        mail_from = {m for m, rcpts, _ in self.reports.received_by(f"tls@{REPORTS}")}
        self.assertEqual(mail_from, {""})
        # Only the mailto: address is used, and only domains that ask get reports.
        self.assertEqual({r for _, rcpts, _ in self.reports.messages for r in rcpts}, {f"tls@{REPORTS}"})


if __name__ == "__main__":
    unittest.main()
