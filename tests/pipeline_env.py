"""The BabyLM pipeline's pinned environment (its requirements.txt: transformers 4.51.3, tokenizers
0.21.1, huggingface-hub 0.31.0, safetensors 0.5.3, numpy 2.2.5) as a venv under .cache/envs/, built
once from PyPI by the first test that needs it. torch is the machine's 2.13.0 CPU build, not the
pipeline's 2.7.0: torch only runs the forward pass, and this machine installs no other torch.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ("transformers==4.51.3", "tokenizers==0.21.1", "huggingface-hub==0.31.0", "safetensors==0.5.3", "numpy==2.2.5")
TORCH = "torch==2.13.0"

# Run inside the pinned env: loads a folder as the pipeline does and prints what it computes. The
# logits come from `model(**tokenizer(sentence))`, the call of the pipeline's reading evaluation:
# whatever the tokenizer returns (token_type_ids included, if any) reaches the model.
LOAD_SCRIPT = """
import json, sys
import torch, transformers, tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, sentences = sys.argv[1], json.loads(sys.argv[2])
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder).eval()
enc = tok(sentences, return_offsets_mapping=True)
logits = []
with torch.no_grad():
    for sentence in sentences:
        logits.append(model(**tok(sentence, return_tensors="pt")).logits[0].tolist())
print(json.dumps({"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                  "class": type(tok).__name__, "keys": list(tok(sentences[0]).keys()), "ids": enc["input_ids"],
                  "offsets": [[list(o) for o in s] for s in enc["offset_mapping"]], "logits": logits}))
"""


def pipeline_python() -> Path:
    """The pinned env's python, built on first use (about a minute; pip's local torch wheel)."""
    key = hashlib.sha256(" ".join((TORCH,) + PINS).encode()).hexdigest()[:10]
    env = ROOT / ".cache" / "envs" / f"babylm-2025-{key}"
    python = env / "bin" / "python"
    ready = env / ".ready"
    if not ready.is_file():
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", TORCH, *PINS], check=True, timeout=900
        )
        ready.write_text(" ".join(PINS) + "\n")
    return python


def load_in_pipeline_env(folder: Path, sentences: list[str]) -> dict:
    """ids, offsets and logits of `sentences` as the pinned env loads `folder`."""
    out = subprocess.run(
        [str(pipeline_python()), "-c", LOAD_SCRIPT, str(folder), json.dumps(sentences)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, f"the pinned env could not load {folder}:\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":  # `python tests/pipeline_env.py`: build it ahead of the tests
    print(pipeline_python(), file=sys.stderr)
