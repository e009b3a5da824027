#!/usr/bin/env python3
"""The Workers' size budget, as the build enforces it (a step of scripts/test.sh).

For every Worker of functions/workers.toml (or only those named), runs
`wrangler deploy --dry-run -c <config> --outdir <tmp>/<name>` from the repository root,
reads its `Total Upload: X KiB / gzip: Y KiB` line and prints a table of the sizes next to
the budgets. It exits 1, with one `FAIL:` line each, when a Worker weighs more gzipped than
its `budget_kib`, when wrangler fails or prints no size line (with the end of its output),
when a table of workers.toml lacks a field, and when a directory under functions/ holds a
wrangler.toml but has no table.

    scripts/worker-sizes.py [NAME ...] [--json]   the check (each Worker takes ~10-20 s)
    scripts/worker-sizes.py --crates              `-p CRATE` for each Worker (for cargo)
    scripts/worker-sizes.py --root DIR            the check of another checkout (the tests' scratch one)

TENANTRY_WRANGLER, when set, is the wrangler command to run instead of
node_modules/.bin/wrangler (the check's own tests hand it a fake one). Other scripts
(scripts/bench/gateway_http.py, scripts/serve-workers.py) import this file for the list of
Workers and the measurement, so that the size is measured in one place.
"""
import argparse
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from typing import NamedTuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORKERS_TOML = "functions/workers.toml"  # from the repository root
# The fields every table has: a cargo package, a wrangler config (from the root), a budget in KiB.
FIELDS = ("crate", "config", "budget_kib")
SIZE_LINE = re.compile(r"Total Upload: ([\d.]+) KiB / gzip: ([\d.]+) KiB")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TAIL_LINES = 30
TIMEOUT_SECS = 1800  # a cold release build of one Worker, with room


class Size(NamedTuple):
    size_kib: float
    gzip_kib: float


class Verdict(NamedTuple):
    name: str
    size_kib: float
    gzip_kib: float
    budget_kib: int

    @property
    def headroom_kib(self):
        return self.budget_kib - self.gzip_kib

    @property
    def ok(self):
        # At the budget is within it.
        return self.gzip_kib <= self.budget_kib

    def failure(self, source=WORKERS_TOML):
        return (f"FAIL: {self.name} weighs {self.gzip_kib:.1f} KiB gzipped, over its budget of "
                f"{self.budget_kib} KiB ({source})")


class MeasureError(Exception):
    """wrangler failed, or printed no size line; the message ends with its output's tail."""


# --- The pure part: what the file says, what wrangler said, and the verdict ----------

def load(path=None):
    """The tables of workers.toml, {name: table}, in the file's order."""
    path = pathlib.Path(path) if path else ROOT / WORKERS_TOML
    with open(path, "rb") as f:
        return tomllib.load(f)


def table_problems(workers, source=WORKERS_TOML):
    """A `FAIL:` line for each table that lacks a field or holds a wrong one."""
    problems = []
    if not workers:
        problems.append(f"FAIL: {source} lists no Worker")
    for name, table in workers.items():
        if not isinstance(table, dict):
            problems.append(f"FAIL: `{name}` in {source} is not a table ([{name}] with {', '.join(FIELDS)})")
            continue
        for field in FIELDS:
            if field not in table:
                problems.append(f"FAIL: [{name}] in {source} has no `{field}`")
        for field in ("crate", "config"):
            value = table.get(field)
            if field in table and (not isinstance(value, str) or not value.strip()):
                problems.append(f"FAIL: [{name}] in {source}: `{field}` must be a non-empty string, not {value!r}")
        budget = table.get("budget_kib")
        if "budget_kib" in table and (isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0):
            problems.append(f"FAIL: [{name}] in {source}: `budget_kib` must be a positive whole number of KiB, "
                            f"not {budget!r}")
        for field in table:
            if field not in FIELDS:
                problems.append(f"FAIL: [{name}] in {source} has an unknown field `{field}` "
                                f"(a table has {', '.join(FIELDS)})")
    return problems


def is_valid(table):
    return not table_problems({"_": table})


def unlisted(functions_dir, workers, root=None):
    """The directories under functions_dir that hold a wrangler.toml that no table's
    `config` names (sorted names)."""
    functions_dir = pathlib.Path(functions_dir)
    root = pathlib.Path(root) if root else functions_dir.parent
    configs = {(root / table["config"]).resolve() for table in workers.values()
               if isinstance(table, dict) and isinstance(table.get("config"), str)}
    return sorted(d.name for d in functions_dir.iterdir()
                  if d.is_dir() and (d / "wrangler.toml").is_file() and (d / "wrangler.toml").resolve() not in configs)


