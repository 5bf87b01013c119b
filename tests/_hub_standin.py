"""A local stand-in for the Hugging Face hub: a real HTTP server on 127.0.0.1 serving a folder in the hub's URL
layout, so ``huggingface_hub`` (pointed at it with ``HF_ENDPOINT``) downloads and lists files as it would online.

Folder layout: ``ROOT/models/ORG/NAME/...`` and ``ROOT/datasets/ORG/NAME/...`` (the files of one revision).
Served:

* ``HEAD|GET /[datasets/]ORG/NAME/resolve/REV/PATH``: the file, with ``X-Repo-Commit``, ``ETag`` and length headers;
* ``GET /api/{models,datasets}/ORG/NAME/revision/REV``: repo info with its file list (``siblings``);
* ``GET /api/{models,datasets}/ORG/NAME/tree/REV[/PATH]``: folder listing (``?recursive=true`` for all files).

``revisions`` (repo id -> {branch name -> folder}) serves repos with one branch per checkpoint: each branch's
commit is the sha1 of its name, ``REV`` may be the branch or its commit, and ``GET /api/models/ORG/NAME/refs``
lists the branches.

``gated`` repos answer 401 to everything, as the hub does without a token. Every request is logged in ``requests``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubStandIn:
    def __init__(
        self, root: Path, gated: set[str] | None = None, revisions: dict[str, dict[str, Path]] | None = None
    ) -> None:
        self.root = Path(root)
        self.gated = gated or set()
        self.revisions = revisions or {}
        self.requests: list[str] = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def commit_of(ref: str) -> str:
        return hashlib.sha1(ref.encode()).hexdigest()

    def downloads(self) -> list[str]:
        return [r for r in self.requests if r.startswith("GET") and "/resolve/" in r]

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, obj) -> None:
                self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"})

            def _repo(self, kind: str, parts: list[str], rev: str | None = None) -> tuple[str, Path] | None:
                repo = "/".join(parts[:2])
                if repo in hub.revisions:
                    refs = hub.revisions[repo]
                    name = next((r for r in refs if rev in (r, hub.commit_of(r))), None)
                    return (repo, refs[name]) if name is not None else None
                folder = hub.root / kind / repo
                return (repo, folder) if folder.is_dir() else None

            def _commit(self, repo: str, rev: str | None) -> str:
                if repo in hub.revisions:
                    name = next(r for r in hub.revisions[repo] if rev in (r, hub.commit_of(r)))
                    return hub.commit_of(name)
                return COMMIT

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                url = urlparse(self.path)
                parts = [unquote(p) for p in url.path.strip("/").split("/")]
                if parts and parts[0] == "api":
                    return self._api(parts[1:], parse_qs(url.query))
                kind = "models"
                if parts and parts[0] in ("datasets", "models"):
                    kind, parts = parts[0], parts[1:]
                found = self._repo(kind, parts, parts[3] if len(parts) > 3 else None)
                if found is None or len(parts) < 5 or parts[2] != "resolve":
                    return self._send(404, b"not found", {"X-Error-Code": "RepoNotFound"})
                repo, folder = found
                if repo in hub.gated:
                    return self._send(
                        401, b"gated", {"X-Error-Code": "GatedRepo", "X-Error-Message": "gated"}
                    )
                f = folder / "/".join(parts[4:])
                if not f.is_file():
                    return self._send(404, b"no such file", {"X-Error-Code": "EntryNotFound"})
                data = f.read_bytes()
                etag = hashlib.sha256(data).hexdigest()
                self._send(200, data, {"X-Repo-Commit": self._commit(repo, parts[3]), "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"})  # fmt: skip

            def _api(self, parts: list[str], query: dict) -> None:
                if len(parts) < 4 or parts[0] not in ("models", "datasets"):
                    return self._send(404)
                repo_id = "/".join(parts[1:3])
                if repo_id in hub.revisions and parts[3] == "refs":
                    return self._json({"branches": [{"name": r, "ref": f"refs/heads/{r}", "targetCommit": hub.commit_of(r)}
                                                    for r in hub.revisions[repo_id]], "tags": [], "converts": []})  # fmt: skip
                rev = parts[4] if len(parts) > 4 else None
                found = self._repo(parts[0], parts[1:3], rev)
                if found is None:
                    return self._send(404, b"", {"X-Error-Code": "RepoNotFound"})
                repo, folder = found
                if repo in hub.gated:
                    return self._send(401, b"gated", {"X-Error-Code": "GatedRepo"})
                files = sorted(p for p in folder.rglob("*") if p.is_file())
                rel = [p.relative_to(folder).as_posix() for p in files]
                if parts[3] == "revision":
                    return self._json(
                        {
                            "id": repo,
                            "sha": self._commit(repo, rev),
                            "siblings": [{"rfilename": r} for r in rel],
                        }
                    )
                if parts[3] == "tree":
                    base = "/".join(parts[5:]) if len(parts) > 5 else ""
                    recursive = query.get("recursive", ["false"])[0].lower() == "true"
                    out = []
                    start = folder / base if base else folder
                    items = start.rglob("*") if recursive else start.iterdir()
                    for p in sorted(items):
                        path = p.relative_to(folder).as_posix()
                        if p.is_dir():
                            out.append({"type": "directory", "path": path, "oid": COMMIT[:40]})
                        else:
                            out.append(
                                {"type": "file", "path": path, "size": p.stat().st_size, "oid": COMMIT}
                            )
                    return self._json(out)
                return self._send(404)

        return Handler
