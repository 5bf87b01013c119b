"""`rsft serve MODEL_DIR --port P`: a minimal OpenAI-compatible server (chat, completions, models) on the hf backend.

    rsft serve runs/r1/checkpoints/step_000100 --port 8000
    rsft eval --model runs/r1/checkpoints/step_000100 --suite toy --store st --backend openai \\
        backend.base_url=http://127.0.0.1:8000/v1
"""

from __future__ import annotations

from pathlib import Path

import typer

from rsft.cli._common import stage_app

app = stage_app("serve a model folder over an OpenAI-compatible HTTP API (hf backend)")


@app.command("run")
def run(
    model_dir: Path = typer.Argument(..., help="model folder (from_pretrained layout)"),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port (0 = any free port, printed at start)"),
    host: str = typer.Option("127.0.0.1", "--host", help="interface to bind"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    dtype: str = typer.Option("auto", help="auto | float32 | bfloat16 | float16"),
    batch_size: int = typer.Option(32, min=1, help="rows decoded together"),
    chat_template: str = typer.Option(None, help="Jinja template file for tokenizers without one"),
    max_tokens_cap: int = typer.Option(
        32768, "--max-tokens-cap", min=1, help="largest max_tokens a request may ask for (above: HTTP 400)"
    ),
    max_queued: int = typer.Option(
        1024, "--max-queued", min=1, help="requests waiting for the decoder before new ones get HTTP 503"
    ),
    max_body_mb: float = typer.Option(
        16.0, "--max-body-mb", min=0.001, max=1024.0, help="largest request body in MiB (above: HTTP 413)"
    ),
    max_messages: int = typer.Option(
        1024, "--max-messages", min=1, help="most chat messages in one request (above: HTTP 400)"
    ),
) -> None:
    """Serve MODEL_DIR until interrupted."""
    from rsft.generate.server import ServerLimits, serve

    serve(
        str(model_dir),
        host,
        port,
        limits=ServerLimits(
            max_tokens_cap=max_tokens_cap,
            max_queued=max_queued,
            max_body_bytes=int(max_body_mb * (1 << 20)),
            max_messages=max_messages,
        ),
        say=lambda line: typer.echo(line, err=False),
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        chat_template=chat_template,
    )
