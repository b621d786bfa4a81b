"""Every test has a time limit (pytest-timeout): 300 s by default, longer for `slow`, `browser` and `cluster`."""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import BROWSER_TIMEOUT_S, CLUSTER_TIMEOUT_S, ROOT, SLOW_TIMEOUT_S, pytest_collection_modifyitems


class _Item:
    """The two methods of a pytest item the hook uses, over a list of marks."""

    def __init__(self, *marks):
        self.marks = list(marks)

    def get_closest_marker(self, name):
        return next((m for m in self.marks if m.name == name), None)

    def add_marker(self, mark):
        self.marks.append(mark.mark)


def _limit(item) -> float | None:
    marker = item.get_closest_marker("timeout")
    return marker.args[0] if marker else None


def test_default_limit_is_set_in_pyproject():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert ini["timeout"] == 300
    assert SLOW_TIMEOUT_S > ini["timeout"] and BROWSER_TIMEOUT_S > ini["timeout"]


def test_marked_tests_get_the_longer_limit_and_explicit_ones_keep_theirs():
    plain, slow, browser = _Item(), _Item(pytest.mark.slow.mark), _Item(pytest.mark.browser.mark)
    both = _Item(pytest.mark.browser.mark, pytest.mark.slow.mark)
    own = _Item(pytest.mark.slow.mark, pytest.mark.timeout(42).mark)
    cluster = _Item(pytest.mark.cluster.mark)
    pytest_collection_modifyitems(None, [plain, slow, browser, both, own, cluster])
    assert _limit(cluster) == CLUSTER_TIMEOUT_S > 300
    assert _limit(plain) is None  # the ini default applies
    assert _limit(slow) == SLOW_TIMEOUT_S
    assert _limit(browser) == BROWSER_TIMEOUT_S
    assert _limit(both) == max(SLOW_TIMEOUT_S, BROWSER_TIMEOUT_S)
    assert _limit(own) == 42


def test_this_test_runs_under_the_default_limit(request):
    assert request.config.getini("timeout") == "300"


def test_cluster_tests_are_left_out_of_the_quick_loop_like_slow_and_browser():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "not cluster" in ini["addopts"] and any(m.startswith("cluster:") for m in ini["markers"])
    assert "slurm-wlm munge" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
