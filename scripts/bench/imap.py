#!/usr/bin/env python3
"""IMAP benchmark: Debian's Dovecot over tenantry-relay's Maildir, with the accounts the relay
writes from its replica of the real gateway (wrangler dev) and `tenantry-relay dovecot-auth`
as Dovecot's checkpassword passdb and userdb.

(a) A mailbox of 10,000 messages (2-5 KB, written into the Maildir's `new/` as the relay
    delivers them): `SELECT INBOX` + `FETCH 1:* (FLAGS)`, first with no Dovecot index (Dovecot
    moves the files to `cur/` and builds its index; the files are in the page cache), then
    the median of 5 runs with it. Each run on a fresh IMAPS session; only the two commands
    are timed.
(b) `LOGIN` on an established IMAPS session, our checkpassword program next to Dovecot's own
    passwd-file passdb holding the same Argon2id hash (a second Dovecot from the same
    scripts/dovecot_config.py output), interleaved, no auth cache in either.
(c) From an API change to Dovecot: app password created -> first successful login, revoked
    -> first refused login, with the relay syncing every second (its default is 30 s). A
    login is started every 50 ms, each from its own loopback address (Dovecot delays failed
    logins by 2 s and penalises the address); the figure is the start of the first attempt
    with the new outcome, from the API's answer.

Run it through `scripts/bench.sh imap` (as root: the relay, and Dovecot's mail and auth
processes, run as the relay's user, tenantry-relay, as tests/relay/harness.py starts them).
BENCH_MESSAGES, BENCH_LOGINS and BENCH_CHANGES scale it down; RELAY_TEST_BINARY picks the
relay (default target/release/tenantry-relay).
"""
import contextlib
import imaplib
import importlib.util
import itertools
import os
import pathlib
import random
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
from harness import RELAY_SEAL_KEY, Gateway  # noqa: E402

# tests/relay/harness.py, under another name than the gateway's harness.
_spec = importlib.util.spec_from_file_location("relay_harness", ROOT / "tests" / "relay" / "harness.py")
relay_harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(relay_harness)

relay_harness.BINARY = pathlib.Path(os.environ.get("RELAY_TEST_BINARY", ROOT / "target" / "release" / "tenantry-relay")).resolve()
MESSAGES = int(os.environ.get("BENCH_MESSAGES", 10_000))
WARM = 5
LOGINS = int(os.environ.get("BENCH_LOGINS", 50))
CHANGES = int(os.environ.get("BENCH_CHANGES", 5))
DOMAIN = "imap-bench.example"
READER = f"reader@{DOMAIN}"
SOURCES = (f"127.1.{i}.{j}" for i, j in itertools.product(range(1, 255), range(1, 255)))
WORDS = ("patient consultation résultat analyse ordonnance rendez-vous cardiologie radiologie compte "
         "rendu examen suivi traitement dossier service hôpital clinique urgence bilan").split()


def api(gateway, method, path, body=None, token=None):
    response = gateway.request(method, path, body, token=token)
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {response.body[:300]!r}")
    return response.json() if response.body else None


