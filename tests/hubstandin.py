"""A local stand-in for the Hugging Face hub: serves one folder as one repo at one commit, over HTTP on
127.0.0.1, with the endpoints and headers huggingface_hub's ``snapshot_download`` (through diffusers'
``from_pretrained``) uses:

* ``GET /api/models/{repo}[/revision/{rev}]``: the model info (``sha``, ``siblings``);
* ``GET /api/models/{repo}/tree/{rev}[/{path}]``: the file listing with sizes;
* ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``: the file, with ``ETag``, ``X-Repo-Commit`` and
  ``Content-Length``; sent in chunks with a short sleep after each (``chunk``, ``pause_s``), so a
  client sees a download in progress.

Anything else is a 404 and is recorded in ``misses``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class HubStandIn:
    def __init__(self, folder: Path, repo: str, sha: str, *, chunk: int = 256 * 1024, pause_s: float = 0.01):
        self.folder, self.repo, self.sha, self.chunk, self.pause_s = Path(folder), repo, sha, chunk, pause_s
        self.files = sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file())
        self.etags = {f: hashlib.sha256((self.folder / f).read_bytes()).hexdigest() for f in self.files}
        self.requests: list[tuple[str, str]] = []
        self.misses: list[tuple[str, str]] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="hub-stand-in", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # -- answers -------------------------------------------------------------------------------
    def _revision_ok(self, rev: str) -> bool:
        return rev in (self.sha, "main")

    def info(self) -> dict:
        return {"_id": "stand-in", "id": self.repo, "modelId": self.repo, "sha": self.sha, "private": False,
                "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": ["diffusers"],
                "library_name": "diffusers", "lastModified": "2024-01-01T00:00:00.000Z",
                "createdAt": "2024-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": f} for f in self.files]}

    def tree(self, under: str) -> list[dict]:
        under = under.strip("/")
        out, dirs = [], set()
        for f in self.files:
            if under and not f.startswith(under + "/"):
                continue
            out.append({"type": "file", "oid": self.etags[f][:40], "size": (self.folder / f).stat().st_size,
                        "path": f})
            parts = f.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        out += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)
                if not under or d.startswith(under + "/")]
        return out

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _send_json(self, obj, head: bool = False) -> None:
                body = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Repo-Commit", hub.sha)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _miss(self) -> None:
                with hub._lock:
                    hub.misses.append((self.command, self.path))
                body = b'{"error": "not found"}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Error-Code", "EntryNotFound")
                self.end_headers()
                self.wfile.write(body)

            def _file(self, name: str, head: bool) -> None:
                data = (hub.folder / name).read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{hub.etags[name]}"')
                self.send_header("X-Repo-Commit", hub.sha)
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if head:
                    return
                for i in range(0, len(data), hub.chunk):
                    self.wfile.write(data[i:i + hub.chunk])
                    self.wfile.flush()
                    with hub._lock:
                        hub.bytes_sent += len(data[i:i + hub.chunk])
                    time.sleep(hub.pause_s)

            def _route(self, head: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                with hub._lock:
                    hub.requests.append((self.command, path))
                api = f"/api/models/{hub.repo}"
                if path in (api, f"{api}/revision/{hub.sha}", f"{api}/revision/main"):
                    return self._send_json(hub.info(), head)
                if path.startswith(f"{api}/tree/"):
                    rev, _, under = path[len(f"{api}/tree/"):].partition("/")
                    return self._send_json(hub.tree(under), head) if hub._revision_ok(rev) else self._miss()
                prefix = f"/{hub.repo}/resolve/"
                if path.startswith(prefix):
                    rev, _, name = path[len(prefix):].partition("/")
                    if hub._revision_ok(rev) and name in hub.etags:
                        return self._file(name, head)
                return self._miss()

            def do_GET(self) -> None:
                self._route(head=False)

            def do_HEAD(self) -> None:
                self._route(head=True)

        return Handler
