"""core.data.custom: custom sources (txt, jsonl, parquet, datasets folder) and bad inputs."""

from __future__ import annotations

import json

import pytest

from core.data.babylm import prepare_corpus
from core.data.synthetic import create_synthetic_corpus
from core.errors import UserError


def docs(n: int, prefix: str = "doc") -> list[str]:
    return [f"This is {prefix} number {i}.\nIt has two lines." for i in range(n)]


def manifest_of(path):
    return json.loads((path / "manifest.json").read_text())


def test_txt_folder_without_dev_is_split_by_document_hash(tmp_path, workspace):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("\n\n".join(docs(60, "a")))
    (src / "sub" / "b.txt").write_text("\n\n".join(docs(60, "b")))
    (src / "notes.csv").write_text("x,y")
    path = prepare_corpus(workspace, src, "c")
    m = manifest_of(path)
    assert m["kind"] == "custom"
    total = m["splits"]["train"]["documents"] + m["splits"]["dev"]["documents"]
    assert total == 120 and 1 <= m["splits"]["dev"]["documents"] <= 15
    assert (path / "train" / "sub__b.txt").is_file()
    assert any("notes.csv" in w for w in m["warnings"])
    again = prepare_corpus(workspace, src, "c2")  # deterministic split
    assert (again / "dev").exists() == (path / "dev").exists()
    assert manifest_of(again)["sha256"] == m["sha256"]


def test_two_documents_still_give_one_dev_document(tmp_path, workspace):
    src = tmp_path / "src"
    src.mkdir()
    (src / "only.txt").write_text("First doc here.\n\nSecond doc here.\n")
    m = manifest_of(prepare_corpus(workspace, src, "tiny"))
    assert m["splits"]["train"]["documents"] == 1 and m["splits"]["dev"]["documents"] == 1


def test_train_and_dev_subfolders_are_used_as_given(tmp_path, workspace):
    src = tmp_path / "src"
    (src / "train").mkdir(parents=True)
    (src / "dev").mkdir()
    (src / "train" / "doc1.train").write_text("\n\n".join(docs(5)))
    (src / "dev" / "doc1.dev").write_text("Held out text.\n")
    path = prepare_corpus(workspace, src, "guide")
    m = manifest_of(path)
    assert m["splits"]["train"]["documents"] == 5 and m["splits"]["dev"]["documents"] == 1
    assert (path / "dev" / "dev__doc1.dev.txt").read_text() == "Held out text.\n"


def test_jsonl_source(tmp_path, workspace):
    src = tmp_path / "src"
    src.mkdir()
    rows = [{"text": f"Record {i} says hello.\n\n\nSecond paragraph.", "id": i} for i in range(40)]
    (src / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    m = manifest_of(prepare_corpus(workspace, src, "j"))
    assert m["splits"]["train"]["documents"] + m["splits"]["dev"]["documents"] == 40
    assert m["splits"]["train"]["lines"] + m["splits"]["dev"]["lines"] == 80


def test_parquet_source(tmp_path, workspace):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "src"
    src.mkdir()
    pq.write_table(
        pa.table({"text": [f"Parquet row {i}." for i in range(30)] + [None], "n": list(range(31))}), src / "rows.parquet"
    )
    m = manifest_of(prepare_corpus(workspace, src, "p"))
    assert m["splits"]["train"]["documents"] + m["splits"]["dev"]["documents"] == 30
    pq.write_table(pa.table({"body": ["x"]}), src / "rows.parquet")
    with pytest.raises(UserError, match='no "text" column'):
        prepare_corpus(workspace, src, "p2")


def test_saved_datasets_folder(tmp_path, workspace):
    from datasets import Dataset, DatasetDict

    Dataset.from_dict({"text": [f"Saved row {i}." for i in range(25)]}).save_to_disk(str(tmp_path / "ds"))
    m = manifest_of(prepare_corpus(workspace, tmp_path / "ds", "d"))
    assert m["splits"]["train"]["documents"] + m["splits"]["dev"]["documents"] == 25
    DatasetDict(
        {"train": Dataset.from_dict({"text": ["a b c."] * 10}), "validation": Dataset.from_dict({"text": ["d e."] * 4})}
    ).save_to_disk(str(tmp_path / "dd"))
    m = manifest_of(prepare_corpus(workspace, tmp_path / "dd", "dd"))
    assert m["splits"]["train"]["documents"] == 10 and m["splits"]["dev"]["documents"] == 4


def test_non_utf8_is_replaced_and_reported(tmp_path, workspace):
    src = tmp_path / "src"
    src.mkdir()
    (src / "latin.txt").write_bytes("Un café très bon.\n\nEncore à midi.\n".encode("latin-1"))
    path = prepare_corpus(workspace, src, "latin")
    m = manifest_of(path)
    assert m["replaced_bytes"] == 3
    assert any("3 byte(s)" in w and "latin.txt" in w for w in m["warnings"])
    assert "\ufffd" in "".join(p.read_text() for p in path.rglob("*.txt"))


def _assert_untouched(workspace, before):
    assert sorted(p.name for p in workspace.data_dir.iterdir()) == before


@pytest.mark.parametrize("case", ["missing", "empty", "binary", "bad_json", "no_text_field", "only_csv"])
def test_bad_sources_are_user_errors_and_touch_nothing(tmp_path, workspace, case):
    create_synthetic_corpus(workspace, "keep", 500)
    before = sorted(p.name for p in workspace.data_dir.iterdir())
    src = tmp_path / "src"
    src.mkdir()
    expected = {
        "missing": "does not exist",
        "empty": "it is empty",
        "binary": "binary file",
        "bad_json": "line 2: not valid JSON",
        "no_text_field": 'line 1: no "text"',
        "only_csv": "found only: a.csv",
    }[case]
    if case == "missing":
        src = tmp_path / "nope"
    elif case == "binary":
        (src / "ok.txt").write_text("fine text\n")
        (src / "blob.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    elif case == "bad_json":
        (src / "d.jsonl").write_text('{"text": "ok"}\n{"text": broken\n')
    elif case == "no_text_field":
        (src / "d.jsonl").write_text('{"body": "ok"}\n')
    elif case == "only_csv":
        (src / "a.csv").write_text("x")
    with pytest.raises(UserError, match=expected):
        prepare_corpus(workspace, src, "new")
    _assert_untouched(workspace, before)
