"""Serve moto on the loopback interface, patched where it departs from AWS.

Usage: launcher.py --port N --state-dir DIR   (started by scripts/local-stack; logs to stderr,
which the script sends to DIR/server.log). Prints no credentials: they go to accounts.json only.

Patches, each restoring an AWS behaviour the local main job depends on:
  patch_logs_delivery     CreateDelivery to another account's destination, gated by its policy
  patch_sts_assume_role   AssumeRole checks that the role exists and that its trust admits the call
  patch_cloudfront        function stages, UpdateFunction and PublishFunction; IfMatch and new
                          ETags on distribution writes; associations kept on update
"""

import argparse
import logging
import os
import signal
import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
import werkzeug.serving
from werkzeug.serving import make_server

import accounts
import patch_cloudfront
import patch_logs_delivery
import patch_sts_assume_role

HOST = "127.0.0.1"
log = logging.getLogger("local-stack")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    # Own session: a Ctrl-C in the shell that ran `up` must not stop the server later.
    try:
        os.setsid()
    except OSError:
        pass

    patch_logs_delivery.apply()
    patch_sts_assume_role.apply()
    patch_cloudfront.apply()
    log.info(
        "patches applied: logs CreateDelivery cross-account, sts AssumeRole trust, "
        "cloudfront function stages and distribution writes"
    )

    accounts_path = accounts.provision(args.state_dir)
    log.info("account credentials written to %s", accounts_path)

    werkzeug.serving._log_add_style = False  # the request log goes to a file: no ANSI colours
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(HOST, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("moto serving on http://%s:%d (pid %d)", HOST, args.port, os.getpid())
    try:
        server.serve_forever()
    finally:
        server.server_close()
        log.info("moto stopped")


if __name__ == "__main__":
    main()
