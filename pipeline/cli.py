"""The `doudian` command line (placeholder, filled in below)."""
import click


@click.group()
def main() -> None:
    """doudian-batch."""
