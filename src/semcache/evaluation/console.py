"""`semcache eval` on the terminal: the command, progress bars, the report, the plot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from semcache.config import Settings
from semcache.errors import ConfigError, SemcacheError
from semcache.evaluation.report import format_pairs, format_replay
from semcache.evaluation.session import EvalOptions, EvalResult, evaluate

__all__ = ["eval_command", "run"]


@click.command("eval")
@click.argument("pairs_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--columns",
    default="a,b,label",
    show_default=True,
    help="The stored prompt's, the new prompt's and the label's columns (label 1: same)",
)
@click.option("--embedder", help="Embedder (default: the embedder setting)")
@click.option("--verifier", help="Verifier, or 'off' (default: the verifier setting)")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    help="Threshold (default: the one calibrated for the decision, as a cache would use)",
)
@click.option("--limit", type=click.IntRange(min=1), help="Use only the first N pairs")
@click.option("--baseline", is_flag=True, help="Also evaluate cosine similarity alone")
@click.option("--replay", is_flag=True, help="Also stream the prompts through an empty cache")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to draw the precision vs hit ratio curve [default: eval-<file>.png]",
)
@click.option("--no-plot", is_flag=True, help="Draw no plot")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON")
@click.option(
    "--timing-sample",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Pairs decided one at a time to measure the time per decision",
)
def eval_command(pairs_file: Path, columns: str, **options: Any) -> None:
    """Measure the hit decision on labelled pairs (a JSONL, JSON or CSV file)."""
    names = tuple(name.strip() for name in columns.split(","))
    if len(names) != 3 or not all(names):
        raise click.BadParameter("give three column names, e.g. a,b,label", param_hint="--columns")
    try:
        run(pairs_file, names, Settings.from_env(), **options)
    except SemcacheError as exc:
        raise click.ClickException(str(exc)) from exc


@contextlib.contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:

        def advance(steps: int) -> None:
            bar.update(steps)

        yield advance


def run(
    path: Path,
    columns: tuple[str, str, str],
    settings: Settings,
    *,
    embedder: str | None,
    verifier: str | None,
    threshold: float | None,
    limit: int | None,
    baseline: bool,
    replay: bool,
    plot: Path | None,
    no_plot: bool,
    as_json: bool,
    timing_sample: int,
) -> None:
    """Evaluate, print the report (text or JSON) and draw the plot.

    Raises:
        ConfigError: bad input, an unknown model, or matplotlib missing for the plot.
    """
    options = EvalOptions(
        path=path,
        columns=columns,
        embedder=embedder or settings.embedder,
        verifier=verifier or settings.verifier,
        threshold=threshold,
        limit=limit,
        baseline=baseline,
        replay=replay,
        timing_sample=timing_sample,
        threads=settings.threads,
    )
    result = asyncio.run(evaluate(options, _progress))
    if as_json:
        click.echo(json.dumps(_as_dict(result), indent=2))
    else:
        click.echo(_as_text(result))
    if not no_plot:
        target = plot or Path(f"eval-{path.stem}.png")
        _draw(target, result, explicit=plot is not None)


def _as_text(result: EvalResult) -> str:
    parts = []
    for variant in result.variants:
        parts.append(format_pairs(variant.report))
        if variant.replay is not None:
            parts.append(format_replay(variant.replay))
    return "\n\n".join(parts)


def _as_dict(result: EvalResult) -> dict[str, object]:
    variants = []
    for variant in result.variants:
        data = variant.report.to_dict()
        if variant.replay is not None:
            r = variant.replay
            data["replay"] = {
                "prompts": r.prompts,
                "hits": r.hits,
                "hit_ratio": round(r.hit_ratio, 4),
                "precision": round(r.precision, 4),
                "labelled_precision": round(r.labelled_precision, 4),
                "correct": r.correct,
                "wrong": r.wrong,
                "unknown": r.unknown,
                "skipped": r.skipped,
            }
        variants.append(data)
    return {"variants": variants}


def _draw(target: Path, result: EvalResult, *, explicit: bool) -> None:
    from semcache.evaluation.plot import write_plot

    curves = [(_short(v.report.decision), v.scores, v.report.threshold) for v in result.variants]
    try:
        write_plot(target, f"{result.variants[0].report.name}: precision vs hit ratio", curves)
    except ConfigError:
        if explicit:
            raise
        from semcache.evaluation.plot import INSTALL_HINT

        click.echo(f"semcache eval: no plot drawn; {INSTALL_HINT}", err=True)
        return
    except OSError as exc:
        raise ConfigError(
            f"cannot write the plot {target}: {exc.strerror or exc} (pass --plot PATH or --no-plot)"
        ) from exc
    click.echo(f"plot: {target}", err=True)


def _short(decision: str) -> str:
    return decision.split(", threshold")[0].replace(" on candidates with", ",")
