#!/usr/bin/env python3
"""Runs the Workers together under one `wrangler dev`: the gateway on the port, the route
Workers of functions/workers.toml (every table but the gateway's, in the file's order)
behind its service bindings, on one local D1.

`wrangler dev -c A -c B ...` hands command-line `--var`s to the first Worker only and
reads the others' secrets from a `.dev.vars` beside each of their configs. So that a
test run and `scripts/dev.sh` never share (or overwrite) secrets in the source tree,
this writes a copy of each route Worker's config, with paths made absolute and its
`.dev.vars`, under the state directory, and hands the same file to the gateway with
`--env-file` (not `--var`, which would put the secrets in the process list).

    scripts/serve-workers.py --port 8787 --persist-to DIR --vars FILE [-- wrangler args]

FILE holds `NAME=value` lines (JWT_SECRET, SEAL_MASTER_KEY, INTERNAL_SECRET, ...).
"""
import argparse
import importlib.util
import os
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _workers():
    """The tables of functions/workers.toml, read by scripts/worker-sizes.py."""
    spec = importlib.util.spec_from_file_location("worker_sizes", ROOT / "scripts" / "worker-sizes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load()


WORKERS = _workers()
ROUTE_WORKERS = tuple(name for name in WORKERS if name != "gateway")


def read_vars(path):
    values = {}
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def route_worker_config(name, state):
    """A copy of the Worker's wrangler config (its `config` in functions/workers.toml) that
    works from `state`."""
    config = WORKERS[name]["config"]
    source = ROOT / config
    if not source.is_file():
        raise FileNotFoundError(f"{config}: no such file (the config of [{name}] in functions/workers.toml)")
    text = source.read_text()
    text = re.sub(r'^main = "(.*)"$', lambda m: f'main = "{source.parent / m.group(1)}"', text, flags=re.M)
    text = re.sub(r'^migrations_dir = "(.*)"$',
                  lambda m: f'migrations_dir = "{(source.parent / m.group(1)).resolve()}"', text, flags=re.M)
    directory = state / "workers" / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "wrangler.toml").write_text(text)
    return directory


def main():
    parser = argparse.ArgumentParser(description="Run the gateway and the route Workers under wrangler dev.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--persist-to", required=True, type=pathlib.Path)
    parser.add_argument("--vars", required=True, help="file of NAME=value lines")
    parser.add_argument("extra", nargs="*", help="more wrangler dev arguments (after --)")
    args = parser.parse_args()
    state = args.persist_to.resolve()
    values = read_vars(args.vars)
    configs = ["-c", str(ROOT / WORKERS["gateway"]["config"])]
    for name in ROUTE_WORKERS:
        directory = route_worker_config(name, state)
        dev_vars = directory / ".dev.vars"
        dev_vars.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        dev_vars.chmod(0o600)
        configs += ["-c", str(directory / "wrangler.toml")]
    command = [str(ROOT / "node_modules" / ".bin" / "wrangler"), "dev", *configs, "--ip", "127.0.0.1",
               "--port", str(args.port), "--persist-to", str(state), "--show-interactive-dev-session=false"]
    # --env-file rather than --var: secrets stay out of the process list.
    command += ["--env-file", str(pathlib.Path(args.vars).resolve())]
    os.chdir(ROOT)
    os.execv(command[0], command + args.extra)


if __name__ == "__main__":
    main()
