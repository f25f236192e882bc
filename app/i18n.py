"""UI text in Chinese and English.

Static labels go through Gradio's own `gr.I18n` (the browser's language picks
the table on the client). Text the server builds at run time (status lines,
table headers, citations) uses `t(key, lang)` with the language detected from
the request's Accept-Language header (`detect_lang`).
"""
from __future__ import annotations

import re

LANGS = ("zh", "en")
PREFIX = "zhida_"

TEXT: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "title": ("知答 · 本地知识库问答", "Zhida · local knowledge-base Q&A"),
    "subtitle": ("只根据你的文档回答，并标注出处；知识库中没有的内容会直说。",
                 "Answers only from your documents, with citations; says so when the knowledge base has no answer."),
    "kb": ("知识库", "Knowledge base"),
    "refresh": ("刷新", "Refresh"),
    "new_kb": ("新建知识库", "New knowledge base"),
    "kb_name": ("名称", "Name"),
    "embedding_model": ("向量模型", "Embedding model"),
    "chunk_size": ("分块大小（字符）", "Chunk size (characters)"),
    "chunk_overlap": ("分块重叠（字符）", "Chunk overlap (characters)"),
    "create": ("创建", "Create"),
    "delete_kb": ("删除此知识库", "Delete this knowledge base"),
    "confirm_delete": ("确认删除", "Yes, delete it"),
    "cancel": ("取消", "Cancel"),
    "confirm_delete_q": ("确定删除知识库 **{name}** 及其全部文档吗？此操作无法撤销。",
                         "Delete knowledge base **{name}** and all its documents? This cannot be undone."),
    "settings": ("查询设置", "Query settings"),
    "top_k": ("返回段落数 top-k", "Passages (top-k)"),
    "mode": ("检索方式", "Retrieval mode"),
    "rerank": ("重排序（cross-encoder）", "Rerank (cross-encoder)"),
    "llm": ("回答模型", "Answer model"),
    "model_server": ("模型服务", "Model server"),
    "model_picker": ("本机发现的模型", "Models found on this machine"),
    "find_servers": ("查找本机服务", "Find local servers"),
    "base_url": ("服务地址（base URL）", "Base URL"),
    "model_name": ("模型", "Model"),
    "api_key": ("API 密钥（可选）", "API key (optional)"),
    "test_connection": ("测试连接", "Test connection"),
    "save_model": ("保存并使用", "Save and use"),
    "found_servers": ("找到 {n} 个模型服务：{names}", "Found {n} model server(s): {names}"),
    "no_servers": ("本机端口 {ports} 上没有找到模型服务", "No model server answers on 127.0.0.1 ports {ports}"),
    "saved_model": ("已保存到 {path}：回答使用 {model}（{url}）", "Saved to {path}: answers use {model} at {url}"),
    "tab_chat": ("问答", "Chat"),
    "tab_docs": ("文档", "Documents"),
    "question": ("问题", "Question"),
    "question_ph": ("输入问题，回车发送", "Ask a question, press Enter"),
    "send": ("发送", "Send"),
    "clear": ("清空对话", "Clear chat"),
    "upload": ("上传文件（可多选，可拖放）", "Upload files (many at once, drag and drop)"),
    "pdf_password": ("PDF 密码（可选）", "PDF password (optional)"),
    "pdf_password_info": ("用于打开加密的 PDF；只在这次导入中使用，不会保存。",
                          "Opens encrypted PDFs in this upload; used for this ingest only, never stored."),
    "reason_encrypted": ("PDF 有密码：请在“PDF 密码”中填写后重新上传", "the PDF is password-protected: enter its password in “PDF password” and upload it again"),
    "reason_wrong_password": ("PDF 密码不对", "wrong password for this PDF"),
    "reason_unsupported": ("不支持的文件类型", "unsupported file type"),
    "reason_corrupt": ("文件已损坏，无法解析", "the file is damaged and cannot be parsed"),
    "reason_empty": ("文件中没有可读的文字", "no readable text in the file"),
    "reason_too_large": ("文件太大", "the file is too large"),
    "reason_undecodable": ("无法识别文件的文字编码", "the file's text encoding cannot be recognised"),
    "reason_lost": ("上传的文件在索引前丢失，请重新上传", "the uploaded file was lost before it was indexed; upload it again"),
    "col_warnings": ("提示", "Warnings"),
    "job_embedding": ("已向量化 {done}/{total} 个分块", "{done}/{total} chunks embedded"),
    "job_eta": ("已用 {elapsed:.0f} 秒，预计还需 {eta:.0f} 秒", "{elapsed:.0f}s so far, about {eta:.0f}s left"),
    "upload_btn": ("上传并建立索引", "Upload and index"),
    "folder": ("服务器上的文件夹路径", "Folder path on the server"),
    "folder_ph": ("/path/to/documents", "/path/to/documents"),
    "reindex": ("导入 / 重新索引文件夹", "Ingest / re-index folder"),
    "watch_path": ("要保持同步的服务器文件夹", "Server folder to keep in sync"),
    "watch_folder": ("保持同步", "Keep in sync"),
    "watched": ("保持同步的文件夹", "Folders kept in sync"),
    "unwatch_pick": ("选择要停止同步的文件夹", "Folder to stop syncing"),
    "unwatch": ("停止同步", "Stop syncing"),
    "watch_added": ("已开始同步 {path}。", "Now keeping {path} in sync."),
    "watch_removed": ("已停止同步 {path}。", "Stopped syncing {path}."),
    "col_folder": ("文件夹", "Folder"),
    "col_watch": ("监视", "Watching"),
    "col_last_sync": ("上次同步", "Last sync"),
    "col_failures": ("失败的文件", "Failed files"),
    "watch_on": ("监视中", "watching"),
    "watch_off": ("未监视", "not watched"),
    "watch_missing": ("文件夹不存在", "folder missing"),
    "never": ("尚未同步", "not yet"),
    "results": ("本次导入结果", "Results of this ingest"),
    "documents": ("文档列表", "Documents"),
    "doc_pick": ("选择要删除的文档", "Document to delete"),
    "delete_doc": ("删除文档", "Delete document"),
    "col_file": ("文件", "File"),
    "col_status": ("状态", "Status"),
    "col_chunks": ("分块数", "Chunks"),
    "col_reason": ("原因", "Reason"),
    "col_id": ("编号", "ID"),
    "no_kb": ("还没有知识库，请先新建一个。", "No knowledge base yet: create one first."),
    "pick_kb": ("请先选择一个知识库。", "Choose a knowledge base first."),
    "created": ("已创建知识库 {name}。", "Created knowledge base {name}."),
    "deleted": ("已删除知识库 {name}。", "Deleted knowledge base {name}."),
    "doc_deleted": ("已删除文档 {name}。", "Deleted document {name}."),
    "no_files": ("请先选择文件。", "Choose some files first."),
    "job_queued": ("排队中：等待同一知识库的上一个导入完成…", "Queued: waiting for the previous ingest into this knowledge base…"),
    "job_running": ("正在解析和向量化：{done}/{total} {current}", "Parsing and embedding: {done}/{total} {current}"),
    "job_running_n": ("正在解析和向量化… {current}", "Parsing and embedding… {current}"),
    "job_done": ("完成：新增 {added}，更新 {updated}，未变 {unchanged}，删除 {removed}，失败 {failed}（{seconds:.1f} 秒）",
                 "Done: {added} added, {updated} updated, {unchanged} unchanged, {removed} removed, {failed} failed ({seconds:.1f}s)"),
    "job_failed": ("导入失败：{error}", "Ingest failed: {error}"),
    "error": ("出错了：{error}", "Error: {error}"),
    "mode_in_use": ("回答方式：{mode}", "Answer mode: {mode}"),
    "searched_for": ("按上文检索：{query}", "searched with the conversation as: {query}"),
    "extractive": ("抽取式（无大模型，直接引用原文）", "extractive (no LLM, quotes the passages)"),
    "not_found": ("知识库中没有找到答案", "Not found in the knowledge base"),
    "sources": ("出处", "Sources"),
    "page": ("第 {page} 页", "page {page}"),
    "conversations": ("对话记录", "Conversations"),
    "conversation": ("打开对话", "Open a conversation"),
    "conv_new": ("新对话", "New conversation"),
    "conv_delete": ("删除对话", "Delete conversation"),
    "conv_title": ("对话标题", "Title"),
    "conv_rename": ("重命名", "Rename"),
    "conv_untitled": ("未命名对话", "Untitled"),
    "scope": ("只在这些文档中回答", "Answer only from these documents"),
    "scope_info": ("留空表示整个知识库", "Leave empty for the whole knowledge base"),
    "tab_retrieval": ("检索测试", "Retrieval test"),
    "rt_query": ("测试查询", "Test query"),
    "rt_run": ("检索", "Search"),
    "no_hits": ("没有检索到段落。", "No passages found."),
    "hits_shown": ("{n} 个段落，按最终得分排序", "{n} passages, by final score"),
    "col_rank": ("名次", "Rank"),
    "col_fused": ("最终得分", "Final score"),
    "col_dense": ("向量得分", "Dense score"),
    "col_sparse": ("BM25 得分", "BM25 score"),
    "col_rerank": ("重排得分", "Rerank score"),
    "col_found_by": ("命中来源", "Found by"),
    "col_text": ("内容", "Text"),
    "col_pos": ("序号", "#"),
    "col_where": ("页码 / 标题", "Page / heading"),
    "col_kind": ("类型", "Kind"),
    "col_len": ("长度", "Length"),
    "by_dense": ("向量", "dense"),
    "by_sparse": ("BM25", "BM25"),
    "chunk_browser": ("分块浏览", "Chunks of a document"),
    "chunk_doc": ("选择文档", "Document"),
    "chunk_find": ("在分块中查找", "Find in its chunks"),
    "no_chunks": ("没有分块。", "No chunks."),
    "chunks_shown": ("显示 {shown} / {total} 个分块", "Showing {shown} of {total} chunks"),
    "indexed_text": ("索引中的原文", "Indexed text"),
    "viewer_locked": ("此 PDF 有密码，服务器不保存密码，无法显示页面；下面是索引中的原文。",
                      "This PDF is password-protected and the server keeps no passwords, so its pages cannot be shown; the indexed text is below."),
    "prev_page": ("上一页", "Previous page"),
    "next_page": ("下一页", "Next page"),
    "download": ("下载原文件", "Download original"),
    "new_tab": ("新标签页打开", "Open in a new tab"),
    "open_source": ("查看原文", "Open source"),
    "viewer": ("原文", "Source"),
    "viewer_empty": ("点击出处中的“查看原文”，在这里打开所在页面。", "Click “Open source” on a citation to see its page here."),
    "thinking": ("检索中…", "Searching…"),
    "timings": ("检索 {retrieve:.0f} ms · 生成 {generate:.0f} ms", "retrieve {retrieve:.0f} ms · generate {generate:.0f} ms"),
    "status_added": ("新增", "added"),
    "status_updated": ("更新", "updated"),
    "status_unchanged": ("未变", "unchanged"),
    "status_removed": ("已删除", "removed"),
    "status_failed": ("失败", "failed"),
    "status_skipped": ("跳过", "skipped"),
    "status_indexed": ("已索引", "indexed"),
    "status_ready": ("已索引", "indexed"),
    "status_ok": ("已索引", "indexed"),
    "status_pending": ("等待中", "pending"),
    "status_queued": ("排队", "queued"),
}


