"""`babyllama eval`, `report` and `bench eval` end to end: folders, hashes, history, bad input, jobs."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from core.cli import main
from core.errors import UserError
from core.hashing import sha256_file
from core.history import open_history

FAST = ["--max-new-tokens", "6", "--num-samples", "3"]


def _eval_dirs(ws, run="r1"):
    folder = ws.run_dir(run) / "eval"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_full_eval_of_a_run(eval_ws, shared_data, capsys):
    before = _eval_dirs(eval_ws)
    rc = main(["eval", "r1", "--pairs-dir", str(shared_data / "blimp-sample"), *FAST, "--workspace", str(eval_ws.root)])
    assert rc == 0
    (folder,) = [d for d in _eval_dirs(eval_ws) if d not in before]
    assert {p.name for p in folder.iterdir()} == {"results.json", "report.html", "samples.txt", "evaluation_plots.png"}
    results = json.loads((folder / "results.json").read_text())
    assert set(results["suites"]) == {"ppl", "gen", "cloze", "pairs", "speed"} and not results["skipped"]
    run_dir = eval_ws.run_dir("r1")
    assert results["model"]["sha256"] == sha256_file(run_dir / "model.safetensors")
    assert results["tokenizer"]["sha256"] == sha256_file(run_dir / "tokenizer.json")
    manifest = json.loads((eval_ws.data_dir / "syn" / "manifest.json").read_text())
    assert results["data"]["sha256"] == manifest["sha256"] == results["suites"]["ppl"]["data_sha256"]
    assert results["suites"]["ppl"]["data"] == "syn/dev" and results["suites"]["ppl"]["seq_length"] == 32
    assert len(results["suites"]["pairs"]["paradigms"]) == 6 and results["suites"]["pairs"]["n_pairs"] == 18
    assert [r["batch_size"] for r in results["suites"]["speed"]["by_batch"]] == [1, 4, 8, 16]
    assert "PROMPT: Once upon a time" in (folder / "samples.txt").read_text()
    out = capsys.readouterr().out
    assert "[5/5] speed" in out and "perplexity" in out and str(folder) in out
    with open_history(eval_ws) as history:
        rows = {(r["suite"], r["name"]): r for r in history.evals("r1")}
        assert rows[("pairs", "mean")]["value"] == pytest.approx(results["suites"]["pairs"]["mean"])
        assert rows[("ppl", "perplexity")]["step"] == 100 and ("speed", "gen_tokens_per_s/b16") in rows
        assert any(a["path"] == str(folder) for a in history.artifacts("r1", "eval"))
    html = (folder / "report.html").read_text()
    assert "<script" not in html and html.count("<svg") >= 5  # training curves from the history too


def _no_new_results(ws, before):
    after = _eval_dirs(ws)
    assert after == before, f"left behind: {set(after) - set(before)}"


def test_malformed_pairs_file_fails_before_anything_is_written(eval_ws, tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text('{"sentence_good": "A.", "sentence_bad": "B."}\n{broken\n', encoding="utf-8")
    before = _eval_dirs(eval_ws)
    rc = main(["eval", "r1", "--suite", "pairs", "--pairs-dir", str(tmp_path), "--workspace", str(eval_ws.root)])
    assert rc == 2 and "bad.jsonl:2: not valid JSON" in capsys.readouterr().err
    _no_new_results(eval_ws, before)


def test_a_failure_while_writing_leaves_no_folder(eval_ws, monkeypatch):
    from core.evaluate import report
    from core.evaluate.options import EvalOptions
    from core.evaluate.runner import run_eval

    def broken(*args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(report, "eval_report", broken)
    before = _eval_dirs(eval_ws)
    with pytest.raises(RuntimeError, match="disk on fire"):
        run_eval(EvalOptions(model="r1", suites=("cloze",), num_samples=2), eval_ws, log=lambda m: None)
    _no_new_results(eval_ws, before)  # the hidden temp folder is gone as well


def test_missing_inputs_of_chosen_suites(eval_ws, tmp_path, capsys):
    rc = main(["eval", "r1", "--suite", "pairs", "--workspace", str(eval_ws.root)])
    assert rc == 2 and "--suite pairs: no minimal pairs" in capsys.readouterr().err
    rc = main(["eval", "r1", "--suite", "ppl,nope", "--revision", "a/b", "--workspace", str(eval_ws.root)])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown suite 'nope'" in err and "--revision 'a/b': a revision is one folder name" in err
    with pytest.raises(SystemExit) as exit_:  # bounded flags are refused by argparse, before anything runs
        main(["eval", "r1", "--batch-size", "0", "--workspace", str(eval_ws.root)])
    assert exit_.value.code == 2 and "--batch-size: must be >= 1, got 0" in capsys.readouterr().err
    long = tmp_path / "prompts.txt"
    long.write_text("fine\n" + "word " * 200 + "\n", encoding="utf-8")
    rc = main(["eval", "r1", "--suite", "gen", "--custom-prompts", str(long), "--workspace", str(eval_ws.root)])
    assert rc == 2 and "prompts.txt:2: the prompt is" in capsys.readouterr().err


def test_models_that_cannot_be_evaluated(eval_ws, tmp_path, make_run):
    from core.evaluate.options import EvalOptions
    from core.evaluate.runner import run_eval
    from core.tokenizer import load_tokenizer

    odd = tmp_path / "vision"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"model_type": "vit"}))
    (odd / "model.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(UserError, match="not a causal language model"):
        run_eval(EvalOptions(model=str(odd), suites=("cloze",)), eval_ws, log=lambda m: None)
    # A model with 300 embedding rows next to a 600-token tokenizer: not its tokenizer.
    make_run(eval_ws, "narrow", load_tokenizer("tok", eval_ws), vocab=300)
    with pytest.raises(UserError, match="tokenizer has 600 tokens but the model's embedding has only 300 rows"):
        run_eval(EvalOptions(model="narrow", suites=("cloze",)), eval_ws, log=lambda m: None)
    assert not (eval_ws.run_dir("narrow") / "eval").exists()
    # 700 rows for a run whose embedding was sized from its 600-token tokenizer: another tokenizer.
    make_run(eval_ws, "wide", load_tokenizer("tok", eval_ws), vocab=700)
    with pytest.raises(UserError, match=r"sized its embedding from its tokenizer \(700 tokens\).*has 600"):
        run_eval(EvalOptions(model="wide", suites=("cloze",)), eval_ws, log=lambda m: None)


def test_foreign_model_folder_and_json_output(eval_ws, tmp_path):
    from core.evaluate.options import EvalOptions
    from core.evaluate.runner import run_eval

    plain = tmp_path / "hf-model"
    shutil.copytree(eval_ws.run_dir("r1"), plain, ignore=shutil.ignore_patterns("config.yaml", "eval"))
    out_json = tmp_path / "results" / "llama-eval.json"  # the guide's --output-path; its folder is made
    results, folder = run_eval(
        EvalOptions(model=str(plain), output=str(out_json), num_samples=2, max_new_tokens=4), eval_ws, log=lambda m: None
    )
    assert folder.parent == eval_ws.root / "evals" / "hf-model"
    # No run config: perplexity and pairs have no input and are skipped (not chosen explicitly).
    assert set(results["skipped"]) == {"ppl", "pairs"} and "cloze" in results["suites"]
    assert json.loads(out_json.read_text())["suites"]["cloze"]["n"] == 2
    assert results["model"]["run"] is None and results["model"]["step"] is None


def test_eval_job_through_the_worker(eval_ws):
    """What `--detach` starts, run in-process: core.jobs.worker's `eval` kind reads the params."""
    from core.evaluate.options import EvalOptions
    from core.jobs import worker

    params = EvalOptions(model="r1", suites=("cloze", "ppl"), num_samples=2, suites_given=True).to_dict()
    job_dir = eval_ws.root / "jobs" / "eval-r1-test"
    job_dir.mkdir(parents=True)
    (job_dir / "job.json").write_text(
        json.dumps({"kind": "eval", "name": "eval-r1-test", "workspace": str(eval_ws.root), "num_processes": 1, "params": params})
    )
    with open_history(eval_ws) as history:
        history.create_run("eval-r1-test", "eval", params, job_dir)
    assert worker.run_job(job_dir) == 0
    with open_history(eval_ws) as history:
        job = history.get_run("eval-r1-test")
        assert job.status == "finished" and job.step == job.total_steps == 2
        assert history.artifacts("eval-r1-test", "eval") and history.evals("r1", "cloze")


