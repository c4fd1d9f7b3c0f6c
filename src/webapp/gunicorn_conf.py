"""gunicorn settings for the report service: ``gunicorn -c python:webapp.gunicorn_conf``.

The bind address stays on the command line (``--bind 127.0.0.1:$PORT`` in the
Procfile) so that each deployment chooses it.

Threads, so that slow clients cannot starve the server: with the ``sync``
worker class each connection holds a whole worker process until its request
has arrived, so a couple of clients that send a byte at a time (slowloris)
stop the service. ``gthread`` parks idle connections in a poller and hands a
connection to a thread only once it has data; a thread then reads the rest of
the request. Two processes × 32 threads serve 64 requests at once, so even a
few dozen trickling clients leave threads for everyone else. Put a buffering
reverse proxy in front for anything exposed to the Internet: it is the real
defence against slow clients.
"""

#: Worker processes; each runs ``threads`` requests at once.
workers = 2

#: Threads per worker process (requests are short: validate, enqueue, send a file).
worker_class = "gthread"
threads = 32

#: Seconds a worker may go silent before the arbiter restarts it (a hung request).
timeout = 30

#: Seconds an idle kept-alive connection stays open (gthread parks it in the poller meanwhile).
keepalive = 5

#: Seconds a stopping worker gets to finish its requests.
graceful_timeout = 10

#: Access log on stdout, next to the error log, for honcho / the process manager.
accesslog = "-"

#: gunicorn >= 25.1 otherwise opens a control socket at one fixed path under
#: $HOME, shared by every instance on the machine; older versions ignore this.
control_socket_disable = True
