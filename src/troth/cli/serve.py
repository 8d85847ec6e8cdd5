"""``troth serve``: the HTTP API, console and privacy centre with uvicorn."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from troth.cli import console, err_console, home_of


def served_pages(base: str) -> str:
    """The pages troth serves at ``base``, one a line (``serve`` and ``demo`` print them)."""
    return (
        f"  console         {base}/console\n"
        f"  privacy centre  {base}/privacy\n"
        f"  tenant admin    {base}/tenant\n"
        f"  API docs        {base}/docs"
    )


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
        workers: Annotated[
            int,
            typer.Option(
                min=1,
                max=64,
                help="Server processes sharing the port (one per core suits a busy API).",
            ),
        ] = 1,
        log_format: Annotated[
            str | None,
            typer.Option(
                "--log-format",
                help="text or json (one JSON object a line); default: the log_format setting.",
            ),
        ] = None,
    ) -> None:
        """Serve the HTTP API (/api/v1, /docs), the console (/console), the privacy centre
        (/privacy) and the tenant pages (/tenant)."""
        import uvicorn

        from troth.app import create_app
        from troth.home import open_context

        if log_format not in (None, "text", "json"):
            err_console.print(f"--log-format must be text or json, not {log_format!r}")
            raise typer.Exit(2)
        context = open_context(home_of(ctx))
        fmt: Literal["text", "json"] = log_format or context.settings.log_format  # type: ignore[assignment]
        from troth.operations.httplog import logging_config

        log_config = logging_config(fmt, log_level)
        base = f"http://{host}:{port}"
        console.print(f"troth serving {context.home}\n" + served_pages(base), highlight=False)
        if workers == 1:
            from troth.serving import proxy_options

            # uvicorn's access log (raw paths and query strings) is off: troth logs one line
            # per request with the route template instead (troth.operations.httplog).
            uvicorn.run(
                create_app(context),
                host=host,
                port=port,
                log_level=log_level,
                log_config=log_config,
                access_log=False,
                **proxy_options(context.settings.trusted_proxies),  # type: ignore[arg-type]
            )
            return
        # Each worker process opens the home itself (its own engine, key file and head
        # signer) and listens on its own SO_REUSEPORT socket (troth.serving).
        import logging.config

        from troth.serving import serve_workers

        logging.config.dictConfig(log_config)  # the supervisor's own lines, in the same format

        context.engine.dispose()
        try:
            status = serve_workers(
                str(context.home), host, port, workers, log_level, log_format=fmt
            )
        except OSError as exc:
            err_console.print(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
            raise typer.Exit(1) from exc
        if status:
            raise typer.Exit(status)
