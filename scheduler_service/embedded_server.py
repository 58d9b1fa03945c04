"""The embedded SecantusDB server process: ``python -m scheduler_service.embedded_server``.

It builds ``SecantusDBServer`` itself rather than running ``python -m secantus`` because
that command reads ``[storage] ttl_sweep_seconds`` from its configuration file but does not
hand it to the server (secantusdb 0.x, measured here): the TTL sweep ran every 60 s
whatever the file said. The sweep decodes every history record under the storage lock,
so once the history held some 100,000 records every write stalled for 2-3 s each minute.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from secantus.server import SecantusDBServer

# SecantusDB's TTL sweep reads and decodes every document of a collection with a TTL index,
# holding the storage lock, so no write proceeds meanwhile (measured: 0.9 s at 50,000
# execution records, growing with the history). mongod's runs every 60 s and walks the
# index instead. Once an hour is plenty for a retention counted in days.
TTL_SWEEP_SECONDS = 3600


def build_server(storage_path: Path, port: int, *, test_commands: bool = False) -> SecantusDBServer:
    """A server on 127.0.0.1, durable on disk, as a standalone: no replica-set
    advertisement, hence no oplog, which nothing here reads (no change streams, no
    transactions); that spares about a sixth of the server's CPU per write (measured: 2.5 ->
    2.1 ms per tick). Production uses a MongoDB replica set."""
    return SecantusDBServer(
        host="127.0.0.1",
        port=port,
        storage_path=str(storage_path),
        replica_set_name=None,
        enable_test_commands=test_commands,
        ttl_sweep_seconds=TTL_SWEEP_SECONDS,
        durable=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--storage-path", type=Path, required=True)
    # Fault tests only: configureFailPoint (e.g. to hold one write while a process is killed).
    parser.add_argument("--test-commands", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = build_server(args.storage_path, args.port, test_commands=args.test_commands)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.stop()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server.start()
    server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