class Imaps(imaplib.IMAP4_SSL):
    """IMAPS from a chosen loopback address."""

    def __init__(self, port, ca, source="127.0.0.1"):
        self.source = source
        context = ssl.create_default_context(cafile=str(ca))
        context.check_hostname = False
        super().__init__("127.0.0.1", port, ssl_context=context, timeout=60)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def fill_maildir(relay, address, count):
    """`count` messages in the Maildir's new/, named and framed as the relay delivers them."""
    rng = random.Random(7)
    home = relay.maildir(address).parent
    for sub in ("tmp", "new", "cur"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    now = int(time.time())
    for n in range(count):
        text = ""
        target = rng.randint(1500, 4500)
        while len(text) < target:
            text += " ".join(rng.choice(WORDS) for _ in range(12)) + ".\r\n"
        message = (f"Return-Path: <sender{n % 50}@elsewhere.example>\r\n"
                   f"Received: from mx.elsewhere.example (127.0.0.1) by mx.tenantry.test with ESMTPS id q{n:06d}\r\n"
                   f"\tfor <{address}>; Mon, 24 Nov 2025 08:00:00 +0000\r\n"
                   f"From: Sender {n % 50} <sender{n % 50}@elsewhere.example>\r\nTo: <{address}>\r\n"
                   f"Subject: Compte rendu {n}\r\nDate: Mon, 24 Nov 2025 08:00:00 +0000\r\n"
                   f"Message-ID: <{n}.bench@elsewhere.example>\r\nMIME-Version: 1.0\r\n"
                   f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}").encode()
        (home / "new" / f"{now}.M{n}P{os.getpid()}Q{n}.mx.tenantry.test,S={len(message)}").write_bytes(message)
    relay_harness.give_to(relay.run_as, home.parent)


def select_and_fetch(port, ca, password):
    client = Imaps(port, ca)
    client.login(READER, password)
    started = time.perf_counter()
    status, data = client.select("INBOX")
    _, flags = client.fetch("1:*", "(FLAGS)")
    elapsed = time.perf_counter() - started
    client.logout()
    if status != "OK" or int(data[0]) != MESSAGES or len(flags) != MESSAGES:
        raise RuntimeError(f"SELECT {status} {data}, {len(flags)} FETCH lines")
    return elapsed


def login_time(port, ca, password):
    client = Imaps(port, ca)
    started = time.perf_counter()
    client.login(READER, password)
    elapsed = time.perf_counter() - started
    client.logout()
    return elapsed


def peer_dovecot(relay, certs, work):
    """A second Dovecot from the same configuration, with passwd-file instead of our program."""
    address, home, quota_rule, hashes = (relay.dovecot_view / "accounts" / DOMAIN).read_text().split("\n")[0].split("\t")
    peer = types.SimpleNamespace(workdir=work / "peer", run_as=relay.run_as, dovecot_view=relay.dovecot_view,
                                 dovecot_conf=work / "peer" / "dovecot" / "dovecot.conf")
    dovecot = relay_harness.DovecotProcess(peer, certs)
    users = peer.dovecot_conf.parent / "users"
    users.write_text(f"{address}:{{ARGON2ID}}{hashes.split(' ')[0]}::::{home}::userdb_quota_rule={quota_rule}\n")
    shared = peer.dovecot_conf.parent / "tenantry.conf"
    text = re.sub(r"^(passdb|userdb) \{\n.*?^\}\n", "", shared.read_text(), flags=re.M | re.S)
    shared.write_text(text + f"passdb {{\n  driver = passwd-file\n  args = {users}\n}}\n"
                      f"userdb {{\n  driver = passwd-file\n  args = {users}\n}}\n")
    return dovecot.start()


def attempt(port, ca, password, source, results):
    started = time.time()
    try:
        client = Imaps(port, ca, source=source)
    except OSError:
        return
    try:
        client.login(READER, password)
        results.append((started, True))
        client.logout()
    except imaplib.IMAP4.error as error:
        if "AUTHENTICATIONFAILED" in str(error):
            results.append((started, False))
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):  # already closed after a logout
            client.shutdown()


