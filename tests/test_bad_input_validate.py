"""The argument checks every public boundary calls: each message says what came, what was expected, what to do."""

import math

import numpy as np
import pytest
import torch

from gancourse.validate import (assert_shape, check_bool, check_choice, check_finite, check_int, check_number,
                                check_numbers, check_tensor, check_value_range)


def test_check_int_accepts_numpy_integers_and_returns_int():
    got = check_int(np.int64(64), "batch_size", low=1)
    assert got == 64 and type(got) is int


@pytest.mark.parametrize("value, error, message", [
    (True, TypeError, r"batch_size must be an int, got bool True"),
    (2.5, TypeError, r"batch_size must be an int, got float 2.5. Pass a whole number, e.g. batch_size=2."),
    ("64", TypeError, r"batch_size must be an int, got str '64'"),
    (0, ValueError, r"batch_size must be an int >= 1, got 0."),
])
def test_check_int_refuses(value, error, message):
    with pytest.raises(error, match=message):
        check_int(value, "batch_size", low=1)


@pytest.mark.parametrize("value, message", [
    (math.nan, r"ema_decay must be a finite number, got nan"),
    (1.0, r"ema_decay must be in \[0, 1\), got 1"),
    (-0.1, r"ema_decay must be in \[0, 1\), got -0.1"),
])
def test_check_number_bounds_and_finiteness(value, message):
    with pytest.raises(ValueError, match=message):
        check_number(value, "ema_decay", low=0, high=1, high_open=True)


def test_check_number_refuses_strings_and_bools_and_takes_one_element_tensors():
    with pytest.raises(TypeError, match="lr must be a number, got str '1e-3'"):
        check_number("1e-3", "lr")
    with pytest.raises(TypeError, match="lr must be a number, got bool False"):
        check_number(False, "lr")
    assert check_number(torch.tensor(0.5), "lr") == 0.5


@pytest.mark.parametrize("value, error, message", [
    ((0.5,), ValueError, r"betas must hold 2 numbers, got 1: \(0.5,\)"),
    (0.5, TypeError, r"betas must be a tuple of 2 numbers, got float 0.5"),
    ("0.5, 0.9", TypeError, r"betas must be a tuple of 2 numbers, got str"),
    ((0.5, 1.5), ValueError, r"betas\[1\] must be in \[0, 1\), got 1.5"),
])
def test_check_numbers(value, error, message):
    with pytest.raises(error, match=message):
        check_numbers(value, "betas", 2, low=0, high=1, high_open=True)


def test_check_bool_and_choice():
    assert check_bool(np.bool_(True), "progress") is True
    with pytest.raises(TypeError, match="progress must be True or False, got str 'yes'"):
        check_bool("yes", "progress")
    with pytest.raises(ValueError, match=r"unknown loss 'hinj'; expected one of 'hinge', 'wasserstein'"):
        check_choice("hinj", ("hinge", "wasserstein"), "loss")
    with pytest.raises(TypeError, match=r"loss must be a str, one of 'hinge'.*got int 3"):
        check_choice(3, ("hinge",), "loss")


def test_shape_dtype_finiteness_and_range():
    with pytest.raises(ValueError, match=r"z has shape \(8, 3\); expected \(None, 100\): dim 1 is 3, expected 100"):
        assert_shape(torch.zeros(8, 3), (None, 100), "z")
    with pytest.raises(TypeError, match=r"images must hold floating-point values, got a tensor of shape \(2, 1, 4, 4\) "
                                        r"\(uint8\). Convert it with .float\(\)"):
        check_tensor(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), "images", floating=True)
    with pytest.raises(ValueError, match=r"images must have 4 dimensions, got a tensor of shape \(4, 4\)"):
        check_tensor(torch.zeros(4, 4), "images", ndim=4)
    x = torch.zeros(10)
    x[2], x[5] = float("nan"), float("inf")
    with pytest.raises(ValueError, match="scores holds 1 NaN and 1 infinite value.* among 10"):
        check_finite(x, "scores")
    with pytest.raises(ValueError, match=r"images must lie in \[-1, 1\], got values from 0 to 255. Scale them"):
        check_value_range(torch.tensor([0.0, 255.0]), "images", -1, 1, hint="Scale them.")
    assert check_value_range(torch.tensor([-1.0, 1.0005]), "images", -1, 1) is not None  # rounding is tolerated