def unlisted_failures(names, source=WORKERS_TOML):
    return [f"FAIL: functions/{name} holds a wrangler.toml but has no table in {source}" for name in names]


def parse_size(output):
    """(size, gzip) in KiB from wrangler's `Total Upload: X KiB / gzip: Y KiB` (the last
    one), or None when the output has no such line."""
    found = SIZE_LINE.findall(ANSI.sub("", output))
    return Size(float(found[-1][0]), float(found[-1][1])) if found else None


def verdicts(workers, sizes):
    """A Verdict for each Worker measured, in the file's order; sizes is {name: (size, gzip)}."""
    return [Verdict(name, float(sizes[name][0]), float(sizes[name][1]), table["budget_kib"])
            for name, table in workers.items() if name in sizes]


def tail(text, lines=TAIL_LINES):
    kept = ANSI.sub("", text).rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) if kept else "    (no output)"


def failures(workers, sizes, errors, source=WORKERS_TOML):
    """The `FAIL:` lines of the measurement: over budget, or not measured ({name: message})."""
    lines = []
    judged = {v.name: v for v in verdicts(workers, sizes)}
    for name in workers:
        if name in errors:
            lines.append(f"FAIL: {name}: {errors[name]}")
        elif name in judged and not judged[name].ok:
            lines.append(judged[name].failure(source))
    return lines


