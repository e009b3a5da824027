#!/usr/bin/env python3
"""SMTP benchmark: tenantry-relay next to Postfix 3.7 under the same load.

Both are a virtual-domain Maildir MX on loopback, both fsync every message before 250.
The rate is messages delivered into new/ per second, from the start of the load until
the last message is in new/: first in clear under Postfix's smtp-source, then with
STARTTLS on every session (real MX traffic is encrypted) under `smtp_load`, the relay
crate's mail-send client. Then the relay's resident memory with 1,000 idle connections. Run it through `scripts/bench.sh smtp` (it installs Postfix and builds the
relay); it needs root for Postfix and rewrites /etc/postfix for a bench-only instance.
"""
import os
import pathlib
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "relay"))
from harness import API_KEY, RelayProcess  # noqa: E402
from standin_gateway import StandinGateway  # noqa: E402

DOMAIN = "bench.tenantry.test"
MAILBOX = f"bench@{DOMAIN}"
SESSIONS = int(os.environ.get("BENCH_SESSIONS", 20))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", 5000))
SIZE = int(os.environ.get("BENCH_SIZE", 5120))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
POSTFIX_PORT = 2526
MARKER = "# tenantry-bench instance"

MASTER_CF = f"""{MARKER}
127.0.0.1:{POSTFIX_PORT} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
tlsmgr    unix  - - n 1000? 1 tlsmgr
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def count(directory):
    try:
        return sum(1 for _ in os.scandir(directory))
    except FileNotFoundError:
        return 0


def smtp_source(port, recipient):
    return subprocess.Popen(
        ["smtp-source", "-s", str(SESSIONS), "-l", str(SIZE), "-m", str(MESSAGES), "-f", "load@bench.example",
         "-t", recipient, f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_delivered(new_dir, expected, started, load, timeout=300):
    while count(new_dir) < expected:
        if time.time() - started > timeout:
            raise RuntimeError(f"only {count(new_dir)} of {expected} delivered in {timeout} s")
        time.sleep(0.01)
    elapsed = time.time() - started
    load.wait()
    if load.returncode != 0:
        raise RuntimeError(f"smtp-source failed: {load.stderr.read().decode()}")
    return elapsed


def smtp_load_tls(port, recipient):
    return subprocess.Popen(
        [str(ROOT / "target" / "release" / "examples" / "smtp_load"), "--port", str(port), "--sessions", str(SESSIONS),
         "--messages", str(MESSAGES), "--size", str(SIZE), "--starttls", "--from", "load@bench.example", "--to", recipient],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def timed_round(port, new_dir, tls=False):
    """Messages per second from the start of the load until the last one is in new/.
    Mailboxes are not emptied between rounds: deleting thousands of files just before
    a round leaves the file system busy and skews whichever MX runs next."""
    before = count(new_dir)
    started = time.time()
    load = (smtp_load_tls if tls else smtp_source)(port, MAILBOX)
    return MESSAGES / wait_delivered(new_dir, before + MESSAGES, started, load)


def certificate(directory):
    """A self-signed certificate for both servers' STARTTLS."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=bench.tenantry.test", "-keyout", directory / "key.pem",
                    "-out", directory / "cert.pem"], check=True, capture_output=True)
    return directory / "cert.pem", directory / "key.pem"


