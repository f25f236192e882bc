"""Text encodings: BOMs, UTF-16 without BOM, GBK/GB18030 vs Big5, CRLF, binary data."""
from __future__ import annotations

import codecs

import pytest

from ingest.encoding import detect_and_decode
from ingest.errors import UndecodableFile
from tests.conftest import SHARED_DOCS, require_shared

SIMPLIFIED = "中华人民共和国民法典规定，民事主体从事民事活动，应当遵循诚信原则，秉持诚实，恪守承诺。\r\n第二段：自然人的民事权利能力一律平等。\r\n"
TRADITIONAL = "在歐洲，梵語的學術研究，由德國學者陸特和漢斯雷頓開創。後來威廉·瓊斯發現印歐語系，也要歸功於對梵語的研究。\n"


@pytest.mark.parametrize(
    "data, expected_encoding",
    [
        (SIMPLIFIED.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + SIMPLIFIED.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + SIMPLIFIED.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + SIMPLIFIED.encode("utf-16-be"), "utf-16-be"),
        (SIMPLIFIED.encode("gbk"), "gb18030"),
        (SIMPLIFIED.encode("gb18030"), "gb18030"),
    ],
)
def test_simplified_chinese_round_trips_in_every_encoding(data, expected_encoding):
    text, encoding = detect_and_decode(data)
    assert encoding == expected_encoding
    assert text == SIMPLIFIED.replace("\r\n", "\n")


def test_big5_is_not_misread_as_gbk():
    text, encoding = detect_and_decode(TRADITIONAL.encode("big5"))
    assert encoding == "big5"
    assert "梵語的學術研究" in text


def test_utf16_without_bom_is_found_by_its_nul_pattern():
    data = "Plain English text, enough of it to judge.\nSecond line 第二行.\n".encode("utf-16-le")
    text, encoding = detect_and_decode(data)
    assert encoding == "utf-16-le"
    assert text.startswith("Plain English text")


def test_crlf_and_lone_cr_become_lf():
    text, _ = detect_and_decode(b"one\r\ntwo\rthree\n")
    assert text == "one\ntwo\nthree\n"


def test_western_single_byte_text_falls_back_to_charset_normalizer():
    # cp1252 and cp1250 agree on these letters; short samples cannot tell the two apart
    text, _ = detect_and_decode("Café au lait, façade, Ãlvaro, señor.\n".encode("cp1252") * 3)
    assert "Café au lait, façade" in text


def test_binary_data_is_undecodable():
    with pytest.raises(UndecodableFile) as info:
        detect_and_decode(bytes(range(256)) * 8, "blob.txt")
    assert "binary" in info.value.reason or "NUL" in info.value.reason


def test_text_with_a_few_control_characters_is_text_without_them():
    """A web page pasted with DOS end-of-file marks (one of DuReader's passages: 9 in ~800 characters)
    is text; the marks are dropped so they reach no chunk, and binary bytes read as a code page stay out."""
    body = "荔枝酒功效作用：滋补作用。\x1a⑨⑨③③\x1a和⑨③⑤⑧⑧。" * 5 + "适度的饮用能直接对人体神经系统产生作用。" * 8
    assert 0.01 < body.count("\x1a") / len(body) < 0.05
    text, encoding = detect_and_decode(body.encode("utf-8"), "page.txt")
    assert encoding == "utf-8" and "\x1a" not in text and "⑨⑨③③和⑨③⑤⑧⑧" in text
    log = "\x1b[32mINFO\x1b[0m 2026-12-01 12:00:00 indexed 12 files into the knowledge base\n" * 4
    assert detect_and_decode(log.encode())[0].startswith("[32mINFO[0m 2026")  # a coloured log
    noise = bytes(b for b in range(1, 256) if b not in b"\t\n\r\x0b\x0c") * 8  # no NUL: not caught by that
    with pytest.raises(UndecodableFile):
        detect_and_decode(noise, "noise.txt")


@pytest.mark.parametrize(
    "name, encoding, phrase",
    [
        ("zh_wiki_gbk.txt", "gb18030", "基于《跑跑卡丁车》与《泡泡堂》上所开发的游戏"),
        ("zh_wiki_big5.txt", "big5", "梵語的學術研究，由德國學者陸特和漢斯雷頓開創"),
        ("zh_wiki_utf16.txt", "utf-16-le", "乍都节公园"),
    ],
)
def test_shared_encoded_files_decode_to_the_expected_phrases(name, encoding, phrase):
    path = require_shared(SHARED_DOCS / name)
    text, used = detect_and_decode(path.read_bytes(), str(path))
    assert used == encoding
    assert phrase in text
    assert "\r" not in text
