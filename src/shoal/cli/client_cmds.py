"""Client commands for accounts: login, users and tokens."""

from __future__ import annotations

import os
import sys

import typer

from shoal.cli.client import ApiClient, fail, save_config
from shoal.cli.output import Column, NoHeadersOpt, list_output, render_list, yes_no

user_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Users (admins).")
token_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="API tokens.")

OutputOpt = list_output()

USER_COLUMNS = [
    Column("username", lambda u: u["username"]), Column("display_name", lambda u: u["display_name"]),
    Column("admin", lambda u: yes_no(u["is_admin"], blank_for_no=True)),
    Column("active", lambda u: yes_no(u["is_active"])),
    Column("created", lambda u: u["created_at"][:19]),
]
TOKEN_COLUMNS = [
    Column("id", lambda t: t["id"]), Column("name", lambda t: t["name"]),
    Column("created", lambda t: t["created_at"][:19]), Column("expires", lambda t: (t["expires_at"] or "never")[:19]),
    Column("last_used", lambda t: (t["last_used_at"] or "")[:19]),
    Column("revoked", lambda t: (t["revoked_at"] or "")[:19]),
]


def read_password(from_stdin: bool, prompt: str = "Password") -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            fail("No password on standard input.")
        return password
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=False))


def login(
    url: str = typer.Option(..., "--url", help="Shoal server URL, e.g. https://127.0.0.1:8080"),
    username: str = typer.Option(None, "--username", "-u", help="Username (prompted if omitted)"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
    expires: str = typer.Option("30d", "--expires", help="Token lifetime: 12h, 30d, 1y or never"),
    ca: str = typer.Option("", "--ca", help="PEM CA to trust for this server (saved with the token); default: "
                                            "SHOAL_CA, a local server's <data dir>/tls/ca.crt, the system's CAs"),
) -> None:
    """Log in and store an API token in your config file (mode 0600)."""
    username = username or typer.prompt("Username")
    password = read_password(password_stdin)
    client = ApiClient(url=url, token="", ca=ca)
    body = client.post("/api/v1/auth/token", {"username": username, "password": password, "name": "cli",
                                              "expires": expires})
    path = save_config(url, body["token"], username, ca or os.environ.get("SHOAL_CA", ""))
    typer.echo(f"Logged in to {url} as {username}; token saved to {path}")


@user_app.command("create")
def user_create(
    name: str = typer.Argument(..., help="Username"),
    admin: bool = typer.Option(False, "--admin", help="Make a platform admin"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
    no_password: bool = typer.Option(False, "--no-password", help="Token-only user (for automation)"),
    display_name: str = typer.Option("", "--display-name"),
) -> None:
    """Create a user."""
    password = None if no_password else read_password(password_stdin, "Password for the new user")
    body = ApiClient().post("/api/v1/users", {"username": name, "password": password, "is_admin": admin,
                                              "display_name": display_name})
    typer.echo(f"created user {body['username']}{' (admin)' if body['is_admin'] else ''}")


@user_app.command("list")
def user_list(output: str = OutputOpt, no_headers: bool = NoHeadersOpt) -> None:
    """List users."""
    rows = ApiClient().get("/api/v1/users")
    render_list(rows, rows, USER_COLUMNS, output, kind="user", name=lambda u: u["username"], no_headers=no_headers)


@user_app.command("disable")
def user_disable(name: str = typer.Argument(..., help="Username")) -> None:
    """Disable a user: their API tokens and web sessions stop working at once (admins)."""
    ApiClient().post(f"/api/v1/users/{name}/disable")
    typer.echo(f"disabled user {name}")


@user_app.command("enable")
def user_enable(name: str = typer.Argument(..., help="Username")) -> None:
    """Enable a disabled user again (admins)."""
    ApiClient().post(f"/api/v1/users/{name}/enable")
    typer.echo(f"enabled user {name}")


def _read_line(prompt: str) -> str:
    line = sys.stdin.readline()
    if not line:
        fail(f"No {prompt} on standard input.", "Give the current password and the new one on two lines.")
    return line.rstrip("\n")


@user_app.command("passwd")
def user_passwd(
    name: str = typer.Argument(None, help="Admins: set this user's password. Omit to change your own."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin",
        help="Read from stdin: the new password (with NAME), or the current and the new one on two lines"),
) -> None:
    """Change your own password, or (admins) set another user's."""
    client = ApiClient()
    if name:
        if password_stdin:
            new = _read_line("new password")
        else:
            new = str(typer.prompt(f"New password for {name}", hide_input=True, confirmation_prompt=True))
        client.request("PUT", f"/api/v1/users/{name}/password", json={"password": new})
        typer.echo(f"password of {name} set; their web sessions were ended")
        return
    if password_stdin:
        current, new = _read_line("current password"), _read_line("new password")
    else:
        current = str(typer.prompt("Current password", hide_input=True))
        new = str(typer.prompt("New password", hide_input=True, confirmation_prompt=True))
    client.request("PUT", "/api/v1/account/password", json={"current_password": current, "new_password": new})
    typer.echo("password changed; your other web sessions were ended")


@token_app.command("create")
def token_create(
    user: str = typer.Option(None, "--user", help="Admins: mint a token for another user"),
    expires: str = typer.Option("90d", "--expires", help="12h, 30d, 2w, 1y or never"),
    name: str = typer.Option("", "--name", help="A label to recognise the token by"),
) -> None:
    """Create an API token and print only the token (it is shown once)."""
    body = ApiClient().post("/api/v1/tokens", {"username": user, "expires": expires, "name": name})
    typer.echo(body["token"])


@token_app.command("list")
def token_list(user: str = typer.Option(None, "--user"), output: str = OutputOpt,
               no_headers: bool = NoHeadersOpt) -> None:
    """List API tokens (never their values)."""
    rows = ApiClient().get("/api/v1/tokens", user=user)
    render_list(rows, rows, TOKEN_COLUMNS, output, kind="token", name=lambda t: t["id"], no_headers=no_headers)


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="Token id from 'shoal token list'")) -> None:
    """Revoke an API token."""
    ApiClient().delete(f"/api/v1/tokens/{token_id}")
    typer.echo(f"revoked token {token_id}")


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
