"""An RDS-protocol test server: the log-file part of the RDS API, on loopback, for glaux's tests.

moto lacks DownloadDBLogFilePortion, so this serves real log files from a directory with the
AWS Query protocol (form-encoded POST, XML replies, <ErrorResponse> errors) that aws-sdk-rds
speaks: DescribeDBClusters, DescribeDBInstances, DescribeDBLogFiles (FileLastWritten, paging
with Marker/MaxRecords) and DownloadDBLogFilePortion with real marker behaviour:

- Marker "0" starts at the beginning; a returned marker is "<generation>:<byte offset>" and is
  opaque to clients; AdditionalDataPending says whether more follows.
- Without NumberOfLines a page is at most --page-bytes (1 MB on RDS). A page cut in mid-line
  ends with " [Your log message was truncated]" and the rest of the line is lost from that page:
  the marker points after the cut, as RDS does. With NumberOfLines the page holds at most that
  many whole lines (still cut, with the notice, if one line alone is over the limit).
- A file that was rotated (renamed away: its generation changed) answers a marker of the old
  generation with DBLogFileNotFoundFault, as RDS does while files rotate.

Fault injection: --overlap-every N makes every Nth continued page start --overlap-bytes before
its marker (repeating bytes the previous page returned, as pages have been seen to do);
--throttle-every N answers every Nth request with Throttling ("Rate exceeded");
--rotate NAME@K renames instance file NAME to NAME.1 (and starts an empty NAME) when the K-th
DownloadDBLogFilePortion request arrives. --max-requests bounds the loop: the server stops by
itself. Files live under DIR/<instance>/<log file name>; instances are the directories of DIR,
and --cluster NAME makes them the members of one cluster (the first one the writer).
"""

import argparse
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

NS = "http://rds.amazonaws.com/doc/2014-10-31/"
NOTICE = " [Your log message was truncated]"


class State:
    def __init__(self, args):
        self.args = args
        self.requests = 0
        self.downloads = 0
        self.generations = {}  # (instance, name) -> generation
        self.rotations = []
        for spec in args.rotate or []:
            name, at = spec.rsplit("@", 1)
            self.rotations.append((name, int(at)))

    def instances(self):
        return sorted(d for d in os.listdir(self.args.dir) if os.path.isdir(os.path.join(self.args.dir, d)))

    def files(self, instance):
        root = os.path.join(self.args.dir, instance)
        found = []
        for base, _, names in os.walk(root):
            for name in names:
                path = os.path.join(base, name)
                found.append((os.path.relpath(path, root), path))
        return sorted(found)

    def generation(self, instance, name):
        return self.generations.get((instance, name), 1)


