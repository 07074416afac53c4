"""A local HTTP server standing in for a paid OpenAI-compatible API.

``/v1/embeddings`` answers hash-derived vectors (equal texts, ignoring case, get equal
vectors); ``/v1/chat/completions`` rewrites the last question by appending the first
earlier one, so tests can tell that a rewrite happened.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

DIMENSION = 32


def stub_vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.casefold().encode()).digest()
    return [(byte - 127.5) / 127.5 for byte in digest[:DIMENSION]]


class OpenAIStub:
    def __init__(self, *, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append((self.path, dict(self.headers), body))
                answer = stub.answer(self.path, body)
                payload = json.dumps(answer).encode()
                self.send_response(stub.status if answer else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        if path == "/v1/embeddings":
            data = [
                {"object": "embedding", "index": i, "embedding": stub_vector(text)}
                for i, text in enumerate(body["input"])
            ]
            return {"object": "list", "data": data, "model": body["model"]}
        if path == "/v1/chat/completions":
            question = body["messages"][-1]["content"]
            earlier = question.split("\n")[1].removeprefix("- ")
            last = question.rsplit("Last: ", 1)[1]
            message = {"role": "assistant", "content": f"{last} ({earlier})"}
            return {"choices": [{"index": 0, "message": message}]}
        return None

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
