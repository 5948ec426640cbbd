"""Hints in steps for the exercises: ``hint("gp")`` gives the first, ``hint("gp", 2)`` the next.

Each stub names what to compute and the lecture section that explains it; the steps here go
further, one at a time, and only the last comes close to the code. Used by every exercise notebook.
"""

from __future__ import annotations

import textwrap

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
    print(textwrap.fill(text, width=100, subsequent_indent="  "))
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


# ---- exercise 05 ------------------------------------------------------------------------------
HINTS["critic_loss"] = [
    "The critic maximises its estimate of W1, E[f(real)] - E[f(fake)]; a loss is minimised, so negate it.",
    "Scores are raw numbers: no sigmoid and no log. One mean per batch, then the difference.",
    "The mean of the fake scores minus the mean of the real scores.",
]
HINTS["wgan_g_loss"] = [
    "The generator moves its samples to where the critic scores high, so it maximises E[f(fake)].",
    "Negate the mean of the fake scores.",
]
HINTS["gp"] = [
    "Three steps: random points between each real sample and its fake, the critic's gradient at those points "
    "(with respect to the points, not the weights), then (norm - 1) squared, averaged.",
    "One eps ~ U[0, 1] per sample, shaped (B, 1, ..., 1) so that it broadcasts over the features; the "
    "interpolates must require grad; torch.autograd.grad needs create_graph=True so the penalty can be "
    "differentiated again when the critic steps.",
    "eps = torch.rand of shape (B,) + (1,) * (ndim - 1); x_hat = eps * real + (1 - eps) * fake, then "
    ".requires_grad_(True); grad of critic(x_hat).sum() with respect to x_hat; norms over "
    "grad.flatten(start_dim=1), dim=1; the mean of (norms - 1) ** 2.",
]
HINTS["critic_update"] = [
    "A for loop of n_critic passes; each pass is one complete update of the critic on its own fresh batches.",
    "Fakes for the critic come from G without a graph: wrap G(z) in torch.no_grad() or detach it. The loss is "
    "your critic_loss on the two batches of scores plus gp_weight times your gradient_penalty on the same "
    "real and fake batches.",
    "Per pass: x_real = sample_real(batch_size); x_fake from G(torch.randn(batch_size, z_dim)) with no "
    "graph; loss = critic_loss(...) + gp_weight * gradient_penalty(critic, x_real, x_fake); then "
    "opt_c.zero_grad(), loss.backward(), opt_c.step(); append loss.item().",
]


# ---- exercise 06 ------------------------------------------------------------------------------
HINTS["power_iteration"] = [
    "Each step multiplies by W^T, normalises (that is v), multiplies by W, normalises (that is u). Normalise "
    "at every step, or the vectors overflow.",
    "After the loop, take v once more from the final u; sigma is the number u^T W v (a 0-dim tensor).",
    "In the loop: v = F.normalize(W.T @ u, dim=0), then u = F.normalize(W @ v, dim=0). After it, v the same "
    "way, and sigma = u @ (W @ v).",
]
HINTS["sn_linear"] = [
    "Three parts: the power step (only when self.training), the buffer update, and the division of the weight. "
    "Your power_iteration does the step; ask it for 1 step in training mode and 0 in evaluation mode.",
    "Run power_iteration inside torch.no_grad(): u and v are then constants. Store the new u with the "
    "buffer's own in-place copy (self.u.copy_). Then recompute sigma outside no_grad, from u, the weight and "
    "v, so that the gradient reaches the weight through it.",
    "Under no_grad: _, u, v = power_iteration(self.weight, self.u, 1 if self.training else 0), and in training "
    "mode self.u.copy_(u). Then sigma = u @ (self.weight @ v); return F.linear(x, self.weight / sigma, self.bias).",
]


