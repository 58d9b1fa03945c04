"""A receiver that applies each tick exactly once, however often the scheduler delivers it.

The scheduler delivers at least once: when the answer to a request is lost (its process was
killed mid-request, a timeout, a network cut) it cannot know whether the request took effect,
so it sends it again, with the same ``Idempotency-Key``; the signed ``webhook-id`` header
carries the same value. This receiver makes the *effect* exactly once:

1. It verifies the Standard Webhooks signature (``standardwebhooks``): 401 if it fails.
2. It inserts the effect, keyed by the ``webhook-id``, into a collection with a unique index
   on the key. A repeat of a tick fails that insert with ``DuplicateKeyError`` and is answered
   200 "already applied", doing nothing again. The 200 tells the scheduler to stop.

Here the effect *is* the inserted document. An effect elsewhere (a row of your own, an
email) needs the key recorded in the same transaction as the effect, or checked by the
system the effect goes to; otherwise a crash between the two applies it twice or never.

Run it (the project's ``make install`` has its three libraries, or ``pip install flask
pymongo standardwebhooks``)::

    export WEBHOOK_SECRET=whsec_...   # the job's signingSecret, or a WEBHOOK_SIGNING_KEYS key
    export MONGODB_URI='mongodb://127.0.0.1:27018/receiver?retryWrites=false'  # the default
    .venv/bin/flask --app examples/receiver.py run --port 8080

MONGODB_URI's default is a database ``receiver`` on the embedded server that ``make run``
starts; any MongoDB will do. Point a signed job at ``http://127.0.0.1:8080/hook`` (the
scheduler then needs ``ALLOW_PRIVATE_TARGETS=true``). RECEIVER_DELAY_MS (default 0) holds
each answer that long after the effect is written, to try what a kill mid-request does.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime

from flask import Flask, request
from pymongo import MongoClient, WriteConcern
from pymongo.errors import DuplicateKeyError
from standardwebhooks import Webhook, WebhookVerificationError

DEFAULT_URI = "mongodb://127.0.0.1:27018/receiver?retryWrites=false"

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("receiver")

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
database = MongoClient(os.environ.get("MONGODB_URI", DEFAULT_URI)).get_default_database()
# j=True: the insert is acknowledged once it is in the journal. An acknowledged key that a
# database crash then loses would let a repeat of its tick apply again (w:1 on a standalone
# does lose the last writes to kill -9). On a replica set the server's default w, majority,
# keeps it through a failover too.
effects = database.get_collection("effects", write_concern=WriteConcern(j=True))
effects.create_index("idempotencyKey", unique=True)
delay_s = int(os.environ.get("RECEIVER_DELAY_MS", "0")) / 1000

app = Flask(__name__)


# Every method a job can send (CONTRACT: GET, POST, PUT, PATCH, DELETE): a GET or DELETE
# tick is signed and keyed like a POST one.
@app.route("/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def receive(path: str) -> tuple[dict[str, str], int]:
    try:  # ValueError: a signature header not "v1,<base64>", or a body that is not UTF-8
        webhook.verify(request.get_data(), dict(request.headers), json_parse=False)
    except (WebhookVerificationError, ValueError):
        log.info("delivery refused: bad signature")
        return {"error": "bad signature"}, 401
    # A job without a body (its default) sends none: the payload is then None (as for a
    # body that is not JSON).
    payload = request.get_json(force=True, silent=True)
    key = request.headers["webhook-id"]  # the tick's Idempotency-Key, covered by the signature
    attempt = request.headers.get("X-Scheduler-Attempt", "?")
    try:
        effects.insert_one({"idempotencyKey": key, "path": path, "payload": payload,
                            "appliedAt": datetime.now(UTC)})  # fmt: skip
    except DuplicateKeyError:
        log.info("delivery %s attempt %s: already applied", key, attempt)
        return {"status": "already applied"}, 200
    log.info("delivery %s attempt %s: applied", key, attempt)
    time.sleep(delay_s)  # a slow answer: the effect is written, the answer not yet sent
    return {"status": "applied"}, 200
