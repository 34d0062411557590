#!/usr/bin/env python3
"""A loopback HTTP server with scripted misbehaviour, for fetch's tests and
benchmark. Python standard library only.

  httpd.py --root DIR --port-file FILE [--log FILE] [--lifetime SECONDS]

Binds 127.0.0.1 on a free port, writes the port to FILE, and serves the files
under DIR. The first path segment picks the behaviour for the rest of the path:
  /good/P       the file, with Range support (206, 416), sent with sendfile
  /norange/P    the whole file (200) whatever Range asks
  /trunc/P      announces the full length, sends half the bytes, closes
  /trunconce/P  like trunc the first time P is asked for, then like good
  /404/P        404 Not Found
  /500/P        500 Internal Server Error, always
  /flaky/P      500 the first time P is asked for, then like good
  /slow/P       the headers and 1 byte, then silence (until the client leaves)
  /throttle/P   like good, at about 4 MB/s
  /tofile/P     a 302 redirect to file:///etc/passwd
Each request is logged as "MODE PATH RANGE STATUS" (RANGE '-' when absent).
The server exits by itself after --lifetime seconds (default 120), so a test
that dies cannot leave it behind.
"""
import argparse
import http.server
import os
import re
import select
import socket
import sys
import threading
import time

ARGS = None
LOG_LOCK = threading.Lock()
SEEN = {}  # (mode, path) -> times asked


def log(mode, path, rng, status):
    if not ARGS.log:
        return
    with LOG_LOCK, open(ARGS.log, "a") as f:
        f.write(f"{mode} {path} {rng or '-'} {status}\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # quiet: the log file is the record
        pass

    def do_GET(self):
        try:
            self.serve()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up: part of several tests

    def serve(self):
        parts = self.path.split("/", 2)
        mode = parts[1] if len(parts) > 1 else ""
        rel = parts[2] if len(parts) > 2 else ""
        rng = self.headers.get("Range")
        with LOG_LOCK:
            count = SEEN.get((mode, rel), 0)
            SEEN[(mode, rel)] = count + 1
        path = os.path.realpath(os.path.join(ARGS.root, rel))
        if not path.startswith(os.path.realpath(ARGS.root) + os.sep) or not os.path.isfile(path):
            return self.status(mode, rel, rng, 404)
        if mode == "404":
            return self.status(mode, rel, rng, 404)
        if mode == "500" or (mode == "flaky" and count == 0):
            return self.status(mode, rel, rng, 500)
        if mode == "tofile":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return log(mode, rel, rng, 302)
        size = os.path.getsize(path)
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if m and mode != "norange":
            start = int(m.group(1))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return log(mode, rel, rng, 416)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            status = 206
        else:
            self.send_response(200)
            status = 200
        length = size - start
        self.send_header("Content-Length", str(length))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        log(mode, rel, rng, status)
        with open(path, "rb") as f:
            f.seek(start)
            if mode == "trunc" or (mode == "trunconce" and count == 0):
                self.wfile.write(f.read(length // 2))
                self.wfile.flush()
                self.close_connection = True
                return
            if mode == "slow":
                self.wfile.write(f.read(1))
                self.wfile.flush()
                deadline = time.time() + 30
                while time.time() < deadline:  # silence until the client gives up
                    ready, _, _ = select.select([self.connection], [], [], 0.2)
                    if ready and not self.connection.recv(1, socket.MSG_PEEK):
                        return
                return
            if mode == "throttle":
                while True:
                    block = f.read(64 * 1024)
                    if not block:
                        break
                    self.wfile.write(block)
                    time.sleep(64 * 1024 / 4e6)
                return
            self.wfile.flush()
            sent = 0
            while sent < length:
                n = os.sendfile(self.connection.fileno(), f.fileno(), start + sent, min(length - sent, 1 << 24))
                if n == 0:
                    break
                sent += n

    def status(self, mode, rel, rng, code):
        body = f"{code}\n".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        log(mode, rel, rng, code)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    p.add_argument("--lifetime", type=float, default=120)
    ARGS = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    threading.Timer(ARGS.lifetime, lambda: os._exit(0)).start()
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