# ---- exercise 07 ------------------------------------------------------------------------------
HINTS["projection"] = [
    "Two terms, each one number per sample: psi applied to the features, and the inner product of the "
    "label's embedding with the features.",
    "psi(features) has shape (B, 1): drop the last axis. embed(y) has shape (B, F), like the features: an "
    "inner product per row multiplies them elementwise and sums over the feature axis (not the batch axis).",
    "psi(features).squeeze(1) + (embed(y) * features).sum(dim=1).",
]
HINTS["conditional_step"] = [
    "The same two updates as exercise 01's train_step. What changes: G and D take a label as a second "
    "argument, and each image is judged under the label it belongs to.",
    "Real pairs: (x_real, y_real). Fakes: G(z, y_fake), and D judges them under y_fake, in both steps. "
    "For D's step the fakes are detached; D's update uses opt_d only, G's uses opt_g only.",
    "x_fake = G(z, y_fake); loss_d = d_loss(D(x_real, y_real), D(x_fake.detach(), y_fake)); zero_grad, "
    "backward, step with opt_d; loss_g = g_loss_nonsaturating(D(G(z, y_fake), y_fake)); the same with "
    "opt_g; return the two .item()s.",
]


# ---- exercise 10 ------------------------------------------------------------------------------
HINTS["patch_size"] = [
    "Each layer maps a side of n pixels to a new side with the formula above; the next layer starts from "
    "that new side.",
    "Loop over the (k, s, p) triples; integer division (//) is the floor in the formula.",
    "For each (k, s, p): n = (n + 2 * p - k) // s + 1; return n at the end.",
]
HINTS["cycle_loss"] = [
    "Each round trip should return its input: measure how far each reconstruction is from its original, "
    "with the L1 distance, averaged over every pixel.",
    "Two terms, one per cycle, added: the mean absolute difference of x_cycled and x, and the same for y.",
    "(x_cycled - x).abs().mean() plus the same for y.",
]
HINTS["cyclegan_step"] = [
    "Four pieces: the two translations, the adversarial terms (each critic judges its own domain), the cycle "
    "term weighted by lam_cycle, and one update of opt_g (clear, backward, step).",
    "G(a) is an image of B, judged by D_B; F(b) an image of A, judged by D_A; the LSGAN generator loss "
    "g_loss_least_squares of each. Round trips: F(G(a)) comes back to a, G(F(b)) to b; your cycle_loss "
    "takes (a, F(G(a)), b, G(F(b))).",
    "fake_b, fake_a = G(a), F(b); loss = g_loss_least_squares(D_B(fake_b)) + g_loss_least_squares(D_A(fake_a)) "
    "+ lam_cycle * cycle_loss(a, F(fake_b), b, G(fake_a)); then zero_grad, backward, step; return "
    "loss.item() and the two fakes detached.",
]


# ---- exercise 11 ------------------------------------------------------------------------------
HINTS["slerp"] = [
    "Per row: the cosine of the angle between a and b (their dot product over the product of their norms), "
    "clamped into [-1, 1] before the arc cosine. Give t a trailing axis so it broadcasts over the features.",
    "The formula divides by sin(omega): where it is tiny (a and b nearly parallel) use the straight line "
    "a + t (b - a) instead. torch.where picks per row; divide by a safe sine so no NaN appears anywhere.",
    "cos = (a * b).sum(dim=1, keepdim=True) / (a.norm(dim=1, keepdim=True) * b.norm(dim=1, keepdim=True)); "
    "omega = torch.acos(cos.clamp(-1, 1)); near = torch.sin(omega) < 1e-4; then "
    "(sin((1 - t) omega) a + sin(t omega) b) / sin(omega), with the line where near.",
]
HINTS["too_strong"] = [
    "Three averages over windows of w steps: D's loss over the last w, G's loss over the first w and over "
    "the last w.",
    "D is too strong when its late average is below 0.15 times 2 log 2 AND G's late average is above its "
    "early one. Slices: the first w items are [:w], the last w are [-w:].",
    "w = max(1, round(0.3 * len(loss_d))); return sum(loss_d[-w:]) / w < 0.15 * 2 * math.log(2) and "
    "sum(loss_g[-w:]) / w > sum(loss_g[:w]) / w.",
]
HINTS["remedy"] = [
    "Start from a copy, dict(settings), so the caller's dict stays as it was; then one if/elif branch per "
    "failure name; anything else returns the copy unchanged.",
    "Strong D: set lr_d to lr_g (ratio 1). Saturation: the loss setting takes the string the course uses "
    "for the non-saturating loss. Instability: divide both rates by 10. Collapse: lr_g becomes lr_d. Keep "
    "floats as floats.",
]


