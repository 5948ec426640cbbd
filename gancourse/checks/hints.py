"""Hints in steps for the exercises: ``hint("gp")`` gives the first, ``hint("gp", 2)`` the next.

Each stub names what to compute and the lecture section that explains it; the steps here go
further, one at a time, and only the last comes close to the code. Used by every exercise notebook.
"""

from __future__ import annotations

HINTS: dict[str, list[str]] = {}


def hint(key: str, step: int = 1) -> str:
    """Print hint number ``step`` (1, 2, ...) for the part named ``key``; return its text."""
    if key not in HINTS:
        known = ", ".join(sorted(HINTS))
        text = f"No hints under {key!r}. Known keys: {known}."
    else:
        steps = HINTS[key]
        step = max(1, min(int(step), len(steps)))
        more = (f"  (hint({key!r}, {step + 1}) for the next step)" if step < len(steps)
                else "  (that was the last hint)")
        text = f"Hint {step}/{len(steps)} for {key!r}: {steps[step - 1]}{more}"
    print(text)
    return text


# ---- exercise 01 ------------------------------------------------------------------------------
HINTS["d_loss"] = [
    "D returns logits s, not probabilities: log D = log sigmoid(s), and log(1 - D) = log sigmoid(-s). "
    "torch.nn.functional has a log-sigmoid that stays finite at any logit.",
    "Two terms, each a mean over its own batch: -log sigmoid of the real logits, and -log sigmoid of minus "
    "the fake logits. The loss is their sum.",
    "F.logsigmoid(real_logits).mean() and F.logsigmoid(-fake_logits).mean(): negate each and add them.",
]
HINTS["g_loss"] = [
    "The generator wants D to call its samples real, so it maximises log D(G(z)); as a loss to minimise, "
    "negate it (the non-saturating form, not log(1 - D)).",
    "From logits: log D(G(z)) = log sigmoid(s). Average over the batch.",
    "The negated mean of F.logsigmoid(fake_logits).",
]
HINTS["train_step"] = [
    "Two updates in a row. First D: score the real batch and a batch of fakes, with the fakes cut off from "
    "G's graph so that D's backward pass stops at them. Then G: new fakes from the same z, scored by the "
    "D you just updated.",
    "Each update is: compute the loss, clear that player's old gradients with its own optimiser, backward, "
    "step that optimiser. D's update uses opt_d only, G's uses opt_g only.",
    "D: x_fake = G(z).detach(); loss_d from D(x_real) and D(x_fake); opt_d.zero_grad(); loss_d.backward(); "
    "opt_d.step(). G: loss_g from D(G(z)); the same three calls with opt_g. Return both losses as floats "
    "(.item()).",
]
HINTS["train_loop"] = [
    "A for loop over range(num_steps). Everything random is drawn inside it: a new real batch and new noise "
    "at every step.",
    "The real batch comes from sample_real(batch_size); the noise is standard normal, one row of z_dim "
    "numbers per sample; step returns (loss_d, loss_g).",
    "In the loop: x_real = sample_real(batch_size), z = torch.randn(batch_size, z_dim), then "
    "step(G, D, opt_g, opt_d, x_real, z); append each returned loss to its list.",
]
