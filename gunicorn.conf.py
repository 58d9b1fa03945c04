"""Read by gunicorn by itself when it is started from this directory without ``-c``: plain
``gunicorn wsgi:app`` then runs a scheduler in each worker and stops it on SIGTERM as
``make run`` does, with the same start-up checks and protections
(``scheduler_service/gunicorn_hooks.py``). Only those: gunicorn's defaults apply to
everything else; ``deploy/gunicorn.conf.py`` is the production configuration.
"""

from scheduler_service.gunicorn_hooks import (  # noqa: F401
    forwarder_headers,
    on_exit,
    on_starting,
    post_worker_init,
    secure_scheme_headers,
    worker_exit,
)