# ---- exercise 02 ------------------------------------------------------------------------------
HINTS["optimal_d"] = [
    "For fixed G, D*(x) = p_data(x) / (p_data(x) + p_g(x)). Where both densities are zero, any value is "
    "optimal; the course uses 1/2.",
    "Work with NumPy arrays of floats; np.where picks per element between the ratio and 1/2. Guard the "
    "denominator, or the division warns about 0 / 0 even where np.where discards it.",
    "total = p_data + p_g; np.where(total > 0, p_data / np.where(total > 0, total, 1.0), 0.5).",
]
HINTS["jsd"] = [
    "JSD(p, q) = KL(p || m) / 2 + KL(q || m) / 2 with m the average of p and q. Normalise p and q first "
    "(they may be counts).",
    "KL(a || b) is the sum of a log(a / b); terms with a = 0 contribute 0 (and would give NaN if computed), "
    "so sum only where a > 0.",
    "p, q = p / p.sum(), q / q.sum(); m = (p + q) / 2; kl(a, b) = np.sum(a[a > 0] * np.log(a[a > 0] / b[a > 0])); "
    "return 0.5 * kl(p, m) + 0.5 * kl(q, m) as a float.",
]

# ---- exercise 03 ------------------------------------------------------------------------------
HINTS["dcgan_g"] = [
    "An nn.Sequential of four transposed convolutions that grow the side 1 -> 4 -> 8 -> 16 -> 32, with the "
    "channel counts of the table (4 ngf, 2 ngf, ngf, then channels).",
    "The cookbook: batch norm and ReLU after each of the first three (their convolutions need no bias), Tanh "
    "after the last, so images land in [-1, 1]. Kernel 4 everywhere; stride 1 padding 0 first, then stride 2 "
    "padding 1.",
    "nn.ConvTranspose2d(nz, 4 * ngf, 4, 1, 0, bias=False), nn.BatchNorm2d(4 * ngf), nn.ReLU(), then the same "
    "pattern with (4, 2, 1) down to ngf channels, and nn.ConvTranspose2d(ngf, channels, 4, 2, 1), nn.Tanh().",
]
HINTS["dcgan_d"] = [
    "An nn.Sequential of four convolutions that shrink the side 32 -> 16 -> 8 -> 4 -> 1, with ndf, 2 ndf, 4 ndf "
    "and then 1 channel, ending in one logit per image, shape (B,).",
    "The cookbook: LeakyReLU(0.2) after the first (no batch norm on the input layer), batch norm and "
    "LeakyReLU(0.2) after the next two, nothing after the last (the losses apply the sigmoid). nn.Flatten(0) "
    "turns (B, 1, 1, 1) into (B,).",
    "nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2); nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False), "
    "nn.BatchNorm2d(2 * ndf), nn.LeakyReLU(0.2); the same to 4 ndf; nn.Conv2d(4 * ndf, 1, 4, 1, 0), nn.Flatten(0).",
]
HINTS["dcgan_step"] = [
    "Exercise 01's two updates. D's fakes come from z_d and are detached; G's fakes come from z_g and are "
    "scored by the D you just updated.",
    "Each update: the loss (d_loss or g_loss_nonsaturating, from gancourse.losses), that player's "
    "zero_grad, backward, that player's step. Return the two losses as floats.",
    "loss_d = d_loss(D(x_real), D(G(z_d).detach())); opt_d.zero_grad(); loss_d.backward(); opt_d.step(); "
    "loss_g = g_loss_nonsaturating(D(G(z_g))); the same three calls with opt_g; return loss_d.item(), loss_g.item().",
]