def detect_lang(accept_language: str | None) -> str:
    """'zh' when the browser prefers Chinese (zh, zh-CN, zh-TW ...), else 'en'.

    Honours q-values: `en;q=0.9, zh-CN;q=0.8` is English.
    """
    best, best_q = "en", -1.0
    for i, part in enumerate((accept_language or "").split(",")):
        part = part.strip()
        if not part:
            continue
        tag, _, params = part.partition(";")
        q = 1.0
        m = re.search(r"q\s*=\s*([0-9.]+)", params)
        if m:
            try:
                q = float(m.group(1))
            except ValueError:
                q = 0.0
        q -= i * 1e-6  # earlier wins on ties
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGS and q > best_q:
            best, best_q = primary, q
    return best


def t(key: str, lang: str = "en", **fmt) -> str:
    zh, en = TEXT.get(key, (key, key))
    text = zh if lang == "zh" else en
    return text.format(**fmt) if fmt else text


def status_label(status: str, lang: str) -> str:
    key = f"status_{status}"
    return t(key, lang) if key in TEXT else status


def gradio_i18n():
    """Gradio's client-side translation tables for the static labels."""
    import gradio as gr

    # prefixed, so a value that happens to equal a key (a KB named "settings") is never translated
    zh = {PREFIX + k: v[0] for k, v in TEXT.items()}
    en = {PREFIX + k: v[1] for k, v in TEXT.items()}
    return gr.I18n(en=en, zh=zh, **{"zh-CN": zh, "zh-TW": zh, "zh-HK": zh})
