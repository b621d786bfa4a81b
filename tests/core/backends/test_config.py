"""backends.yaml: named clusters as dataclasses, every mistake a UserError naming the key and the fix."""

from __future__ import annotations

import pytest

from core.backends.config import Cluster, get_cluster, load_clusters, parse_time, sbatch_options, with_overrides
from core.errors import UserError

GOOD = """default: gpu
clusters:
  gpu:
    partition: gpu
    account: lab
    qos: normal
    nodes: 2
    gpus_per_node: 4
    cpus_per_task: 8
    mem_gb: 64
    time: "1-12:00:00"
    extra_sbatch: ["--constraint=a100", "#SBATCH --exclusive"]
    setup: ["module load cuda/12.4", "source ~/venv/bin/activate"]
  cpu:
    partition: cpu
"""


def test_a_full_cluster_reads_into_the_dataclass(workspace):
    (workspace.root / "backends.yaml").write_text(GOOD)
    gpu = load_clusters(workspace)["gpu"]
    assert gpu == Cluster(
        name="gpu",
        partition="gpu",
        account="lab",
        qos="normal",
        nodes=2,
        gpus_per_node=4,
        cpus_per_task=8,
        mem_gb=64.0,
        time="1-12:00:00",
        extra_sbatch=["--constraint=a100", "#SBATCH --exclusive"],
        setup=["module load cuda/12.4", "source ~/venv/bin/activate"],
    )
    assert gpu.timeout_min == 36 * 60
    assert get_cluster(workspace, None).name == "gpu"  # `default:`
    assert get_cluster(workspace, "cpu").partition == "cpu"
    assert sbatch_options(gpu.extra_sbatch) == {"constraint": "a100", "exclusive": True}


def test_no_file_means_the_schedulers_defaults(workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_clusters(workspace) == {}
    assert get_cluster(workspace, None) == Cluster()


def test_the_user_file_is_read_when_the_workspace_has_none(workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    user = tmp_path / "home" / ".config" / "babyllama" / "backends.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("clusters:\n  only:\n    partition: p1\n")
    assert get_cluster(workspace, None).partition == "p1"


@pytest.mark.parametrize(
    "body, words",
    [
        ("clusters:\n  a:\n    partiton: x\n", ["clusters.a", "partiton", "partition"]),
        ("clusters:\n  a:\n    nodes: 0\n", ["clusters.a.nodes", ">= 1"]),
        ("clusters:\n  a:\n    time: 90 minutes\n", ["clusters.a.time", "HH:MM:SS"]),
        ("clusters:\n  a:\n    mem_gb: lots\n", ["clusters.a.mem_gb", "GB"]),
        ("clusters:\n  a:\n    setup: 3\n", ["clusters.a.setup", "list"]),
        ("clusters: [a, b]\n", ["clusters:", "mapping"]),
        ("clustrs: {}\n", ["clustrs", "top-level"]),
    ],
)
def test_mistakes_name_the_key_and_the_fix(workspace, body, words):
    (workspace.root / "backends.yaml").write_text(body)
    with pytest.raises(UserError) as err:
        load_clusters(workspace)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_an_unknown_cluster_name_lists_the_known_ones(workspace):
    (workspace.root / "backends.yaml").write_text(GOOD)
    with pytest.raises(UserError, match=r"slurm:big.*clusters: cpu, gpu"):
        get_cluster(workspace, "big")


def test_time_limits_and_command_line_overrides():
    assert parse_time("00:30:00", "t") == 1800 and parse_time("2-00:00:00", "t") == 172800
    with pytest.raises(UserError, match="--time"):
        with_overrides(Cluster(), time="1:99:00")
    with pytest.raises(UserError, match="longer than 0"):
        parse_time("00:00:00", "t")
    c = with_overrides(Cluster(nodes=1, gpus_per_node=1), nodes=4, gpus_per_node=8, time="00:00:30")
    assert (c.nodes, c.gpus_per_node, c.timeout_min) == (4, 8, 1)
    with pytest.raises(UserError, match="--key=value"):
        sbatch_options(["constraint=a100"])