def test_report_command(eval_ws, tmp_path, capsys):
    assert main(["report", "r1", "-o", str(tmp_path / "cmp.html"), "--workspace", str(eval_ws.root)]) == 0
    html = (tmp_path / "cmp.html").read_text()
    assert "Comparison of r1" in html and "Training loss by step" in html
    assert main(["report", "ghost", "-o", str(tmp_path / "x.html"), "--workspace", str(eval_ws.root)]) == 2


def test_bench_eval_json(workspace, capsys):  # generated pairs: no shared data needed
    rc = main(
        [
            "bench",
            "eval",
            "--preset",
            "tiny",
            "--pairs",
            "6",
            "--batch-size",
            "16",
            "--reading-rows",
            "60",
            "--vocab",
            "2500",
            "--json",
        ]
    )
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["same_accuracies"] is True and result["n_pairs"] == 36
    assert result["ratio"] == pytest.approx(result["batched_pairs_per_s"] / result["single_pairs_per_s"])
    assert result["ppl_ours_tokens_per_s"] > 0 and result["ppl_bare_tokens_per_s"] > 0
    assert result["rounds"] == 3 and result["ratio_by_round"] > 0
    babylm = result["babylm"]  # the same pairs through the official reader and rule
    assert babylm["same_decisions"] is True and babylm["candidates"] == 72 and babylm["tasks"] == ["blimp/blimp-like"]
    assert result["vocab"] == 2500  # the random model's output layer (generated pairs, no --pairs-dir)
    assert babylm["ratio"] == pytest.approx(babylm["batched_candidates_per_s"] / babylm["single_candidates_per_s"])
    aoa = result["aoa"]  # words cut from the same pairs, ours batched vs the official loop
    assert aoa["same"] is True and aoa["contexts"] > 36 and aoa["max_surprisal_diff"] <= 1e-3
    assert aoa["ratio"] == pytest.approx(aoa["batched_contexts_per_s"] / aoa["official_contexts_per_s"])
    read = result["reading"]  # rows made from the pairs' words, batched vs the official row loop
    assert read["rows"] == 60 and read["agree"] is True and read["ratio"] > 0


