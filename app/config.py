"""Settings: packaged YAML defaults, overlaid by $ZHIDA_HOME/config.yaml and env.

Only the app layer reads files or environment variables; lower layers get
explicit arguments built from the `Settings` mapping here.
"""
from __future__ import annotations

import copy
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_data_dir


def zhida_home() -> Path:
    """Where knowledge bases and user config live (ZHIDA_HOME or the platform data dir)."""
    env = os.environ.get("ZHIDA_HOME")
    home = Path(env).expanduser() if env else Path(user_data_dir("zhida", appauthor=False))
    return home


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def default_settings() -> dict[str, Any]:
    text = resources.files("configs").joinpath("default.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


class ConfigError(ValueError):
    """A settings file that cannot be read; the message names the file."""


def load_settings(home: Path | None = None, extra_file: Path | None = None) -> dict[str, Any]:
    """Defaults < $ZHIDA_HOME/config.yaml < extra_file < environment variables."""
    settings = default_settings()
    home = home or zhida_home()
    for path in (home / "config.yaml", extra_file):
        if path is None or not Path(path).exists():
            continue
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"settings file {path} must hold a mapping of sections")
        settings = _deep_merge(settings, data)
    env_map = {
        "ZHIDA_EMBEDDING_MODEL": ("embedding", "model"),
        "ZHIDA_LLM": ("answer", "llm"),
        "ZHIDA_OPENAI_BASE_URL": ("llms", "openai", "base_url"),
        "ZHIDA_OPENAI_MODEL": ("llms", "openai", "model"),
        "ZHIDA_TOKEN": ("server", "token"),
    }
    for var, keys in env_map.items():
        if os.environ.get(var):
            node = settings
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = os.environ[var]
    return settings


def prompt_template(name: str) -> str:
    """A packaged prompt template, e.g. `answer_zh`; a user copy in $ZHIDA_HOME/prompts wins."""
    user = zhida_home() / "prompts" / f"{name}.txt"
    if user.exists():
        return user.read_text(encoding="utf-8")
    return resources.files("configs").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")
