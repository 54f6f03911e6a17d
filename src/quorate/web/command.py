"""`quorate web`: start the console (HTTPS on 127.0.0.1:8443 unless told otherwise).

Theory of operation: parse the options, get a certificate (given, or made once in the certificate directory),
build the application on the real boundaries (the control socket, PAM, the system's groups) and serve until
stopped. The default address is the loopback: reach it through an SSH tunnel, or give ``--listen
0.0.0.0:8443`` to serve the network. There is no plain-HTTP mode: passwords and session cookies only ever
travel over TLS (the tests, too, use the self-signed certificate).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from quorate.web import tls

DEFAULT_LISTEN = "127.0.0.1:8443"


def _address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        message = f"{listen!r}: give [ADDRESS:]PORT, for example {DEFAULT_LISTEN}"
        raise click.BadParameter(message, param_hint="--listen")
    return host.strip("[]") or "0.0.0.0", int(port)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="[ADDR:]PORT", help="Where to serve.")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), help="TLS certificate (PEM).")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), help="Its private key (PEM).")
@click.option("--cert-dir", type=click.Path(file_okay=False, path_type=Path), default=tls.DEFAULT_DIR,
              show_default=True, help="Where a self-signed certificate is made and kept (without --cert).")  # fmt: skip
@click.option("--group", default="haclient", show_default=True, help="Only members of this group may log in.")
@click.option("--pam-service", default="quorate-web", show_default=True, help="PAM service that checks passwords.")
@click.option("--session-minutes", type=click.IntRange(1, 24 * 60), default=30, show_default=True,
              help="A session ends after this long without a request.")  # fmt: skip
def web(listen: str, cert: Path | None, key: Path | None, cert_dir: Path, group: str, pam_service: str,
        session_minutes: int) -> None:  # fmt: skip
    """Serve the web console: cluster state, services and fencing, live, for members of --group."""
    from aiohttp import web as aioweb

    from quorate.web.app import Settings, build_app
    from quorate.web.auth import pam_check, system_group_member
    from quorate.web.link import DaemonLink
    from quorate.web.sessions import SessionStore

    host, port = _address(listen)
    if (cert is None) != (key is None):
        raise click.UsageError("give both --cert and --key, or neither (a self-signed pair is then made in --cert-dir)")
    if cert is None or key is None:
        try:
            cert, key, made = tls.ensure_self_signed(cert_dir)
        except OSError as exc:
            raise click.ClickException(f"cannot make a certificate in {cert_dir}: {exc}") from None
        if made:
            click.echo(f"made a self-signed certificate {cert} (key {key}, mode 0600)", err=True)
    try:
        context = tls.server_context(cert, key)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot use certificate {cert} with key {key}: {exc}") from None
    click.echo(f"certificate SHA-256 fingerprint {tls.fingerprint(cert)}", err=True)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="quorate-web: %(message)s")
    settings = Settings(
        password_check=pam_check(pam_service),
        group_check=system_group_member,
        group=group,
        sessions=SessionStore(idle=session_minutes * 60.0),
    )
    app = build_app(DaemonLink(), settings)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving the quorate web console on https://{shown}:{port}/ (group {group})", err=True)
    try:
        # Open event streams are not worth waiting for at shutdown: the pages reconnect to the next console.
        aioweb.run_app(app, host=host, port=port, ssl_context=context, print=None, access_log=None,
                       shutdown_timeout=2.0)  # fmt: skip
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
