"""Saved conversations (app.conversations) over REST.

    GET    /api/conversations?kb=NAME          newest first, with message counts
    POST   /api/conversations                  {kb, title?} -> 201
    GET    /api/conversations/{id}             with its messages
    PATCH  /api/conversations/{id}             {title}: rename
    DELETE /api/conversations/{id}
    POST   /api/conversations/{id}/messages    {messages: [{role, content, citations?}]}: append turns
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.errors import ApiError
from app.conversations import MAX_TITLE, ConversationNotFound, conversation_store


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kb: str = Field(..., min_length=1, description="the knowledge base the conversation asks")
    title: str = Field("", max_length=MAX_TITLE, description="defaults to the first question")


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(..., min_length=1, max_length=MAX_TITLE)


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(..., max_length=200_000)
    citations: list[dict[str, Any]] = Field(default_factory=list)


class Messages(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[Message] = Field(..., min_length=1, max_length=100)


def _found(fn, *args):
    try:
        return fn(*args)
    except ConversationNotFound as exc:
        raise ApiError(404, str(exc), "not_found") from None
    except ValueError as exc:
        raise ApiError(400, str(exc), "bad_request") from None


def build_router(ctx) -> APIRouter:
    r = APIRouter(prefix="/api/conversations")

    @r.get("", summary="Saved conversations, newest first (?kb= keeps one knowledge base's)")
    def list_conversations(kb: Optional[str] = None):
        return {"conversations": conversation_store().list(kb)}

    @r.post("", status_code=201, summary="Start a conversation with a knowledge base")
    def create(body: NewConversation):
        ctx.require_kb(body.kb)
        return conversation_store().create(body.kb, body.title)

    @r.get("/{cid}", summary="One conversation with its messages")
    def show(cid: str):
        return _found(conversation_store().get, cid)

    @r.patch("/{cid}", summary="Rename a conversation")
    def rename(cid: str, body: Rename):
        return _found(conversation_store().rename, cid, body.title)

    @r.delete("/{cid}", summary="Delete a conversation")
    def delete(cid: str):
        _found(conversation_store().delete, cid)
        return {"deleted": cid}

    @r.post("/{cid}/messages", status_code=201, summary="Append turns to a conversation")
    def add(cid: str, body: Messages):
        return _found(conversation_store().add_messages, cid, [m.model_dump() for m in body.messages])

    return r
