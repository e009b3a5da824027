"""Tests of the size-budget check itself (scripts/worker-sizes.py), without wrangler or
cargo: its parsing and verdicts as functions, and its command end to end against a fake
wrangler (TENANTRY_WRANGLER) in a scratch repository.

    python3 -m unittest discover -s tests/tools -t tests/tools -v
"""
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "worker-sizes.py"
_spec = importlib.util.spec_from_file_location("worker_sizes", SCRIPT)
ws = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ws)

# What wrangler 4 prints for `deploy --dry-run` (the size line as it colours it).
WRANGLER_OUTPUT = """
 \u26c5\ufe0f wrangler 4.86.0
-------------------
Running custom build: scripts/build-worker.sh mail
[INFO]: Compiling to Wasm...
Attaching additional modules:
| Name                  | Type          | Size       |
| index_bg.wasm         | compiled-wasm | 868.40 KiB |
Total Upload: \x1b[32m900.12 KiB / gzip: 296.04 KiB\x1b[39m
Your Worker has access to the following bindings:
--dry-run: exiting now.
"""

# A stand-in for wrangler: prints the file named by `-c` (a test writes there what
# wrangler should say), exits with the status its `# exit N` line asks for, and logs its
# arguments, directory and environment to $FAKE_WRANGLER_LOG.
FAKE_WRANGLER = f"""#!{sys.executable}
import json, os, re, sys
args = sys.argv[1:]
config = args[args.index("-c") + 1]
with open(os.environ["FAKE_WRANGLER_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "cwd": os.getcwd(),
                          "env": {{k: os.environ.get(k) for k in ("NO_COLOR", "CI", "WRANGLER_SEND_METRICS",
                                                                  "WRANGLER_SEND_ERROR_REPORTS",
                                                                  "CLOUDFLARE_CF_FETCH_ENABLED")}}}}) + "\\n")
text = open(config).read()
print(text)
status = re.search(r"^# exit (\\d+)$", text, re.M)
sys.exit(int(status.group(1)) if status else 0)
"""


def size_line(size, gzip):
    return f"Total Upload: {size:.2f} KiB / gzip: {gzip:.2f} KiB"


def table(crate="tenantry-x", config="functions/x/wrangler.toml", budget_kib=200, **more):
    return {"crate": crate, "config": config, "budget_kib": budget_kib, **more}


class Verdicts(unittest.TestCase):
    def test_a_worker_over_its_budget_fails_naming_worker_size_and_budget(self):
        workers = {"people": table(), "mail": table(config="functions/mail/wrangler.toml")}
        result = ws.verdicts(workers, {"people": (700.0, 180.5), "mail": (900.12, 296.04)})
        self.assertEqual([(v.name, v.ok) for v in result], [("people", True), ("mail", False)])
        self.assertEqual(ws.failures(workers, {"people": (700.0, 180.5), "mail": (900.12, 296.04)}, {}),
                         ["FAIL: mail weighs 296.0 KiB gzipped, over its budget of 200 KiB (functions/workers.toml)"])

    def test_a_worker_exactly_at_its_budget_passes(self):
        [verdict] = ws.verdicts({"crm": table(budget_kib=150)}, {"crm": (500.0, 150.0)})
        self.assertTrue(verdict.ok)
        self.assertEqual(verdict.headroom_kib, 0)
        self.assertEqual(ws.failures({"crm": table(budget_kib=150)}, {"crm": (500.0, 150.0)}, {}), [])
        # A hundredth of a KiB more is over.
        self.assertFalse(ws.verdicts({"crm": table(budget_kib=150)}, {"crm": (500.0, 150.01)})[0].ok)

    def test_a_worker_wrangler_could_not_size_fails_with_its_error(self):
        lines = ws.failures({"mail": table()}, {}, {"mail": "wrangler deploy --dry-run -c x exited with status 1"})
        self.assertEqual(lines, ["FAIL: mail: wrangler deploy --dry-run -c x exited with status 1"])

    def test_the_table_shows_headroom_and_marks_a_worker_over(self):
        text = ws.markdown({"people": table(), "mail": table()}, {"people": (700.0, 180.5), "mail": (900.0, 296.0)},
                           floor_kib=84)
        self.assertIn("| people | 700.0 KiB | 180.5 KiB | 200 KiB | 19.5 KiB | 2.1x |", text)
        self.assertIn("| mail | 900.0 KiB | 296.0 KiB | 200 KiB | **-96.0 KiB (over)** | 3.5x |", text)


