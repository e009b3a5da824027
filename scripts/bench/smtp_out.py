#!/usr/bin/env python3
"""Outbound benchmark: submission over TLS with AUTH, relayed to a loopback sink.

tenantry-relay (587-style STARTTLS, AUTH PLAIN with an Argon2id app password, sender
rights, the on-disk queue, delivery with mail-send) next to Postfix 3.7 configured as a
submission relay (STARTTLS required, Cyrus SASL from sasldb, sender login maps, its queue,
relayhost to the sink). Both fsync a message before 250 and relay it to the same Postfix
smtp-sink. The load is `smtp_load` (the relay crate's mail-send client, one message per
session as smtp-source sends them); the rate is messages received by the sink per second,
from the start of the load to the last one. Then the relay's resident memory with 100,000
deferred messages in its queue. Run it through `scripts/bench.sh smtp-out` (as root: it
installs Debian's postfix and sasl2-bin and rewrites /etc/postfix for a bench-only instance).
"""
import base64
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "relay"))
sys.path.insert(0, str(ROOT / "scripts" / "bench"))
from harness import API_KEY, RelayProcess, free_port  # noqa: E402
from smtp import certificate, count, rss_kib, run_postfix  # noqa: E402
from standin_gateway import StandinGateway  # noqa: E402

DOMAIN = "bench.tenantry.test"
USER, PASSWORD = f"load@{DOMAIN}", "bench-pass-word-0123456789"
SESSIONS = int(os.environ.get("BENCH_SESSIONS", 20))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", 3000))
SIZE = int(os.environ.get("BENCH_SIZE", 5120))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
DEFERRED = int(os.environ.get("BENCH_DEFERRED", 100_000))
POSTFIX_PORT = 2587
LOAD = ROOT / "target" / "release" / "examples" / "smtp_load"


