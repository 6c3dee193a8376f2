"""The web studio's door and its corner of the disk.  No torch, no Gradio at import time.

:class:`Door` is one ASGI middleware that every HTTP request passes before Gradio sees it:

1. ``X-Forwarded-*`` headers are dropped unless the studio was told it sits behind a proxy;
2. only the documented API endpoints answer by name (Gradio also names the page's internal handlers);
3. a state-changing request from another origin is refused;
4. under ``--auth`` every route needs a signed-in user, except what the sign-in page itself loads;
5. sign-ins are taken one at a time per client, and after failures each answer waits longer (a growing
   delay, logged), so a correct password still gets in once the wait is over;
6. a request body is bounded before it is read whole, and a file handed to an endpoint must be one that
   was uploaded here: a URL or a server path is refused (a picture reaches us as an upload or, on the
   page, a ``data:`` URL, and :func:`i2v.media.images.open_image` checks its size and pixel count from the
   header before decoding it);
7. only results and uploads are served (not the job store, the lock, kept inputs); every answer says
   ``nosniff``; a served file plays inline only as MP4 video or PNG image, anything else is a download
   in a sandbox;
8. a full disk while an upload is written is one clear answer (507), not a bare 500.

:class:`OutputsLock` keeps a second studio off an outputs folder in use, and :class:`UploadCache` gives
each studio its own upload cache with a size and age budget.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from .base.errors import InvalidInput, Refused
from .base.i18n import pick_lang
from .base.settings import API_FILES, API_PARAMS

# -- the outputs folder: one studio at a time ------------------------------------------------------------

LOCK_NAME = ".studio.lock"


class OutputsLock:
    """An exclusive lock (``flock``) on ``outputs/.studio.lock`` held while the studio runs.  The kernel
    drops it when the process ends however it ends (kill -9 included), so it never goes stale."""

    def __init__(self, outputs: Path):
        self.path = outputs / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, port: int) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.read(fd, 4096) or b"{}")
            except ValueError:
                holder = {}
            os.close(fd)
            raise InvalidInput("outputs_in_use", path=self.path.parent, pid=holder.get("pid", "?"),
                               port=holder.get("port", "?")) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "port": port, "since": int(time.time())}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# -- the upload cache: per studio, bounded ---------------------------------------------------------------

class UploadCache:
    """``outputs/.gradio-cache/<pid>``: Gradio keeps uploads and copies of the results the page shows here.
    Files older than ``max_age_h`` go, then the oldest until the folder holds at most ``max_mb``.  Only the
    studio holding the outputs lock calls :meth:`prepare`, which removes what earlier studios left."""

    def __init__(self, outputs: Path, max_age_h: float = 6, max_mb: float = 1024, log: Callable[[str], None] = print):
        self.root = outputs / ".gradio-cache"
        self.path = self.root / str(os.getpid())
        self.max_age_s, self.max_bytes, self.log = max_age_h * 3600, int(max_mb * 2**20), log
        self._lock = threading.Lock()
        self._last = 0.0

    def prepare(self) -> Path:
        if self.root.is_dir():
            for old in self.root.iterdir():  # the outputs lock is ours: every other studio has stopped
                if old != self.path:
                    shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def drop_temporaries(self) -> None:
        """After a failed upload (a full disk): the multipart parser's half-written temporary files, which
        sit directly in the cache folder (finished uploads live in sub-folders)."""
        for p in self.path.glob("tmp*"):
            if p.is_file():
                p.unlink(missing_ok=True)

    def sweep(self) -> int:
        """Apply the budget now; returns how many files went."""
        with self._lock:
            self._last = time.monotonic()
            files = []
            for p in self.path.rglob("*"):
                try:
                    if p.is_file():
                        st = p.stat()
                        files.append((st.st_mtime, st.st_size, p))
                except OSError:
                    continue
            files.sort()
            total, now, removed = sum(f[1] for f in files), time.time(), 0
            for mtime, size, p in files:
                if now - mtime <= self.max_age_s and total <= self.max_bytes:
                    break
                p.unlink(missing_ok=True)
                total -= size
                removed += 1
            for d in sorted((d for d in self.path.rglob("*") if d.is_dir()), reverse=True):
                try:
                    d.rmdir()  # empty ones only
                except OSError:
                    pass
            if removed:
                self.log(f"upload cache: removed {removed} file(s), {total / 2**20:.1f} MB kept")
            return removed

    def sweep_soon(self, min_interval: float = 1.0) -> None:
        """After an upload: sweep unless one ran within ``min_interval`` seconds (a burst sweeps once a
        second, so the budget holds within a second's worth of uploads)."""
        if time.monotonic() - self._last >= min_interval:
            self.sweep()


# -- which Host names are ours ---------------------------------------------------------------------------

def local_addresses() -> set[str]:
    """This machine's names and addresses: the host name, and every address of every interface (IPv4
    from the kernel's routing table, IPv6 from if_inet6), plus the address outgoing traffic uses."""
    out = {socket.gethostname(), socket.getfqdn()}
    try:
        out |= {ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        pass
    try:  # Linux: "/32 host LOCAL" entries of the FIB are the machine's own IPv4 addresses
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for prev, line in zip(lines, lines[1:]):
            if "/32 host LOCAL" in line:
                out.add(prev.split()[-1])
    except OSError:
        pass
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            h = line.split()[0]
            out.add(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(h)))
    except (OSError, ValueError):
        pass
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:  # a UDP "connect" sends nothing; it only picks the route
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))
                out.add(s.getsockname()[0])
        except OSError:
            pass
    return {a.split("%")[0] for a in out if a}


