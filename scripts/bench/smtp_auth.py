#!/usr/bin/env python3
"""Inbound MX benchmark with authentication and spam scoring: tenantry-relay (SPF, DKIM,
ARC and DMARC by mail-auth, then Rspamd over /checkv2) next to the stack operators run
today, Postfix 3.7 with Rspamd as its milter (Rspamd's proxy worker; Rspamd then checks
SPF, DKIM and DMARC itself). Same Rspamd (Debian's configuration, one normal worker pool
behind both), same DNS (dnsmasq on loopback publishing the sender's SPF, DKIM key and
DMARC p=reject), same message (signed by dkimpy), STARTTLS on every session, the same
client (`smtp_load`). The rate is messages delivered into new/ per second; the relay's
added latency is the mean of its `tenantry_relay_inbound_check_seconds`. Run it through
`scripts/bench.sh smtp-auth` (needs root for Postfix, like `smtp`).
"""
import base64
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "relay"))
sys.path.insert(0, str(ROOT / "scripts" / "bench"))
import smtp as base  # noqa: E402
from harness import API_KEY, LoopbackDns, RelayProcess, RspamdProcess  # noqa: E402
from standin_gateway import StandinGateway  # noqa: E402

SENDER_DOMAIN = "sender.bench.example"
SENDER = f"news@{SENDER_DOMAIN}"
MESSAGES = int(os.environ.get("BENCH_MESSAGES", 2000))
SESSIONS = int(os.environ.get("BENCH_SESSIONS", 20))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))


