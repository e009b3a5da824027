"""Runs the real tenantry-relay binary for tests: config, certificates, start, stop."""
import atexit
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("RELAY_TEST_BINARY", ROOT / "target" / "debug" / "tenantry-relay"))
API_KEY = "rk_" + "R" * 43
# Dovecot gives no mail process root's identity: as root, the relay of the mail-is-read
# tests runs as its own user (scripts/setup.sh creates it) and Dovecot is started by root
# with the configuration deployed (deploy/dovecot/tenantry.conf); as anyone else, both run
# as that user, Dovecot unprivileged.
RUN_AS = "tenantry-relay" if os.geteuid() == 0 else None
_RUNNABLE = {}


def runnable_binary():
    """BINARY as the relay's user (RUN_AS) can run it. That user runs the relay of the
    mail-is-read tests, and Dovecot's auth process (that user too, as deployed) runs it as
    its checkpassword program, so it must reach the binary wherever the checkout lies, even
    under a directory only root may enter (root's home, a `mktemp -d`): as root, a copy in a
    fresh world-readable directory of the temporary directory, made once per binary (and
    again if it is rebuilt) in this test run and removed at exit. Otherwise BINARY itself."""
    if not RUN_AS:
        return BINARY
    source = pathlib.Path(BINARY).resolve()
    stat = source.stat()
    key = (source, stat.st_mtime_ns, stat.st_size)
    if key not in _RUNNABLE:
        directory = pathlib.Path(tempfile.mkdtemp(prefix="relay-bin-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        directory.chmod(0o755)
        copy = directory / source.name
        shutil.copyfile(source, copy)
        copy.chmod(0o755)
        try:
            subprocess.run([str(copy), "--version"], check=True, capture_output=True, timeout=60,
                           user=RUN_AS, group=RUN_AS, cwd=directory)
        except (OSError, subprocess.CalledProcessError) as error:
            raise RuntimeError(f"{RUN_AS} cannot run {copy} (is every directory above it, such as "
                               f"TMPDIR={tempfile.gettempdir()}, open to other users?): {error}") from error
        _RUNNABLE[key] = copy
    return _RUNNABLE[key]


def give_to(user, *paths):
    """Hands directories to `user` (nothing to do when the tests are not root)."""
    if user:
        for path in paths:
            subprocess.run(["chown", "-R", f"{user}:{user}", str(path)], check=True)


def wait_for(predicate, timeout=20, what="condition"):
    """The first truthy value of `predicate`, polled until `timeout` seconds have passed."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stop_process(process):
    """SIGTERM, then SIGKILL after ten seconds."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificates(directory, names):
    """A private CA and one certificate per name (and `default`), as the relay expects
    them: {dir}/{name}/cert.pem + key.pem. Returns the CA certificate path."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    run = lambda *args: subprocess.run(args, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca_cert, "-days", "2", "-subj", "/CN=Tenantry Test CA")
    for name in names:
        cn = "mx.default.test" if name == "default" else name
        d = directory / name
        d.mkdir(exist_ok=True)
        ext = d / "ext.cnf"
        ext.write_text(f"subjectAltName=DNS:{cn}\nbasicConstraints=CA:FALSE\n")
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", d / "key.pem", "-out", d / "req.csr", "-subj", f"/CN={cn}")
        run("openssl", "x509", "-req", "-in", d / "req.csr", "-CA", ca_cert, "-CAkey", ca_key,
            "-CAcreateserial", "-out", d / "cert.pem", "-days", "2", "-extfile", ext)
    return ca_cert


class LoopbackDns:
    """Debian's dnsmasq on a loopback port: the zone lines given (dnsmasq options such as
    `txt-record=`), NXDOMAIN at once for every other name, so that no test waits on a
    resolver this machine cannot reach."""

    def __init__(self, lines=(), workdir=None):
        self.port = free_port()
        directory = pathlib.Path(workdir or tempfile.mkdtemp(prefix="dns-"))
        self.conf = directory / "dnsmasq.conf"
        self.conf.write_text("\n".join(["no-resolv", "no-hosts", "bind-interfaces", "listen-address=127.0.0.1",
                                         "local=/#/", *lines]) + "\n")
        self.process = subprocess.Popen(["dnsmasq", "--keep-in-foreground", f"--conf-file={self.conf}",
                                         f"--port={self.port}", "--pid-file=", "--log-facility=-"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self._answers(), timeout=10, what="dnsmasq answering")

    def _answers(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"dnsmasq exited with {self.process.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            # A query for `probe.` TXT: any answer means it listens.
            s.sendto(bytes.fromhex("abcd01000001000000000000") + b"\x05probe\x00\x00\x10\x00\x01",
                     ("127.0.0.1", self.port))
            try:
                return s.recv(512)
            except OSError:
                return None

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        stop_process(self.process)


class RspamdProcess:
    """Debian's Rspamd with Debian's configuration, its workers moved to loopback ports and
    its DNS to a LoopbackDns (this machine reaches no other), through the local
    configuration directory an operator would use (scripts/rspamd_config.py writes it)."""

    def __init__(self, dns, workdir=None):
        import importlib.util
        spec = importlib.util.spec_from_file_location("rspamd_config", ROOT / "scripts" / "rspamd_config.py")
        rspamd_config = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(rspamd_config)
        self.workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="rspamd-"))
        self.port, self.controller_port, self.proxy_port = free_port(), free_port(), free_port()
        self.command = rspamd_config.write(self.workdir, self.port, self.controller_port, self.proxy_port,
                                           [dns.server], user=RUN_AS)
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.log_file = open(self.workdir / "rspamd.out", "ab")
        self.process = subprocess.Popen(self.command, stdout=self.log_file, stderr=self.log_file)
        wait_for(self._pong, timeout=60, what="Rspamd answering /ping")
        return self

    def scanned(self):
        """Messages Rspamd has scanned since it started (its controller's /stat)."""
        import json
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.controller_port}/stat", timeout=5) as response:
            return json.load(response)["scanned"]

    def _pong(self):
        import urllib.request
        if self.process.poll() is not None:
            raise RuntimeError(f"rspamd exited: {(self.workdir / 'rspamd.out').read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                return response.read().strip() == b"pong"
        except OSError:
            return False

    def stop(self):
        stop_process(self.process)
        self.log_file.close()


PARSEDMARC_PYTHON = ROOT / ".state" / "parsedmarc-venv" / "bin" / "python"


def parsedmarc(message):
    """What PyPI's parsedmarc (an implementation independent of the relay's) reads in a
    report message: its parsed report as JSON, offline (no DNS, no downloads)."""
    import json
    script = ("import json, sys, parsedmarc\n"
              "r = parsedmarc.parse_report_email(sys.stdin.buffer.read(), offline=True, always_use_local_files=True)\n"
              "print(json.dumps(r, default=str))\n")
    done = subprocess.run([str(PARSEDMARC_PYTHON), "-c", script], input=message, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"parsedmarc refused the report: {done.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(done.stdout)


_SHARED_DNS = []


def shared_dns():
    """One empty LoopbackDns for every relay of this test process that names no DNS server
    of its own: their MX checks SPF, DKIM and DMARC, and gets "no such record" at once."""
    if not _SHARED_DNS:
        _SHARED_DNS.append(LoopbackDns())
        atexit.register(_SHARED_DNS[0].stop)
    return _SHARED_DNS[0]


class RelayProcess:
    def __init__(self, gateway_url, workdir=None, cert_dir=None, api_key=API_KEY, state_db=None,
                 state_db_auth_token=None, seal_key=None, dovecot=False, peer_tls=None, **overrides):
        self.api_key, self.state_db_auth_token, self.seal_key = api_key, state_db_auth_token, seal_key
        self.workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="relay-test-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.mail_root = self.workdir / "mail"
        self.port = free_port()
        self.admin_port = free_port()
        self.submission_port = free_port()
        self.submissions_port = free_port()
        outbound = dict(overrides.pop("outbound", None) or {})
        outbound.setdefault("dns_servers", [shared_dns().server])
        self.starts = 0
        self.log_path = self.workdir / "relay-0.log"
        limits = {
            "max_message_bytes": 200_000, "max_recipients": 5, "command_timeout_secs": 30,
            "data_timeout_secs": 30, "max_errors": 10, "max_connections": 1500,
            "max_connections_per_ip": 1200, "max_replica_age_secs": 3600,
        }
        limits.update(overrides.pop("limits", {}))
        lines = [
            'hostname = "mx.tenantry.test"',
            f'listen = ["127.0.0.1:{self.port}"]',
            f'admin_listen = "127.0.0.1:{self.admin_port}"',
            f'mail_root = "{self.mail_root}"',
            f'state_db = "{state_db or "file:" + str(self.workdir / "state.db")}"',
            f'gateway_url = "{gateway_url}"',
            f"sync_interval_secs = {overrides.pop('sync_interval_secs', 1)}",
            f"usage_push_interval_secs = {overrides.pop('usage_push_interval_secs', 1)}",
            f"proof_interval_secs = {overrides.pop('proof_interval_secs', 60)}",
        ]
        if cert_dir:
            lines.append(f'cert_dir = "{cert_dir}"')
            lines.append(f'submission_listen = ["127.0.0.1:{self.submission_port}"]')
            lines.append(f'submissions_listen = ["127.0.0.1:{self.submissions_port}"]')
        if outbound:
            transport = outbound.pop("transport", {})
            retry = outbound.pop("retry", {})
            lines.append("[outbound]")
            platform_dkim = outbound.pop("platform_dkim", None)
            tls_reports = outbound.pop("tls_reports", None)
            lines += [f"{k} = {v!r}".replace("'", '"') for k, v in outbound.items()]
            lines.append("[outbound.transport]")
            lines += [f'"{d}" = "{t}"' for d, t in transport.items()]
            lines.append("[outbound.retry]")
            lines += [f"{k} = {v}" for k, v in retry.items()]
            if platform_dkim:
                lines.append("[outbound.platform_dkim]")
                lines += [f'{k} = "{v}"' for k, v in platform_dkim.items()]
            if tls_reports:
                lines.append("[outbound.tls_reports]")
                lines += [f"{k} = {v!r}".replace("'", '"') for k, v in tls_reports.items()]
        self.run_as = RUN_AS if dovecot else None
        self.dovecot_view = self.workdir / "dovecot-view"
        self.dovecot_conf = self.workdir / "dovecot" / "dovecot.conf"
        if dovecot:
            lines += ["[dovecot]", f'dir = "{self.dovecot_view}"']
            if not RUN_AS:
                lines.append(f'reload_command = ["doveadm", "-c", "{self.dovecot_conf}", "reload"]')
        spam = overrides.pop("spam", None)
        if spam:
            lines.append("[spam]")
            lines += [f"{k} = {v!r}".replace("'", '"') for k, v in spam.items()]
        if peer_tls:
            lines.append("[tls]")
            lines += [f"{k} = {v!r}".replace("'", '"') for k, v in peer_tls.items()]
        self.cert_dir = cert_dir
        lines.append("[limits]")
        lines += [f"{k} = {v}" for k, v in limits.items()]
        self.config = self.workdir / "relay.toml"
        self.config.write_text("\n".join(lines) + "\n")
        self.process = None

    def env(self):
        # The key comes from the environment, as the README recommends.
        env = {**os.environ, "TENANTRY_RELAY_RELAY_API_KEY": self.api_key, "RUST_LOG": "info"}
        if self.state_db_auth_token:
            env["TENANTRY_RELAY_STATE_DB_AUTH_TOKEN"] = self.state_db_auth_token
        if self.seal_key:
            env["TENANTRY_RELAY_SEAL_KEY"] = self.seal_key
        return env

    def start(self, wait_for_sync=True):
        # A log file per start, so that readiness is read from this run only.
        self.starts += 1
        self.log_path = self.workdir / f"relay-{self.starts}.log"
        self.log_path.unlink(missing_ok=True)
        give_to(self.run_as, self.workdir, *([self.cert_dir] if self.cert_dir else []))
        # As its own user, the relay runs a copy it can reach (runnable_binary), from a
        # directory it can enter rather than the tests' (perhaps inside a closed checkout).
        binary, cwd = (runnable_binary(), self.workdir) if self.run_as else (BINARY, None)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([str(binary), "--config", str(self.config), "serve"],
                                            stdout=log, stderr=log, env=self.env(),
                                            user=self.run_as, group=self.run_as, cwd=cwd)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"relay exited: {self.log()}")
            if "tenantry-relay ready" in self.log() and (not wait_for_sync or "directory synced" in self.log()):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"relay did not start: {self.log()}")

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill9(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        stop_process(self.process)

    def run(self, *args):
        return subprocess.run([str(BINARY), "--config", str(self.config), *args],
                              capture_output=True, text=True, env=self.env(), timeout=60)

    def wait_for_version(self, version):
        """Until the relay's replica is at `version` (the gateway's directory version) or later."""
        wait_for(lambda: any(line.startswith("tenantry_relay_replica_version ") and int(line.split()[1]) >= version
                             for line in self.metrics().splitlines()), what=f"the relay at version {version}")

    def metrics(self):
        with socket.create_connection(("127.0.0.1", self.admin_port)) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode()

    def maildir(self, address, sub="new"):
        local, domain = address.split("@")
        return self.mail_root / domain / local / sub

    def messages(self, address):
        d = self.maildir(address)
        return sorted(p.read_bytes() for p in d.iterdir()) if d.exists() else []


def body_of(stored):
    """The message as the client sent it: what follows the relay's Return-Path and
    Received lines."""
    marker = stored.index(b"+0000\r\n") + len(b"+0000\r\n")
    return stored[marker:]


class DovecotProcess:
    """Debian's Dovecot serving IMAP over a relay's Maildir with the accounts and certificates
    that relay writes (its `dovecot` option). Started by root (the tests' usual case), it runs
    the deployed configuration, and a watcher reloads it when the relay rewrites its
    certificates, as deploy/dovecot/tenantry-dovecot-reload.path does; otherwise it runs
    unprivileged and the relay reloads it itself."""

    def __init__(self, relay, default_cert_dir):
        import getpass
        import importlib.util
        import threading
        spec = importlib.util.spec_from_file_location("dovecot_config", ROOT / "scripts" / "dovecot_config.py")
        dovecot_config = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(dovecot_config)
        self.relay = relay
        self.privileged = RUN_AS is not None
        self.imap_port, self.imaps_port = free_port(), free_port()
        self.base_dir = base_dir = tempfile.mkdtemp(prefix="dovecot-base-") if self.privileged else None
        if base_dir:
            # Dovecot's unprivileged processes use it: world-readable, as Dovecot would make it.
            os.chmod(base_dir, 0o755)
        # The checkpassword program: run by the auth process as the relay's user, it is a
        # copy that user can reach when the tests are root (runnable_binary).
        self.conf = dovecot_config.write(
            relay.dovecot_conf.parent, runnable_binary(), relay.dovecot_view,
            pathlib.Path(default_cert_dir) / "default" / "cert.pem", pathlib.Path(default_cert_dir) / "default" / "key.pem",
            self.imap_port, self.imaps_port, None if self.privileged else getpass.getuser(), base_dir)
        assert self.conf == relay.dovecot_conf
        self.process = None
        self.watching = threading.Event()

    def start(self):
        import threading
        user = None if self.privileged else self.relay.run_as
        self.process = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, user=user, group=user,
                                        cwd=self.base_dir if self.privileged else None)
        if self.privileged:
            threading.Thread(target=self._reload_on_change, daemon=True).start()
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.imaps_port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"dovecot exited: {self.log()}")
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def _reload_on_change(self):
        conf = self.relay.dovecot_view / "certificates.conf"
        seen = None
        while not self.watching.is_set():
            try:
                stat = conf.stat()
                now = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                now = None
            if now != seen and now is not None:
                subprocess.run(["doveadm", "-c", str(self.conf), "reload"], capture_output=True)
            seen = now
            time.sleep(0.2)

    def log(self):
        path = self.conf.parent / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        self.watching.set()
        stop_process(self.process)
        if self.base_dir:
            import shutil
            shutil.rmtree(self.base_dir, ignore_errors=True)
