"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``.

CLI commands (``flask --app wsgi jobs list``) build the app without starting the
scheduler; ``flask run`` and ``flask scheduler run`` do start it. A bad setting stops
start-up with one line on stderr and exit status 2.
"""

import sys

from scheduler_service import create_app
from scheduler_service.cli import running_cli_command
from scheduler_service.errors import ConfigError

try:
    app = create_app(start_scheduler=False if running_cli_command() else None)
except ConfigError as exc:
    sys.stderr.write(f"configuration error: {exc.message}\n")
    sys.exit(2)
