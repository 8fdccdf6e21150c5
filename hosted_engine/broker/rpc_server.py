"""The broker's JSON-RPC 2.0 server: one I/O thread, two small worker pools, real errors.

One thread multiplexes every connection and a fixed handful of workers run the calls, so
neither idle clients nor a hung mount can make the broker grow threads or exhaust its
file descriptors (a thread per connection did both, and then the broker could no longer
open the metadata file to write its own slot). The limits:

* at most ``max_connections`` connections, fewer when the descriptor limit is low, so
  ``fd_reserve`` descriptors always stay free for storage I/O; past the cap the longest
  idle connection is closed to make room, and only when every connection is busy is the
  newcomer refused (with an error line, then closed);
* a connection that sends nothing for ``idle_timeout`` seconds is closed;
* each request has a deadline: a call that overruns it is answered with an error and its
  late result is dropped; a call finding its pool's queue full is answered "busy" at
  once. Calls that may touch storage run on their own pool (``blocking``), so a hung
  mount cannot starve the calls answered from cached measurements;
* a request line longer than ``MAX_LINE`` is answered with an error and the connection
  closed, since the rest of the stream can no longer be framed.

Each connection has at most one call in flight; the next line is read once it is
answered. The reference's server was single-threaded and answered errors with nil (D3).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import queue
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hosted_engine.broker.rpc_protocol import (
    Handler,
    Request,
    call,
    dispatch,
    encode_response,
    error,
    parse_request,
)
from hosted_engine.errors import HostedEngineError
from hosted_engine.jsonrpc import (
    BUSY,
    DEADLINE_EXCEEDED,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    MAX_LINE,
)
from hosted_engine.ratelimit import RateLimitedLog

log = logging.getLogger(__name__)
_limited = RateLimitedLog(log)

__all__ = ["RpcServer", "ServerLimits", "connection_cap", "dispatch", "encode_response"]

_RECV_BYTES = 65536
EVICT_GRACE = 0.25  # seconds a new connection has to send its request before eviction


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int = 64
    idle_timeout: float = 60.0  # well above the agent's loop period: it keeps its connection
    deadline: float = 2.0  # calls answered from cached values take milliseconds
    blocking_deadline: float = 20.0  # calls that read or write shared storage
    workers: int = 2
    blocking_workers: int = 2
    fd_reserve: int = 64  # descriptors kept for storage, leases, monitors and logs


def connection_cap(limits: ServerLimits) -> int:
    """``max_connections``, lowered so that ``fd_reserve`` descriptors stay free."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits.max_connections
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    return max(1, min(limits.max_connections, soft - in_use - limits.fd_reserve))


# --- worker pools ---------------------------------------------------------------------------


class _Job:
    __slots__ = ("abandoned", "conn", "deadline", "request", "response")

    def __init__(self, conn: _Conn, request: Request, deadline: float) -> None:
        self.conn = conn
        self.request = request
        self.deadline = deadline
        self.response: dict[str, Any] | None = None
        self.abandoned = False  # answered by the deadline already; drop the late result


class _Pool:
    """A fixed number of threads over a bounded queue: never more threads, never a pile-up."""

    def __init__(
        self,
        name: str,
        size: int,
        queue_size: int,
        methods: Mapping[str, Handler],
        done: Callable[[_Job], None],
    ) -> None:
        self.name = name
        self.size = size
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size)
        self._methods = methods
        self._done = done
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.size):
            thread = threading.Thread(target=self._work, name=f"rpc-{self.name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, job: _Job) -> bool:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            return False
        return True

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.abandoned:
                continue  # it waited in the queue past its deadline
            try:
                job.response = call(self._methods, job.request)
            except Exception:  # call() catches handler errors; this is a bug of ours
                log.exception("RPC worker failed")
                job.response = error(job.request.req_id, INTERNAL_ERROR, "internal error")
            self._done(job)

    def stop(self, timeout: float) -> bool:
        """Stop the workers; False when one is still stuck in a call (it stays, a daemon)."""
        for _ in self._threads:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=0.1)
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        stopped = not any(thread.is_alive() for thread in self._threads)
        self._threads.clear()
        return stopped


# --- connections ----------------------------------------------------------------------------


class _Conn:
    __slots__ = ("closing", "eof", "events", "inbuf", "last_active", "outbuf", "pending", "sock")

    def __init__(self, sock: socket.socket, now: float) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.pending: _Job | None = None
        self.last_active = now
        self.eof = False  # the client shut down its side: answer what it sent, then close
        self.closing = False  # close once the output is flushed
        self.events = 0  # what the selector watches for


_WAKE = object()
_LISTEN = object()