class ParseSize(unittest.TestCase):
    def test_reads_the_total_upload_line_even_coloured(self):
        self.assertEqual(ws.parse_size(WRANGLER_OUTPUT), (900.12, 296.04))

    def test_output_without_a_size_line_is_none(self):
        self.assertIsNone(ws.parse_size("✘ [ERROR] Build failed with 1 error\nerror: could not compile\n"))
        self.assertIsNone(ws.parse_size(""))


class WorkersFile(unittest.TestCase):
    def test_a_table_lacking_a_field_fails_naming_worker_and_field(self):
        self.assertEqual(ws.table_problems({"mail": {"crate": "tenantry-mail", "config": "functions/mail/wrangler.toml"}}),
                         ["FAIL: [mail] in functions/workers.toml has no `budget_kib`"])
        problems = ws.table_problems({"crm": {"budget_kib": 200}})
        self.assertEqual(problems, ["FAIL: [crm] in functions/workers.toml has no `crate`",
                                    "FAIL: [crm] in functions/workers.toml has no `config`"])

    def test_wrong_fields_fail(self):
        for budget in (0, -5, "200", 200.5, True):
            with self.subTest(budget=budget):
                [problem] = ws.table_problems({"mail": table(budget_kib=budget)})
                self.assertIn("[mail]", problem)
                self.assertIn("budget_kib", problem)
        [problem] = ws.table_problems({"mail": table(budget_kb=200)})
        self.assertIn("unknown field `budget_kb`", problem)
        [problem] = ws.table_problems({"mail": table(config="")})
        self.assertIn("`config`", problem)
        self.assertTrue(ws.table_problems({"mail": 200}))
        self.assertTrue(ws.table_problems({}))
        self.assertEqual(ws.table_problems({"mail": table()}), [])

    def test_a_worker_directory_without_a_table_fails_naming_it(self):
        with tempfile.TemporaryDirectory() as scratch:
            root = pathlib.Path(scratch)
            for name in ("people", "mailboxes", "edge"):
                (root / "functions" / name).mkdir(parents=True)
            (root / "functions" / "people" / "wrangler.toml").write_text('name = "tenantry-people"\n')
            (root / "functions" / "mailboxes" / "wrangler.toml").write_text('name = "tenantry-mailboxes"\n')
            (root / "wrangler.toml").write_text('name = "tenantry-gateway"\n')
            # edge is a library (no wrangler.toml); the gateway's config is at the root.
            workers = {"gateway": table(config="wrangler.toml"), "people": table(config="functions/people/wrangler.toml")}
            self.assertEqual(ws.unlisted(root / "functions", workers), ["mailboxes"])
            self.assertEqual(ws.unlisted_failures(["mailboxes"]),
                             ["FAIL: functions/mailboxes holds a wrangler.toml but has no table in functions/workers.toml"])
            workers["mailboxes"] = table(config="functions/mailboxes/wrangler.toml")
            self.assertEqual(ws.unlisted(root / "functions", workers), [])

    def test_crates_for_cargo(self):
        self.assertEqual(ws.crate_args({"a": table(crate="tenantry-a"), "b": table(crate="tenantry-b")}),
                         ["-p", "tenantry-a", "-p", "tenantry-b"])


