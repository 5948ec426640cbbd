"""Exercise checkers: run a learner's function against the package's reference and say what differs.

Each ``check_*`` function takes the learner's function, calls it on fixed-seed random inputs and on
hand-picked edge cases, compares with the reference in the package, and either prints one line
saying what passed or raises ``AssertionError`` with what was given, what came back, and what was
expected. A stub that raises ``NotImplementedError`` is let through unchanged, so the learner sees
which function is still to write. Used by every exercise notebook.

One module per lecture (``lecture01`` ... ``lecture12``) over a small core (``_core``: calling the
learner's function, comparing, the failure message). Import the checkers from here:
``from gancourse.checks import check_jsd``.
"""

from gancourse.checks._core import (CheckFailed, NotWrittenYet, assert_close, checker, fail, passed, results,
                                    skip_if_stub, strict, summary)
from gancourse.checks.hints import hint
from gancourse.checks.lecture01 import check_discriminator_loss, check_generator_loss, check_train_loop, check_train_step
from gancourse.checks.lecture02 import check_optimal_discriminator, check_jsd
from gancourse.checks.lecture03 import check_dcgan_generator, check_dcgan_discriminator, check_dcgan_train_step
from gancourse.checks.lecture04 import check_mode_coverage
from gancourse.checks.lecture05 import (check_critic_loss, check_critic_update, check_generator_wasserstein_loss,
                                         check_gradient_penalty)
from gancourse.checks.lecture06 import check_power_iteration, check_sn_linear
from gancourse.checks.lecture07 import check_conditional_train_step, check_projection_score
from gancourse.checks.lecture08 import check_adain, check_pixel_norm, check_mapping_network
from gancourse.checks.lecture09 import check_frechet_distance, check_feature_statistics
from gancourse.checks.lecture10 import check_cycle_loss, check_cyclegan_generator_step, check_patch_output_size
from gancourse.checks.lecture11 import check_discriminator_too_strong, check_remedy, check_slerp
from gancourse.checks.lecture12 import check_pairing_losses, check_r3gan_step, check_zero_centred_penalty

__all__ = [
    "CheckFailed",
    "NotWrittenYet",
    "checker",
    "hint",
    "results",
    "skip_if_stub",
    "strict",
    "summary",
    "assert_close",
    "fail",
    "passed",
    "check_discriminator_loss",
    "check_generator_loss",
    "check_train_step",
    "check_train_loop",
    "check_optimal_discriminator",
    "check_jsd",
    "check_dcgan_generator",
    "check_dcgan_discriminator",
    "check_dcgan_train_step",
    "check_mode_coverage",
    "check_critic_loss",
    "check_generator_wasserstein_loss",
    "check_gradient_penalty",
    "check_critic_update",
    "check_power_iteration",
    "check_sn_linear",
    "check_projection_score",
    "check_conditional_train_step",
    "check_adain",
    "check_pixel_norm",
    "check_mapping_network",
    "check_frechet_distance",
    "check_feature_statistics",
    "check_patch_output_size",
    "check_cycle_loss",
    "check_cyclegan_generator_step",
    "check_slerp",
    "check_discriminator_too_strong",
    "check_remedy",
    "check_zero_centred_penalty",
    "check_pairing_losses",
    "check_r3gan_step",
]
