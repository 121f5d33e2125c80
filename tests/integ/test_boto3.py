#!/usr/bin/python3
"""boto3 (Debian's python3-boto3) through s3lb to Ceph RGW, path style and virtual-hosted style.

Path style: bucket, small and multipart PUT (managed transfer and explicit multipart), GET whole
and by Range, HEAD, ListObjectsV2 with prefix/delimiter and paging, copy, delete, presigned GET,
delete bucket. Keys with spaces, '+', '%' and unicode prove that percent-encoding survives.
Virtual-hosted style: requests signed by botocore for http://BUCKET.s3.local:PORT/KEY and sent to
the endpoint with that Host header (s3.local does not resolve; s3lb and radosgw both know it).

The harness is tests/integ/lib.sh: this file re-runs itself under bash with the cluster and s3lb
up, so setup and teardown are the same as for the shell tests.
"""
import os
import sys

if os.environ.get("S3LB_INTEG_CHILD") != "1":
    import importlib.util
    if importlib.util.find_spec("boto3") is None:
        print("SKIPPED: boto3 not installed (python3-boto3)")
        sys.exit(77)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import pyharness
    pyharness.under_lib_sh(__file__)

import hashlib  # noqa: E402
import http.client  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import urllib.parse  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402

import boto3  # noqa: E402
import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.config  # noqa: E402
import botocore.credentials  # noqa: E402
import botocore.exceptions  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

NAME = os.environ.get("S3LB_INTEG_NAME", "test_boto3.py")
ENDPOINT = os.environ["S3LB_ENDPOINT"]
HOST = os.environ["S3LB_HOST"]
PORT = int(os.environ["S3LB_PORT"])
DOMAIN = os.environ.get("S3LB_DOMAIN", "s3.local")
ACCESS = os.environ["S3LB_ACCESS_KEY"]
SECRET = os.environ["S3LB_SECRET_KEY"]
TMP = os.environ["INTEG_TMP"]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

MiB = 1024 * 1024
SPECIAL_KEYS = [
    "dir with spaces/file name.txt",
    "plus+sign+key",
    "percent%20not-a-space%2Fslash%25",
    "unicode/ünïcødé-€-日本語-🙂.bin",
    "mixed/a b+c%d ü?x=1&y=2#frag;semi",
]