def reply(action, body):
    return (
        f'<{action}Response xmlns="{NS}"><{action}Result>{body}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    )


def error(code, message, status=400):
    return status, (
        f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


def describe_clusters(state, p):
    members = "".join(
        f"<DBClusterMember><DBInstanceIdentifier>{i}</DBInstanceIdentifier>"
        f"<IsClusterWriter>{'true' if n == 0 else 'false'}</IsClusterWriter></DBClusterMember>"
        for n, i in enumerate(state.instances())
    )
    wanted = p.get("DBClusterIdentifier")
    if state.args.cluster is None or (wanted and wanted != state.args.cluster):
        return error("DBClusterNotFoundFault", f"DBCluster {wanted} not found.", 404)
    cluster = f"<DBCluster><DBClusterIdentifier>{state.args.cluster}</DBClusterIdentifier><DBClusterMembers>{members}</DBClusterMembers></DBCluster>"
    return 200, reply("DescribeDBClusters", f"<DBClusters>{cluster}</DBClusters>")


def describe_instances(state, p):
    wanted = p.get("DBInstanceIdentifier")
    names = [i for i in state.instances() if not wanted or i == wanted]
    if wanted and not names:
        return error("DBInstanceNotFound", f"DBInstance {wanted} not found.", 404)
    body = "".join(f"<DBInstance><DBInstanceIdentifier>{i}</DBInstanceIdentifier></DBInstance>" for i in names)
    return 200, reply("DescribeDBInstances", f"<DBInstances>{body}</DBInstances>")


def describe_log_files(state, p):
    instance = p.get("DBInstanceIdentifier", "")
    if instance not in state.instances():
        return error("DBInstanceNotFound", f"DBInstance {instance} not found.", 404)
    since = int(p.get("FileLastWritten", "0"))
    rows = []
    for name, path in state.files(instance):
        stat = os.stat(path)
        written = int(stat.st_mtime * 1000)
        if written >= since:
            rows.append((name, written, stat.st_size))
    start = int(p.get("Marker", "0") or "0")
    page = int(p.get("MaxRecords", "0") or "0") or state.args.list_page
    chunk = rows[start : start + page]
    body = "".join(
        f"<DescribeDBLogFilesDetails><LogFileName>{escape(n)}</LogFileName><LastWritten>{w}</LastWritten><Size>{s}</Size></DescribeDBLogFilesDetails>"
        for n, w, s in chunk
    )
    marker = f"<Marker>{start + page}</Marker>" if start + page < len(rows) else ""
    return 200, reply("DescribeDBLogFiles", f"<DescribeDBLogFiles>{body}</DescribeDBLogFiles>{marker}")


def rotate(state, instance, name):
    path = os.path.join(state.args.dir, instance, name)
    os.rename(path, path + ".1")
    open(path, "wb").close()
    state.generations[(instance, name)] = state.generation(instance, name) + 1
    print(f"rotated {instance}/{name}", file=sys.stderr, flush=True)


def download(state, p):
    if state.args.delay_ms:
        time.sleep(state.args.delay_ms / 1000)
    instance = p.get("DBInstanceIdentifier", "")
    name = p.get("LogFileName", "")
    state.downloads += 1
    for target, at in state.rotations:
        if at == state.downloads:
            rotate(state, instance, target)
    path = os.path.join(state.args.dir, instance, name)
    if instance not in state.instances() or ".." in name.split("/") or not os.path.isfile(path):
        return error("DBLogFileNotFoundFault", f"DBLog File: {name}, is not found on the DB instance", 404)
    marker = p.get("Marker", "0")
    generation = state.generation(instance, name)
    if marker == "0":
        offset = 0
    else:
        gen_text, _, offset_text = marker.partition(":")
        if int(gen_text) != generation:
            return error("DBLogFileNotFoundFault", f"DBLog File: {name}, is not found on the DB instance", 404)
        offset = int(offset_text)
    repeat = 0
    if marker != "0" and state.args.overlap_every and state.downloads % state.args.overlap_every == 0:
        repeat = min(state.args.overlap_bytes, offset)
    with open(path, "rb") as f:
        f.seek(offset - repeat)
        repeated = f.read(repeat)
        data = f.read(state.args.page_bytes + 1)
    lines = int(p["NumberOfLines"]) if "NumberOfLines" in p else None
    limit = state.args.page_bytes
    taken = data[:limit]
    if lines is not None:
        ends = [i for i, b in enumerate(taken) if b == 10][:lines]
        if ends:
            taken = taken[: ends[-1] + 1]
    truncated = len(data) > len(taken) and not taken.endswith(b"\n")
    text = (repeated + taken).decode("utf-8", "replace")
    if truncated:
        text += NOTICE
    next_offset = offset + len(taken)
    size = os.path.getsize(path)
    pending = "true" if next_offset < size else "false"
    body = (
        f"<LogFileData>{escape(text)}</LogFileData><AdditionalDataPending>{pending}</AdditionalDataPending>"
        f"<Marker>{generation}:{next_offset}</Marker>"
    )
    return 200, reply("DownloadDBLogFilePortion", body)


ACTIONS = {
    "DescribeDBClusters": describe_clusters,
    "DescribeDBInstances": describe_instances,
    "DescribeDBLogFiles": describe_log_files,
    "DownloadDBLogFilePortion": download,
}


def handler(state):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()}
            state.requests += 1
            action = form.get("Action", "")
            if state.args.throttle_every and state.requests % state.args.throttle_every == 0:
                status, body = error("Throttling", "Rate exceeded")
            elif action in ACTIONS:
                status, body = ACTIONS[action](state, form)
            else:
                status, body = error("InvalidAction", f"{action} is not served here")
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cluster")
    parser.add_argument("--page-bytes", type=int, default=1 << 20)
    parser.add_argument("--list-page", type=int, default=100)
    parser.add_argument("--throttle-every", type=int, default=0)
    parser.add_argument("--rotate", action="append")
    parser.add_argument("--max-requests", type=int, default=100000)
    parser.add_argument("--overlap-every", type=int, default=0)
    parser.add_argument("--overlap-bytes", type=int, default=100)
    parser.add_argument("--delay-ms", type=int, default=0, help="wait this long before each download reply")
    args = parser.parse_args()
    state = State(args)
    server = HTTPServer(("127.0.0.1", args.port), handler(state))
    print(server.server_address[1], flush=True)
    while state.requests < args.max_requests:
        server.handle_request()


if __name__ == "__main__":
    main()
