"""gunicorn settings for the report service: ``gunicorn -c python:webapp.gunicorn_conf``.

The bind address stays on the command line (``--bind 127.0.0.1:$PORT`` in the
Procfile) so that each deployment chooses it.
"""

#: Two sync workers: requests are short (validate, enqueue, send a file).
workers = 2

#: Access log on stdout, next to the error log, for honcho / the process manager.
accesslog = "-"

#: gunicorn >= 25.1 otherwise opens a control socket at one fixed path under
#: $HOME, shared by every instance on the machine; older versions ignore this.
control_socket_disable = True