def load(port, to, messages=MESSAGES, size=SIZE, sessions=SESSIONS):
    return subprocess.Popen([str(LOAD), "--port", str(port), "--sessions", str(sessions), "--messages", str(messages),
                             "--size", str(size), "--starttls", "--auth", f"{USER}:{PASSWORD}", "--from", USER, "--to", to],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def timed_round(port, sink_dir):
    before = count(sink_dir)
    started = time.time()
    process = load(port, "bench@sink.test")
    while count(sink_dir) < before + MESSAGES:
        if time.time() - started > 600:
            raise RuntimeError(f"only {count(sink_dir) - before} of {MESSAGES} reached the sink")
        if process.poll() not in (None, 0):
            raise RuntimeError(f"smtp_load failed: {process.stderr.read().decode()}")
        time.sleep(0.01)
    elapsed = time.time() - started
    out, err = process.communicate()
    result = json.loads(out)
    if result["failed"]:
        raise RuntimeError(f"{result['failed']} submissions failed: {err.decode()}")
    return MESSAGES / elapsed


def setup_postfix(sink_port, cert, key):
    sasl = pathlib.Path("/etc/postfix/sasl")
    sasl.mkdir(exist_ok=True)
    (sasl / "smtpd.conf").write_text("pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n"
                                     "sasldb_path: /etc/sasldb2\n")
    subprocess.run(["saslpasswd2", "-p", "-c", "-u", DOMAIN, "load"], input=PASSWORD.encode(), check=True)
    subprocess.run(["chown", "root:postfix", "/etc/sasldb2"], check=True)
    os.chmod("/etc/sasldb2", 0o640)
    pathlib.Path("/etc/postfix/senders").write_text(f"{USER} {USER}\n")
    run_postfix(f"""mynetworks =
relayhost = [127.0.0.1]:{sink_port}
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = /etc/postfix/sasl
smtpd_sender_login_maps = texthash:/etc/postfix/senders
smtpd_sender_restrictions = reject_sender_login_mismatch
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtp_tls_security_level = may
""", port=POSTFIX_PORT)


def argon2id_phc(password):
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
    salt = os.urandom(16)
    digest = Argon2id(salt=salt, length=32, iterations=2, lanes=1, memory_cost=19456).derive(password.encode())
    b64 = lambda b: base64.b64encode(b).decode().rstrip("=")
    return f"$argon2id$v=19$m=19456,t=2,p=1${b64(salt)}${b64(digest)}"


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="smtp-out-bench-"))
    work.chmod(0o755)
    sink_dir = work / "sink"
    sink_dir.mkdir()
    sink_dir.chmod(0o777)
    sink_port, closed_port = free_port(), free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", "-d", f"{sink_dir}/%H%M%S.", f"127.0.0.1:{sink_port}", "256"])
    gateway = StandinGateway(API_KEY)
    unlimited = {"messages_per_day": -1, "messages_per_minute": -1, "recipients_per_message": -1}
    gateway.put_domain("t_bench", DOMAIN, max_storage_mb=-1, sending=unlimited)
    gateway.put_mailbox("t_bench", USER)
    with gateway.lock:
        gateway.rows["credentials"]["ap_bench"] = {"tenant_id": "t_bench", "id": "ap_bench", "mailbox": USER,
                                                   "hash": argon2id_phc(PASSWORD), "version": gateway._bump(), "deleted": False}
    import harness
    harness.BINARY = ROOT / "target" / "release" / "tenantry-relay"
    cert, key = certificate(work / "certs" / "default")
    relay = RelayProcess(gateway.url, workdir=work / "relay", cert_dir=work / "certs",
                         limits={"max_connections_per_ip": 2000, "max_connections": 2000},
                         outbound={"transport": {"sink.test": f"127.0.0.1:{sink_port}",
                                                 "deferred.test": f"127.0.0.1:{closed_port}"}})
    relay.start()
    setup_postfix(sink_port, cert, key)
    results = {"postfix": [], "tenantry-relay": []}
    try:
        for round_number in range(1, ROUNDS + 1):
            results["postfix"].append(timed_round(POSTFIX_PORT, sink_dir))
            results["tenantry-relay"].append(timed_round(relay.submission_port, sink_dir))
            print(f"round {round_number}/{ROUNDS}: postfix {results['postfix'][-1]:.0f} msg/s, "
                  f"tenantry-relay {results['tenantry-relay'][-1]:.0f} msg/s", flush=True)
        idle = rss_kib(relay.process.pid)
        if DEFERRED:
            print(f"queueing {DEFERRED:,} messages for a destination that refuses connections ...", flush=True)
            started = time.time()
            out, err = load(relay.submission_port, "x@deferred.test", messages=DEFERRED, size=1024, sessions=50).communicate()
            queued = json.loads(out)
            queued["seconds"] = time.time() - started
            time.sleep(5)
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{relay.admin_port}/metrics").read().decode()
            depth = next(line.split()[1] for line in metrics.splitlines() if line.startswith("tenantry_relay_queue_depth "))
            with_queue = rss_kib(relay.process.pid)
            queue_bytes = sum(p.stat().st_size for p in (relay.workdir / "mail" / ".queue").rglob("*") if p.is_file())
    finally:
        subprocess.run(["postfix", "stop"], capture_output=True)
        relay.stop()
        gateway.stop()
        sink.terminate()
    postfix, ours = statistics.median(results["postfix"]), statistics.median(results["tenantry-relay"])
    print()
    print(f"load: smtp_load, {SESSIONS} sessions, STARTTLS and AUTH PLAIN on each, {SIZE} B messages, "
          f"{MESSAGES} messages, {ROUNDS} rounds")
    print("| submission relay | msg/s reaching the sink (median) | all rounds |")
    print("|---|---|---|")
    print(f"| Postfix {subprocess.check_output(['postconf', '-h', 'mail_version'], text=True).strip()} | {postfix:.0f} | "
          f"{', '.join(f'{r:.0f}' for r in results['postfix'])} |")
    print(f"| tenantry-relay | {ours:.0f} | {', '.join(f'{r:.0f}' for r in results['tenantry-relay'])} |")
    print(f"ratio tenantry-relay / Postfix: {ours / postfix:.2f}x")
    if DEFERRED:
        print(f"deferred: {queued['sent']:,} queued in {queued['seconds']:.0f} s ({queued['failed']} failed), "
              f"relay_queue_depth {depth}, spool {queue_bytes / 2**20:.0f} MiB on disk")
        print(f"tenantry-relay RSS: {idle / 1024:.1f} MiB before, {with_queue / 1024:.1f} MiB with them queued")


if __name__ == "__main__":
    main()
