"""Knowledge base search over the FAQ corpus shipped in `agentbuilder/library/faq.yaml`.

A small lexical ranker (tf-idf over question, keywords and answer) is enough for a corpus of a
few dozen entries and needs no model download.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from agentbuilder.tools.context import Call
from agentbuilder.tools.registry import ToolError, param, schema, tool

FAQ_PATH = Path(__file__).resolve().parent.parent / "library" / "faq.yaml"
COLLECTIONS = ["general", "products", "policies", "faq", "regulations", "retirement", "fraud"]
_STOPWORD_TEXT = (
    "a an and are as at be by can do does for from how i if in is it me my of on or our "
    "so that the their there this to was what when where which who why will with you your "
    "please tell know about"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    collection: str
    question: str
    answer: str
    terms: Counter


def _words(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [w.rstrip("s") if len(w) > 3 else w for w in words if w not in STOPWORDS]


@lru_cache(maxsize=1)
def corpus() -> tuple[tuple[Entry, ...], dict[str, float]]:
    raw = yaml.safe_load(FAQ_PATH.read_text()) or []
    entries = []
    for item in raw:
        weighted = (
            _words(item["question"]) * 2
            + _words(" ".join(map(str, item.get("keywords", [])))) * 2
            + _words(item["answer"])
        )
        entries.append(
            Entry(
                id=item["id"],
                collection=item["collection"],
                question=item["question"],
                answer=" ".join(item["answer"].split()),
                terms=Counter(weighted),
            )
        )
    docs = len(entries)
    frequency = Counter(term for e in entries for term in set(e.terms))
    idf = {t: math.log(1 + docs / n) for t, n in frequency.items()}
    return tuple(entries), idf


def search(query: str, *, collection: str = "all", top_k: int = 3) -> list[dict]:
    entries, idf = corpus()
    terms = set(_words(query))
    scored = []
    for entry in entries:
        if collection not in ("all", "faq") and entry.collection != collection:
            continue
        score = sum(idf.get(t, 0) * math.log(1 + entry.terms[t]) for t in terms)
        if score > 0:
            scored.append((score, entry))
    scored.sort(key=lambda pair: -pair[0])
    return [
        {
            "id": e.id,
            "collection": e.collection,
            "question": e.question,
            "answer": e.answer,
            "score": round(s, 3),
        }
        for s, e in scored[:top_k]
    ]


@tool(
    name="search_knowledge_base",
    description=(
        "Answer general questions about the bank's products, fees, hours, policies and "
        "regulations from the knowledge base."
    ),
    parameters=schema(
        required=("query",),
        query=param(
            "string",
            "the caller's question",
            ask="What would you like to know?",
            minLength=2,
            maxLength=500,
        ),
        collection=param("string", "which part of the knowledge base", enum=["all", *COLLECTIONS]),
        top_k=param("integer", "how many answers to return", minimum=1, maximum=5),
    ),
    tags=("knowledge",),
)
def search_knowledge_base(
    call: Call, *, query: str, collection: str = "all", top_k: int = 3
) -> dict:
    results = search(query, collection=collection, top_k=top_k)
    if not results:
        raise ToolError(
            "no_answer", "I don't have an answer to that. Would you like me to find a colleague?"
        )
    return {"success": True, "query": query, "results": results, "message": results[0]["answer"]}