def signed_message(key_pem):
    import dkim
    lines = "".join("Les résultats de la semaine sont en pièce jointe, bonne lecture.\r\n" for _ in range(70))
    body = (f"From: Hôpital <{SENDER}>\r\nTo: <{base.MAILBOX}>\r\nSubject: weekly results\r\n"
            f"Message-ID: <bench@{SENDER_DOMAIN}>\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            f"\r\n{lines}").encode()
    signature = dkim.sign(body, b"s1", SENDER_DOMAIN.encode(), key_pem,
                          include_headers=[b"from", b"to", b"subject", b"message-id", b"date"])
    return signature + body


def load(port, message_file):
    return subprocess.Popen(
        [str(ROOT / "target" / "release" / "examples" / "smtp_load"), "--port", str(port), "--sessions", str(SESSIONS),
         "--messages", str(MESSAGES), "--starttls", "--from", SENDER, "--to", base.MAILBOX,
         "--message-file", str(message_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def timed_round(port, new_dir, message_file):
    before = base.count(new_dir)
    started = time.time()
    return MESSAGES / base.wait_delivered(new_dir, before + MESSAGES, started, load(port, message_file))


def histogram_mean(metrics, name):
    total = float(re.search(rf"^{name}_sum (\S+)$", metrics, re.M).group(1))
    count = float(re.search(rf"^{name}_count (\S+)$", metrics, re.M).group(1))
    return total, count


def main():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
    work = pathlib.Path(tempfile.mkdtemp(prefix="smtp-auth-bench-"))
    work.chmod(0o755)
    key = generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    spki = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.DER,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    dns = LoopbackDns([f'txt-record={SENDER_DOMAIN},"v=spf1 ip4:127.0.0.1 -all"',
                       f'txt-record=s1._domainkey.{SENDER_DOMAIN},"v=DKIM1; k=rsa; p={spki}"',
                       f'txt-record=_dmarc.{SENDER_DOMAIN},"v=DMARC1; p=reject"'], workdir=work)
    rspamd = RspamdProcess(dns, workdir=work / "rspamd").start()
    message_file = work / "message.eml"
    message_file.write_bytes(signed_message(key_pem))
    gateway = StandinGateway(API_KEY)
    gateway.put_domain("t_bench", base.DOMAIN, max_storage_mb=-1, spam={"junk_at": 6.0, "reject_at": 15.0})
    gateway.put_mailbox("t_bench", base.MAILBOX)
    import harness
    harness.BINARY = ROOT / "target" / "release" / "tenantry-relay"
    cert, cert_key = base.certificate(work / "certs" / "default")
    relay = RelayProcess(gateway.url, workdir=work / "relay", cert_dir=work / "certs",
                         outbound={"dns_servers": [dns.server]}, spam={"rspamd_url": rspamd.url},
                         limits={"max_message_bytes": 10_000_000, "max_connections_per_ip": 2000,
                                 "max_connections": 2000, "max_recipients": 100})
    relay.start()
    postfix_root = work / "postfix-mail"
    postfix_root.mkdir()
    shutil.chown(postfix_root, "postfix", "postfix")
    base.setup_postfix(postfix_root, cert, cert_key, extra=f"""smtpd_milters = inet:127.0.0.1:{rspamd.proxy_port}
milter_default_action = tempfail
milter_protocol = 6
""")
    postfix_new = postfix_root / base.DOMAIN / "bench" / "new"
    rates = {"postfix": [], "relay": []}
    scanned = {"postfix": 0, "relay": 0}
    try:
        for round_number in range(1, ROUNDS + 1):
            for name, port, new_dir in (("postfix", base.POSTFIX_PORT, postfix_new),
                                        ("relay", relay.port, relay.maildir(base.MAILBOX))):
                before = rspamd.scanned()
                rates[name].append(timed_round(port, new_dir, message_file))
                scanned[name] += rspamd.scanned() - before
            print(f"round {round_number}/{ROUNDS}: Postfix + Rspamd milter {rates['postfix'][-1]:.0f} msg/s, "
                  f"tenantry-relay + Rspamd {rates['relay'][-1]:.0f} msg/s", flush=True)
        total, count = histogram_mean(relay.metrics(), "tenantry_relay_inbound_check_seconds")
        sample = next(relay.maildir(base.MAILBOX).iterdir()).read_bytes().split(b"\r\n\r\n", 1)[0].decode()
    finally:
        subprocess.run(["postfix", "stop"], capture_output=True)
        relay.stop()
        gateway.stop()
        rspamd.stop()
        dns.stop()
    for name in rates:
        # Each message went through Rspamd, not around it.
        if scanned[name] < MESSAGES * ROUNDS * 0.99:
            sys.exit(f"only {scanned[name]} of {MESSAGES * ROUNDS} {name} messages were scanned by Rspamd")
    if "dmarc=pass" not in sample or "X-Spam-Flag: NO" not in sample:
        sys.exit(f"the relay's copies are not authenticated and scored as expected:\n{sample}")
    postfix, ours = statistics.median(rates["postfix"]), statistics.median(rates["relay"])
    version = subprocess.check_output(["postconf", "-h", "mail_version"], text=True).strip()
    print()
    print(f"load: smtp_load, {SESSIONS} sessions, STARTTLS, {message_file.stat().st_size} B DKIM-signed message "
          f"(SPF pass, DMARC p=reject pass), {MESSAGES} messages, {ROUNDS} rounds; Rspamd {rspamd_version()}")
    print("| inbound MX | delivered msg/s (median) | all rounds |")
    print("|---|---|---|")
    print(f"| Postfix {version} + Rspamd milter | {postfix:.0f} | {', '.join(f'{r:.0f}' for r in rates['postfix'])} |")
    print(f"| tenantry-relay + Rspamd | {ours:.0f} | {', '.join(f'{r:.0f}' for r in rates['relay'])} |")
    print(f"ratio tenantry-relay / (Postfix + Rspamd): {ours / postfix:.2f}x")
    print(f"the relay's checks (SPF, DKIM, ARC, DMARC, Rspamd) per message: {total / count * 1000:.1f} ms mean "
          f"over {count:.0f} messages")


def rspamd_version():
    return subprocess.run(["rspamd", "--version"], capture_output=True, text=True).stdout.split()[-1]


if __name__ == "__main__":
    main()
