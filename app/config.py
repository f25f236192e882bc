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
    ports = os.environ.get("ZHIDA_DISCOVERY_PORTS")
    if ports is not None:  # "Ollama=11434,vLLM=8000" (or bare ports): where discovery looks for model servers
        parsed: dict[str, int] = {}
        for item in filter(None, (p.strip() for p in ports.split(","))):
            name, _, port = item.rpartition("=")
            if not port.strip().isdigit():
                raise ConfigError(f"ZHIDA_DISCOVERY_PORTS: {item!r} is not NAME=PORT or PORT")
            parsed[name.strip() or f"port {port.strip()}"] = int(port)
        settings.setdefault("llms", {}).setdefault("discovery", {})["ports"] = parsed
    return settings


def save_user_settings(updates: dict[str, Any], home: Path | None = None) -> Path:
    """Merge `updates` into $ZHIDA_HOME/config.yaml (other keys kept; comments are not) and write it
    atomically, readable by this user only: it may hold a model server's API key."""
    import tempfile

    path = (home or zhida_home()) / "config.yaml"
    current: dict[str, Any] = {}
    if path.exists():
        try:
            current = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}; fix it before saving settings") from exc
        if not isinstance(current, dict):
            raise ConfigError(f"settings file {path} must hold a mapping of sections")
    merged = _deep_merge(current, updates)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config.", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(merged, f, allow_unicode=True, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def prompt_template(name: str) -> str:
    """A packaged prompt template, e.g. `answer_zh`; a user copy in $ZHIDA_HOME/prompts wins."""
    user = zhida_home() / "prompts" / f"{name}.txt"
    if user.exists():
        return user.read_text(encoding="utf-8")
    return resources.files("configs").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")
