"""OpenAI-compatible model servers already running on this machine, and a connection test.

People who run a local model usually already have Ollama, vLLM, Xinference or LM Studio up on its
usual port; `GET /v1/models` on 127.0.0.1 finds them in well under a second (the ports are probed in
parallel with short timeouts; a closed port answers at once). The ports come from settings
(`llms.discovery.ports`, or `ZHIDA_DISCOVERY_PORTS=Name=port,...` read by app.config) so tests can
point discovery at their own server.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

DEFAULT_PORTS = {"Ollama": 11434, "vLLM": 8000, "Xinference": 9997, "LM Studio": 1234}


def discovery_ports(settings: dict[str, Any]) -> dict[str, int]:
    d = ((settings.get("llms") or {}).get("discovery") or {})
    ports = d.get("ports") or DEFAULT_PORTS
    return {str(name): int(port) for name, port in dict(ports).items()}


def list_models(base_url: str, api_key: str | None = None, timeout_s: float = 1.0) -> list[str]:
    """The model ids a server lists at GET <base_url>/models; raises httpx.HTTPError or ValueError."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 0.5))
    r = httpx.get(base_url.rstrip("/") + "/models", headers=headers, timeout=timeout)
    if r.status_code >= 400:
        raise ValueError(f"{base_url}/models answered HTTP {r.status_code}: {r.text[:160]}")
    data = r.json()
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{base_url}/models did not answer an OpenAI model list")
    return [str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id")]


def discover(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"name", "base_url", "models"}] for each probed loopback port that answers a model list."""
    timeout = float(((settings.get("llms") or {}).get("discovery") or {}).get("timeout_s", 0.8))
    ports = discovery_ports(settings)

    def probe(item: tuple[str, int]) -> dict[str, Any] | None:
        name, port = item
        base = f"http://127.0.0.1:{port}/v1"
        try:
            return {"name": name, "base_url": base, "models": list_models(base, timeout_s=timeout)}
        except (httpx.HTTPError, ValueError):
            return None

    if not ports:
        return []
    with ThreadPoolExecutor(max_workers=len(ports)) as pool:
        return [s for s in pool.map(probe, ports.items()) if s is not None]


def check_connection(base_url: str, model: str = "", api_key: str | None = None, timeout_s: float = 5.0) -> dict:
    """{"ok", "message", "models"}: whether the server answers, and serves `model` when one is named."""
    base_url = (base_url or "").strip().rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        return {"ok": False, "message": "the base URL must start with http:// or https://", "models": []}
    try:
        models = list_models(base_url, api_key, timeout_s)
    except httpx.TimeoutException:
        return {"ok": False, "message": f"{base_url} did not answer within {timeout_s:g} s", "models": []}
    except httpx.HTTPError as exc:
        return {"ok": False, "message": f"cannot talk to {base_url}: {exc}", "models": []}
    except ValueError as exc:
        return {"ok": False, "message": str(exc), "models": []}
    if model and models and model not in models:
        return {"ok": False, "models": models,
                "message": f"{base_url} answers but does not serve {model!r}; it serves: {', '.join(models[:10])}"}
    served = f" ({len(models)} model{'s' if len(models) != 1 else ''})" if models else ""
    return {"ok": True, "models": models, "message": f"{base_url} answers{served}" + (f"; {model} is served"
                                                                                    if model else "")}
