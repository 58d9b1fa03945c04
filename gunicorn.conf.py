"""Read by gunicorn by itself when it is started from this directory without ``-c``: plain
``gunicorn wsgi:app`` then runs a scheduler in each worker and stops it on SIGTERM as
``make run`` does (``scheduler_service/gunicorn_hooks.py``). Only the lifecycle hooks:
gunicorn's defaults apply to everything else; ``deploy/gunicorn.conf.py`` is the
production configuration.
"""

from scheduler_service.gunicorn_hooks import (  # noqa: F401
    on_exit,
    on_starting,
    post_worker_init,
    worker_exit,
)
