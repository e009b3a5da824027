#!/usr/bin/env python3
"""Writes a local configuration directory for Debian's Rspamd (the package's
/etc/rspamd/rspamd.conf, with `LOCAL_CONFDIR` pointed here) and prints the command that
runs it: the normal worker (the relay's `spam.rspamd_url`), the controller and the proxy
(a milter, for Postfix, scanning through the normal worker) on loopback ports, DNS through the given servers, logs on the console, databases and the
pid file under the directory. `scripts/dev.sh` and the relay tests run Rspamd with it; a
deployment keeps Debian's service and puts the same `local.d/` files in /etc/rspamd.

    scripts/rspamd_config.py DIR NORMAL_PORT CONTROLLER_PORT PROXY_PORT DNS_SERVER...
"""
import os
import pathlib
import sys


def write(directory, normal_port, controller_port, proxy_port, dns_servers, user=None):
    """The files under `directory`, and the argv that starts Rspamd in the foreground
    (as `user` when given: Rspamd refuses to keep root)."""
    directory = pathlib.Path(directory)
    local = directory / "local.d"
    for sub in (local, directory / "db", directory / "run"):
        sub.mkdir(parents=True, exist_ok=True)
    servers = ", ".join(f'"{server}"' for server in dns_servers)
    files = {
        "worker-normal.inc": f'bind_socket = "127.0.0.1:{normal_port}";\n',
        "worker-controller.inc": f'bind_socket = "127.0.0.1:{controller_port}";\n',

        "options.inc": f"dns {{ nameserver = [{servers}]; timeout = 1s; retransmits = 1; }}\n" if servers else "",
        "logging.inc": 'type = "console";\nlevel = "warning";\n',
    }
    for name, text in files.items():
        (local / name).write_text(text)
    # The proxy is the milter Postfix talks to: it hands each message to the normal worker
    # (the one the relay asks), so both MTAs are scored by the same scanners.
    override = directory / "override.d"
    override.mkdir(exist_ok=True)
    (override / "worker-proxy.inc").write_text(
        f'bind_socket = "127.0.0.1:{proxy_port}";\nmilter = yes;\ntimeout = 120s;\ncount = 1;\n'
        f'upstream "local" {{\n  default = yes;\n  hosts = "127.0.0.1:{normal_port}";\n}}\n')
    os.chmod(directory, 0o755)
    command = ["rspamd", "-f", "-c", "/etc/rspamd/rspamd.conf", f"--var=LOCAL_CONFDIR={directory}",
               f"--var=DBDIR={directory / 'db'}", f"--var=RUNDIR={directory / 'run'}", f"--var=LOGDIR={directory}"]
    if user:
        import shutil
        for sub in ("db", "run"):
            shutil.chown(directory / sub, user, user)
        command += ["-u", user, "-g", user]
    return command


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    print(" ".join(write(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:],
                         user=os.environ.get("RSPAMD_USER"))))
