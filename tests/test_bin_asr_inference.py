import torch
from espnet.nets.beam_search import Hypothesis

from espnet2_ext.bin.asr_inference import GreedyCTCSearch, get_parser, with_greedy_ctc


class FixedCTC(torch.nn.Module):
    """CTC whose log-posteriors are the input itself."""

    def log_softmax(self, x):
        return torch.log_softmax(x, dim=-1)


def test_best_path_merges_repeats_and_drops_blanks():
    path = [0, 3, 3, 0, 3, 2, 2, 0, 0]  # blank=0: "3 3 2" (the blank separates the repeated 3)
    logits = torch.full((len(path), 5), -10.0)
    logits[torch.arange(len(path)), torch.tensor(path)] = 10.0
    (hyp,) = GreedyCTCSearch(FixedCTC(), sos=4, eos=4)(logits)
    assert isinstance(hyp, Hypothesis)
    assert hyp.yseq.tolist() == [4, 3, 3, 2, 4]
    assert hyp.score <= 0  # the best path's log-probability


def test_option_and_subclass():
    required = ["--output_dir", "x", "--data_path_and_name_and_type", "a,b,c"]
    assert get_parser().parse_args(["--ctc_greedy", "true", *required]).ctc_greedy
    assert not get_parser().parse_args(required).ctc_greedy

    class Base:
        def __init__(self):
            self.asr_model = type("M", (), {"ctc": FixedCTC(), "sos": 4, "eos": 4, "blank_id": 0})()
            self.beam_search = "beam"

    assert isinstance(with_greedy_ctc(Base)().beam_search, GreedyCTCSearch)
