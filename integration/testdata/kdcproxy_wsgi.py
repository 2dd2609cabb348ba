"""Serve Python's kdcproxy (Debian python3-kdcproxy) as a WSGI app over TLS.

usage: kdcproxy_wsgi.py HOST PORT CERT KEY   (KDCPROXY_CONFIG names its config)
Prints "listening" once the socket is bound. Interop test only.
"""
import ssl
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

import kdcproxy


class Quiet(WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("kdcproxy: " + (fmt % args) + "\n")


host, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
httpd = make_server(host, port, kdcproxy.Application(), handler_class=Quiet)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print("listening", flush=True)
httpd.serve_forever()
