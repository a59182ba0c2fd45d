"""Reads JUnit XML as CI reporting tools do, with junitparser (PyPI), and
prints what it found as JSON: each suite's name and counts, and each test
case's name and result (passed, failure, error, skipped) with the failure's
type. `.ci/run` installs junitparser into target/validators; the CLI tests
run this on `migcheck check --format junit` and compare with the checks.

    python3 scripts/read-junit.py FILE
"""

import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped

xml = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in xml:
    cases = []
    for case in suite:
        kinds = [r for r in case.result]
        result = "passed"
        kind = None
        for r in kinds:
            if isinstance(r, Failure):
                result, kind = "failure", r.type
            elif isinstance(r, Error):
                result, kind = "error", r.type
            elif isinstance(r, Skipped):
                result = "skipped"
        cases.append({"name": case.name, "classname": case.classname, "result": result, "type": kind})
    suites.append({"name": suite.name, "tests": suite.tests, "failures": suite.failures, "errors": suite.errors, "cases": cases})
json.dump({"tests": xml.tests, "failures": xml.failures, "suites": suites}, sys.stdout)