def fail(msg):
    print(f"FAIL {NAME}: {msg}", file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print(f"ok   {msg}", flush=True)


def eq(want, got, what):
    if want != got:
        fail(f"{what}: expected {want!r}, got {got!r}")
    ok(what)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def same(want, got, what):
    if want != got:
        i = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
        fail(f"{what}: content differs: expected {len(want)} bytes sha256 {sha(want)}, "
             f"got {len(got)} bytes sha256 {sha(got)}; first difference at byte {i}")
    ok(f"{what} (sha256 {sha(got)[:16]}..., {len(got)} bytes)")


def expect_error(code, what, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except ClientError as e:
        got = e.response.get("Error", {}).get("Code")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if got != code and str(status) != code:
            fail(f"{what}: expected error {code}, got {got} (HTTP {status})")
        ok(what)
        return
    fail(f"{what}: expected error {code}, but the call succeeded")


def client(style):
    cfg = botocore.config.Config(s3={"addressing_style": style}, retries={"max_attempts": 1},
                                 connect_timeout=10, read_timeout=120)
    return boto3.session.Session().client(
        "s3", endpoint_url=ENDPOINT, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
        region_name="us-east-1", config=cfg)


def unique_bucket(prefix):
    return f"{prefix}-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}"


def empty_and_delete(s3, bucket):
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=o["Key"])
        for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        s3.delete_bucket(Bucket=bucket)
    except ClientError:
        pass


def raw_get(url):
    """GET an absolute URL exactly as given (no re-encoding): status, headers, body."""
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        conn.close()


# ---- path style ------------------------------------------------------------------------------

def test_path_style():
    s3 = client("path")
    bucket = unique_bucket("boto3-path")
    try:
        s3.create_bucket(Bucket=bucket)
        s3.head_bucket(Bucket=bucket)
        ok(f"path style: create bucket {bucket}")

        small = b"small object from boto3 " + os.urandom(64)
        s3.put_object(Bucket=bucket, Key="small.bin", Body=small)
        same(small, s3.get_object(Bucket=bucket, Key="small.bin")["Body"].read(),
             "path style: small PUT/GET")
        h = s3.head_object(Bucket=bucket, Key="small.bin")
        eq(len(small), h["ContentLength"], "path style: HEAD ContentLength")
        eq('"%s"' % hashlib.md5(small).hexdigest(), h["ETag"], "path style: HEAD ETag is the MD5")

        # Managed transfer: 40 MiB in 8 MiB parts -> multipart with 5 parts.
        big_path = os.path.join(TMP, "big.bin")
        with open(big_path, "wb") as f:
            f.write(os.urandom(40 * MiB))
        with open(big_path, "rb") as f:
            big = f.read()
        tc = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
        s3.upload_file(big_path, bucket, "big.bin", Config=tc)
        h = s3.head_object(Bucket=bucket, Key="big.bin")
        eq(len(big), h["ContentLength"], "path style: HEAD big.bin ContentLength")
        if not h["ETag"].endswith('-5"'):
            fail(f"path style: big.bin ETag {h['ETag']} is not a 5-part multipart ETag")
        ok("path style: upload_file went multipart (5 parts)")
        got_path = os.path.join(TMP, "big.got")
        s3.download_file(bucket, "big.bin", got_path, Config=tc)
        with open(got_path, "rb") as f:
            same(big, f.read(), "path style: download_file big.bin (parallel ranged GETs)")
        os.unlink(got_path)
        same(big, s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read(),
             "path style: single GET big.bin")

        # Range GETs.
        r = s3.get_object(Bucket=bucket, Key="big.bin", Range="bytes=1000-1999")
        eq(206, r["ResponseMetadata"]["HTTPStatusCode"], "path style: Range GET status")
        eq(f"bytes 1000-1999/{len(big)}", r["ContentRange"], "path style: Range GET Content-Range")
        same(big[1000:2000], r["Body"].read(), "path style: Range GET bytes=1000-1999")
        r = s3.get_object(Bucket=bucket, Key="big.bin", Range="bytes=-777")
        same(big[-777:], r["Body"].read(), "path style: suffix Range GET bytes=-777")
        expect_error("InvalidRange", "path style: unsatisfiable Range is InvalidRange",
                     s3.get_object, Bucket=bucket, Key="small.bin", Range="bytes=100000-100010")

        # Explicit multipart: 5 MiB + 5 MiB + a short last part, out-of-order upload.
        parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(12345)]
        up = s3.create_multipart_upload(Bucket=bucket, Key="mp.bin")["UploadId"]
        etags = {}
        for n in (3, 1, 2):
            etags[n] = s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=up, PartNumber=n,
                                      Body=parts[n - 1])["ETag"]
        lp = s3.list_parts(Bucket=bucket, Key="mp.bin", UploadId=up)
        eq([1, 2, 3], [p["PartNumber"] for p in lp["Parts"]], "path style: ListParts part numbers")
        s3.complete_multipart_upload(
            Bucket=bucket, Key="mp.bin", UploadId=up,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]})
        want_etag = hashlib.md5(b"".join(bytes.fromhex(etags[n].strip('"')) for n in (1, 2, 3))).hexdigest()
        eq(f'"{want_etag}-3"', s3.head_object(Bucket=bucket, Key="mp.bin")["ETag"],
           "path style: multipart ETag is md5 of part md5s -3")
        same(b"".join(parts), s3.get_object(Bucket=bucket, Key="mp.bin")["Body"].read(),
             "path style: explicit multipart GET")
        # An aborted upload leaves nothing behind.
        up2 = s3.create_multipart_upload(Bucket=bucket, Key="aborted.bin")["UploadId"]
        s3.upload_part(Bucket=bucket, Key="aborted.bin", UploadId=up2, PartNumber=1, Body=b"x" * 1000)
        s3.abort_multipart_upload(Bucket=bucket, Key="aborted.bin", UploadId=up2)
        eq([], [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])],
           "path style: no multipart uploads left after abort")

        # Keys that need percent-encoding.
        bodies = {}
        for k in SPECIAL_KEYS:
            bodies[k] = os.urandom(100) + k.encode()
            s3.put_object(Bucket=bucket, Key=k, Body=bodies[k])
        for k in SPECIAL_KEYS:
            same(bodies[k], s3.get_object(Bucket=bucket, Key=k)["Body"].read(), f"path style: GET key {k!r}")
            eq(len(bodies[k]), s3.head_object(Bucket=bucket, Key=k)["ContentLength"], f"path style: HEAD key {k!r}")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        for k in SPECIAL_KEYS:
            if k not in keys:
                fail(f"path style: key {k!r} missing from the listing {keys!r}")
        ok("path style: special keys listed verbatim")
        # Asked explicitly, EncodingType=url comes back encoded (boto3 decodes only when it adds it).
        keys_url = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, EncodingType="url")["Contents"]]
        eq(keys, [urllib.parse.unquote(k) for k in keys_url], "path style: listing with EncodingType=url")
        keys_raw = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
        eq(keys, keys_raw, "path style: ListObjects (v1) keys")

        # ListObjectsV2 prefix + delimiter, and paging.
        for k in ("list/a", "list/b", "list/sub1/c", "list/sub1/d", "list/sub2/e", "listz"):
            s3.put_object(Bucket=bucket, Key=k, Body=b"l")
        r = s3.list_objects_v2(Bucket=bucket, Prefix="list/", Delimiter="/")
        eq(["list/a", "list/b"], [o["Key"] for o in r.get("Contents", [])], "path style: list prefix/delimiter keys")
        eq(["list/sub1/", "list/sub2/"], [p["Prefix"] for p in r.get("CommonPrefixes", [])],
           "path style: list prefix/delimiter CommonPrefixes")
        all_keys = []
        pages = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 4}):
            pages += 1
            all_keys += [o["Key"] for o in page.get("Contents", [])]
        eq(sorted(keys + ["list/a", "list/b", "list/sub1/c", "list/sub1/d", "list/sub2/e", "listz"]), all_keys,
           f"path style: paged listing returns every key in order ({pages} pages)")

        # Copy (plain, special source key, multipart source).
        s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "small.bin"})
        same(small, s3.get_object(Bucket=bucket, Key="copy.bin")["Body"].read(), "path style: CopyObject")
        src = SPECIAL_KEYS[4]
        s3.copy_object(Bucket=bucket, Key=src + ".copy", CopySource={"Bucket": bucket, "Key": src})
        same(bodies[src], s3.get_object(Bucket=bucket, Key=src + ".copy")["Body"].read(),
             "path style: CopyObject with a percent-encoded source key")
        s3.copy_object(Bucket=bucket, Key="mp-copy.bin", CopySource={"Bucket": bucket, "Key": "mp.bin"})
        same(b"".join(parts), s3.get_object(Bucket=bucket, Key="mp-copy.bin")["Body"].read(),
             "path style: CopyObject of a multipart object")

        # Presigned GETs, sent byte for byte.
        for k in ("small.bin", SPECIAL_KEYS[3], SPECIAL_KEYS[4]):
            url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": k}, ExpiresIn=300)
            status, _, body = raw_get(url)
            eq(200, status, f"path style: presigned GET {k!r} status")
            same(bodies.get(k, small), body, f"path style: presigned GET {k!r}")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big.bin"}, ExpiresIn=300)
        status, _, body = raw_get(url)
        same(big, body, "path style: presigned GET big.bin")

        # Delete; then 404s.
        s3.delete_object(Bucket=bucket, Key="copy.bin")
        expect_error("404", "path style: HEAD after delete is 404", s3.head_object, Bucket=bucket, Key="copy.bin")
        expect_error("NoSuchKey", "path style: GET after delete is NoSuchKey",
                     s3.get_object, Bucket=bucket, Key="copy.bin")
        r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in SPECIAL_KEYS]})
        eq(sorted(SPECIAL_KEYS), sorted(d["Key"] for d in r.get("Deleted", [])),
           "path style: DeleteObjects (multi-delete) of the special keys")
        expect_error("BucketNotEmpty", "path style: deleting a non-empty bucket is BucketNotEmpty",
                     s3.delete_bucket, Bucket=bucket)
    finally:
        empty_and_delete(s3, bucket)
    expect_error("404", "path style: bucket gone after delete", s3.head_bucket, Bucket=bucket)


