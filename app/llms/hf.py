"""Local chat models through transformers (Qwen2/2.5, GLM-4, InternLM; ChatGLM2/3 and Baichuan2
with trust_remote_code), streamed with TextIteratorStreamer."""
from __future__ import annotations

import threading
from typing import Iterator

from app.llms.base import LLMError


def _device_and_dtype(device: str, dtype: str):
    import torch

    if device in (None, "", "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype in (None, "", "auto"):
        if device.startswith("cuda"):
            torch_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            torch_dtype = torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    return device, torch_dtype


class TransformersChat:
    def __init__(self, model: str, *, trust_remote_code: bool = False, device: str = "auto", dtype: str = "auto",
                 max_new_tokens: int = 512):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = f"transformers:{model}"
        self.max_new_tokens = max_new_tokens
        self.device, torch_dtype = _device_and_dtype(device, dtype)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
            self.model = AutoModelForCausalLM.from_pretrained(model, trust_remote_code=trust_remote_code,
                                                              dtype=torch_dtype)
        except Exception as exc:
            hint = (" This checkpoint ships its own code: set llms.transformers.trust_remote_code: true only if "
                    "you trust it." if "trust_remote_code" in str(exc) else "")
            raise LLMError(f"cannot load chat model '{model}' ({type(exc).__name__}: {str(exc)[:200]}).{hint}") from exc
        self.model.to(self.device)
        self.model.eval()
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise LLMError(f"'{model}' has no chat template; use an instruct/chat checkpoint")

    def stream(self, messages: list[dict], **params) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        inputs = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True).to(self.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        errors: list[BaseException] = []

        def run():
            try:
                with torch.inference_mode():
                    self.model.generate(**inputs, streamer=streamer,
                                        max_new_tokens=int(params.get("max_new_tokens", self.max_new_tokens)),
                                        do_sample=False, pad_token_id=self.tokenizer.pad_token_id
                                        or self.tokenizer.eos_token_id)
            except BaseException as exc:  # surfaced to the caller below
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        for piece in streamer:
            if piece:
                yield piece
        thread.join()
        if errors:
            raise LLMError(f"generation failed: {type(errors[0]).__name__}: {errors[0]}")
