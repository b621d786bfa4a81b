"""Browser fixtures: the studio as a real subprocess on a free port, and Debian's chromium, both
through core.bench.browser (the driver `bench studio` uses too)."""

from __future__ import annotations

import pytest

from core.bench.browser import ROOT, chromium, chromium_path, start_studio, stop_studio

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def studio(ready_workspace, tmp_path):
    """A running studio over `ready_workspace`; yields a restart-able handle."""

    class Studio:
        def __init__(self):
            self.proc, self.url = start_studio(ready_workspace.root, tmp_path / "studio.log")
            self.workspace = ready_workspace

        def restart(self):
            self.stop()
            self.proc, self.url = start_studio(ready_workspace.root, tmp_path / "studio-2.log")

        def stop(self):
            stop_studio(self.proc)

    handle = Studio()
    yield handle
    handle.stop()


@pytest.fixture
def browser():
    pytest.importorskip("playwright.sync_api")
    if chromium_path() is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as b:
        yield b
