#!/usr/bin/env python3
"""Writes an unprivileged Dovecot configuration for development and tests: its own
base_dir and log, IMAP (STARTTLS) and IMAPS on loopback ports, every process as the
user that starts it, and the Tenantry part shared with deploy/dovecot/tenantry.conf.

    scripts/dovecot_config.py OUT_DIR --relay BINARY --dovecot-dir DIR --cert CERT --key KEY \
        --imap-port N --imaps-port M
"""
import argparse
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT / "deploy" / "dovecot" / "tenantry.conf"


def write(out_dir, relay_binary, dovecot_dir, cert, key, imap_port, imaps_port, user):
    out_dir = pathlib.Path(out_dir)
    (out_dir / "base").mkdir(parents=True, exist_ok=True)
    (out_dir / "state").mkdir(parents=True, exist_ok=True)
    shared = (SHARED.read_text()
              .replace("/usr/local/bin/tenantry-relay", str(relay_binary))
              .replace("/var/lib/tenantry-relay/dovecot", str(dovecot_dir))
              .replace("/etc/tenantry-relay/certs/default/cert.pem", str(cert))
              .replace("/etc/tenantry-relay/certs/default/key.pem", str(key)))
    # Every process runs as the user that starts Dovecot.
    shared = shared.replace("= tenantry-relay", f"= {user}")
    (out_dir / "tenantry.conf").write_text(shared)
    conf = out_dir / "dovecot.conf"
    conf.write_text(f"""# Unprivileged Dovecot for development and tests (scripts/dovecot_config.py).
base_dir = {out_dir / "base"}
state_dir = {out_dir / "state"}
log_path = {out_dir / "dovecot.log"}
protocols = imap
listen = 127.0.0.1
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {user_group(user)}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
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


def user_group(user):
    import grp
    import pwd
    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


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
    a = parser.parse_args()
    print(write(a.out_dir, a.relay, a.dovecot_dir, a.cert, a.key, a.imap_port, a.imaps_port, a.user))
