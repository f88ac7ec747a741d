"""The warnings of a run that learned nothing, read from its references
(aespec/train/references.py) when it ends:

    W444  the test figure is no better than the mean image's
    W445  the reconstructions barely vary across test examples
    W446  no unit of a VAE's latent varies with its input (posterior collapse)

Each hint names the likely causes the spec shows: a regularizer's weight (its own text),
a KL weight (beta), and the epochs the run had.
"""

from __future__ import annotations

from typing import Any

from aespec.errors import Diagnostic, Span, plural

NO_BETTER = 0.95  # model / mean image at or above it: W444
FLAT = 0.1  # spread of the reconstructions / the targets' below it: W445
FEW_EPOCHS = 10  # a run of at most this many epochs may simply not have learned yet


def collapse_warnings(spec: Any, refs: dict[str, Any] | None, epochs: int) -> list[Diagnostic]:
    """W444, W445 and W446 where the references show them; [] for none (or no refs)."""
    if not refs:
        return []
    found = []
    ratio = refs.get("model_over_mean_image")
    if ratio is not None and ratio >= NO_BETTER:
        found.append(Diagnostic(
            "W444", f"the test reconstruction error, {refs['model']:.4g}, is no better than "
            f"predicting the training mean image for every example ({refs['mean_image']:.4g};"
            f" ratio {ratio:.2f})", _where(spec), _causes(spec, epochs), spec.path))
    spread = (refs.get("spread") or {}).get("ratio")
    if spread is not None and spread < FLAT:
        s = refs["spread"]
        found.append(Diagnostic(
            "W445", f"the reconstructions barely vary across test examples: their spread is "
            f"{s['reconstructions']:.3g} against {s['targets']:.3g} in the data (ratio "
            f"{spread:.3g}); the model gives nearly the same output for every input",
            _where(spec), _causes(spec, epochs), spec.path))
    units = refs.get("active_units")
    if units is not None and units["active"] == 0:
        found.append(Diagnostic(
            "W446", f"none of the latent's {units['units']} units is active: the variance "
            f"over test inputs of E[z|x] is at most {units['threshold']:g} for each, so the "
            "decoder ignores its input (posterior collapse)", _latent_span(spec),
            _causes(spec, epochs, kl_first=True), spec.path))
    return found


def _where(spec: Any) -> Span | None:
    """The strongest suspect's line: the first regularizer, else the loss."""
    found: Span | None = spec.regularizers[0].call.span if spec.regularizers else spec.loss_span
    return found


def _latent_span(spec: Any) -> Span | None:
    found: Span | None = next((call.span for call in spec.bottleneck
                               if hasattr(call.args, "beta")), spec.loss_span)
    return found


def _causes(spec: Any, epochs: int, kl_first: bool = False) -> str:
    """The likely causes, in the order to try them."""
    regs = [f"`regularize {_text(spec, r.call.span)}`" for r in spec.regularizers]
    causes = [f"a regularizer's weight too strong ({', '.join(regs)}: lower it)"] if regs else []
    betas = [call.args.beta for call in spec.bottleneck if hasattr(call.args, "beta")]
    if betas:
        kl = (f"a KL that won (beta={betas[0]:g}: a smaller beta, KL annealing, or a decoder "
              "that cannot model the data alone)")
        causes = [kl, *causes] if kl_first else [*causes, kl]
    few = "too few epochs" if epochs <= FEW_EPOCHS else "a learning rate too low or too high"
    causes.append(f"{few} ({plural(epochs, 'epoch')} run)")
    return "likely: " + "; or ".join(causes)


def _text(spec: Any, span: Span) -> str:
    """The spec's own text at `span` (one line), e.g. `l2(0.1)`."""
    lines = (spec.source or "").splitlines()
    if not span or span.line > len(lines):
        return "?"
    line = lines[span.line - 1]
    end = span.end_column - 1 if span.end_line == span.line else len(line)
    return line[span.column - 1:end].strip() or "?"
