"""`GET /api/v1/openapi.json`: the agent API described from the router and pydantic models.

Hand-assembled rather than aiohttp-pydantic: that library wants every handler rewritten
as a PydanticView class. Here each route's entry in DOCS gives a summary, its body model
and its query parameters; the JSON schemas come from the same pydantic models that
validate the requests, and a test fails when a route has no entry.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, RootModel

from omnihub.hub.http import json_response
from omnihub.inbox import admin, alerts, api, canned, conversations, merges, messages, routing_api
from omnihub.inbox import webhook_api
from omnihub.store.webhook_subscriptions import StoredSubscription
from omnihub.inbox.permissions import PERMISSIONS, ROUTES
from omnihub.kb import api as kb_api
from omnihub.normalizer.schema import Conversation, Customer, Message
from omnihub.store.routing_stats import InboxStatsByVersion
from omnihub.profiles import http as profiles, suggestions
from omnihub.store import profiles as profiles_store


class AttributesPatch(RootModel[dict[str, Any]]):
    """A JSON object merged into the customer's attributes."""

Q = dict[str, str]  # query parameter -> description
PAGE = {"limit": "page size, 1 to 200 (default 50)", "cursor": "next_cursor of the previous page"}

# (method, path) -> (summary, request body model, query parameters, response model)
DOCS: dict[tuple[str, str], tuple[str, type[BaseModel] | None, Q, type[BaseModel] | None]] = {
    ("GET", "/api/v1/customers"): ("Find a customer by identity", None,
                                   {"identity": "<kind>:<address>, e.g. email:ann@example.com"},
                                   Customer),
    ("GET", "/api/v1/customers/{id}"): ("A customer's profile", None, {}, Customer),
    ("GET", "/api/v1/customers/{id}/history"): ("A customer's cross-channel history", None,
                                                PAGE, None),
    ("POST", "/api/v1/customers/{id}/merge"): ("Merge this customer into another (undoable)",
                                               merges.MergeRequest, {}, None),
    ("POST", "/api/v1/merges/{id}/undo"): ("Undo a merge: move back exactly what it moved",
                                           None, {}, None),
    ("PUT", "/api/v1/customers/{id}/attributes"): (
        "Merge attributes into the customer's (RFC 7396: null removes a key)",
        AttributesPatch, {}, Customer),
    ("GET", "/api/v1/customers/{id}/orders"): ("The customer's orders, newest first", None,
                                               {"limit": PAGE["limit"]}, profiles.OrderList),
    ("POST", "/api/v1/customers/{id}/orders"): (
        "Record an order; posting the same order_id again updates it", profiles.NewOrder,
        {}, profiles_store.Order),
    ("GET", "/api/v1/conversations/{id}/suggestions"): (
        "Orders, other open conversations, knowledge-base entries and canned replies "
        "for the customer's latest question", None, {}, suggestions.Suggestions),
    ("GET", "/api/v1/conversations"): ("The inbox, filtered", None, {
        "status": "open|pending|snoozed|resolved|closed", "group": "skill group",
        "assignee": "agent name, or `me`", "channel": "channel id", "category": "category",
        "priority": "at least this priority", "overdue": "true|false",
        "unassigned": "true|false", "q": "text in the messages", **PAGE}, None),
    ("GET", "/api/v1/conversations/{id}"): ("One conversation", None, {}, Conversation),
    ("PATCH", "/api/v1/conversations/{id}"): ("Change priority, category, tags",
                                              conversations.UpdateBody, {}, Conversation),
    ("GET", "/api/v1/conversations/{id}/messages"): ("A conversation's thread", None, PAGE, None),
    ("POST", "/api/v1/conversations/{id}/messages"): (
        "Reply (or a private note); Idempotency-Key header makes it safe to retry",
        api.Reply, {}, Message),
    ("POST", "/api/v1/conversations/{id}/assign"): ("Assign or unassign",
                                                    conversations.AssignBody, {}, Conversation),
    ("POST", "/api/v1/conversations/{id}/transfer"): ("Transfer to a group or agent",
                                                      conversations.TransferBody, {},
                                                      Conversation),
    ("POST", "/api/v1/conversations/{id}/escalate"): ("Escalate", conversations.EscalateBody,
                                                      {}, Conversation),
    ("POST", "/api/v1/conversations/{id}/resolve"): ("Resolve", None, {}, Conversation),
    ("POST", "/api/v1/conversations/{id}/close"): ("Close", None, {}, Conversation),
    ("POST", "/api/v1/conversations/{id}/reopen"): ("Reopen (409 if another is open)", None,
                                                    {}, Conversation),
    ("POST", "/api/v1/conversations/{id}/snooze"): ("Snooze until a time",
                                                    conversations.SnoozeBody, {}, Conversation),
    ("GET", "/api/v1/conversations/{id}/watchers"): ("Watchers", None, {}, None),
    ("PUT", "/api/v1/conversations/{id}/watchers/{agent}"): ("Add a watcher", None, {}, None),
    ("DELETE", "/api/v1/conversations/{id}/watchers/{agent}"): ("Remove a watcher", None, {},
                                                                None),
    ("GET", "/api/v1/conversations/{id}/read"): ("Agents' read markers", None, {}, None),
    ("PUT", "/api/v1/conversations/{id}/read"): ("Mark read up to a message",
                                                 messages.ReadBody, {}, None),
    ("PATCH", "/api/v1/messages/{id}"): ("Edit your message within the edit window",
                                         messages.EditBody, {}, None),
    ("POST", "/api/v1/messages/{id}/recall"): ("Recall your message within the edit window",
                                               None, {}, None),
    ("GET", "/api/v1/events"): ("Server-sent events; resume with Last-Event-ID", None,
                                {"after": "replay events after this id"}, None),
    ("GET", "/api/v1/audit"): ("The audit log", None,
                               {"target": "target id", "actor": "agent name", **PAGE}, None),
    ("GET", "/api/v1/tokens"): ("API tokens (never the secrets)", None, {}, None),
    ("POST", "/api/v1/tokens"): ("Create a token; the response is the only time it is shown",
                                 admin.NewToken, {}, None),
    ("DELETE", "/api/v1/tokens/{id}"): ("Revoke a token", None, {}, None),
    ("GET", "/api/v1/routing"): ("The routing.yaml version in force, the last refused edit, "
                                 "and the canary of a staged rollout", None, {}, None),
    ("GET", "/api/v1/agents"): ("Agents: groups, availability, capacity, open conversations",
                                None, {}, None),
    ("GET", "/api/v1/me"): ("Who this token acts as: agent name and role", None, {}, None),
    ("PUT", "/api/v1/agents/{id}/availability"): (
        "Set availability (your own; anyone's as supervisor); online hands the queue out",
        routing_api.AvailabilityBody, {}, None),
    ("GET", "/api/v1/webhooks"): (
        "Outbound webhook endpoints: those added here, and hub.yaml's (read-only)", None, {},
        webhook_api.WebhookList),
    ("POST", "/api/v1/webhooks"): (
        "Add an endpoint; the answer carries its signing secret, shown only here",
        webhook_api.NewWebhook, {}, webhook_api.CreatedWebhook),
    ("GET", "/api/v1/webhooks/{id}"): ("One endpoint (without its secret)", None, {},
                                       StoredSubscription),
    ("PATCH", "/api/v1/webhooks/{id}"): (
        "Change an endpoint's URL, events, secret or description, or disable it",
        webhook_api.WebhookChange, {}, StoredSubscription),
    ("DELETE", "/api/v1/webhooks/{id}"): ("Remove an endpoint: its events stop at once", None,
                                          {}, None),
    ("GET", "/api/v1/canned-replies"): ("Canned replies by shortcut", None,
                                        {"prefix": "shortcuts starting with this, e.g. /ref"},
                                        None),
    ("POST", "/api/v1/canned-replies"): ("Create a canned reply; unknown {{variables}} are 422",
                                         canned.NewCanned, {}, None),
    ("GET", "/api/v1/canned-replies/{id}"): ("One canned reply", None, {}, None),
    ("PATCH", "/api/v1/canned-replies/{id}"): ("Change a canned reply", canned.CannedChange,
                                               {}, None),
    ("DELETE", "/api/v1/canned-replies/{id}"): ("Delete a canned reply", None, {}, None),
    ("GET", "/api/v1/canned-replies/{id}/render"): (
        "Preview a canned reply filled for a conversation; `warnings` name empty variables",
        None, {"conversation": "conversation id"}, canned.RenderedReply),
    ("GET", "/api/v1/stats"): (
        "The backlog now (by group and agent) and a range's response times, SLA, CSAT", None,
        {"from": "ISO 8601 time with offset (default: `to` minus 7 days)",
         "to": "ISO 8601 time with offset (default: now)", "group": "skill group",
         "agent": "assignee"}, InboxStatsByVersion),
    ("GET", "/api/v1/alerts"): (
        "The alert rules of hub.yaml: state (ok, pending, firing), value, firing times",
        None, {}, alerts.AlertList),
    ("GET", "/api/v1/kb/entries"): ("Knowledge-base entries", None, {
        "tag": "entries with this tag", "language": "zh, en, …",
        "limit": "page size, 1 to 500 (default 100)",
        "cursor": "next_cursor of the previous page"}, None),
    ("POST", "/api/v1/kb/entries"): ("Create a knowledge-base entry (version 1)",
                                     kb_api.EntryIn, {}, kb_api.Entry),
    ("GET", "/api/v1/kb/entries/{id}"): ("One knowledge-base entry", None, {}, kb_api.Entry),
    ("PATCH", "/api/v1/kb/entries/{id}"): ("Change an entry; each change is a new version",
                                           kb_api.EntryChange, {}, kb_api.Entry),
    ("DELETE", "/api/v1/kb/entries/{id}"): ("Delete an entry (its versions stay)", None, {},
                                            None),
    ("GET", "/api/v1/kb/entries/{id}/versions"): (
        "An entry's changes: who, when, before and after", None, {}, None),
    ("GET", "/api/v1/kb/search"): (
        "Best entries for a question (full-text, BM25 ranked, Chinese segmented)", None,
        {"q": "the words or question", "language": "zh, en, …",
         "channel": "channel id or type: its answer variant", "limit": "1 to 20 (default 5)"},
        kb_api.SearchResult),
    ("POST", "/api/v1/kb/import"): ("Import a YAML or CSV knowledge base (upsert)",
                                    kb_api.ImportBody, {}, kb_api.ImportResult),
    ("GET", "/api/v1/kb/export"): ("Export every entry: the body import takes", None,
                                   {"format": "yaml (default) or csv"}, kb_api.ImportBody),
    ("GET", "/api/v1/kb/suggestions"): (
        "Entries and paraphrases proposed from agents' answers to handed-over questions",
        None, {"min_support": "questions per cluster, at least (default 2)"}, None),
    ("POST", "/api/v1/kb/suggestions/{id}/accept"): (
        "Accept a suggestion: create the entry or add the paraphrases", kb_api.Acceptance, {},
        kb_api.Entry),
    ("POST", "/api/v1/kb/suggestions/{id}/reject"): ("Reject a suggestion", None, {}, None),
    ("GET", "/api/v1/openapi.json"): ("This document", None, {}, None),
}

