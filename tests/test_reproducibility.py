"""course_utils top level: seeding, device choice, plot style, argument checks."""

import random

import matplotlib as mpl
import numpy as np
import pytest
import torch

import course_utils
from course_utils import checks, get_device, set_seed, show_message, use_course_style
from course_utils.plotting import new_figure


def test_set_seed_repeats_python_numpy_and_torch():
    set_seed(123)
    first = (random.random(), np.random.rand(), torch.rand(3))
    set_seed(123)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    torch.testing.assert_close(first[2], second[2], rtol=0, atol=0)
    # ... and equals torch's own seeding
    torch.manual_seed(123)
    torch.testing.assert_close(torch.rand(3), first[2], rtol=0, atol=0)


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError),
                                        ("0", TypeError), (True, TypeError)])
def test_set_seed_rejects_bad_seeds(bad, error):
    with pytest.raises(error, match="seed="):
        set_seed(bad)


def test_get_device_follows_cuda_availability():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected
    assert get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="prefer='tpu'"):
        get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            get_device("cuda")


def test_course_style_scales_fonts():
    with mpl.rc_context():
        use_course_style("screen")
        small = mpl.rcParams["font.size"]
        use_course_style("projector")
        assert mpl.rcParams["font.size"] == pytest.approx(1.3 * small)
    with pytest.raises(ValueError, match="scale='poster'.*'projector'"):
        use_course_style("poster")


def test_show_message_reuses_its_artist_and_hides_when_empty():
    fig, ax = new_figure()
    text = show_message(ax, "lr = 0: nothing moves")
    assert text.get_text() == "lr = 0: nothing moves" and text.get_visible()
    again = show_message(ax, "", artist=text)
    assert again is text and not text.get_visible()
    assert len(ax.texts) == 1


def test_check_number_messages_name_argument_value_and_range():
    with pytest.raises(ValueError, match=r"gamma=-1 is out of range; allowed: a real number >= 0"):
        checks.check_number("gamma", -1, low=0)
    with pytest.raises(ValueError, match=r"eps=1 .*in \[0, 1\)"):
        checks.check_number("eps", 1, low=0, high=1, high_open=True)
    with pytest.raises(ValueError, match="NaN"):
        checks.check_number("lr", float("nan"), low=0)
    with pytest.raises(TypeError, match="steps=2.5 has type float; allowed: an integer"):
        checks.check_number("steps", 2.5, integer=True)
    assert checks.check_number("p", 0.5, low=0, high=1, low_open=True, high_open=True) == 0.5


def test_check_choice_lists_the_allowed_values():
    with pytest.raises(ValueError, match="reduction='avg' is not known; allowed: 'mean', 'sum'"):
        checks.check_choice("reduction", "avg", ["mean", "sum"])


def test_package_has_a_version():
    assert course_utils.__version__.count(".") == 2


def test_versions_line_names_the_installed_versions():
    import ipywidgets
    import matplotlib
    import sklearn

    from course_utils.reproducibility import versions

    line = versions()
    assert f"torch {torch.__version__}" in line and f"scikit-learn {sklearn.__version__}" in line
    assert f"matplotlib {matplotlib.__version__}" in line and f"ipywidgets {ipywidgets.__version__}" in line
    assert line.endswith(f"device {get_device()}")


def test_versions_line_imports_neither_sklearn_nor_ipywidgets():
    import subprocess
    import sys

    code = ("import sys; from course_utils.reproducibility import versions; versions(); "
            "print('sklearn' in sys.modules, 'ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_torch_threads_sets_and_restores_the_thread_count():
    from course_utils.reproducibility import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("restored even on error")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n=0"):
        with torch_threads(0):
            pass


def test_set_seed_on_the_cpu_repeats_a_training_step_without_importing_the_compiler():
    import subprocess
    import sys

    code = ("import sys, torch; from course_utils import set_seed\n"
            "def step():\n"
            "    set_seed(3); m = torch.nn.Linear(5, 2); x = torch.randn(8, 5)\n"
            "    torch.nn.functional.cross_entropy(m(x), torch.randint(0, 2, (8,))).backward()\n"
            "    return m.weight.grad.clone()\n"
            "a, b = step(), step()\n"
            "print(torch.equal(a, b), 'torch._inductor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
