"""The web console (WebConsole, R20): kubectl in a browser terminal, with the user's own rights.

A session (``POST /api/v1/clusters/{id}/console/sessions``) gets a short-lived
gateway token and a kubeconfig pointing at Shoal's own gateway, and runs a
restricted kubectl shell — no system shell — on a PTY of the server; the
browser speaks to it over a websocket in the original platform's framing.

Modules
    ``commands``   the shell's grammar: a line -> a built-in, a kubectl pipeline, or a refusal
    ``shell``      the program in the PTY (``python -m shoal.console.shell``): readline, run, report
    ``pty``        start the shell on a PTY; output, keystrokes, window size, hang-up
    ``framing``    websocket frames: ``0`` stdin, ``4`` resize (base64), base64 output
    ``sessions``   the manager: create, attach, limits, re-checks, per-line audit, clean-up
    ``sandbox``    each session's commands: own UID, read-only kubeconfig, network namespace to the gateway only
    ``relay``      the way out of a session's namespace to the gateway (TLS for servers on plain HTTP)
    ``recording``  asciinema v2 recordings for admins

The HTTP side is ``api.routes.console`` (API and websocket) and ``web.console_pages``.
"""
