"""The workspace: one folder that holds the history database, corpora, tokenizers and runs.

Resolution order for the root: explicit argument, `BABYLLAMA_WORKSPACE`, `./workspace`.
Only path arithmetic and name checks live here; nothing is created until asked for.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

ENV_VAR = "BABYLLAMA_WORKSPACE"
DEFAULT_ROOT = "workspace"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: str, what: str = "name") -> str:
    """Return `name` if it is a safe folder name (letters, digits, `.`, `_`, `-`), else raise."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise UserError(
            f"{what} {name!r} is not a valid name: use letters, digits, '.', '_' or '-' "
            "(at most 100 characters, starting with a letter or digit)"
        )
    return name


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace root, laid out as docs/architecture.md describes."""

    root: Path

    @classmethod
    def resolve(cls, root: str | os.PathLike | None = None) -> "Workspace":
        """The workspace for an explicit root, else `$BABYLLAMA_WORKSPACE`, else `./workspace`."""
        chosen = root or os.environ.get(ENV_VAR) or DEFAULT_ROOT
        path = Path(chosen).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise UserError(
                f"workspace {path} is a file, not a folder: pass --workspace DIR (or set "
                f"${ENV_VAR}) naming a folder, which is created if missing"
            )
        return cls(path)

    @property
    def db_path(self) -> Path:
        return self.root / "studio.db"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def tokenizers_dir(self) -> Path:
        return self.root / "tokenizers"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def corpus_dir(self, name: str) -> Path:
        return self.data_dir / check_name(name, "corpus name")

    def tokenizer_dir(self, name: str) -> Path:
        return self.tokenizers_dir / check_name(name, "tokenizer name")

    def run_dir(self, name: str) -> Path:
        return self.models_dir / check_name(name, "run name")

    def ensure(self) -> "Workspace":
        """Create the top-level folders (idempotent) and return self."""
        for path in (self.data_dir, self.tokenizers_dir, self.models_dir):
            make_folder(path, "workspace")
        return self

    def corpora(self) -> list[str]:
        """Names of prepared corpora (folders with a manifest.json), sorted."""
        return _names_with(self.data_dir, "manifest.json")

    def tokenizers(self) -> list[str]:
        """Names of saved tokenizers (folders with a tokenizer.json), sorted."""
        return _names_with(self.tokenizers_dir, "tokenizer.json")


def make_folder(path: Path, what: str) -> Path:
    """`mkdir -p path`; a path that cannot be created (a file in the way, no permission, a
    read-only disk) is a UserError naming it, not an OSError traceback."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(
            f"{what}: cannot create {path} ({err.strerror or err}); pass --workspace DIR "
            f"(or set ${ENV_VAR}) naming a folder you can write"
        ) from None
    return path


def _names_with(parent: Path, marker: str) -> list[str]:
    if not parent.is_dir():
        return []
    # Hidden folders are temp work of an unfinished write, never a finished corpus or tokenizer.
    return sorted(p.name for p in parent.iterdir() if not p.name.startswith(".") and (p / marker).is_file())