def test_bench_eval_alternates_the_sides_and_refuses_a_ratio_on_different_accuracies(workspace, capsys, monkeypatch):
    """Before: batched timed 3 times in a row, then single once; a ratio even when accuracies differed."""
    from core.bench import eval as bench

    real, order = bench._pairs_side, []

    def flipped_single(model, tokenizer, paradigms, batch_size):
        order.append(batch_size)
        scores, seconds = real(model, tokenizer, paradigms, batch_size)
        return ([-x for x in scores] if batch_size == 1 else scores), seconds

    monkeypatch.setattr(bench, "_pairs_side", flipped_single)
    rc = main(
        [
            "bench",
            "eval",
            "--preset",
            "tiny",
            "--pairs",
            "4",
            "--batch-size",
            "16",
            "--rounds",
            "3",
            "--reading-rows",
            "60",
            "--vocab",
            "1",
            "--json",
        ]
    )
    assert rc == 1
    result = json.loads(capsys.readouterr().out)
    assert order[1:] == [16, 1, 1, 16, 16, 1]  # after the warm-up: B S, S B, B S
    assert result["same_accuracies"] is False and result["ratio"] is None and result["ratio_by_round"] is None
    assert "no ratio" in bench.format_report(result)


@pytest.mark.slow
def test_detached_eval_job(eval_ws, capsys):
    from core import jobs

    assert main(["eval", "r1", "--suite", "cloze", "--num-samples", "2", "--detach", "--workspace", str(eval_ws.root)]) == 0
    name = capsys.readouterr().out.strip().splitlines()[-1]
    with open_history(eval_ws) as history:
        deadline = time.monotonic() + 180
        while jobs.refresh(history, name).status not in ("finished", "failed", "lost", "stopped"):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        run = history.get_run(name)
        assert run.status == "finished", run.error
        assert run.kind == "eval" and run.command.startswith("babyllama eval r1 --suite cloze")
