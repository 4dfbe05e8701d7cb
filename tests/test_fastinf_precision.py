"""The upstream in float32, bfloat16 autocast or int8 dynamic quantisation at inference
(espnet2_ext.fastinf.precision) and ``asr_inference --upstream_precision``."""

import pytest
import torch
from helpers import noise_batch, small_frontend

from espnet2_ext.bin.asr_inference import get_parser, with_upstream_precision
from espnet2_ext.fastinf.precision import set_upstream_precision


def features(frontend: torch.nn.Module) -> torch.Tensor:
    with torch.inference_mode():
        return frontend(*noise_batch())[0]


def quantised_linears(frontend: torch.nn.Module) -> int:
    return sum(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in frontend.upstream.modules())


def test_int8_quantises_every_linear_of_the_upstream_and_stays_close():
    frontend = small_frontend(bf16_transformer=True).eval()
    linears = sum(isinstance(m, torch.nn.Linear) for m in frontend.upstream.modules())
    reference = features(small_frontend().eval())  # the same seeded weights in float32
    set_upstream_precision(frontend, "int8")
    assert linears > 0 and quantised_linears(frontend) == linears
    assert not frontend.bf16_transformer  # autocast would feed the int8 layers bfloat16
    error = torch.linalg.vector_norm(features(frontend) - reference) / torch.linalg.vector_norm(reference)
    assert 0 < error < 0.1


@pytest.mark.parametrize("precision,bf16", [("fp32", False), ("bf16", True)])
def test_float_precisions_switch_the_autocast(precision, bf16):
    frontend = small_frontend(bf16_transformer=not bf16).eval()
    set_upstream_precision(frontend, precision)
    assert frontend.bf16_transformer is bf16 and quantised_linears(frontend) == 0


def test_unknown_precision_or_frontend_is_refused():
    with pytest.raises(ValueError, match="'fp16': choose one of fp32, bf16, int8"):
        set_upstream_precision(small_frontend(), "fp16")
    with pytest.raises(TypeError, match="needs the ssl_upstream frontend; this model's is Linear"):
        set_upstream_precision(torch.nn.Linear(2, 2), "int8")


def test_decoding_option_applies_it_to_the_model_frontend():
    required = ["--output_dir", "x", "--data_path_and_name_and_type", "a,b,c"]
    assert get_parser().parse_args(required).upstream_precision is None
    assert get_parser().parse_args([*required, "--upstream_precision", "int8"]).upstream_precision == "int8"

    class Base:
        def __init__(self):
            self.asr_model = torch.nn.Module()
            self.asr_model.frontend = small_frontend(bf16_transformer=True)

    assert with_upstream_precision(Base, None) is Base  # as trained
    assert quantised_linears(with_upstream_precision(Base, "int8")().asr_model.frontend) > 0