# ---- virtual-hosted style --------------------------------------------------------------------

class VHost:
    """Requests signed for http://BUCKET.s3.local:PORT/... and sent to HOST:PORT as they are."""

    def __init__(self, bucket):
        self.bucket = bucket
        self.host = f"{bucket}.{DOMAIN}:{PORT}"
        self.creds = botocore.credentials.Credentials(ACCESS, SECRET)

    def request(self, method, key="", query="", body=b"", headers=None):
        path = "/" + urllib.parse.quote(key, safe="/~")
        url = f"http://{self.host}{path}" + (f"?{query}" if query else "")
        req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        botocore.auth.S3SigV4Auth(self.creds, "s3", "us-east-1").add_auth(req)
        conn = http.client.HTTPConnection(HOST, PORT, timeout=120)
        try:
            conn.putrequest(method, path + (f"?{query}" if query else ""), skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", self.host)
            for k, v in req.headers.items():
                if k.lower() != "host":
                    conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        finally:
            conn.close()

    def must(self, want_status, method, key="", query="", body=b"", headers=None, what=""):
        status, hdrs, data = self.request(method, key, query, body, headers)
        if status != want_status:
            fail(f"virtual-hosted: {what or method + ' ' + key}: expected HTTP {want_status}, got {status}: "
                 f"{data[:400]!r}")
        return hdrs, data


def test_virtual_hosted():
    s3 = client("path")
    bucket = unique_bucket("boto3-vhost")
    v = VHost(bucket)
    try:
        v.must(200, "PUT", what="create bucket")
        eq(True, any(b["Name"] == bucket for b in s3.list_buckets()["Buckets"]),
           f"virtual-hosted: bucket {bucket} created via Host {v.host}")
        v.must(200, "HEAD", what="HEAD bucket")
        ok("virtual-hosted: HEAD bucket")

        bodies = {}
        for k in ["plain.txt"] + SPECIAL_KEYS:
            bodies[k] = os.urandom(3000) + k.encode()
            hdrs, _ = v.must(200, "PUT", k, body=bodies[k], what=f"PUT {k!r}")
            eq('"%s"' % hashlib.md5(bodies[k]).hexdigest(), hdrs.get("etag"), f"virtual-hosted: PUT {k!r} ETag")
        for k, b in bodies.items():
            _, data = v.must(200, "GET", k, what=f"GET {k!r}")
            same(b, data, f"virtual-hosted: GET {k!r}")
            # Cross-check through the path-style client: same object.
            same(b, s3.get_object(Bucket=bucket, Key=k)["Body"].read(), f"virtual-hosted PUT read back path style {k!r}")
        hdrs, data = v.must(206, "GET", "plain.txt", headers={"Range": "bytes=10-19"}, what="Range GET")
        same(bodies["plain.txt"][10:20], data, "virtual-hosted: Range GET bytes=10-19")
        hdrs, data = v.must(200, "HEAD", SPECIAL_KEYS[4], what="HEAD special key")
        eq(str(len(bodies[SPECIAL_KEYS[4]])), hdrs.get("content-length"), "virtual-hosted: HEAD special key Content-Length")

        # ListObjectsV2 via the bucket host.
        q = "delimiter=%2F&list-type=2&prefix=" + urllib.parse.quote("dir with spaces/", safe="")
        _, data = v.must(200, "GET", query=q, what="ListObjectsV2")
        root = ET.fromstring(data)
        eq(["dir with spaces/file name.txt"], [e.text for e in root.iter(NS + "Key")],
           "virtual-hosted: ListObjectsV2 prefix with spaces")
        _, data = v.must(200, "GET", query="list-type=2", what="ListObjectsV2 all")
        eq(sorted(bodies), sorted(e.text for e in ET.fromstring(data).iter(NS + "Key")),
           "virtual-hosted: ListObjectsV2 lists every key verbatim")

        # Presigned URL for a virtual-hosted bucket, sent to the endpoint with that Host.
        vs3 = boto3.session.Session().client(
            "s3", endpoint_url=f"http://{DOMAIN}:{PORT}", aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
            region_name="us-east-1", config=botocore.config.Config(s3={"addressing_style": "virtual"}))
        url = vs3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": SPECIAL_KEYS[3]},
                                         ExpiresIn=300)
        u = urllib.parse.urlsplit(url)
        eq(v.host, u.netloc, "virtual-hosted: presigned URL host")
        conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
        conn.putrequest("GET", f"{u.path}?{u.query}", skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", u.netloc)
        conn.endheaders()
        r = conn.getresponse()
        body = r.read()
        conn.close()
        eq(200, r.status, "virtual-hosted: presigned GET status")
        same(bodies[SPECIAL_KEYS[3]], body, "virtual-hosted: presigned GET special key")

        # A wrong signature is refused (the request is forwarded, not re-signed).
        status, _, data = VHost(bucket).request("GET", "plain.txt")
        eq(200, status, "virtual-hosted: control request")
        bad = VHost(bucket)
        bad.creds = botocore.credentials.Credentials(ACCESS, SECRET + "x")
        status, _, data = bad.request("GET", "plain.txt")
        eq(403, status, "virtual-hosted: wrong secret is 403")
        if b"SignatureDoesNotMatch" not in data:
            fail(f"virtual-hosted: wrong secret: expected SignatureDoesNotMatch, got {data[:300]!r}")

        for k in bodies:
            v.must(204, "DELETE", k, what=f"DELETE {k!r}")
        v.must(404, "HEAD", "plain.txt", what="HEAD after DELETE")
        ok("virtual-hosted: DELETE objects, HEAD after delete is 404")
        v.must(204, "DELETE", what="DELETE bucket")
        v.must(404, "HEAD", what="HEAD bucket after delete")
        ok("virtual-hosted: DELETE bucket")
    finally:
        empty_and_delete(s3, bucket)


def main():
    t0 = time.time()
    try:
        test_path_style()
        test_virtual_hosted()
    except (ClientError, botocore.exceptions.BotoCoreError, OSError) as e:
        traceback.print_exc()
        fail(f"unexpected error: {type(e).__name__}: {e}")
    print(f"     {NAME}: all checks passed in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
