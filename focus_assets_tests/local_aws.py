"""Real local servers for the AWS side: moto's server for S3 (boto3, dagster-aws), and the same
moto backend behind a small OSS-dialect adapter so that the real oss2 client works against it.

moto answers S3 XML; OSS differs for listings: no XML namespace, a `<Type>` per object, and oss2
sends empty list parameters (`continuation-token=`) that moto rejects. The adapter fixes exactly
those; everything else reaches moto as sent.
"""

import re
import socket
import threading
import urllib.request
from contextlib import contextmanager

from moto.server import DomainDispatcherApplication, ThreadedMotoServer, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OssDialect:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        query = environ.get("QUERY_STRING", "")
        environ["QUERY_STRING"] = "&".join(p for p in query.split("&") if p and not p.endswith("="))
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        headers = captured["headers"]
        if b"<ListBucketResult" in body:
            body = re.sub(rb' xmlns="[^"]+"', b"", body)
            body = body.replace(b"</StorageClass>", b"</StorageClass><Type>Normal</Type>")
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]
        start_response(captured["status"], headers)
        return [body]


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@contextmanager
def aws_and_oss():
    """(S3 endpoint, OSS endpoint), both on 127.0.0.1, sharing moto's in-process state (reset)."""
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    s3.start()
    # moto keeps its state in this process: every use starts from empty buckets and catalogs
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{s3._port}/moto-api/reset", method="POST")).close()
    oss_port = free_port()
    oss = make_server("127.0.0.1", oss_port, OssDialect(DomainDispatcherApplication(create_backend_app)),
                      threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=oss.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{s3._port}", f"http://127.0.0.1:{oss_port}"
    finally:
        oss.shutdown()
        s3.stop()
