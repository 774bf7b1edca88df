"""A loopback proxy in front of moto that injects the Glue faults real accounts see.

usage: glue_faults.py UPSTREAM_URL PORT THROTTLE_COUNT MODE

- The first THROTTLE_COUNT Glue calls get ThrottlingException (HTTP 400), as Glue does under a
  request-rate limit.
- MODE refuse-first-partition: each BatchCreatePartition reaches moto without its first
  partition, and the reply lists that partition in Errors, as Glue reports per-partition
  failures while applying the rest.
- GET /_faults returns what was injected, and the size of every partition batch, as JSON.

Binds 127.0.0.1 only and exits by itself after 10 minutes.
"""
import http.server
import json
import sys
import threading
import urllib.error
import urllib.request

upstream, port, throttle, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
injected = {"throttled": 0, "refused": 0, "batches": {}}
lock = threading.Lock()


class Proxy(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/x-amz-json-1.1"):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(200, injected, "application/json")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "")
        with lock:
            throttled = target.startswith("AWSGlue.") and injected["throttled"] < throttle
            if throttled:
                injected["throttled"] += 1
        if throttled:
            self.reply(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
            return
        if target in ("AWSGlue.BatchCreatePartition", "AWSGlue.BatchUpdatePartition", "AWSGlue.BatchDeletePartition"):
            request = json.loads(body)
            size = len(request.get("PartitionInputList") or request.get("Entries") or request.get("PartitionsToDelete") or [])
            with lock:
                injected["batches"].setdefault(target.split(".")[1], []).append(size)
        dropped = None
        if mode == "refuse-first-partition" and target == "AWSGlue.BatchCreatePartition":
            request = json.loads(body)
            dropped = request["PartitionInputList"].pop(0)
            body = json.dumps(request).encode()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        forward = urllib.request.Request(upstream + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(forward, timeout=60) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        if dropped is not None and status == 200:
            answer = json.loads(payload or b"{}")
            answer.setdefault("Errors", []).append({
                "PartitionValues": dropped["Values"],
                "ErrorDetail": {"ErrorCode": "InternalServiceException", "ErrorMessage": "injected refusal"},
            })
            with lock:
                injected["refused"] += 1
            self.reply(200, answer)
            return
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.end_headers()
        self.wfile.write(payload)


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy)
threading.Timer(600, server.shutdown).start()
server.serve_forever()