def run_postfix(settings, port=POSTFIX_PORT):
    """A bench-only Postfix on 127.0.0.1:`port` with these main.cf settings (besides its
    host name and loopback-only interfaces), started with an empty queue."""
    main_cf = pathlib.Path("/etc/postfix/main.cf")
    if main_cf.exists() and MARKER not in main_cf.read_text():
        sys.exit("/etc/postfix/main.cf belongs to another Postfix; refusing to replace it")
    main_cf.write_text(f"""{MARKER}
compatibility_level = 3.6
myhostname = postfix.bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_client_connection_count_limit = 0
{settings}""")
    pathlib.Path("/etc/postfix/master.cf").write_text(
        MASTER_CF.replace(f"127.0.0.1:{POSTFIX_PORT} inet", f"127.0.0.1:{port} inet"))
    subprocess.run(["postfix", "stop"], capture_output=True)
    subprocess.run(["postsuper", "-d", "ALL"], capture_output=True)
    subprocess.run(["postfix", "check"], check=True)
    subprocess.run(["postfix", "start"], check=True, capture_output=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("Postfix did not start")


def setup_postfix(mail_root, cert, key, extra=""):
    """Postfix as the bench's virtual-domain Maildir MX with STARTTLS; `extra`: more
    main.cf settings (smtp-auth's milter)."""
    uid, gid = int(subprocess.check_output(["id", "-u", "postfix"])), int(subprocess.check_output(["id", "-g", "postfix"]))
    pathlib.Path("/etc/postfix/vmailbox").write_text(f"{MAILBOX} {DOMAIN}/bench/\n")
    run_postfix(f"""mynetworks = 127.0.0.0/8
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {mail_root}
virtual_mailbox_maps = texthash:/etc/postfix/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = {min(uid, 100)}
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
{extra}""")


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def idle_memory(relay, connections=1000):
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    before = rss_kib(relay.process.pid)
    sockets = [socket.create_connection(("127.0.0.1", relay.port)) for _ in range(connections)]
    for s in sockets:
        s.recv(128)
        s.sendall(b"EHLO idle.test\r\n")
    for s in sockets:
        s.recv(512)
    time.sleep(1)
    during = rss_kib(relay.process.pid)
    for s in sockets:
        s.close()
    return before, during


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="smtp-bench-"))
    work.chmod(0o755)  # Postfix's virtual(8) runs as postfix and must reach its mail root
    gateway = StandinGateway(API_KEY)
    gateway.put_domain("t_bench", DOMAIN, max_storage_mb=-1)
    gateway.put_mailbox("t_bench", MAILBOX)
    os.environ["RELAY_TEST_BINARY"] = str(ROOT / "target" / "release" / "tenantry-relay")
    import harness
    harness.BINARY = pathlib.Path(os.environ["RELAY_TEST_BINARY"])
    cert, key = certificate(work / "certs" / "default")
    relay = RelayProcess(gateway.url, workdir=work / "relay", cert_dir=work / "certs",
                         limits={"max_message_bytes": 10_000_000, "max_connections_per_ip": 2000,
                                 "max_connections": 2000, "max_recipients": 100})
    relay.start()
    postfix_root = work / "postfix-mail"
    postfix_root.mkdir()
    shutil.chown(postfix_root, "postfix", "postfix")
    setup_postfix(postfix_root, cert, key)
    results = {"postfix": [], "tenantry-relay": []}
    tls_results = {"postfix": [], "tenantry-relay": []}
    try:
        for round_number in range(1, ROUNDS + 1):
            results["postfix"].append(timed_round(POSTFIX_PORT, postfix_root / DOMAIN / "bench" / "new"))
            results["tenantry-relay"].append(timed_round(relay.port, relay.maildir(MAILBOX)))
            print(f"round {round_number}/{ROUNDS}: postfix {results['postfix'][-1]:.0f} msg/s, "
                  f"tenantry-relay {results['tenantry-relay'][-1]:.0f} msg/s", flush=True)
        for round_number in range(1, ROUNDS + 1):
            tls_results["postfix"].append(timed_round(POSTFIX_PORT, postfix_root / DOMAIN / "bench" / "new", tls=True))
            tls_results["tenantry-relay"].append(timed_round(relay.port, relay.maildir(MAILBOX), tls=True))
            print(f"STARTTLS round {round_number}/{ROUNDS}: postfix {tls_results['postfix'][-1]:.0f} msg/s, "
                  f"tenantry-relay {tls_results['tenantry-relay'][-1]:.0f} msg/s", flush=True)
        before, during = idle_memory(relay)
    finally:
        subprocess.run(["postfix", "stop"], capture_output=True)
        relay.stop()
        gateway.stop()
    postfix, ours = statistics.median(results["postfix"]), statistics.median(results["tenantry-relay"])
    print()
    print(f"load: smtp-source, {SESSIONS} sessions, {SIZE} B messages, {MESSAGES} messages, {ROUNDS} rounds")
    print("| MX | delivered msg/s (median) | all rounds |")
    print("|---|---|---|")
    print(f"| Postfix {subprocess.check_output(['postconf', '-h', 'mail_version'], text=True).strip()} | {postfix:.0f} | "
          f"{', '.join(f'{r:.0f}' for r in results['postfix'])} |")
    print(f"| tenantry-relay | {ours:.0f} | {', '.join(f'{r:.0f}' for r in results['tenantry-relay'])} |")
    print(f"ratio tenantry-relay / Postfix: {ours / postfix:.2f}x")
    postfix_tls, ours_tls = statistics.median(tls_results["postfix"]), statistics.median(tls_results["tenantry-relay"])
    print()
    print(f"with STARTTLS on every session (smtp_load, mail-send client, TLS 1.3, P-256 certificate):")
    print(f"| Postfix | {postfix_tls:.0f} | {', '.join(f'{r:.0f}' for r in tls_results['postfix'])} |")
    print(f"| tenantry-relay | {ours_tls:.0f} | {', '.join(f'{r:.0f}' for r in tls_results['tenantry-relay'])} |")
    print(f"ratio tenantry-relay / Postfix with STARTTLS: {ours_tls / postfix_tls:.2f}x")
    print(f"tenantry-relay RSS: {before / 1024:.1f} MiB idle, {during / 1024:.1f} MiB with 1,000 idle connections")


if __name__ == "__main__":
    main()
