"""OpenAI-compatible chat completions over HTTP (vLLM, Ollama, Xinference, FastChat, LM Studio, hosted APIs)."""
from __future__ import annotations

import json
from typing import Iterator

import httpx

from app.llms.base import LLMError, TextStream


class _NoUsageOption(Exception):
    """The server refused `stream_options` (it predates token counts in streams)."""


class OpenAICompatible:
    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0,
                 max_tokens: int | None = None, temperature: float = 0.1):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}"
        self.api_key = api_key
        self.timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self.max_tokens = max_tokens
        self.temperature = temperature

    def stream(self, messages: list[dict], **params) -> TextStream:
        """The answer's pieces; the stream's `usage` holds the server's token counts when it sends them."""
        return TextStream(lambda usage: self._pieces(messages, usage, params))

    def _pieces(self, messages: list[dict], usage: dict, params: dict) -> Iterator[str]:
        try:
            yield from self._request(messages, usage, params, count=True)
        except _NoUsageOption:  # an older server that refuses stream_options: ask again without it
            yield from self._request(messages, usage, params, count=False)

    def _request(self, messages: list[dict], usage: dict, params: dict, count: bool) -> Iterator[str]:
        body = {"model": self.model, "messages": messages, "stream": True,
                "temperature": params.get("temperature", self.temperature)}
        if count:  # vLLM, Ollama, LM Studio, llama.cpp's server and OpenAI send a last usage chunk
            body["stream_options"] = {"include_usage": True}
        if params.get("max_tokens", self.max_tokens):
            body["max_tokens"] = params.get("max_tokens", self.max_tokens)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        url = f"{self.base_url}/chat/completions"
        try:
            timeout = self.timeout
            if params.get("timeout_s"):  # a shorter wait for a side request (the follow-up rewrite)
                t = min(float(params["timeout_s"]), self.timeout.read or float(params["timeout_s"]))
                timeout = httpx.Timeout(t, connect=min(10.0, t))
            with httpx.stream("POST", url, json=body, headers=headers, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    detail = resp.read().decode("utf-8", "replace")[:200]
                    if count and resp.status_code in (400, 422) and "stream_options" in detail:
                        raise _NoUsageOption(detail)
                    raise LLMError(f"{url} answered HTTP {resp.status_code}: {detail}")
                done = False
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        event = json.loads(data)
                    except json.JSONDecodeError:
                        continue
                    counted = event.get("usage") or {}
                    if isinstance(counted, dict) and counted.get("prompt_tokens") is not None:
                        usage.update(prompt_tokens=int(counted.get("prompt_tokens") or 0),
                                     completion_tokens=int(counted.get("completion_tokens") or 0))
                    for choice in event.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            yield piece
                        if choice.get("finish_reason"):
                            done = True
                if not done:
                    raise LLMError(f"the model server at {self.base_url} closed the stream before finishing")
        except httpx.TimeoutException as exc:
            raise LLMError(f"the model server at {self.base_url} timed out ({type(exc).__name__})") from exc
        except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
            raise LLMError(f"cannot talk to the model server at {self.base_url}: {exc}") from exc