# ---- exercise 04 ------------------------------------------------------------------------------
HINTS["coverage"] = [
    "Four steps: every sample's distance to every mode (an (N, M) table), each sample's nearest mode, which "
    "samples are high quality (within n_std * std of their nearest mode), and how many high-quality samples "
    "each mode holds.",
    "Broadcasting x[:, None, :] against c[None, :, :] gives the (N, M, d) differences. np.bincount with "
    "minlength=M counts per mode, zeros included. A mode is covered when its count reaches "
    "max(1, ceil(min_fraction * N)), N counting all samples.",
    "dist = sqrt of the summed squared differences; nearest = dist.argmin(axis=1); good = the nearest "
    "distance <= n_std * std; counts = np.bincount(nearest[good], minlength=len(c)); return the int number of "
    "counts >= needed, float(good.mean()) and counts.",
]

# ---- exercise 08 ------------------------------------------------------------------------------
HINTS["adain"] = [
    "Instance normalisation first: each (sample, channel) feature map minus its own mean, over its own "
    "standard deviation (over H and W only). Then the style: times scale, plus bias, one pair per channel.",
    "Keep the (B, C, 1, 1) shape of the statistics (keepdim=True) so they broadcast; the variance is the "
    "biased one (unbiased=False), with eps inside the square root; scale and bias need two trailing axes.",
    "mu = x.mean(dim=(2, 3), keepdim=True); var = x.var(dim=(2, 3), unbiased=False, keepdim=True); "
    "return scale[:, :, None, None] * (x - mu) / torch.sqrt(var + eps) + bias[:, :, None, None].",
]
HINTS["pixel_norm"] = [
    "Each row z (one latent) is divided by its root-mean-square: the square root of the mean of its squared "
    "entries, eps added inside.",
    "The mean runs over the features (dim=1) and keeps its axis (keepdim=True) so that it broadcasts.",
    "z / torch.sqrt(z.pow(2).mean(dim=1, keepdim=True) + eps).",
]
HINTS["mapping"] = [
    "Normalise z with your pixel_norm, then run the layers in order, each followed by the activation.",
    "The activation is a leaky ReLU with slope 0.2, multiplied by sqrt(2) (the gain that keeps the scale).",
    "h = pixel_norm(z); for each layer: h = math.sqrt(2) * F.leaky_relu(layer(h), 0.2); return h.",
]

# ---- exercise 09 ------------------------------------------------------------------------------
HINTS["statistics"] = [
    "Rows are samples, columns are features: the mean over the rows, and the covariance of the columns.",
    "The covariance divides by N - 1 (unbiased), and has shape (F, F); NumPy's np.cov treats rows as "
    "variables unless told otherwise.",
    "mu = f.mean(axis=0); sigma = np.cov(f, rowvar=False), or (f - mu).T @ (f - mu) / (N - 1).",
]
HINTS["frechet"] = [
    "Three parts: the squared distance of the means, the two traces, and the trace of the square root of "
    "S1 S2.",
    "S1 S2 is not symmetric, but S1^(1/2) S2 S1^(1/2) is, with the same eigenvalues. Build S1^(1/2) from "
    "np.linalg.eigh (clip tiny negative eigenvalues to 0); then the trace term is the sum of the square roots "
    "of the eigenvalues of the symmetric product.",
    "evals, evecs = np.linalg.eigh(S1); root = (evecs * sqrt(clip(evals, 0))) @ evecs.T; tr_root = the sum of "
    "sqrt(clip(eigvalsh(root @ S2 @ root), 0)); return |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr_root as a float.",
]