def markdown(workers, sizes, errors=None, floor_kib=None):
    """The table of sizes next to budgets (and the multiple of a floor, when given)."""
    errors = errors or {}
    judged = {v.name: v for v in verdicts(workers, sizes)}
    head = "| Worker | size | gzipped | budget | headroom |" + (" x floor |" if floor_kib else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, table in workers.items():
        budget = table.get("budget_kib") if isinstance(table, dict) else None
        budget_cell = f"{budget} KiB" if budget is not None else "none"
        v = judged.get(name)
        if v:
            headroom = f"{v.headroom_kib:.1f} KiB" if v.ok else f"**{v.headroom_kib:.1f} KiB (over)**"
            row = f"| {name} | {v.size_kib:.1f} KiB | {v.gzip_kib:.1f} KiB | {budget_cell} | {headroom} |"
            if floor_kib:
                row += f" {v.gzip_kib / floor_kib:.1f}x |"
        else:
            why = "wrangler failed" if name in errors else "not measured"
            row = f"| {name} | | | {budget_cell} | {why} |" + (" |" if floor_kib else "")
        lines.append(row)
    return "\n".join(lines)


def crate_args(workers):
    """`-p CRATE` for each Worker, for cargo."""
    args = []
    for table in workers.values():
        args += ["-p", table["crate"]]
    return args


# --- Running wrangler ----------------------------------------------------------------

def env(root=ROOT, base=None):
    """The environment of scripts/env.sh, so that this works on its own too."""
    base = os.environ if base is None else base
    root, home = pathlib.Path(root), pathlib.Path.home()
    return {"WASM_BINDGEN_BIN": str(home / ".cargo" / "bin" / "wasm-bindgen"),
            "WASM_OPT_BIN": str(root / "node_modules" / ".bin" / "wasm-opt"),
            "CARGO_TERM_COLOR": "never",
            **base,
            "PATH": f"{root / 'node_modules' / '.bin'}:{home / '.cargo' / 'bin'}:{base.get('PATH', os.defpath)}",
            "WRANGLER_SEND_METRICS": "false", "WRANGLER_SEND_ERROR_REPORTS": "false",
            "CLOUDFLARE_CF_FETCH_ENABLED": "false", "NO_COLOR": "1", "CI": "1"}


def wrangler(root=ROOT):
    """The wrangler command: $TENANTRY_WRANGLER, or the project's own."""
    override = os.environ.get("TENANTRY_WRANGLER")
    return shlex.split(override) if override else [str(pathlib.Path(root) / "node_modules" / ".bin" / "wrangler")]


def dry_run_command(config, outdir, root=ROOT):
    return wrangler(root) + ["deploy", "--dry-run", "-c", config, "--outdir", str(outdir)]


def measure(config, outdir, root=ROOT, environment=None, timeout=TIMEOUT_SECS):
    """The Size wrangler reports for one config (a path from root); MeasureError otherwise."""
    command = dry_run_command(config, outdir, root)
    shown = f"wrangler deploy --dry-run -c {config}"
    try:
        done = subprocess.run(command, cwd=root, env=environment or env(root), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=timeout)
    except FileNotFoundError as error:
        raise MeasureError(f"{shown}: cannot run {command[0]} ({error.strerror})") from None
    except subprocess.TimeoutExpired as error:
        output = error.stdout.decode(errors="replace") if isinstance(error.stdout, bytes) else (error.stdout or "")
        raise MeasureError(f"{shown} did not finish in {timeout} s; its output ends:\n{tail(output)}") from None
    size = parse_size(done.stdout)
    if done.returncode != 0:
        raise MeasureError(f"{shown} exited with status {done.returncode}; its output ends:\n{tail(done.stdout)}")
    if size is None:
        raise MeasureError(f"{shown} printed no `Total Upload: X KiB / gzip: Y KiB` line; "
                           f"its output ends:\n{tail(done.stdout)}")
    return size


def measure_all(workers, root=ROOT, progress=sys.stderr):
    """({name: Size}, {name: error}) for the given tables, one wrangler run each, with a
    progress line per Worker on `progress`."""
    sizes, errors = {}, {}
    outdir = pathlib.Path(tempfile.mkdtemp(prefix="tenantry-worker-sizes-"))
    environment = env(root)
    try:
        for n, (name, table) in enumerate(workers.items(), 1):
            started = time.monotonic()
            if progress:
                print(f"[{n}/{len(workers)}] {name}: wrangler deploy --dry-run -c {table['config']} ... ",
                      end="", file=progress, flush=True)
            try:
                sizes[name] = measure(table["config"], outdir / name, root, environment)
                outcome = f"{sizes[name].gzip_kib:.1f} KiB gzipped (budget {table.get('budget_kib')} KiB)"
            except MeasureError as error:
                errors[name] = str(error)
                outcome = "failed"
            if progress:
                print(f"{outcome}, {time.monotonic() - started:.0f} s", file=progress, flush=True)
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    return sizes, errors


# --- The command ---------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description="Check the Workers' gzipped upload sizes against "
                                                 "their budgets in functions/workers.toml.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these Workers (tables of workers.toml)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    parser.add_argument("--crates", action="store_true", help="print `-p CRATE` for each Worker and exit")
    parser.add_argument("--root", type=pathlib.Path, default=ROOT,
                        help="the repository whose functions/workers.toml to check (default: this one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        everything = load(root / WORKERS_TOML)
    except (OSError, tomllib.TOMLDecodeError) as error:
        print(f"FAIL: cannot read {WORKERS_TOML}: {error}")
        return 1
    unknown = [name for name in args.names if name not in everything]
    if unknown:
        print(f"error: no table for {', '.join(unknown)} in {WORKERS_TOML} "
              f"(it has {', '.join(everything)})", file=sys.stderr)
        return 2
    workers = {name: everything[name] for name in (args.names or everything)}

    if args.crates:
        lacking = [name for name, table in workers.items()
                   if not isinstance(table, dict) or not isinstance(table.get("crate"), str) or not table["crate"]]
        if lacking:
            print(f"FAIL: no `crate` for {', '.join(lacking)} in {WORKERS_TOML}", file=sys.stderr)
            return 1
        print(" ".join(crate_args(workers)))
        return 0

    # The file's own faults first; a Worker whose table is faulty is not measured.
    problems = table_problems(workers) + unlisted_failures(unlisted(root / "functions", everything, root))
    measurable = {name: table for name, table in workers.items() if isinstance(table, dict) and is_valid(table)}
    sizes, errors = measure_all(measurable, root)
    lines = problems + failures(measurable, sizes, errors)

    if args.json:
        judged = {v.name: v for v in verdicts(measurable, sizes)}
        rows = []
        for name, table in workers.items():
            table = table if isinstance(table, dict) else {}
            v = judged.get(name)
            rows.append({"name": name, "crate": table.get("crate"), "config": table.get("config"),
                         "budget_kib": table.get("budget_kib"),
                         "size_kib": v.size_kib if v else None, "gzip_kib": v.gzip_kib if v else None,
                         "headroom_kib": round(v.headroom_kib, 2) if v else None, "ok": bool(v and v.ok),
                         "error": errors.get(name)})
        print(json.dumps({"workers_toml": WORKERS_TOML, "workers": rows, "failures": lines, "ok": not lines},
                         indent=2))
    else:
        print(f"Worker sizes (wrangler deploy --dry-run), budgets from {WORKERS_TOML}")
        print(markdown(workers, sizes, errors))
        if lines:
            print()
            print("\n".join(lines))
        else:
            print(f"\nPASS: {len(workers)} Workers within their budgets")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
