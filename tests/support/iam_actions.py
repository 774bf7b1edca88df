"""The IAM actions behind the requests moto's recorder wrote (one JSON line per request).

Only glaux's own requests count: those of Python's AWS SDK (the tests' set-up and checks) are
left out by their User-Agent. Prints a JSON list of [action, resource] pairs, where resource is
the bucket, or bucket/key, for S3 and "" for the other services.
"""
import base64
import json
import sys
from urllib.parse import parse_qs, unquote, urlparse

S3_BUCKET_QUERIES = {
    "lifecycle": {"GET": "s3:GetLifecycleConfiguration", "PUT": "s3:PutLifecycleConfiguration"},
}


def body_text(entry):
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return body


def actions(entry):
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    agent = headers.get("user-agent", "")
    if "Boto3" in agent or "botocore" in agent:
        return []
    target = headers.get("x-amz-target", "")
    if target.startswith("AWSGlue."):
        return [("glue:" + target.split(".", 1)[1], "")]
    authorization = headers.get("authorization", "")
    service = authorization.split("Credential=")[1].split("/")[3] if "Credential=" in authorization else ""
    url = urlparse(entry["url"])
    query = parse_qs(url.query, keep_blank_values=True)
    if service in ("monitoring", "rds", "sts", "kms"):
        action = parse_qs(body_text(entry)).get("Action", [""])[0] or query.get("Action", [""])[0]
        prefix = {"monitoring": "cloudwatch", "rds": "rds", "sts": "sts", "kms": "kms"}[service]
        return [(prefix + ":" + action, "")]
    if service != "s3":
        return [("unknown:" + service + ":" + entry["method"], entry["url"])]
    path = unquote(url.path).lstrip("/")
    bucket, _, key = path.partition("/")
    method = entry["method"]
    if not key:
        for name, by_method in S3_BUCKET_QUERIES.items():
            if name in query:
                return [(by_method[method], bucket)]
        if "delete" in query and method == "POST":
            return [("s3:DeleteObject", bucket)]
        if method == "GET":
            return [("s3:ListBucket", bucket)]
        return [("s3:" + method + "Bucket", bucket)]
    resource = bucket + "/" + key
    if "restore" in query:
        return [("s3:RestoreObject", resource)]
    if "uploadId" in query and method == "DELETE":
        return [("s3:AbortMultipartUpload", resource)]
    if method in ("GET", "HEAD"):
        return [("s3:GetObject", resource)]
    if method in ("PUT", "POST"):
        found = [("s3:PutObject", resource)]
        source = headers.get("x-amz-copy-source")
        if source:
            found.append(("s3:GetObject", unquote(source).lstrip("/")))
        return found
    if method == "DELETE":
        return [("s3:DeleteObject", resource)]
    return [("s3:" + method, resource)]


def entries(text):
    """The recorded requests. moto's threads append them without a lock, so two may share a
    line: read object after object rather than line by line."""
    decoder = json.JSONDecoder()
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return
        entry, at = decoder.raw_decode(text, at)
        yield entry


found = set()
with open(sys.argv[1]) as recording:
    for entry in entries(recording.read()):
        found.update(actions(entry))
print(json.dumps(sorted(found)))