def until(port, ca, password, since, signed_in, timeout=120):
    """Seconds from `since` to the start of the first login attempt with the outcome `signed_in`."""
    results, threads = [], []
    while not any(ok == signed_in for _, ok in results):
        if time.time() - since > timeout:
            raise RuntimeError(f"no {'successful' if signed_in else 'refused'} login after {timeout} s")
        threads.append(threading.Thread(target=attempt, args=(port, ca, password, next(SOURCES), results)))
        threads[-1].start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    return min(started for started, ok in results if ok == signed_in) - since


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="imap-bench-"))
    work.chmod(0o755)
    print("starting the gateway (wrangler dev), the relay and Dovecot ...", flush=True)
    gateway = Gateway().start()
    relay = dovecot = peer = None
    try:
        owner = gateway.create_tenant("bench-imap", plan="enterprise")["owner_api_key"]
        call = lambda method, path, body=None: api(gateway, method, path, body, token=owner)
        call("POST", "/v1/mail/domains", {"domain": DOMAIN, "organization_name": "Bench", "organization_type": "clinic",
                                          "max_mailboxes": 10, "max_storage_mb": 1000})
        call("POST", f"/v1/mail/domains/{DOMAIN}/mailboxes", {"address": READER, "kind": "personal", "quota_mb": 500})
        passwords = f"/v1/mail/domains/{DOMAIN}/mailboxes/{READER}/passwords"
        password = call("POST", passwords, {"label": "bench"})["password"]
        certs = work / "certs"
        ca = relay_harness.make_certificates(certs, ["default"])
        relay = relay_harness.RelayProcess(gateway.url, workdir=work / "relay", cert_dir=certs, dovecot=True,
                                           api_key=gateway.create_relay_key("bench-imap")["key"],
                                           seal_key=RELAY_SEAL_KEY, sync_interval_secs=1)
        relay.start()
        relay_harness.wait_for(lambda: (relay.dovecot_view / "accounts" / DOMAIN).exists(), what="the accounts file")
        dovecot = relay_harness.DovecotProcess(relay, certs).start()
        account = (relay.dovecot_view / "accounts" / DOMAIN).read_text()
        parameters = account.split("$argon2id$v=19$", 1)[1].split("$", 1)[0]
        port = dovecot.imaps_port

        print(f"(a) writing {MESSAGES:,} messages into {READER}'s Maildir ...", flush=True)
        fill_maildir(relay, READER, MESSAGES)
        cold = select_and_fetch(port, ca, password)
        warm = [select_and_fetch(port, ca, password) for _ in range(WARM)]

        print(f"(b) {LOGINS} logins on each Dovecot, interleaved ...", flush=True)
        peer = peer_dovecot(relay, certs, work)
        for warm_up in (port, peer.imaps_port):  # the first imap process, the first hash
            login_time(warm_up, ca, password)
        ours, theirs = [], []
        for _ in range(LOGINS):
            ours.append(login_time(port, ca, password))
            theirs.append(login_time(peer.imaps_port, ca, password))
        peer.stop()

        print(f"(c) {CHANGES} app passwords created and revoked through the API ...", flush=True)
        created, revoked = [], []
        for n in range(CHANGES):
            new = call("POST", passwords, {"label": f"change-{n}"})
            created.append(until(port, ca, new["password"], time.time(), signed_in=True))
            time.sleep(1)
            call("DELETE", f"{passwords}/{new['id']}")
            revoked.append(until(port, ca, new["password"], time.time(), signed_in=False))
            time.sleep(1)
    finally:
        for process in (peer, dovecot, relay):
            if process:
                process.stop()
        gateway.stop()
    shutil.rmtree(work, ignore_errors=True)  # kept when the run fails, for its logs

    version = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.split()[0]
    ms = lambda seconds: f"{seconds * 1000:.0f} ms"
    p90 = lambda samples: sorted(samples)[int(len(samples) * 0.9)]
    print()
    print(f"Dovecot {version}, tenantry-relay {relay_harness.BINARY.parent.name}, Python imaplib over IMAPS on loopback")
    print(f"(a) SELECT INBOX + FETCH 1:* (FLAGS), {MESSAGES:,} messages of 2-5 KB")
    print(f"    first, no index: {ms(cold)}; with the index: {ms(statistics.median(warm))} "
          f"(median of {WARM}: {', '.join(ms(w) for w in warm)})")
    print(f"(b) LOGIN on an open IMAPS session, the same Argon2id hash ({parameters}), {LOGINS} each, interleaved")
    print("| passdb | p50 | p90 |")
    print("|---|---|---|")
    print(f"| checkpassword: tenantry-relay dovecot-auth | {ms(statistics.median(ours))} | {ms(p90(ours))} |")
    print(f"| Dovecot passwd-file (ARGON2ID) | {ms(statistics.median(theirs))} | {ms(p90(theirs))} |")
    print(f"    ratio checkpassword / passwd-file: {statistics.median(ours) / statistics.median(theirs):.2f}x")
    print(f"(c) from the API's answer to the start of the first login with the new outcome (attempts every 50 ms),\n"
          f"    relay sync_interval_secs = 1 (the default is 30 s: add up to 29 s), median of {CHANGES}")
    print(f"    app password created -> first successful login: {ms(statistics.median(created))} "
          f"({', '.join(ms(c) for c in created)})")
    print(f"    app password revoked -> first refused login:    {ms(statistics.median(revoked))} "
          f"({', '.join(ms(r) for r in revoked)})")


if __name__ == "__main__":
    main()
