"""Tiny random-weight models for tests, built from a config and saved to a folder.

They load through exactly the same code paths as real hub models (a folder
path given to SentenceTransformer / CrossEncoder / AutoModelForCausalLM), so the
loading code is tested for real while nothing is downloaded. Random weights:
use them for plumbing, never for quality.
"""
from __future__ import annotations

import os
from pathlib import Path

VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + sorted(set("知识库问答检索文档的是了我不人在有这个"))
    + list("abcdefghijklmnopqrstuvwxyz0123456789.,?!")
)


def bert_dir(root: str | Path, cls=None, **extra) -> str:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    cls = cls or BertModel
    root = str(root)
    os.makedirs(root, exist_ok=True)
    Path(root, "vocab.txt").write_text("\n".join(VOCAB), encoding="utf-8")
    tok = BertTokenizerFast(vocab_file=f"{root}/vocab.txt", tokenize_chinese_chars=True)
    cfg = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, **extra)
    cls(cfg).save_pretrained(root)
    tok.save_pretrained(root)
    return root


def tiny_sentence_transformer(root: str | Path) -> str:
    """A 32-dim SentenceTransformer folder (mean pooling + normalise)."""
    from sentence_transformers import SentenceTransformer, models

    root = Path(root)
    st = SentenceTransformer(modules=[models.Transformer(bert_dir(root / "bert")), models.Pooling(32, "mean"),
                                      models.Normalize()])
    st.save(str(root / "st"))
    return str(root / "st")


def tiny_cross_encoder(root: str | Path) -> str:
    from transformers import BertForSequenceClassification

    return bert_dir(Path(root) / "ce", BertForSequenceClassification, num_labels=1)


def _bpe_tokenizer():
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers import models as tm
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(tm.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(["知识库问答 retrieval answer"] * 10, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    return tok


def tiny_qwen2(root: str | Path) -> str:
    """A tiny Qwen2 causal LM with a chat template."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    root = str(Path(root) / "qwen2")
    tok = _bpe_tokenizer()
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    Qwen2ForCausalLM(cfg).save_pretrained(root)
    tok.save_pretrained(root)
    return root


def tiny_glm(root: str | Path) -> str:
    """A tiny GLM (transformers-native GlmForCausalLM) for the ChatGLM/GLM-4 path."""
    from transformers import GlmConfig, GlmForCausalLM

    root = str(Path(root) / "glm")
    tok = _bpe_tokenizer()
    cfg = GlmConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, head_dim=8, eos_token_id=tok.eos_token_id,
                    pad_token_id=tok.pad_token_id)
    GlmForCausalLM(cfg).save_pretrained(root)
    tok.save_pretrained(root)
    return root
