#!/usr/bin/env python3
"""Writes a Dovecot configuration for development and tests around the Tenantry part an
operator installs (deploy/dovecot/tenantry.conf): its own base_dir and log, IMAP (STARTTLS)
and IMAPS on loopback ports.

Unprivileged (the default): every process runs as the user that starts Dovecot. With
--privileged, Dovecot is started by root as in production: Debian's dovenull and dovecot
users for the login and internal processes, and the shared part exactly as deployed
(mail and auth as the relay's user, tenantry-relay).

    scripts/dovecot_config.py OUT_DIR --relay BINARY --dovecot-dir DIR --cert CERT --key KEY \\
        --imap-port N --imaps-port M [--user USER | --privileged]
"""
import argparse
import grp
import pathlib
import pwd

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT / "deploy" / "dovecot" / "tenantry.conf"


def write(out_dir, relay_binary, dovecot_dir, cert, key, imap_port, imaps_port, user=None, base_dir=None):
    """The configuration's path; `user=None` is the privileged (production) layout."""
    out_dir = pathlib.Path(out_dir)
    base_dir = pathlib.Path(base_dir or out_dir / "base")
    for directory in (out_dir, base_dir, out_dir / "state"):
        directory.mkdir(parents=True, exist_ok=True)
    shared = (SHARED.read_text()
              .replace("/usr/local/bin/tenantry-relay", str(relay_binary))
              .replace("/var/lib/tenantry-relay/dovecot", str(dovecot_dir))
              .replace("/etc/tenantry-relay/certs/default/cert.pem", str(cert))
              .replace("/etc/tenantry-relay/certs/default/key.pem", str(key)))
    unprivileged = ""
    if user:
        # Every process as the user that starts Dovecot; chroot needs root.
        shared = shared.replace("= tenantry-relay", f"= {user}")
        group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
        unprivileged = (f"default_login_user = {user}\ndefault_internal_user = {user}\n"
                        f"default_internal_group = {group}\nservice anvil {{\n  chroot =\n}}\n")
    (out_dir / "tenantry.conf").write_text(shared)
    conf = out_dir / "dovecot.conf"
    conf.write_text(f"""# Dovecot for development and tests (scripts/dovecot_config.py).
base_dir = {base_dir}
state_dir = {out_dir / "state"}
log_path = {out_dir / "dovecot.log"}
protocols = imap
listen = 127.0.0.1
{unprivileged}service imap-login {{
{"  chroot =" if user else ""}
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
!include {out_dir / "tenantry.conf"}
""")
    return conf


if __name__ == "__main__":
    import getpass
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--relay", required=True)
    parser.add_argument("--dovecot-dir", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--imap-port", type=int, required=True)
    parser.add_argument("--imaps-port", type=int, required=True)
    parser.add_argument("--user", default=getpass.getuser())
    parser.add_argument("--privileged", action="store_true")
    a = parser.parse_args()
    print(write(a.out_dir, a.relay, a.dovecot_dir, a.cert, a.key, a.imap_port, a.imaps_port,
                None if a.privileged else a.user))