_PARAM = re.compile(r"{(\w+)}")
_ERROR = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}},
    "required": ["code", "message"]}}}


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi_json)


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(method: str, path: str, components: dict[str, Any]) -> dict[str, Any]:
    summary, body, query, response = DOCS[(method, path)]
    action = ROUTES.get((method, path))
    op: dict[str, Any] = {"summary": summary, "parameters": [
        *({"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
          for n in _PARAM.findall(path)),
        *({"name": n, "in": "query", "required": False, "description": d,
           "schema": {"type": "string"}} for n, d in query.items())]}
    if action is not None:
        op["description"] = f"Permission `{action}` (role {PERMISSIONS[action]} or higher)."
    else:
        op["security"] = []
    if body is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _schema(body, components)}}}
    ok: dict[str, Any] = {"description": "success"}
    if response is not None:
        ok["content"] = {"application/json": {"schema": _schema(response, components)}}
    elif path == "/api/v1/events":
        ok["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    op["responses"] = {"200": ok, **{
        code: {"description": text, **error} for code, text in (
            ("401", "missing or invalid token"), ("403", "not allowed for this role or group"),
            ("404", "unknown id"), ("409", "not in a state that allows this"),
            ("422", "invalid input; `field` names it"))}}
    return op


def build_spec(app: web.Application) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        path = resource.canonical
        if path.startswith("/api/v1/"):
            paths.setdefault(path, {})[route.method.lower()] = _operation(
                route.method, path, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "omnihub agent API", "version": "1"},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(build_spec(request.app))
