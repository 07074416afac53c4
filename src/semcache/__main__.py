from semcache.cli import cli

cli()
