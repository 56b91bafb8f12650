#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for logbridge's tests, between the host and moto.

Listens on 127.0.0.1 (port chosen by the OS, printed as the first line of stdout) and
forwards every request to --upstream, except where a scripted fault says otherwise.

Control endpoints (the tests call them; they never reach moto):
  POST /__faults__  a JSON list of faults, replacing the script. Each fault applies to the
                    next `times` PutEvents calls (default 1), in order:
                      {"kind": "throttle"}                       400 ThrottlingException
                      {"kind": "status", "status": 500}          5xx InternalException
                      {"kind": "error", "status": 400, "code": "ValidationException"}
                      {"kind": "fail_entries", "indices": [1, 4], "code": "ThrottlingException"}
                          HTTP 200, FailedEntryCount > 0: the listed entries fail with the
                          code; the others are forwarded to moto and really delivered
                      {"kind": "delay", "seconds": 3}            then forward (with
                          "forward": false, answer 504 instead: moto never sees it)
                      {"kind": "reset"}                          close without answering
                      {"kind": "stall", "seconds": 120}          answer 200 with headers and
                          half the body, then nothing more for `seconds` (moto never sees it)
  GET  /__stats__   {"put_events": calls received, "entries": [entries per call]}
Only the standard library is used.
"""

import argparse
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PUT_EVENTS = "AWSEvents.PutEvents"
CODES_BY_STATUS = {500: "InternalException", 503: "ServiceUnavailableException"}


class State:
    def __init__(self, upstream):
        self.upstream = upstream.rstrip("/")
        self.lock = threading.Lock()
        self.faults = []
        self.calls = []

    def next_fault(self, entries):
        with self.lock:
            self.calls.append(entries)
            while self.faults:
                fault = self.faults[0]
                if fault.get("times", 1) <= 0:
                    self.faults.pop(0)
                    continue
                fault["times"] = fault.get("times", 1) - 1
                return dict(fault)
            return None


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send_json(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def send_error_type(self, status, code, message):
            self.send_json(status, {"__type": code, "message": message}, [("x-amzn-errortype", code)])

        def forward(self, body, headers):
            request = urllib.request.Request(
                state.upstream + self.path, data=body if body else None, method=self.command
            )
            for name, value in headers.items():
                if name.lower() not in ("host", "content-length", "connection"):
                    request.add_header(name, value)
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    return answer.status, dict(answer.headers), answer.read()
            except urllib.error.HTTPError as error:
                return error.code, dict(error.headers), error.read()

        def relay(self, status, headers, data):
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/__stats__":
                with state.lock:
                    calls = list(state.calls)
                self.send_json(200, {"put_events": len(calls), "entries": calls})
                return
            self.relay(*self.forward(b"", dict(self.headers)))

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/__faults__":
                with state.lock:
                    state.faults = json.loads(body)
                    state.calls = []
                self.send_json(200, {"ok": True})
                return
            headers = dict(self.headers)
            if self.headers.get("X-Amz-Target") != PUT_EVENTS:
                self.relay(*self.forward(body, headers))
                return
            entries = json.loads(body).get("Entries", [])
            fault = state.next_fault(len(entries))
            kind = fault and fault["kind"]
            if kind == "throttle":
                self.send_error_type(400, "ThrottlingException", "Rate exceeded")
            elif kind == "status":
                status = fault.get("status", 500)
                self.send_error_type(status, CODES_BY_STATUS.get(status, "InternalException"), "injected")
            elif kind == "error":
                self.send_error_type(fault.get("status", 400), fault["code"], "injected")
            elif kind == "reset":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif kind == "delay":
                time.sleep(fault.get("seconds", 1))
                try:
                    if fault.get("forward", True):
                        self.relay(*self.forward(body, headers))
                    else:
                        self.send_error_type(504, "GatewayTimeout", "injected, not forwarded")
                except (BrokenPipeError, ConnectionResetError):
                    pass
            elif kind == "stall":
                self.stall(entries, fault.get("seconds", 120))
            elif kind == "fail_entries":
                self.fail_entries(entries, fault, headers)
            else:
                self.relay(*self.forward(body, headers))

        def stall(self, entries, seconds):
            answer = json.dumps(
                {"FailedEntryCount": 0, "Entries": [{"EventId": f"stalled-{i}"} for i in range(len(entries))]}
            ).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer[: len(answer) // 2])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
            time.sleep(seconds)
            self.close_connection = True

        def fail_entries(self, entries, fault, headers):
            failing = set(fault.get("indices", []))
            code = fault.get("code", "ThrottlingException")
            passing = [e for i, e in enumerate(entries) if i not in failing]
            delivered = []
            if passing:
                status, _, data = self.forward(json.dumps({"Entries": passing}).encode(), headers)
                if status != 200:
                    self.send_error_type(status, "InternalException", data.decode(errors="replace"))
                    return
                delivered = json.loads(data).get("Entries", [])
            results, answers = [], iter(delivered)
            for i in range(len(entries)):
                if i in failing:
                    results.append({"ErrorCode": code, "ErrorMessage": "injected"})
                else:
                    results.append(next(answers))
            failed = sum(1 for r in results if "ErrorCode" in r)
            self.send_json(200, {"FailedEntryCount": failed, "Entries": results})

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(State(args.upstream)))
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
