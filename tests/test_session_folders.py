"""The test session's throw-away folders: a process a test starts never leaves one of its own."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_a_helper_a_test_starts_that_imports_the_conftest_makes_no_folder(tmp_path) -> None:
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    env = {**os.environ, "BENTOKIT_TESTS_SYSTEM_TMP": str(system_tmp)}
    assert "PYTEST_CURRENT_TEST" in env  # as every process this test starts inherits it
    code = "import os, tests.conftest; print(os.environ['TMPDIR'], os.environ['BENTOML_HOME'])"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    assert list(system_tmp.iterdir()) == []  # nothing would remove it: it stayed in /tmp before
    assert done.stdout.split() == [os.environ["TMPDIR"], os.environ["BENTOML_HOME"]]  # the test's own


def test_a_session_makes_its_folder_and_removes_it(pytester, tmp_path) -> None:
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    pytester.makepyfile("""
        import os
        def test_the_folder_is_the_temporary_one():
            assert os.environ["TMPDIR"].startswith(os.environ["BENTOKIT_TESTS_SYSTEM_TMP"])
            assert os.path.isdir(os.environ["BENTOML_HOME"])
    """)
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["BENTOKIT_TESTS_SYSTEM_TMP"] = str(system_tmp)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                           str(pytester.path)], cwd=pytester.path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(system_tmp.iterdir()) == []  # made, used and removed
