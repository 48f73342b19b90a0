"""The typer application every subcommand module registers on."""

import typer

app = typer.Typer(
    name="circuitlab",
    help="Circuit-targeted fine-tuning (CT-SFT) of language models for low-resource languages.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
