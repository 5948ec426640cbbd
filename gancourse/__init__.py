"""gancourse: the tested package behind a course on Generative Adversarial Networks.

Each module holds one concept of the course and names the lectures that use it; open the file a
lecture names and read it top to bottom. See the README for the lecture map. Where each concept
lives, in the order the lectures meet it:

==============================================================  ======================  ===========
concept                                                         module                  lectures
==============================================================  ======================  ===========
device, seeds, FAST and FULL budgets, data and cache folders    ``config``              all
argument checks at the package's public boundaries              ``validate``            all
toy samplers with their densities; image datasets               ``data``                all
the checkpoint store: cache names, atomic save, safe load       ``checkpoints``         all
KL, JSD, W1, the optimal discriminator, Gaussian closed forms   ``divergences``         01 02 05
every adversarial loss; gradient penalty, R1, R2                ``losses``              01-07 12
the one training loop: D step, G step, History, resume          ``train``               01-08
its speed seam: in-memory batches, step log, autocast, compile  ``speed``               03
DistributedDataParallel under torchrun                          ``parallel``            -
MLP players for the 1D and 2D toy games                         ``toy``                 01 02 04 05
DCGAN, its weight init, the convolution output-size formulas    ``dcgan``               03
the course classifier that judges samples offline               ``judge``               03-11
each trained model by name, trained once and cached             ``recipes``             03-11
reference models trained on MNIST, shipped with the package     ``references``          03 05-11
mode collapse: minibatch std, PacGAN, unrolled GAN, the ring    ``collapse``            04 05 08 11
Fréchet distance, FID, KID, precision/recall, mode coverage     ``metrics``             03 04 09
spectral normalization, power iteration, Lipschitz bounds       ``spectral``            06
conditional generator, projection discriminator                 ``conditional``         07
mapping network, AdaIN, noise, style mixing, truncation         ``stylegan``            08
U-Net, PatchGAN, pix2pix, CycleGAN, the image pool              ``translation``         10
lerp and slerp, SeFa, GANSpace, projection into W               ``latent``              08 11
reading a History: the failure, its evidence, its remedy        ``diagnose``            11
R3GAN's objective (relativistic pairing, R1 and R2)             ``r3gan``               12
ProGAN's fade-in, SAGAN's self-attention, BigGAN's tricks       ``scale``               12
a small diffusion model, its distilled one-step generator       ``diffusion``           12
a variational autoencoder for 2D points and digits              ``vae``                 12
GAN, VAE and diffusion measured side by side                    ``families``            12
spotting fakes, truncation's class balance                      ``fakes``               12
plots, in lecture order; widgets over them                      ``viz``, ``widgets``    all
exercise checkers, one module per lecture over a small core     ``checks``              01-11
grading a folder of submitted exercise notebooks, offline       ``grading``             01-11
executing notebooks, generating exercises; the command line     ``notebooks``, ``cli``  -
==============================================================  ======================  ===========
"""

__version__ = "0.1.0"
