#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small SPDY/3.1 client for the tests of Grove's CRI streaming server (standard library only).

It upgrades an HTTP request the way Kubernetes' clients do (Upgrade: SPDY/3.1, one
X-Stream-Protocol-Version header per version offered), opens streams, sends and receives data,
and does SPDY/3.1 flow control strictly: it never sends past the server's windows, raises
SpdyError if the server sends past the windows it grants, and reopens them with WINDOW_UPDATE.
With flow_control=False it behaves like moby/spdystream (kubectl, crictl): no WINDOW_UPDATE
sent, the server's windows ignored.

The high-level helpers do what kubectl does:
  exec_session(url, stdin_bytes=None, tty=False, resize=None) -> (stdout, stderr, status)
  port_forward(url, port, payload, request_id=0) -> response

As a program: spdy_client.py --selftest CASE URL runs one of the cases tests/test-spdy.c drives
against its echo server; it prints "ok" and exits 0, or raises.
"""

import json
import socket
import struct
import sys
import time
import zlib

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN = 0x01
SETTINGS_INITIAL_WINDOW_SIZE = 7
DEFAULT_WINDOW = 65536
FRAME_SIZE = 16384

EXEC_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
PORT_FORWARD_PROTOCOL = "portforward.k8s.io"

# the SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): each word after its
# length as a 32-bit big-endian number, then the tail as it is
_DICTIONARY_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match if-modified-since "
    "if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status "
    "200_OK version HTTP/1.1 url public set-cookie keep-alive origin").split()
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, "
    "Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,"
    "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch"
    "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(
    struct.pack("!I", len(w)) + w.replace("_", " ").encode() for w in _DICTIONARY_WORDS
) + _DICTIONARY_TAIL.encode()
# the dictionary's zlib id (its Adler-32) is in every peer's first header block
if len(DICTIONARY) != 1423 or zlib.adler32(DICTIONARY) != 0xE3C6A7C2:
    raise RuntimeError("the SPDY dictionary is wrong")


class SpdyError(Exception):
    """The server refused, broke the protocol, or ended the connection."""


class SpdyEOF(SpdyError):
    """The server closed the connection."""


class Stream:
    def __init__(self, stream_id, window):
        self.id = stream_id
        self.headers = None          # the SYN_REPLY's headers, once replied
        self.data = bytearray()
        self.fin = False             # the server closed its side
        self.reset = None            # the RST_STREAM status, if reset
        self.local_fin = False
        self.send_window = DEFAULT_WINDOW
        self.recv_window = window
        self.recv_unacked = 0

    @property
    def done(self):
        return self.fin or self.reset is not None


def _split_url(url):
    if not url.startswith("http://"):
        raise ValueError(f"{url}: only http:// URLs are supported")
    rest = url[len("http://"):]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    return host.strip("[]"), int(port), "/" + path


class SpdyClient:
    """One SPDY/3.1 session over an upgraded HTTP/1.1 connection (single-threaded)."""

    def __init__(self, url, protocols=(), timeout=30.0, initial_window=None, flow_control=True):
        self.url = url
        self.protocols = tuple(protocols)
        self.timeout = timeout
        self.flow_control = flow_control
        # announced with SETTINGS, so the server knows from the start that we do flow control
        self.initial_window = initial_window
        self.window = initial_window or DEFAULT_WINDOW
        self.sock = None
        self.buf = bytearray()
        self.protocol = None
        self.response_headers = {}
        self.streams = {}
        self.next_id = 1
        self.conn_send_window = DEFAULT_WINDOW
        self.conn_recv_window = DEFAULT_WINDOW
        self.conn_recv_unacked = 0
        self.pongs = set()
        self.goaway = None           # (last good stream, status) once the server sent GOAWAY
        self.eof = False
        self.stats = {"window_updates_sent": 0, "window_updates_received": 0,
                      "data_frames_received": 0, "max_stream_window_used": 0}
        self.deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8,
                                         zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        self.inflater = zlib.decompressobj(15, DICTIONARY)

    # connection

    def connect(self):
        host, port, path = _split_url(self.url)
        self.sock = socket.create_connection((host, port), timeout=self.timeout)
        # WINDOW_UPDATEs are small and the server waits for them
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: Upgrade",
                 "Upgrade: SPDY/3.1"]
        lines += [f"X-Stream-Protocol-Version: {p}" for p in self.protocols]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        status, *header_lines = head.decode("latin-1").split("\r\n")
        for line in header_lines:
            name, _, value = line.partition(":")
            self.response_headers[name.strip().lower()] = value.strip()
        if status.split()[1:2] != ["101"]:
            raise SpdyError(f"the upgrade was refused: {status}")
        if self.response_headers.get("upgrade", "").lower() != "spdy/3.1":
            raise SpdyError(f"the server upgraded to {self.response_headers.get('upgrade')!r}")
        self.protocol = self.response_headers.get("x-stream-protocol-version")
        if self.protocols and self.protocol not in self.protocols:
            raise SpdyError(f"the server chose protocol {self.protocol!r}, not one offered")
        if self.initial_window is not None:
            self._control(SETTINGS, 0, struct.pack("!III", 1, SETTINGS_INITIAL_WINDOW_SIZE,
                                                   self.initial_window))
        return self

    def close(self, goaway=True, reset_streams=False):
        """Ends the session: GOAWAY and close. With reset_streams, every stream not reset yet
        is reset first (CANCEL), as kubectl's connection does when it closes."""
        if self.sock is None:
            return
        if goaway and not self.eof:
            try:
                for st in self.streams.values() if reset_streams else ():
                    if st.reset is None:
                        self.reset(st.id, 5)
                # the server opened no stream we accepted: last good stream 0, status OK
                self._control(GOAWAY, 0, struct.pack("!II", 0, 0))
            except OSError:
                pass
        self.sock.close()
        self.sock = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    # sending

    def _control(self, ftype, flags, payload):
        head = struct.pack("!HHI", 0x8000 | 3, ftype, (flags << 24) | len(payload))
        self.sock.sendall(head + payload)

    def _header_block(self, headers):
        block = struct.pack("!I", len(headers))
        for name, value in headers.items():
            n, v = str(name).lower().encode(), str(value).encode()
            block += struct.pack("!I", len(n)) + n + struct.pack("!I", len(v)) + v
        return self.deflater.compress(block) + self.deflater.flush(zlib.Z_SYNC_FLUSH)

    def open_stream(self, headers, fin=False, wait=True):
        """Opens a stream (SYN_STREAM); with wait, returns once the server replied to it."""
        stream_id = self.next_id
        self.next_id += 2
        self.streams[stream_id] = Stream(stream_id, self.window)
        self.streams[stream_id].local_fin = fin
        payload = struct.pack("!IIBB", stream_id, 0, 0, 0) + self._header_block(headers)
        self._control(SYN_STREAM, FLAG_FIN if fin else 0, payload)
        if wait:
            self.wait_reply(stream_id)
        return stream_id

    def send_data(self, stream_id, data, fin=False):
        """Sends data in frames the server's windows allow, reading frames while they are shut."""
        st = self.streams[stream_id]
        view = memoryview(bytes(data))
        off = 0
        while True:
            n = min(len(view) - off, FRAME_SIZE)
            if self.flow_control and n > 0:
                while min(st.send_window, self.conn_send_window) <= 0:
                    self.read_frame()
                    if st.reset is not None:
                        raise SpdyError(f"stream {stream_id} was reset ({st.reset})")
                n = min(n, st.send_window, self.conn_send_window)
            last = off + n == len(view)
            flags = FLAG_FIN if fin and last else 0
            self.sock.sendall(struct.pack("!II", stream_id, (flags << 24) | n) + view[off:off + n])
            st.send_window -= n
            self.conn_send_window -= n
            off += n
            if last:
                break
        if fin:
            st.local_fin = True

    def close_stream(self, stream_id):
        self.send_data(stream_id, b"", fin=True)

    def reset(self, stream_id, status=5):
        self._control(RST_STREAM, 0, struct.pack("!II", stream_id, status))
        if stream_id in self.streams:
            self.streams[stream_id].reset = status

    def ping(self, ping_id=1):
        """Sends PING and waits for the server to return it; returns the round trip in s."""
        start = time.monotonic()
        self._control(PING, 0, struct.pack("!I", ping_id))
        self.wait(lambda: ping_id in self.pongs)
        return time.monotonic() - start

    def _window_update(self, stream_id, delta):
        self._control(WINDOW_UPDATE, 0, struct.pack("!II", stream_id, delta))
        self.stats["window_updates_sent"] += 1

    # receiving

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            raise SpdyEOF("the server closed the connection")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_frame(self):
        """Reads and handles one frame; returns ("data", id, flags, bytes) or
        ("control", type, flags, payload)."""
        word, flags_length = struct.unpack("!II", self._take(8))
        flags, length = flags_length >> 24, flags_length & 0xFFFFFF
        payload = self._take(length)
        if word & 0x80000000:
            version, ftype = (word >> 16) & 0x7FFF, word & 0xFFFF
            if version != 3:
                raise SpdyError(f"a control frame of version {version}")
            self._on_control(ftype, flags, payload)
            return ("control", ftype, flags, payload)
        self._on_data(word, flags, payload)
        return ("data", word, flags, payload)

    def _decode_headers(self, block):
        data = self.inflater.decompress(block)
        (count,), pos, headers = struct.unpack("!I", data[:4]), 4, {}
        for _ in range(count):
            (n,) = struct.unpack("!I", data[pos:pos + 4])
            name = data[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
            (n,) = struct.unpack("!I", data[pos:pos + 4])
            headers[name] = data[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
        if pos != len(data):
            raise SpdyError("a header block with bytes after its last header")
        return headers

    def _on_data(self, stream_id, flags, data):
        st = self.streams.get(stream_id)
        if st is None:
            raise SpdyError(f"data on stream {stream_id}, which was never opened")
        self.stats["data_frames_received"] += 1
        st.data += data
        if flags & FLAG_FIN:
            st.fin = True
        if not self.flow_control or not data:
            return
        st.recv_window -= len(data)
        self.conn_recv_window -= len(data)
        self.stats["max_stream_window_used"] = max(self.stats["max_stream_window_used"],
                                                   self.window - st.recv_window)
        if st.recv_window < 0 or self.conn_recv_window < 0:
            raise SpdyError(f"the server overran the window of stream {stream_id} "
                            f"({st.recv_window}) or of the connection ({self.conn_recv_window})")
        st.recv_unacked += len(data)
        self.conn_recv_unacked += len(data)
        if st.recv_unacked >= self.window // 2 and not st.fin:
            self._window_update(stream_id, st.recv_unacked)
            st.recv_window += st.recv_unacked
            st.recv_unacked = 0
        if self.conn_recv_unacked >= DEFAULT_WINDOW // 2:
            self._window_update(0, self.conn_recv_unacked)
            self.conn_recv_window += self.conn_recv_unacked
            self.conn_recv_unacked = 0

    def _on_control(self, ftype, flags, payload):
        if ftype in (SYN_REPLY, HEADERS, SYN_STREAM):
            (stream_id,) = struct.unpack("!I", payload[:4])
            stream_id &= 0x7FFFFFFF
            headers = self._decode_headers(payload[10:] if ftype == SYN_STREAM else payload[4:])
            st = self.streams.get(stream_id)
            if ftype == SYN_STREAM:
                self._control(RST_STREAM, 0, struct.pack("!II", stream_id, 3))
            elif st is not None:
                if ftype == SYN_REPLY:
                    st.headers = headers
                if flags & FLAG_FIN:
                    st.fin = True
        elif ftype == RST_STREAM:
            stream_id, status = struct.unpack("!II", payload)
            self.streams.setdefault(stream_id, Stream(stream_id, self.window)).reset = status
        elif ftype == PING:
            (ping_id,) = struct.unpack("!I", payload)
            if ping_id % 2 == 1:
                self.pongs.add(ping_id)
            else:
                self._control(PING, 0, payload)
        elif ftype == GOAWAY:
            self.goaway = struct.unpack("!II", payload)
        elif ftype == WINDOW_UPDATE:
            stream_id, delta = struct.unpack("!II", payload)
            self.stats["window_updates_received"] += 1
            if stream_id == 0:
                self.conn_send_window += delta
            elif stream_id in self.streams:
                self.streams[stream_id].send_window += delta

    def wait(self, condition, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while not condition():
            if time.monotonic() > deadline:
                raise SpdyError("timed out waiting for the server")
            self.read_frame()

    def wait_reply(self, stream_id):
        st = self.streams[stream_id]
        self.wait(lambda: st.headers is not None or st.reset is not None)
        if st.reset is not None:
            raise SpdyError(f"the server reset stream {stream_id} (status {st.reset})")
        return st.headers

    def read_stream(self, stream_id):
        """Waits until the server closed or reset a stream; returns all it sent on it."""
        st = self.streams[stream_id]
        self.wait(lambda: st.done)
        return bytes(st.data)

    def read_until_eof(self):
        """Reads frames until the server closes the connection."""
        try:
            while True:
                self.read_frame()
        except SpdyEOF:
            pass


def exec_session(url, stdin_bytes=None, tty=False, resize=None, timeout=30.0):
    """Runs an exec or attach session as kubectl does; returns (stdout, stderr, status).

    The streams are opened in kubectl's order, each after the server replied to the one
    before: error, stdin (if stdin_bytes is not None), stdout, stderr (unless tty), resize (if
    tty). resize is one (width, height) or a list of them, sent as kubectl's JSON. stdin_bytes
    is sent and then the stdin stream is closed. status is the error stream's content: the
    Status object for v4.channel.k8s.io, the text for older versions, None if empty."""
    client = SpdyClient(url, EXEC_PROTOCOLS, timeout=timeout).connect()
    try:
        ids = {"error": client.open_stream({"streamType": "error"})}
        kinds = ["stdin"] if stdin_bytes is not None else []
        kinds += ["stdout"] + ([] if tty else ["stderr"]) + (["resize"] if tty else [])
        for kind in kinds:
            ids[kind] = client.open_stream({"streamType": kind})
        if tty and resize is not None:
            for width, height in [resize] if isinstance(resize, tuple) else resize:
                client.send_data(ids["resize"],
                                 json.dumps({"Width": width, "Height": height}).encode())
        if stdin_bytes is not None:
            client.send_data(ids["stdin"], stdin_bytes, fin=True)
        stdout = client.read_stream(ids["stdout"])
        stderr = client.read_stream(ids["stderr"]) if "stderr" in ids else b""
        status = client.read_stream(ids["error"])
    finally:
        client.close(reset_streams=True)
    if not status:
        return stdout, stderr, None
    if client.protocol == EXEC_PROTOCOLS[0]:
        return stdout, stderr, json.loads(status)
    return stdout, stderr, status.decode()


def port_forward(url, port, payload, request_id=0, timeout=30.0):
    """Forwards one connection as kubectl port-forward does; returns what came back.

    An error stream and a data stream carry the port and request id headers; the error stream
    is closed at once (the client never writes to it), the payload is sent and the data stream
    closed, then all the server sends is read. Raises SpdyError with the error stream's text
    if the server wrote any."""
    client = SpdyClient(url, (PORT_FORWARD_PROTOCOL,), timeout=timeout).connect()
    try:
        common = {"port": str(port), "requestID": str(request_id)}
        error_id = client.open_stream({"streamType": "error", **common})
        client.close_stream(error_id)
        data_id = client.open_stream({"streamType": "data", **common})
        client.send_data(data_id, payload, fin=True)
        response = client.read_stream(data_id)
        error = client.read_stream(error_id)
    finally:
        client.close(reset_streams=True)
    if error:
        raise SpdyError(f"port-forward to port {port}: {error.decode(errors='replace')}")
    return response


# Self-tests against tests/test-spdy.c's echo server: each stream is replied to with the
# headers it came with, its data is sent back, and its FIN is returned. A stream with header
# "action: reset" is refused, one with "action: close" is answered "bye" before the server
# closes the connection.

def _check(condition, what):
    if not condition:
        raise SpdyError(f"check failed: {what}")


def _expect_goaway_and_eof(client, status):
    client.read_until_eof()
    _check(client.goaway is not None, "a GOAWAY came before the connection closed")
    _check(client.goaway[1] == status, f"the GOAWAY status is {status}: {client.goaway}")


def selftest_streams(url):
    with SpdyClient(url, ("v4.channel.k8s.io",), initial_window=DEFAULT_WINDOW) as c:
        _check(c.protocol == "v4.channel.k8s.io", f"protocol chosen: {c.protocol}")
        sent = {}
        for i in range(6):
            headers = {"streamtype": f"kind-{i}", "x-common": "a value every stream repeats",
                       "x-index": str(i) * (i + 1)}
            sid = c.open_stream(headers)
            # the server echoes the headers: both directions of compression, across frames
            _check(c.streams[sid].headers == headers, f"stream {sid} replied {c.streams[sid].headers}")
            sent[sid] = bytearray()
        for rnd in range(4):
            for sid in sent:
                piece = f"[{sid}:{rnd}]".encode() * (rnd + 1)
                c.send_data(sid, piece)
                sent[sid] += piece
        for sid in sent:
            c.close_stream(sid)
        for sid, data in sent.items():
            _check(c.read_stream(sid) == bytes(data), f"stream {sid} echoed its data")
            _check(c.streams[sid].fin, f"stream {sid} was closed")


def selftest_bulk(url):
    size = 10 * 1024 * 1024
    payload = bytes(range(256)) * (size // 256)
    with SpdyClient(url, initial_window=16384) as c:
        sid = c.open_stream({"streamtype": "bulk"})
        c.send_data(sid, payload, fin=True)
        _check(c.read_stream(sid) == payload, "10 MiB came back unchanged")
        _check(c.stats["window_updates_received"] > 0, "the server reopened our windows")
        _check(c.stats["window_updates_sent"] > 0, "we reopened the server's windows")
        _check(c.stats["max_stream_window_used"] <= 16384, "the server kept to SETTINGS' window")
        print(json.dumps(c.stats))


def selftest_noflow(url):
    payload = b"spdystream does no flow control " * 32768
    with SpdyClient(url, flow_control=False) as c:
        sid = c.open_stream({"streamtype": "noflow"})
        c.send_data(sid, payload, fin=True)
        _check(c.read_stream(sid) == payload, "1 MiB came back without any WINDOW_UPDATE")
        _check(c.stats["window_updates_sent"] == 0, "no WINDOW_UPDATE was sent")


def selftest_ping(url):
    with SpdyClient(url) as c:
        for ping_id in (1, 3, 5):
            c.ping(ping_id)
        # an even id would be the answer to a ping of the server's: it is not returned
        c._control(PING, 0, struct.pack("!I", 2))
        c.ping(7)
        _check(2 not in c.pongs, "an even PING is not answered")
        _check(c.pongs == {1, 3, 5, 7}, f"pongs: {c.pongs}")


def selftest_reset(url):
    with SpdyClient(url, initial_window=DEFAULT_WINDOW) as c:
        first = c.open_stream({"streamtype": "a"})
        c.send_data(first, b"before the reset")
        c.reset(first, 5)
        refused = c.open_stream({"streamtype": "b", "action": "reset"}, wait=False)
        c.wait(lambda: c.streams[refused].reset is not None)
        _check(c.streams[refused].reset == 3, "the server refused the stream (REFUSED_STREAM)")
        c.streams[99] = Stream(99, c.window)
        c.send_data(99, b"to a stream never opened")
        c.wait(lambda: c.streams[99].reset is not None)
        _check(c.streams[99].reset == 2, "data on a stream never opened gets INVALID_STREAM")
        c.next_id = 101
        after = c.open_stream({"streamtype": "c"})
        c.send_data(after, b"still fine", fin=True)
        _check(c.read_stream(after) == b"still fine", "the session goes on after resets")


def selftest_disconnect(url):
    c = SpdyClient(url).connect()
    for kind in ("one", "two"):
        sid = c.open_stream({"streamtype": kind})
        c.send_data(sid, b"half of it")
    c.ping(1)
    c.close(goaway=False)


def selftest_bad_version(url):
    with SpdyClient(url) as c:
        c.sock.sendall(struct.pack("!HHII", 0x8000 | 2, PING, 4, 1))
        _expect_goaway_and_eof(c, 1)


def selftest_truncated(url):
    with SpdyClient(url) as c:
        c.sock.sendall(struct.pack("!HHI", 0x8003, SYN_STREAM, 100) + b"\0" * 20)
        c.sock.shutdown(socket.SHUT_WR)
        _expect_goaway_and_eof(c, 1)


def selftest_short_frame(url):
    with SpdyClient(url) as c:
        sid = c.open_stream({"streamtype": "a"})
        c._control(RST_STREAM, 0, struct.pack("!I", sid))
        _expect_goaway_and_eof(c, 1)


def selftest_huge_headers(url):
    with SpdyClient(url) as c:
        c.open_stream({"streamtype": "x", "x-huge": "h" * (128 * 1024)}, wait=False)
        _expect_goaway_and_eof(c, 1)


def selftest_unknown_frame(url):
    with SpdyClient(url) as c:
        c._control(0x7F, 0, b"\x01" * 16)
        c.ping(1)
        sid = c.open_stream({"streamtype": "after"})
        c.send_data(sid, b"works", fin=True)
        _check(c.read_stream(sid) == b"works", "streams work after an unknown frame")


def selftest_goaway(url):
    with SpdyClient(url) as c:
        sid = c.open_stream({"streamtype": "last", "action": "close"})
        c.read_until_eof()
        _check(bytes(c.streams[sid].data) == b"bye" and c.streams[sid].fin, "bye, then FIN")
        _check(c.goaway == (sid, 0), f"GOAWAY(last {sid}, OK): {c.goaway}")


def selftest_exec(url):
    stdout, stderr, status = exec_session(url, stdin_bytes=b"hello exec")
    _check(stdout == b"hello exec", f"stdout: {stdout!r}")
    _check(stderr == b"stdin: 10 bytes\n", f"stderr: {stderr!r}")
    _check(status["status"] == "Failure" and status["reason"] == "NonZeroExitCode", f"{status}")
    _check(status["details"]["causes"][0] == {"reason": "ExitCode", "message": "3"}, f"{status}")
    stdout, stderr, status = exec_session(url, stdin_bytes=b"", tty=True,
                                          resize=[(80, 24), (132, 43)])
    _check(stdout == b'{"Width": 80, "Height": 24}{"Width": 132, "Height": 43}', f"{stdout!r}")
    _check(stderr == b"" and status == {"metadata": {}, "status": "Success"}, f"{status}")


def selftest_port_forward(url):
    response = port_forward(url, 8080, b"GET / HTTP/1.0\r\n\r\n", request_id=7)
    _check(response == b"port 8080 request 7: GET / HTTP/1.0\r\n\r\n", f"{response!r}")
    try:
        port_forward(url, 1, b"x")
    except SpdyError as e:
        _check("nothing listens on port 1" in str(e), str(e))
    else:
        raise SpdyError("a port-forward error was not reported")


SELFTESTS = {name[len("selftest_"):].replace("_", "-"): fn
             for name, fn in globals().items() if name.startswith("selftest_")}


def main(argv):
    if len(argv) != 4 or argv[1] != "--selftest" or argv[2] not in SELFTESTS:
        print(f"usage: {argv[0]} --selftest {{{','.join(sorted(SELFTESTS))}}} URL",
              file=sys.stderr)
        return 2
    SELFTESTS[argv[2]](argv[3])
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
