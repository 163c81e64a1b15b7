"""The fake DX "presigned URL" files host (DxFilesService, S3-like errors) and
FileLinksMixin, with which DxService answers 303 See Other to a signed,
expiring link on that host (studio CSV results, snapshot xlsx exports)."""

import functools
import hashlib
import re
import time
import urllib.parse

try:
    from common import Response, Service
    import dx_data as D
    from dx_rpc import FAULT_CONFIG, FaultsMixin
except ImportError:  # imported as part of a package
    from .common import Response, Service
    from . import dx_data as D
    from .dx_rpc import FAULT_CONFIG, FaultsMixin


class FileLinksMixin:
    """DxService side: mint the link.  Needs self.files_base_url."""

    def redirect_to_file(self, payload):
        payload["exp"] = int(self.now() + float(self.config.get("file_ttl") or 300))
        token = D.make_file_token(payload)
        query = urllib.parse.urlencode({"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                                        "X-Amz-Expires": int(self.config.get("file_ttl") or 300),
                                        "X-Amz-Signature": token.rsplit(".", 1)[1]})
        return Response(303, b"", {"Location": "%s/files/%s?%s" % (self.files_base_url, token, query)})


def _s3_error(status, code, message):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '</Error>' % (code, message)).encode()
    return Response(status, body, {"Content-Type": "application/xml"})


class DxFilesService(FaultsMixin, Service):
    """Serves the files DxService's 303s point at, like an S3 presigned URL:
    GET /files/<token>?X-Amz-Algorithm=...&X-Amz-Expires=...&X-Amz-Signature=<sig>.
    Unknown or forged token -> 404 NoSuchKey; missing/wrong signature -> 403
    SignatureDoesNotMatch; past expiry -> 403 AccessDenied (Request has expired);
    any Authorization header -> 400 InvalidArgument (S3 allows one auth mechanism
    only), unless {"reject_authorization": false}."""

    name = "dx_files"
    default_config = dict(FAULT_CONFIG, reject_authorization=True, clock_offset=0)

    def __init__(self):
        super().__init__()
        self.reset_state()

    def handle(self, req):
        # Only the fault counters need the lock; files render outside it so that
        # parallel downloads (benchmarks) do not queue behind each other.
        with self.lock:
            resp = self._fault_before(req, "files")
        resp = resp or self._serve_file(req)
        with self.lock:
            return self._fault_after("files", resp)

    def _serve_file(self, req):
        if req.method not in ("GET", "HEAD"):
            return _s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
        m = re.match(r"^/files/([^/]+)$", req.path)
        if not m:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if req.headers.get("authorization") and self.config.get("reject_authorization", True):
            return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed; only the "
                             "X-Amz-Algorithm query parameter, Signature query string parameter "
                             "or the Authorization header should be specified")
        token = urllib.parse.unquote(m.group(1))
        payload = D.read_file_token(token)
        if payload is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if req.arg("X-Amz-Signature") != token.rsplit(".", 1)[1]:
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated "
                             "does not match the signature you provided.")
        if payload.get("exp", 0) < time.time() + float(self.config.get("clock_offset") or 0):
            return _s3_error(403, "AccessDenied", "Request has expired")
        body, ctype, filename, etag = _rendered(token)
        return Response(200, body, {"Content-Type": ctype, "ETag": etag,
                                    "Content-Disposition": 'attachment; filename="%s"' % filename})


@functools.lru_cache(maxsize=8)
def _rendered(token):
    """A file's bytes are a pure function of its token: render each one once."""
    body, ctype, filename = D.render_file(D.read_file_token(token))
    return body, ctype, filename, '"%s"' % hashlib.md5(body).hexdigest()
