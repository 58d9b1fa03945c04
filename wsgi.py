"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``.

Importing this builds the app: it reads the configuration, connects to the database and
creates the indexes; it starts no scheduler. The process that should run one starts it:
each gunicorn worker (the ``post_worker_init`` hook, from ``deploy/gunicorn.conf.py`` or,
for plain ``gunicorn wsgi:app`` from this directory, ``gunicorn.conf.py``) and
``flask --app wsgi scheduler run``. A bad setting stops start-up with one line on stderr
and exit status 3, gunicorn's boot-error code: a gunicorn master whose worker exits with
it stops, rather than boot new workers forever, however gunicorn was configured.
"""

from scheduler_service import create_app, open_runtime
from scheduler_service.errors import ConfigError
from scheduler_service.settings import exit_on_config_error

try:
    app = create_app(open_runtime())
except ConfigError as exc:
    exit_on_config_error(exc)
