"""A loopback proxy in front of moto that injects the faults S3 (and Glue) clients meet.

usage: s3_faults.py UPSTREAM_URL PORT PERCENT SEED MODE

Each request is forwarded to UPSTREAM_URL unchanged. In MODE random, PERCENT % of requests
(chosen by a generator seeded with SEED) meet one fault, in equal shares:

- 500 InternalError, before the request reaches moto;
- 503 SlowDown, before the request reaches moto (S3's request-rate limit);
- reset: the connection is closed without an answer, before the request reaches moto;
- lost: the request reaches moto and takes effect, then the connection is closed without an
  answer (the client cannot know it landed: a retried conditional PUT then meets its own object);
- slow: the answer comes after 0.5 to 2 seconds.

In MODE fail-writes every PUT, POST and DELETE gets 503 SlowDown: a fault no retry absorbs.

GET /_faults returns the count of each fault injected and of requests, as JSON.
Binds 127.0.0.1 only and exits by itself after 15 minutes.
"""
import http.client
import http.server
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse

upstream, port, percent, seed, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rng = random.Random(seed)
counts = {"requests": 0, "500": 0, "503": 0, "reset": 0, "lost": 0, "slow": 0}
lock = threading.Lock()
FAULTS = ["500", "503", "reset", "lost", "slow"]

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")
INTERNAL = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
            b"<Message>We encountered an internal error. Please try again.</Message></Error>")


target = urllib.parse.urlsplit(upstream)


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, headers, body, head=False):
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(key, value)
        length = dict((k.lower(), v) for k, v in headers).get("content-length") if head else None
        self.send_header("Content-Length", length if length is not None else str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", 0) or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        body = self.body()
        if self.command == "GET" and self.path == "/_faults":
            with lock:
                data = json.dumps(counts).encode()
            self.answer(200, [("Content-Type", "application/json")], data)
            return
        writes = self.command in ("PUT", "POST", "DELETE")
        with lock:
            counts["requests"] += 1
            fault = None
            if mode == "fail-writes" and writes:
                fault = "503"
            elif mode == "random" and rng.randrange(100) < percent:
                fault = rng.choice(FAULTS)
            if fault:
                counts[fault] += 1
        if fault == "500":
            self.answer(500, [("Content-Type", "application/xml")], INTERNAL)
            return
        if fault == "503":
            self.answer(503, [("Content-Type", "application/xml")], SLOW_DOWN)
            return
        if fault == "reset":
            self.drop()
            return
        if fault == "slow":
            time.sleep(0.5 + 1.5 * rng.random())
        # http.client, not urllib: urllib adds a form Content-Type to a body without one, and
        # moto's server then reads the body as a form (an object stored empty).
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "transfer-encoding")}
        headers["Content-Length"] = str(len(body))
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            status, reply_headers = response.status, response.getheaders()
            payload = b"" if self.command == "HEAD" else response.read()
        finally:
            connection.close()
        if fault == "lost":
            self.drop()
            return
        self.answer(status, reply_headers, payload, head=self.command == "HEAD")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def stop_later():
    time.sleep(900)
    os._exit(0)


threading.Thread(target=stop_later, daemon=True).start()
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy)
server.daemon_threads = True
server.serve_forever()
