"""Everything about the outgoing request of one attempt.

- ``attempt``: one HTTP attempt under a total deadline and a size cap, redirects included.
- ``sender``: one request built as ``requests`` builds it, sent with urllib3 on the pinned pool.
- ``answer``: the answer's body read under the deadline and the cap, and its outcome.
- ``deadline_watch``: every socket an attempt sends on is shut down at its deadline.
- ``one_write``: a request with a small body goes out in one write.
- ``sends_due``: answers wait unread while requests due by now are still to go out.
- ``outcome``: what an attempt came to, the kinds of failure and which are retried.
- ``session``: the Session every attempt uses: checked and pinned targets, nothing kept.
- ``target_guard``: which addresses a job may reach (SSRF protection).
- ``payload``: the rendered body and the headers that identify a tick.
- ``signing``: Standard Webhooks signature headers (``WEBHOOK_SIGNING_KEYS``, ``signingSecret``).
- ``masking``: which header values are secret, and how they are shown.
- ``redaction``: URLs stripped of credentials before they reach a log line.
"""
