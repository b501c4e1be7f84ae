"""kernels.adam_update_many: several parameters in one call, against the float64 formula and against
adam_update one parameter at a time; kernels.AdamStep, its arrays checked once, against adam_update_many; bad
input refused before anything is written."""

import numpy as np
import pytest

import kernels

# More than one compiled group of eight; sizes below, at and past a vector of 8, a zero-size one, 1-D to 3-D.
SHAPES = [(3,), (8,), (5, 7), (0,), (16, 3), (2, 3, 4), (1,), (9,), (64,), (4, 4), (31,)]
SETTINGS = dict(step=3, lr=1e-2, betas=(0.8, 0.99), eps=1e-6)


def _state(rng, dtype, amsgrad):
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    m = [(rng.standard_normal(s) * 0.1).astype(dtype) for s in SHAPES]
    v = [(rng.random(s) * 0.1 + 0.01).astype(dtype) for s in SHAPES]
    v_max = [a + dtype(0.05) for a in v] if amsgrad else None
    return params, grads, m, v, v_max


def _formula(p, g, m, v, v_max, step, lr, betas, eps, weight_decay, decoupled):
    """PyTorch's Adam / AdamW in float64, as its documentation writes it."""
    b1, b2 = betas
    p, g, m, v = (a.astype(np.float64) for a in (p, g, m, v))
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    denominator = v if v_max is None else np.maximum(v_max.astype(np.float64), v)
    return p - lr / (1 - b1**step) * m / (np.sqrt(denominator) / np.sqrt(1 - b2**step) + eps), m, v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("weight_decay, decoupled", [(0.0, False), (0.1, False), (0.1, True)])
def test_many_parameters_in_one_call(dtype, amsgrad, weight_decay, decoupled, rng):
    params, grads, m, v, v_max = _state(rng, dtype, amsgrad)
    expected = [_formula(*arrays, v_max[i] if amsgrad else None, **SETTINGS, weight_decay=weight_decay,
                         decoupled=decoupled) for i, arrays in enumerate(zip(params, grads, m, v))]
    one_by_one = [[a.copy() for a in arrays] for arrays in (params, m, v, v_max or params)]
    kernels.adam_update_many(params, grads, m, v, v_max, **SETTINGS, weight_decay=weight_decay,
                             decoupled_weight_decay=decoupled)
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    for i, (p_ref, m_ref, v_ref) in enumerate(expected):
        assert params[i].dtype == dtype
        for ours, ref in ((params[i], p_ref), (m[i], m_ref), (v[i], v_ref)):
            assert np.linalg.norm(ours - ref) <= tolerance * max(np.linalg.norm(ref), 1e-30)
    for i, (p, mi, vi, vmi) in enumerate(zip(*one_by_one)):
        kernels.adam_update(p, grads[i], mi, vi, vmi if amsgrad else None, **SETTINGS, weight_decay=weight_decay,
                            decoupled_weight_decay=decoupled)
        np.testing.assert_array_equal(p, params[i])  # the grouped call is the single one, bit for bit
        np.testing.assert_array_equal(mi, m[i])


def test_bad_input_writes_nothing(rng):
    params, grads, m, v, _ = _state(rng, np.float32, False)
    before = [a.copy() for a in params + m + v]
    bad_dtype = list(grads)
    bad_dtype[9] = grads[9].astype(np.float64)
    with pytest.raises(TypeError, match=r"adam_update: every array must have the first param's float dtype float32; "
                                        r"grad is float64 \(parameter 9\)"):
        kernels.adam_update_many(params, bad_dtype, m, v, **SETTINGS)
    bad_shape = list(v)
    bad_shape[10] = v[10][:-1].copy()
    with pytest.raises(ValueError, match=r"exp_avg_sq has shape \(30,\), param has \(31,\) \(parameter 10\)"):
        kernels.adam_update_many(params, grads, m, bad_shape, **SETTINGS)
    with pytest.raises(ValueError, match="the sequences differ in length"):
        kernels.adam_update_many(params, grads[:-1], m, v, **SETTINGS)
    with pytest.raises(TypeError, match="params must be a list or tuple of arrays, got ndarray"):
        kernels.adam_update_many(params[0], grads, m, v, **SETTINGS)
    with pytest.raises(TypeError, match="max_exp_avg_sqs holds None"):
        kernels.adam_update_many(params, grads, m, v, [*v[:-1], None], **SETTINGS)
    half = [p.astype(np.float16) for p in params]
    with pytest.raises(TypeError, match="the CPU kernels update float32 or float64 parameters, got float16"):
        kernels.adam_update_many(half, [g.astype(np.float16) for g in grads], [a.astype(np.float16) for a in m],
                                 [a.astype(np.float16) for a in v], **SETTINGS)
    with pytest.raises(ValueError, match="step must be an int >= 1, got 0"):
        kernels.adam_update_many(params, grads, m, v, step=0, lr=1e-3)
    for a, saved in zip(params + m + v, before):
        np.testing.assert_array_equal(a, saved)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_step_is_adam_update_many_bit_for_bit(amsgrad, rng):
    params, _, m, v, v_max = _state(rng, np.float32, amsgrad)
    copies = [[a.copy() for a in arrays] for arrays in (params, m, v, v_max or params)]
    step = kernels.AdamStep(params, m, v, v_max)
    for t in range(1, 4):  # the same arrays over several steps, fresh gradients, one in Fortran order (checked)
        grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
        grads[4] = np.asfortranarray(grads[4])
        step(grads, step=t, lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
        kernels.adam_update_many(copies[0], grads, copies[1], copies[2], copies[3] if amsgrad else None, step=t,
                                 lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
    for ours, theirs in zip(params + m + v, copies[0] + copies[1] + copies[2]):
        np.testing.assert_array_equal(ours, theirs)
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    step(grads, step=4, lr=np.array(1e-2), betas=(0.8, 0.99), eps=1e-6)  # a 0-d array setting (no cache key)
    kernels.adam_update_many(copies[0], grads, copies[1], copies[2], copies[3] if amsgrad else None, step=4,
                             lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
    for ours, theirs in zip(params + m + v, copies[0] + copies[1] + copies[2]):
        np.testing.assert_array_equal(ours, theirs)


def test_adam_step_checks_its_gradients_as_adam_update_many_does(rng):
    params, grads, m, v, _ = _state(rng, np.float32, False)
    before = [a.copy() for a in params + m + v]
    step = kernels.AdamStep(params, m, v)
    bad_dtype = list(grads)
    bad_dtype[9] = grads[9].astype(np.float64)
    with pytest.raises(TypeError, match=r"every array must have the first param's float dtype float32; "
                                        r"grad is float64 \(parameter 9\)"):
        step(bad_dtype, **SETTINGS)
    bad_shape = list(grads)
    bad_shape[2] = grads[2].T
    with pytest.raises(ValueError, match=r"grad has shape \(7, 5\), param has \(5, 7\) \(parameter 2\)"):
        step(bad_shape, **SETTINGS)
    with pytest.raises(ValueError, match="the sequences differ in length"):
        step(grads[:-1], **SETTINGS)
    with pytest.raises(ValueError, match="step must be an int >= 1, got 0"):
        step(grads, step=0, lr=1e-3)
    with pytest.raises(ValueError, match=r"exp_avg_sq has shape \(30,\), param has \(31,\) \(parameter 10\)"):
        kernels.AdamStep(params, m, [*v[:-1], v[-1][:-1].copy()])
    for a, saved in zip(params + m + v, before):
        np.testing.assert_array_equal(a, saved)
