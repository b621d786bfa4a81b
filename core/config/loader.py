"""Reading a config: YAML (or a saved dict) merged with the guide's flags (`--lr 5e-4`, `--fp16`,
dashes or underscores) and `section.key=value` overrides, coerced into the typed sections; every
problem raised as one `ConfigError`. Must not import torch, transformers or gradio.

`load(path, overrides, checks=...)`: unknown keys (with a suggestion), bad types, an empty YAML file
and, through `checks.validate` and the extra `checks`, bounds and shapes all join one error list.
PyYAML reads `3e-4` as a string; floats accept it, so the guide's YAML loads unchanged.
`load_distillation(path, student, overrides)` is the guide's `--config distillation.yaml
--student-config X.yaml`: the model section from the student, its name suffixed `-distilled`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core import yamlio
from core.config.checks import validate
from core.config.fields import FLAG_ALIASES, SECTIONS, RunConfig, field_specs, field_types
from core.errors import ConfigError, Issue
from core.train import word_marks


def load(path: str | Path | None = None, overrides: list[str] | None = None, *, base: dict | None = None, checks=()) -> RunConfig:
    """Read YAML (or start from `base` / defaults), apply overrides, validate; raise one ConfigError.

    `checks` are extra functions cfg -> list[Issue] (e.g. that the named corpus and tokenizer
    exist) whose problems join the same error list.
    """
    issues: list[Issue] = []
    raw: dict = {}
    if base is not None:
        raw = _deep_copy(base)
    if path is not None:
        raw = _merge(raw, _read_yaml(Path(path), issues))
    for key, value in parse_overrides(overrides or [], issues):
        section, _, name = key.partition(".")
        raw.setdefault(section, {})
        if not isinstance(raw[section], dict):
            raw[section] = {}
        raw[section][name] = value
    cfg = word_marks.track_defaults(_build(raw, issues))
    issues += validate(cfg)
    for check in checks:
        issues += check(cfg)
    if issues:
        raise ConfigError(issues)
    return cfg


def load_distillation(
    path: str | Path, student: str | Path | None = None, overrides: list[str] | None = None, *, checks=()
) -> RunConfig:
    """The config of a distillation run (the guide's `--config distillation.yaml --student-config
    llama-58M.yaml`): data, training, logging and distillation from `path`, the `model` section
    from `student` when given. The student's name gets a `-distilled` suffix, so the run does not
    take the name of a plain run of the same preset (`--model_name` still wins)."""
    issues: list[Issue] = []
    raw = _read_yaml(Path(path), issues)
    if student is not None:
        model = _read_yaml(Path(student), issues).get("model")
        if not isinstance(model, dict):
            issues.append(
                Issue(
                    f"--student-config {student}",
                    "has no `model:` section",
                    "pass a model preset (presets/llama-58M.yaml) as the student",
                )
            )
        else:
            raw["model"] = dict(model, name=f"{model.get('name') or model.get('type', 'model')}-distilled")
    if issues:
        raise ConfigError(issues)
    return load(overrides=overrides, base=raw, checks=checks)


def from_dict(raw: dict) -> RunConfig:
    """Rebuild a config saved with a run (`to_dict` output); raise ConfigError if it is invalid.
    Its `topology` record (where and on how many processes the run trained) is history, not a setting."""
    return load(base={key: value for key, value in raw.items() if key != "topology"})


def _read_yaml(path: Path, issues: list[Issue]) -> dict:
    if not path.is_file():
        issues.append(Issue(str(path), "config file not found", "check the path, or pick a preset with `babyllama presets list`"))
        return {}
    try:
        raw = yamlio.load_file(path)
    except yamlio.YamlError as err:  # bad syntax, too big, aliases, too deep, duplicate keys
        issues.append(Issue(str(path), str(err).removeprefix(f"{path}").lstrip(":, ")))
        return {}
    if raw is None:
        # An empty file would silently train the built-in default shape: never what was meant.
        issues.append(
            Issue(
                str(path),
                "the config file is empty (no sections)",
                "write `data:`, `model:`, `training:` sections, or pick a preset (`babyllama presets list`)",
            )
        )
        return {}
    if not isinstance(raw, dict):
        issues.append(
            Issue(str(path), "the top level must be a mapping of sections", "use `data:`, `model:`, `training:`, `logging:`")
        )
        return {}
    return raw


def parse_overrides(tokens: list[str], issues: list[Issue]) -> list[tuple[str, Any]]:
    """Turn `--lr 5e-4`, `--fp16`, `training.lr=5e-4` or `lr=5e-4` into (dotted key, raw value) pairs."""
    specs = field_specs()
    pairs: list[tuple[str, Any]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith("--"):
            name, eq, value = token[2:].partition("=")
            key = _resolve_key(name, specs, issues, shown=f"--{name}")
            if key is None:
                if not eq and i < len(tokens) and not tokens[i].startswith("--"):
                    i += 1  # skip the unknown flag's value so it is not reported twice
                continue
            if not eq:
                is_bool = field_types(SECTIONS[key.split(".")[0]])[key.split(".")[1]] is bool
                if is_bool and (i >= len(tokens) or tokens[i].lower() not in _BOOL_WORDS):
                    value = "true"  # a bare boolean flag such as --fp16
                elif i < len(tokens):
                    value = tokens[i]
                    i += 1
                else:
                    issues.append(Issue(f"--{name}", "needs a value", f"write --{name} VALUE"))
                    continue
            _add_pair(pairs, key, value, issues)
        elif "=" in token:
            name, _, value = token.partition("=")
            key = _resolve_key(name, specs, issues, shown=name)
            if key is not None:
                _add_pair(pairs, key, value, issues)
        else:
            issues.append(Issue(token, "not an override", "write section.key=value (training.lr=5e-4) or a flag (--lr 5e-4)"))
    return pairs


def _add_pair(pairs: list, key: str, value: str, issues: list[Issue]) -> None:
    try:
        pairs.append((key, _yaml_scalar(value, key)))
    except yamlio.YamlError as err:
        issues.append(Issue(key, str(err).removeprefix(key).lstrip(":, ")))


_BOOL_WORDS = {"true", "false", "yes", "no", "1", "0", "on", "off"}
_TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def _resolve_key(name: str, specs: dict, issues: list[Issue], shown: str) -> str | None:
    """Map a flag or key (dashes or underscores, dotted or bare) to a dotted config path."""
    name = name.replace("-", "_")
    if name in FLAG_ALIASES:
        return FLAG_ALIASES[name]
    if "." in name:
        if name in specs:
            return name
        issues.append(Issue(shown, "unknown config key", _suggest(name.split(".")[-1], specs)))
        return None
    matches = [key for key in specs if key.split(".")[1] == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        issues.append(Issue(shown, f"ambiguous: it could be {' or '.join(matches)}", "write the full section.key"))
        return None
    issues.append(Issue(shown, "unknown option", _suggest(name, specs)))
    return None


def _suggest(name: str, specs: dict) -> str:
    import difflib

    close = difflib.get_close_matches(name, [k.split(".")[1] for k in specs], n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(next(k for k in specs if k.endswith("." + c)) for c in close) + "?"
    return "see `babyllama config keys` for every key"


def _yaml_scalar(text: str, key: str = "value") -> Any:
    """An override's value read as YAML (`5e-4`, `true`, `[1, 2]`); what is not YAML stays text.
    Over-long numbers, aliases and deep nesting are refused (YamlError naming `key`)."""
    if not text.strip():
        return ""
    try:
        return yamlio.loads(text, key)
    except yamlio.YamlError as err:
        if "not valid YAML" in str(err):
            return text
        raise


def _build(raw: dict, issues: list[Issue]) -> RunConfig:
    """Coerce raw YAML values into the dataclasses, recording unknown keys and wrong types."""
    sections = {}
    for section_name, value in raw.items():
        if section_name not in SECTIONS:
            issues.append(Issue(str(section_name), "unknown section", f"use one of: {', '.join(SECTIONS)}"))
    for section_name, cls in SECTIONS.items():
        given = raw.get(section_name) or {}
        if not isinstance(given, dict):
            issues.append(Issue(section_name, "must be a mapping of keys", f"write `{section_name}:` followed by indented keys"))
            given = {}
        types = field_types(cls)
        kwargs = {}
        for key, value in given.items():
            path = f"{section_name}.{key}"
            if key not in types:
                issues.append(Issue(path, "unknown config key", _suggest(str(key), field_specs())))
                continue
            ok, coerced = _coerce(value, types[key])
            choices = cls.__dataclass_fields__[key].metadata.get("choices")
            if ok and choices and isinstance(coerced, str):
                # Choices match case-insensitively (`--model_type llama` means Llama).
                coerced = {c.lower(): c for c in choices}.get(coerced.lower(), coerced)
            if ok:
                kwargs[key] = coerced
            else:
                kind = _TYPE_WORDS[types[key]]
                issues.append(Issue(path, f"expected {kind}, got {value!r}", f"set {path} to {kind}"))
        sections[section_name] = cls(**kwargs)
    return RunConfig(**sections)


def _coerce(value: Any, typ: type) -> tuple[bool, Any]:
    """Lenient where YAML is surprising (`3e-4` is a string to PyYAML), strict otherwise."""
    if typ is bool:
        if isinstance(value, bool):
            return True, value
        if isinstance(value, str) and value.lower() in _BOOL_WORDS:
            return True, value.lower() in {"true", "yes", "1", "on"}
        if isinstance(value, int) and value in (0, 1):
            return True, bool(value)
        return False, None
    if typ is int:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return False, None
            return (True, int(number)) if number.is_integer() else (False, None)
        return False, None
    if typ is float:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, (int, float)):
            return True, float(value)
        if isinstance(value, str):
            try:
                return True, float(value)
            except ValueError:
                return False, None
        return False, None
    if typ is str:
        if value is None:
            return True, ""
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            return True, ",".join(str(v) for v in value)  # a YAML list where a comma-separated string is expected
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return True, str(value)
        return False, None
    return False, None


def _merge(base: dict, update: dict) -> dict:
    out = _deep_copy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _deep_copy(raw: dict) -> dict:
    return {k: (_deep_copy(v) if isinstance(v, dict) else v) for k, v in raw.items()}


def to_yaml(cfg: RunConfig) -> str:
    """The config as YAML, section by section, the way a user would write it."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=False)
