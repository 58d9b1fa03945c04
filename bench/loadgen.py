"""The API load generator, in its own process: closed-loop keep-alive clients for N seconds.

``python -m bench.loadgen --port P --mode create|list --threads T --seconds S`` prints one
line ``= {json}``: requests, errors (non-2xx or transport), requests per second, and
latency p50/p99. ``http.client`` rather than ``requests`` so the generator costs less CPU
than the server it measures (both share this 2-core machine).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time

CREATE_BODY = json.dumps({
    "schedule": "0 0 0 1 1 *",
    "endpoint": "http://127.0.0.1:9/bench",
    "method": "POST",
    "body": {"bench": True},
}).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["create", "list"], required=True)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--key", default="", help="sent as Authorization: Bearer <key>")
    args = parser.parse_args()
    auth = {"Authorization": f"Bearer {args.key}"} if args.key else {}

    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    start_gate = threading.Event()
    stop_at = [0.0]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        mine: list[float] = []
        failed = 0
        start_gate.wait()
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            try:
                if args.mode == "create":
                    conn.request("POST", "/api/jobs", body=CREATE_BODY,
                                 headers={"Content-Type": "application/json", **auth})
                else:
                    conn.request("GET", "/api/jobs?page=1&limit=20", headers=auth)
                response = conn.getresponse()
                response.read()
                if not 200 <= response.status < 300:
                    failed += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
            mine.append(time.perf_counter() - began)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, daemon=True) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at[0] = began + args.seconds
    start_gate.set()
    for thread in threads:
        thread.join(args.seconds + 60)
    elapsed = time.perf_counter() - began
    latencies.sort()
    count = len(latencies)

    def pct(q: float) -> float | None:
        return round(latencies[min(count - 1, int(q * count))] * 1000, 1) if count else None

    result = {"mode": args.mode, "requests": count, "errors": errors[0],
              "seconds": round(elapsed, 3), "rps": round(count / elapsed, 1),
              "p50Ms": pct(0.5), "p99Ms": pct(0.99)}
    sys.stdout.write("= " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