def allowed_hosts(host: str, extra: str = "") -> list[str]:
    """Host header names the studio answers to: loopback, the bound address, and when listening on every
    interface this machine's own names and addresses; plus ``extra`` (comma-separated)."""
    hosts = {"127.0.0.1", "localhost", "::1"}
    if host in ("0.0.0.0", "::"):
        hosts |= local_addresses()
    else:
        hosts.add(host)
    hosts |= {h.strip() for h in extra.split(",") if h.strip()}
    return sorted(hosts | {f"[{h}]" for h in hosts if ":" in h})


def check_port(host: str, port: int) -> None:
    """The port is free to listen on (as uvicorn will: SO_REUSEADDR, so a closing socket does not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise InvalidInput("port_in_use", host=host, port=port) from None


# -- sign-in throttling ------------------------------------------------------------------------------------

class LoginThrottle:
    """Per client: the first ``free`` failures in a row cost nothing, then each one doubles the wait before
    the next try is answered (1 s, 2 s, 4 s ... at most ``max_delay``).  Tries are taken one at a time per
    client, so parallel guesses queue up behind the wait; more than a few waiting are refused at once.  A
    success clears the client's count.  At most ``max_clients`` are remembered."""

    def __init__(self, free: int = 3, max_delay: float = 60.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.free, self.max_delay, self.max_clients, self.clock = free, max_delay, max_clients, clock
        self._fails: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (failures, next try)
        self._lock = threading.Lock()
        self._turns: dict[str, asyncio.Lock] = {}   # one sign-in at a time per client
        self._waiting: dict[str, int] = {}

    def turn(self, client: str, max_waiting: int = 4) -> asyncio.Lock | None:
        """The client's sign-in lock, or None when ``max_waiting`` of its tries already wait for it."""
        if self._waiting.get(client, 0) >= max_waiting:
            return None
        if len(self._turns) > self.max_clients:
            self._turns = {k: v for k, v in self._turns.items() if v.locked()}
        return self._turns.setdefault(client, asyncio.Lock())

    def waiting(self, client: str, delta: int) -> None:
        self._waiting[client] = self._waiting.get(client, 0) + delta
        if self._waiting[client] <= 0:
            del self._waiting[client]

    def wait(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        with self._lock:
            _, until = self._fails.get(client, (0, 0.0))
        return max(0.0, until - self.clock())

    def failed(self, client: str) -> tuple[int, float]:
        with self._lock:
            count = self._fails.pop(client, (0, 0.0))[0] + 1
            delay = 0.0 if count <= self.free else min(self.max_delay, 2.0 ** (count - self.free - 1))
            self._fails[client] = (count, self.clock() + delay)
            while len(self._fails) > self.max_clients:
                self._fails.popitem(last=False)
            return count, delay

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._fails.pop(client, None)


# -- the door ------------------------------------------------------------------------------------------

# The documented API (docs/api.md).  The page's own events reach the server through /gradio_api/queue/join and,
# for its quick un-queued actions, /gradio_api/run/predict (by function index): those stay open.
API_ENDPOINTS = tuple(API_PARAMS)
PAGE_ROUTES = ("predict",)
_NAMED_ROUTE = re.compile(r"^/gradio_api/(call|run)/(?:v2/)?([^/]+)")
# What the sign-in page loads before anyone has signed in (everything else needs a user under --auth).
_PUBLIC = re.compile(r"^/(|login/?|logout/?|favicon\.ico|robots\.txt|manifest\.json|theme\.css|pwa_icon(/.*)?"
                     r"|assets/.*|static/.*|svelte/.*|gradio_api/theme\.css|gradio_api/startup-events"
                     r"|gradio_api/login_check/?|gradio_api/app_id/?)$")
_LOGIN = re.compile(r"^/login/?$")
_UPLOAD = re.compile(r"^/gradio_api/upload/?$")
_FILE = re.compile(r"^/gradio_api/file=")
_EVENT_BODY = re.compile(r"^/gradio_api/(queue/join|call/|run/|api/)")
_SAFE = {"GET", "HEAD", "OPTIONS"}
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
INLINE_TYPES = {"video/mp4", "image/png"}
RISKY_TYPES = re.compile(r"html|xml|svg|javascript|ecmascript|json|text/")


@dataclass
class DoorPolicy:
    allowed_hosts: list[str]
    body_limit: int                       # bytes a non-upload request body may carry
    auth: bool = False
    trust_proxy: bool = False
    api_endpoints: tuple[str, ...] = API_ENDPOINTS
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    on_upload: Callable[[], None] | None = None
    on_disk_full: Callable[[], None] | None = None
    uploads: Path | None = None           # the upload cache: files handed to endpoints must be in it
    outputs: Path | None = None           # results are served from here (not its hidden files)
    log: Callable[[str], None] = print


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for k, v in headers:
        if k == name:
            return v.decode("latin-1")
    return None


def _inside(path: Path, root: Path | None) -> bool:
    return root is not None and (path == root or root in path.parents)


def _handed_file_problem(node, roots: list[Path], api: bool) -> Refused | None:
    """What is wrong with the file objects (``meta._type`` gradio.FileData) a JSON body hands Gradio: a
    ``path`` that is a URL (Gradio would download it) or a server file outside ``roots`` (only uploads, and
    results for the page); on the named API, a file without a path (a ``data:`` URL: the API takes uploads).
    ``url`` alone is only where the page saw the file; Gradio does not fetch it."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            meta = n.get("meta")
            if isinstance(meta, dict) and meta.get("_type") == "gradio.FileData":
                v = n.get("path")
                if isinstance(v, str) and re.match(r"^\s*[a-z][a-z0-9+.-]*://", v, re.I):
                    return Refused("file_by_url")
                if isinstance(v, str) and roots:
                    p = Path(os.path.abspath(v))
                    if not any(_inside(p, r) for r in roots):
                        return Refused("file_not_uploaded")
                elif api and not v:
                    return Refused("file_not_uploaded")
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    return None


def _api_values_problem(endpoint: str, body: bytes) -> Refused | None:
    """A raw call of the named API with the wrong number of values, or a file given as something else than
    a file object: one line naming what is expected (Gradio would answer an empty error)."""
    try:
        data = json.loads(body).get("data")
    except (ValueError, AttributeError):
        return None  # Gradio answers malformed JSON itself
    names = API_PARAMS[endpoint]
    if not isinstance(data, list) or len(data) != len(names):
        return Refused("api_values", endpoint=endpoint, count=len(names), names=", ".join(names),
                       got=len(data) if isinstance(data, list) else 0)
    for name, value in zip(names, data):
        if name in API_FILES and value is not None and not (
                isinstance(value, dict) and (value.get("meta") or {}).get("_type") == "gradio.FileData"):
            return Refused("api_file_value", name=name)
    return None


class Door:
    """ASGI middleware applying :class:`DoorPolicy` (see the module's docstring)."""

    def __init__(self, app, policy: DoorPolicy):
        self.app, self.p = app, policy

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = list(scope["headers"])
        if not self.p.trust_proxy:  # (uvicorn is told to trust no proxy either: scheme and client are real)
            headers = [(k, v) for k, v in headers if not (k.startswith(b"x-forwarded-") or k == b"forwarded")]
            scope = {**scope, "headers": headers, "scheme": "http"}
        path, method = scope.get("path", ""), scope.get("method", "GET")
        lang = pick_lang(_header(headers, b"accept-language"))
        client = self._client(scope, headers)

        m = _NAMED_ROUTE.match(path)
        if m and m.group(2) not in self.p.api_endpoints and not (m.group(1) == "run" and m.group(2) in PAGE_ROUTES):
            return await _plain(send, 404, "no such API endpoint")
        if method not in _SAFE:
            origin = _header(headers, b"origin")
            if origin is not None and not self._same_origin(origin, scope, headers):
                self.p.log(f"refused a cross-origin {method} {path} from {origin} (client {client})")
                return await _refuse(send, Refused("cross_origin", origin=origin[:100]), lang)
        if self.p.auth and not _PUBLIC.match(path) and not self._signed_in(scope, headers):
            return await _refuse(send, Refused("not_signed_in"), lang)
        if method == "POST" and _LOGIN.match(path):
            return await self._sign_in(scope, receive, send, client, lang)
        if method in _SAFE and _FILE.match(path):
            scope, path = self._result_file(scope, path)
        if method in _SAFE and _FILE.match(path) and not self._servable(path):
            return await _plain(send, 404, "not found")
        if method not in _SAFE and not _UPLOAD.match(path):
            body = await self._read_body(headers, receive)
            if body is None:
                return await _refuse(send, Refused("body_too_big", size=_header(headers, b"content-length") or "?",
                                                   limit=self.p.body_limit), lang)
            if _EVENT_BODY.match(path) and b"gradio.FileData" in body:
                roots = [r for r in (self.p.uploads, self.p.outputs) if r is not None]
                try:
                    problem = _handed_file_problem(json.loads(body), roots,
                                                   api=bool(m) and m.group(2) in self.p.api_endpoints)
                except ValueError:
                    problem = None  # Gradio answers malformed JSON itself
                if problem:
                    return await _refuse(send, problem, lang)
            if m and m.group(1) == "call" and m.group(2) in API_PARAMS:
                problem = _api_values_problem(m.group(2), body)
                if problem:
                    return await _refuse(send, problem, lang)
            receive = _replay(body, receive)

        status: list[int] = []
        is_file = method in _SAFE and bool(_FILE.match(path))

        try:
            await self.app(scope, receive, self._guarded(send, is_file, status))
        except OSError as exc:
            if exc.errno not in _DISK_FULL or status:
                raise
            self.p.log(f"disk full while answering {method} {path}: {exc}")
            if self.p.on_disk_full is not None:
                self.p.on_disk_full()  # what the failed write left behind
            return await _refuse(send, Refused("upload_disk_full"), lang)
        if _UPLOAD.match(path) and self.p.on_upload is not None:
            self.p.on_upload()

    # -- pieces ---------------------------------------------------------------------------------------
    def _client(self, scope, headers) -> str:
        if self.p.trust_proxy:
            fwd = _header(headers, b"x-forwarded-for")
            if fwd:
                return fwd.split(",")[0].strip()[:64]
        return (scope.get("client") or ("?", 0))[0]

    def _same_origin(self, origin: str, scope, headers) -> bool:
        host = (_header(headers, b"x-forwarded-host") if self.p.trust_proxy else None) or _header(headers, b"host")
        scheme = (_header(headers, b"x-forwarded-proto") if self.p.trust_proxy else None) or scope.get("scheme", "http")
        try:
            o = urlsplit(origin)
        except ValueError:
            return False
        return bool(host) and (o.scheme.lower(), o.netloc.lower()) == \
            (scheme.split(",")[0].strip().lower(), host.split(",")[0].strip().lower())

    def _result_file(self, scope, path: str):
        """``/gradio_api/file=DAY/NAME.mp4``: a result named as ``/job`` names it, relative to the outputs folder
        (the one documented way to download a submitted job's video over HTTP), is that file of the outputs
        folder; every check of a served file then applies to it.  Any other path is left as it is."""
        rel = unquote(path.split("=", 1)[1])
        if self.p.outputs is None or not rel or rel.startswith(("/", "\\")) or re.match(r"^[a-z]:", rel, re.I):
            return scope, path
        p = Path(os.path.abspath(self.p.outputs / rel))
        if not _inside(p, self.p.outputs) or not p.is_file():
            return scope, path
        new = "/gradio_api/file=" + str(p)
        return {**scope, "path": new, "raw_path": quote(new).encode()}, new

    def _servable(self, path: str) -> bool:
        """A file the studio serves: anything in the upload cache; in the outputs folder, results only (no
        hidden file or folder, no job store, no lock)."""
        if self.p.outputs is None:
            return True
        p = Path(os.path.abspath(unquote(path.split("=", 1)[1])))
        if _inside(p, self.p.uploads):
            return True
        if not _inside(p, self.p.outputs):
            return True  # not ours: Gradio refuses it
        rel = p.relative_to(self.p.outputs).parts
        return bool(rel) and not any(part.startswith(".") for part in rel) and \
            p.suffix.lower() in (".mp4", ".png", ".json", ".jpg", ".jpeg", ".webp", ".gif")

    async def _sign_in(self, scope, receive, send, client: str, lang: str) -> None:
        """One try at a time per client, each answered only after the client's current wait."""
        body = await self._read_body(scope["headers"], receive, limit=64 * 1024)
        if body is None:
            return await _refuse(send, Refused("body_too_big", size="?", limit=64 * 1024), lang)
        receive = _replay(body, receive)
        throttle = self.p.throttle
        turn = throttle.turn(client)
        if turn is None:
            wait = max(1, int(throttle.wait(client) + 0.999))
            self.p.log(f"sign-in refused for {client}: too many tries waiting")
            return await _refuse(send, Refused("login_throttled", seconds=wait), lang,
                                 [(b"retry-after", str(wait).encode())])
        throttle.waiting(client, 1)
        try:
            async with turn:
                wait = throttle.wait(client)
                if wait > 0:
                    await asyncio.sleep(wait)
                status: list[int] = []
                await self.app(scope, receive, self._guarded(send, False, status))
                if status:
                    self._login_result(client, status[0])
        finally:
            throttle.waiting(client, -1)

    def _signed_in(self, scope, headers) -> bool:
        app = scope.get("app")
        tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
        if tokens is None or cookie_id is None:
            return False
        cookies = {}
        for part in (_header(headers, b"cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            cookies[k] = unquote(v)
        token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
        return bool(token) and token in tokens

    def _login_result(self, client: str, status: int) -> None:
        if 200 <= status < 300:
            self.p.throttle.succeeded(client)
        elif status in (400, 401, 403):
            count, delay = self.p.throttle.failed(client)
            self.p.log(f"sign-in failed from {client} ({count} in a row)"
                       + (f"; next try allowed in {delay:.0f} s" if delay else ""))

    async def _read_body(self, headers, receive, limit: int | None = None) -> bytes | None:
        """The whole body, or None when it is over the limit (by Content-Length, or while reading)."""
        limit = limit or self.p.body_limit
        length = _header(headers, b"content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > 8 * limit):
            return None  # not worth reading: the connection is closed under the sender
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            total += len(chunk)
            if total <= limit:
                chunks.append(chunk)
            elif chunks:
                chunks = []  # over the limit: the rest is read and dropped, so the sender gets the answer
            if not message.get("more_body", False) or total > 8 * limit:
                break
        return None if total > limit else b"".join(chunks)

    def _guarded(self, send, is_file: bool, status: list[int]):
        """``send`` with the answer's headers made safe, noting its status in ``status``."""
        async def guarded(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
                message = {**message, "headers": self._answer_headers(list(message.get("headers", [])), is_file)}
            await send(message)
        return guarded

    @staticmethod
    def _answer_headers(headers: list[tuple[bytes, bytes]], is_file: bool) -> list[tuple[bytes, bytes]]:
        headers = [(k, v) for k, v in headers if k.lower() != b"x-content-type-options"]
        headers.append((b"x-content-type-options", b"nosniff"))
        if not is_file:
            return headers
        ctype = (_header([(k.lower(), v) for k, v in headers], b"content-type") or "").split(";")[0].strip().lower()
        if ctype in INLINE_TYPES:
            return headers
        out = [(k, v) for k, v in headers if k.lower() not in (b"content-disposition", b"content-type")
               or (k.lower() == b"content-type" and not RISKY_TYPES.search(ctype))]
        if RISKY_TYPES.search(ctype):
            out.append((b"content-type", b"application/octet-stream"))
        out += [(b"content-disposition", b"attachment"), (b"content-security-policy", b"sandbox")]
        return out


def _replay(body: bytes, receive):
    """The body read once, then the client's own messages (a later disconnect still reaches the app)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay


async def _plain(send, status: int, text: str, extra: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"x-content-type-options", b"nosniff"),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": text.encode()})


async def _refuse(send, exc: Refused, lang: str, extra: list | None = None) -> None:
    """A refusal as Gradio's own errors look (JSON ``detail``), in the caller's language."""
    body = json.dumps({"detail": exc.text(lang), "error": exc.to_json()}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": exc.status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"x-content-type-options", b"nosniff"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