class TheRealFile(unittest.TestCase):
    """functions/workers.toml as committed (its new Workers' configs may not exist yet:
    the real check, in scripts/test.sh, fails when wrangler cannot find one)."""

    def setUp(self):
        self.workers = ws.load()

    def test_every_table_has_its_fields_and_a_budget_of_at_most_200_kib(self):
        self.assertIn("gateway", self.workers)
        self.assertEqual(next(iter(self.workers)), "gateway", "the gateway comes first")
        self.assertEqual(ws.table_problems(self.workers), [])
        for name, worker in self.workers.items():
            with self.subTest(worker=name):
                self.assertIsInstance(worker["crate"], str)
                self.assertIsInstance(worker["config"], str)
                self.assertIsInstance(worker["budget_kib"], int)
                self.assertNotIsInstance(worker["budget_kib"], bool)
                self.assertGreater(worker["budget_kib"], 0)
                self.assertLessEqual(worker["budget_kib"], 200)

    def test_every_worker_directory_has_a_table(self):
        self.assertEqual(ws.unlisted(ROOT / "functions", self.workers), [])


class TheCommand(unittest.TestCase):
    """scripts/worker-sizes.py run as test.sh runs it, in a scratch repository whose
    wrangler is a fake that says what each config file holds."""

    def setUp(self):
        self.scratch = tempfile.TemporaryDirectory()
        self.root = pathlib.Path(self.scratch.name)
        (self.root / "functions").mkdir()
        fake = self.root / "fake-wrangler"
        fake.write_text(FAKE_WRANGLER)
        fake.chmod(0o755)
        self.log = self.root / "wrangler-calls.jsonl"
        self.env = {**os.environ, "TENANTRY_WRANGLER": str(fake), "FAKE_WRANGLER_LOG": str(self.log)}

    def tearDown(self):
        self.scratch.cleanup()

    def worker(self, name, says, budget_kib=200):
        """A Worker directory whose (fake) wrangler prints `says`; its table's text."""
        (self.root / "functions" / name).mkdir()
        (self.root / "functions" / name / "wrangler.toml").write_text(says + "\n")
        return textwrap.dedent(f"""
            [{name}]
            crate = "tenantry-{name}"
            config = "functions/{name}/wrangler.toml"
            budget_kib = {budget_kib}
            """)

    def run_check(self, workers_toml, *args):
        (self.root / "functions" / "workers.toml").write_text(workers_toml)
        return subprocess.run([sys.executable, str(SCRIPT), "--root", str(self.root), *args], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def calls(self):
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def test_over_budget_exits_non_zero_naming_worker_size_and_budget(self):
        done = self.run_check(self.worker("people", size_line(640.0, 180.25)) +
                              self.worker("mail", size_line(900.0, 250.0)))
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("FAIL: mail weighs 250.0 KiB gzipped, over its budget of 200 KiB (functions/workers.toml)",
                      done.stdout)
        self.assertNotIn("FAIL: people", done.stdout)
        self.assertIn("| people | 640.0 KiB | 180.2 KiB | 200 KiB | 19.8 KiB |", done.stdout)
        # A progress line per Worker on stderr.
        self.assertIn("[1/2] people", done.stderr)
        self.assertIn("[2/2] mail", done.stderr)

    def test_within_budget_exits_zero(self):
        done = self.run_check(self.worker("people", size_line(640.0, 180.25)) +
                              self.worker("mail", size_line(700.0, 200.0)))  # at the budget
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertNotIn("FAIL", done.stdout)
        self.assertIn("PASS: 2 Workers within their budgets", done.stdout)

    def test_wrangler_runs_from_the_root_with_the_projects_environment(self):
        self.run_check(self.worker("people", size_line(640.0, 180.25)))
        [call] = self.calls()
        self.assertEqual(call["args"][:4], ["deploy", "--dry-run", "-c", "functions/people/wrangler.toml"])
        self.assertEqual(call["args"][4], "--outdir")
        self.assertEqual(pathlib.Path(call["args"][5]).name, "people")
        self.assertEqual(pathlib.Path(call["cwd"]).resolve(), self.root.resolve())
        self.assertEqual(call["env"], {"NO_COLOR": "1", "CI": "1", "WRANGLER_SEND_METRICS": "false",
                                       "WRANGLER_SEND_ERROR_REPORTS": "false", "CLOUDFLARE_CF_FETCH_ENABLED": "false"})

    def test_output_without_a_size_line_fails_showing_its_tail(self):
        done = self.run_check(self.worker("people", "✘ [ERROR] Could not resolve build/index.js"))
        self.assertEqual(done.returncode, 1)
        self.assertIn("FAIL: people: wrangler deploy --dry-run -c functions/people/wrangler.toml printed no "
                      "`Total Upload: X KiB / gzip: Y KiB` line", done.stdout)
        self.assertIn("    ✘ [ERROR] Could not resolve build/index.js", done.stdout)

    def test_wrangler_failing_fails_showing_its_tail(self):
        done = self.run_check(self.worker("people", "error: could not compile `tenantry-people`\n# exit 1"))
        self.assertEqual(done.returncode, 1)
        self.assertIn("FAIL: people: wrangler deploy --dry-run -c functions/people/wrangler.toml exited with "
                      "status 1", done.stdout)
        self.assertIn("    error: could not compile `tenantry-people`", done.stdout)

    def test_a_missing_config_file_fails(self):
        # As for a Worker being created: its table is there, its config not yet.
        done = self.run_check(self.worker("people", size_line(640.0, 180.25)) +
                              '[accounts]\ncrate = "tenantry-accounts"\nconfig = "functions/accounts/wrangler.toml"\n'
                              'budget_kib = 200\n')
        self.assertEqual(done.returncode, 1)
        self.assertIn("FAIL: accounts: wrangler deploy --dry-run -c functions/accounts/wrangler.toml exited", done.stdout)

    def test_an_unlisted_worker_directory_fails(self):
        self.worker("mailboxes", size_line(100.0, 50.0))  # a directory, no table
        done = self.run_check(self.worker("people", size_line(640.0, 180.25)))
        self.assertEqual(done.returncode, 1)
        self.assertIn("FAIL: functions/mailboxes holds a wrangler.toml but has no table in functions/workers.toml",
                      done.stdout)

    def test_a_table_lacking_a_field_fails_and_is_not_measured(self):
        done = self.run_check(self.worker("people", size_line(640.0, 180.25)).replace("budget_kib = 200\n", ""))
        self.assertEqual(done.returncode, 1)
        self.assertIn("FAIL: [people] in functions/workers.toml has no `budget_kib`", done.stdout)
        self.assertFalse(self.log.exists(), "wrangler ran for a faulty table")

    def test_only_the_workers_named(self):
        done = self.run_check(self.worker("people", size_line(640.0, 180.25)) +
                              self.worker("mail", size_line(900.0, 250.0)), "people")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertEqual([c["args"][3] for c in self.calls()], ["functions/people/wrangler.toml"])
        self.assertEqual(self.run_check(self.worker("crm", size_line(1, 1)), "nope").returncode, 2)

    def test_json(self):
        done = self.run_check(self.worker("people", size_line(640.0, 180.25)) +
                              self.worker("mail", size_line(900.0, 250.0)), "--json")
        self.assertEqual(done.returncode, 1)
        result = json.loads(done.stdout)
        self.assertFalse(result["ok"])
        self.assertEqual([(w["name"], w["gzip_kib"], w["budget_kib"], w["ok"]) for w in result["workers"]],
                         [("people", 180.25, 200, True), ("mail", 250.0, 200, False)])
        self.assertEqual(result["failures"], ["FAIL: mail weighs 250.0 KiB gzipped, over its budget of 200 KiB "
                                              "(functions/workers.toml)"])

    def test_crates(self):
        done = self.run_check(self.worker("people", "") + self.worker("mail", ""), "--crates")
        self.assertEqual((done.returncode, done.stdout), (0, "-p tenantry-people -p tenantry-mail\n"))
        self.assertFalse(self.log.exists(), "--crates ran wrangler")


if __name__ == "__main__":
    unittest.main()
