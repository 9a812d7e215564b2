"""Loopback servers speaking real wire protocols, for the vendor SDKs under test.

`ChatCompletionsServer`: OpenAI / Azure OpenAI chat completions with streaming SSE
(`data: {...}` chunks with tool-call deltas, `data: [DONE]`), HTTP/1.1 keep-alive and chunked
transfer encoding, in a thread. Each POST takes the next scripted reply.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def text_chunks(*pieces: str, model: str = "gpt-test") -> list[dict[str, Any]]:
    chunks = [_chunk({"role": "assistant", "content": ""}, model=model)]
    chunks += [_chunk({"content": p}, model=model) for p in pieces]
    chunks.append(_chunk({}, finish="stop", model=model))
    return chunks


def tool_call_chunks(
    call_id: str, name: str, arguments: dict[str, Any], *, text: str = "", split: int = 3
) -> list[dict[str, Any]]:
    """A tool call streamed the way the API does: id+name first, then argument fragments."""
    chunks = [_chunk({"role": "assistant", "content": None})]
    if text:
        chunks.append(_chunk({"content": text}))
    raw = json.dumps(arguments)
    step = max(1, len(raw) // split)
    chunks.append(
        _chunk({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                "function": {"name": name, "arguments": ""}}]})
    )  # fmt: skip
    for i in range(0, len(raw), step):
        fragment = raw[i : i + step]
        chunks.append(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}))
    chunks.append(_chunk({}, finish="tool_calls"))
    return chunks


def usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-usage", "object": "chat.completion.chunk", "created": int(time.time()),
        "model": "gpt-test", "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion},
    }  # fmt: skip


def azure_filter_chunk() -> dict[str, Any]:
    """Azure's first chunk: no choices, prompt filter results."""
    return {
        "id": "", "object": "", "created": 0, "model": "", "choices": [],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }  # fmt: skip


def _chunk(delta: dict[str, Any], finish: str | None = None, model: str = "gpt-test") -> dict:
    return {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }  # fmt: skip


class ChatCompletionsServer:
    """Scripted replies: `("sse", [chunks...])` or `("error", status, body, headers)`."""

    def __init__(self) -> None:
        self.replies: list[tuple] = []
        self.requests: list[dict[str, Any]] = []
        self.connections: set[tuple[str, int]] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.connections.add(self.client_address)
                server.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                reply = server.replies.pop(0) if server.replies else ("sse", text_chunks("ok"))
                if reply[0] == "error":
                    _, status, payload, headers = reply
                    data = json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in reply[1]:
                    self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
                    if len(reply) > 2 and reply[2]:
                        time.sleep(reply[2])
                self._write_chunk(b"data: [DONE]\n\n")
                self._write_chunk(b"")

            def _write_chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ChatCompletionsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
