"""Schemathesis (PyPI `schemathesis`) over every operation of openapi.yaml against the real
gateway, as a tenant owner and as a superadmin: no 5xx and no response outside the
contract."""
import pathlib
import subprocess
import sys
import unittest

from harness import ROOT, shared_gateway, superadmin_token

ST = pathlib.Path(sys.executable).parent / "st"


class SchemathesisTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gateway = shared_gateway()
        cls.tenant = cls.gateway.create_tenant("schemathesis", plan="enterprise")

    def run_as(self, *headers):
        args = [str(ST), "run", str(ROOT / "openapi.yaml"), "--url", self.gateway.url,
                "--checks", "not_a_server_error,response_schema_conformance", "--max-examples", "10",
                "--seed", "20261123", "--no-color"]
        # Its sign-in attempts come from an address of their own: failures are throttled per
        # client, and the browser tests sign in from the loopback address.
        for header in (*headers, "CF-Connecting-IP: 10.77.0.1"):
            args += ["-H", header]
        result = subprocess.run(args, capture_output=True, text=True, timeout=900)
        self.assertEqual(result.returncode, 0, result.stdout[-6000:] + result.stderr[-2000:])
        self.assertIn("passed", result.stdout)

    def test_as_a_tenant_owner(self):
        self.run_as(f"Authorization: Bearer {self.tenant['owner_api_key']}")

    def test_as_a_superadmin(self):
        self.run_as(f"Authorization: Bearer {superadmin_token()}", f"X-Tenant: {self.tenant['tenant']['slug']}")


if __name__ == "__main__":
    unittest.main()