class RpcServer:
    def __init__(
        self,
        path: Path,
        methods: Mapping[str, Handler],
        *,
        blocking: Collection[str] = (),
        limits: ServerLimits | None = None,
    ) -> None:
        self.methods = methods
        self.path = path
        self.limits = limits or ServerLimits()
        self.max_connections = connection_cap(self.limits)
        self._blocking = frozenset(blocking)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            _refuse_if_live(path)
            path.unlink()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._listener.bind(str(path))
            os.chmod(path, 0o660)
            # the kernel's maximum: a burst of clients waits in the queue, not EAGAIN
            self._listener.listen(socket.SOMAXCONN)
            self._listener.setblocking(False)
        except OSError:
            self._listener.close()
            raise
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, _LISTEN)
        self._selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self._conns: dict[int, _Conn] = {}
        self._finished: collections.deque[_Job] = collections.deque()
        # one call in flight per connection: the cap bounds each queue as well
        cap = self.max_connections
        self._fast = _Pool("fast", self.limits.workers, cap, methods, self._job_done)
        self._slow = _Pool("storage", self.limits.blocking_workers, cap, methods, self._job_done)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._serving = False
        self._closed = False
        self._accept_paused_until = 0.0

    # --- public surface ---------------------------------------------------------------------
    @property
    def connection_count(self) -> int:
        return len(self._conns)

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="rpc", daemon=True)
        thread.start()
        return thread

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`close`; ``poll_interval`` bounds how late timers fire."""
        self._serving = True
        self._fast.start()
        self._slow.start()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                timeout = min(poll_interval, self._next_timer(now) - now)
                for key, mask in self._selector.select(max(0.0, timeout)):
                    try:
                        self._ready(key, mask)
                    except Exception:  # a bug of ours: lose the connection, not the server
                        log.exception("RPC connection failed")
                        if isinstance(key.data, _Conn):
                            self._drop(key.data)
                self._collect_finished()
                self._expire(time.monotonic())
        finally:
            self._stopped.set()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake()
        if self._serving:
            self._stopped.wait(5)
        for conn in list(self._conns.values()):
            self._drop(conn)
        fast_stopped = self._fast.stop(1.0)
        slow_stopped = self._slow.stop(1.0)
        self._selector.close()
        self._listener.close()
        if fast_stopped and slow_stopped:
            # A worker stuck in a call would write to the pipe when it returns: keep it
            # open then, or the write could land in whatever file reuses the number.
            os.close(self._wake_r)
            os.close(self._wake_w)
        self.path.unlink(missing_ok=True)

    # --- the loop ---------------------------------------------------------------------------
    def _next_timer(self, now: float) -> float:
        soonest = now + self.limits.idle_timeout
        for conn in self._conns.values():
            if conn.pending is not None:
                soonest = min(soonest, conn.pending.deadline)
            else:
                soonest = min(soonest, conn.last_active + self.limits.idle_timeout)
        if self._accept_paused_until:
            soonest = min(soonest, self._accept_paused_until)
        return soonest

    def _ready(self, key: selectors.SelectorKey, mask: int) -> None:
        if key.data is _LISTEN:
            self._accept()
        elif key.data is _WAKE:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_r, 4096):
                    pass
        else:
            conn: _Conn = key.data
            if mask & selectors.EVENT_READ:
                self._read(conn)
            if mask & selectors.EVENT_WRITE and conn.sock.fileno() >= 0:
                self._flush(conn)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def _job_done(self, job: _Job) -> None:
        """Called on a worker thread: hand the answer to the I/O thread."""
        self._finished.append(job)
        self._wake()

    def _collect_finished(self) -> None:
        while self._finished:
            job = self._finished.popleft()
            conn = job.conn
            if job.abandoned or conn.pending is not job or conn.sock.fileno() < 0:
                continue
            conn.pending = None
            if job.response is not None:
                self._answer(conn, job.response)
            self._next_request(conn)

    def _expire(self, now: float) -> None:
        for conn in list(self._conns.values()):
            job = conn.pending
            if job is not None:
                if now >= job.deadline:
                    job.abandoned = True
                    conn.pending = None
                    _limited.warning(
                        ("deadline", job.request.method),
                        "RPC %s overran its deadline",
                        job.request.method,
                    )
                    if not job.request.notification:
                        message = f"{job.request.method} did not finish within its deadline"
                        self._answer(conn, error(job.request.req_id, DEADLINE_EXCEEDED, message))
                    self._next_request(conn)
            elif now - conn.last_active >= self.limits.idle_timeout:
                self._drop(conn)
        if self._accept_paused_until and now >= self._accept_paused_until:
            self._resume_accept()

    # --- accepting --------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            if len(self._conns) >= self.max_connections and not self._evict_idlest():
                # Full of busy or brand-new connections: newcomers wait in the kernel's
                # listen queue (SOMAXCONN deep) until a connection is done or idle.
                self._pause_accept(time.monotonic() + EVICT_GRACE)
                return
            try:
                sock, _addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # out of descriptors anyway: make room and let the queue wait a bit
                    _limited.warning("accept", "cannot accept RPC connections: %s", e.strerror)
                    self._evict_idlest()
                    self._pause_accept(time.monotonic() + 0.1)
                return
            sock.setblocking(False)
            conn = _Conn(sock, time.monotonic())
            self._conns[sock.fileno()] = conn
            self._watch(conn)

    def _pause_accept(self, until: float) -> None:
        if not self._accept_paused_until:
            self._selector.unregister(self._listener)
        self._accept_paused_until = until

    def _resume_accept(self) -> None:
        if self._accept_paused_until and not self._closed:
            self._accept_paused_until = 0.0
            self._selector.register(self._listener, selectors.EVENT_READ, _LISTEN)

    def _evict_idlest(self) -> bool:
        """Close the connection idle longest (at least EVICT_GRACE), to make room.

        A connection only just accepted is spared: its client is about to send (a burst
        of callers must all be answered), and so is one with a request not yet read.
        """
        limit = time.monotonic() - EVICT_GRACE
        idle = [
            c
            for c in self._conns.values()
            if c.pending is None and not c.outbuf and not c.inbuf and c.last_active <= limit
        ]
        for conn in sorted(idle, key=lambda c: c.last_active):
            if _has_input(conn.sock):
                continue
            _limited.warning("evict", "too many RPC connections: closing idle ones")
            self._drop(conn)
            return True
        return False

    # --- reading and answering --------------------------------------------------------------
    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            conn.eof = True
        else:
            conn.inbuf += data
            conn.last_active = time.monotonic()
        self._next_request(conn)

    def _next_request(self, conn: _Conn) -> None:
        """Start the next call of ``conn`` if it is free; one call in flight per connection."""
        while conn.pending is None and not conn.outbuf and not conn.closing:
            end = conn.inbuf.find(b"\n")
            if end < 0:
                if len(conn.inbuf) > MAX_LINE:
                    self._refuse_line(conn)
                elif conn.eof and conn.inbuf.strip():
                    end = len(conn.inbuf)  # the last line, without its newline
                else:
                    break
            if end < 0:
                break
            line = bytes(conn.inbuf[:end])
            del conn.inbuf[: end + 1]
            if len(line) > MAX_LINE:
                self._refuse_line(conn)
                break
            if line.strip():
                self._start(conn, line)
        if conn.sock.fileno() < 0:
            return
        if conn.eof and conn.pending is None and not conn.outbuf and not conn.inbuf.strip():
            self._drop(conn)
            return
        self._watch(conn)

    def _refuse_line(self, conn: _Conn) -> None:
        conn.inbuf.clear()
        conn.closing = True  # what follows cannot be framed any more: answer, then close
        message = f"invalid request: a request line is limited to {MAX_LINE} bytes"
        self._answer(conn, error(None, INVALID_REQUEST, message))

    def _start(self, conn: _Conn, line: bytes) -> None:
        parsed = parse_request(line)
        if isinstance(parsed, dict):
            self._answer(conn, parsed)
            return
        blocking = parsed.method in self._blocking
        pool = self._slow if blocking else self._fast
        deadline = self.limits.blocking_deadline if blocking else self.limits.deadline
        job = _Job(conn, parsed, time.monotonic() + deadline)
        if not pool.submit(job):
            _limited.warning(("busy", pool.name), "RPC pool %s is full", pool.name)
            if not parsed.notification:
                message = f"broker busy: cannot run {parsed.method} now, retry later"
                self._answer(conn, error(parsed.req_id, BUSY, message))
            return
        conn.pending = job

    def _answer(self, conn: _Conn, response: dict[str, Any]) -> None:
        """Queue the answer and send what the socket takes now; never reads on."""
        conn.outbuf += encode_response(response)
        conn.last_active = time.monotonic()
        self._send(conn)

    def _send(self, conn: _Conn) -> None:
        while conn.outbuf:
            try:
                sent = conn.sock.send(conn.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(conn)
                return
            del conn.outbuf[:sent]
        if not conn.outbuf:
            conn.last_active = time.monotonic()
            if conn.closing:
                self._drop(conn)

    def _flush(self, conn: _Conn) -> None:
        """The socket can take more output: send it, then read the next request."""
        self._send(conn)
        if conn.sock.fileno() >= 0:
            self._next_request(conn)

    def _watch(self, conn: _Conn) -> None:
        if conn.sock.fileno() < 0:
            return
        events = 0
        if conn.outbuf:
            events |= selectors.EVENT_WRITE
        elif conn.pending is None and not conn.closing and not conn.eof:
            events |= selectors.EVENT_READ
        if events == conn.events:
            return
        if conn.events == 0:
            self._selector.register(conn.sock, events, conn)
        elif events == 0:
            self._selector.unregister(conn.sock)
        else:
            self._selector.modify(conn.sock, events, conn)
        conn.events = events

    def _drop(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if fd < 0:
            return
        if conn.events:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(conn.sock)
            conn.events = 0
        if conn.pending is not None:
            conn.pending.abandoned = True
            conn.pending = None
        self._conns.pop(fd, None)
        conn.sock.close()
        self._resume_accept()  # room for whoever waits in the listen queue
        conn.inbuf.clear()
        conn.outbuf.clear()


def _has_input(sock: socket.socket) -> bool:
    """Whether the client sent something not read yet (or closed): not idle then."""
    try:
        sock.recv(1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    return True


def _refuse_if_live(path: Path) -> None:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        return  # a leftover socket of a dead broker
    finally:
        probe.close()
    raise HostedEngineError(f"{path}: another broker is already listening")
