"""The HuBERT pretraining model with configurable loss weights (espnet2_ext.ssl.model)."""

from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from espnet2_ext.tasks import HubertTask

CONFIG = Path(__file__).resolve().parents[1] / "egs2/mini_slue/ssl1/conf/pretrain_it1.yaml"


def build(tmp_path, **model_conf):
    conf = yaml.safe_load(CONFIG.read_text())
    conf["model_conf"] = {**conf.get("model_conf", {}), **model_conf}
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump(conf))
    (tmp_path / "tokens.txt").write_text("".join(f"{i}\n" for i in range(4)) + "<unk>\n")
    args = HubertTask.get_parser().parse_args(
        ["--config", str(tmp_path / "conf.yaml"), "--token_list", str(tmp_path / "tokens.txt"),
         "--num_classes", "4", "--output_dir", str(tmp_path / "exp")])
    return HubertTask.build_model(args)


def test_loss_weighs_masked_and_unmasked_frames_as_configured(tmp_path):
    model = build(tmp_path, masked_weight=1.0, unmasked_weight=0.5, feature_weight=10.0)
    logit_m = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    logit_u = torch.tensor([[1.0, 1.0, 1.0]])
    penalty = torch.tensor(0.25)
    ce_m = F.cross_entropy(logit_m, torch.zeros(2, dtype=torch.long), reduction="sum")
    expected = ce_m + 0.5 * torch.log(torch.tensor(3.0)) + 10.0 * 0.25 * 2
    assert torch.allclose(model._calc_hubert_loss(logit_m, logit_u, penalty), expected)


def test_pretraining_config_trains_unmasked_frames_too(tmp_path):
    model = build(tmp_path)
    assert type(model).__name__ == "WeightedHubertPretrainModel" and model.unmasked_weight > 0
    speech = torch.randn(2, 16000)
    frames = (16000 - 400) // 320 + 1
    loss, stats, _ = model(speech=speech, speech_lengths=torch.tensor([16000, 16000]),
                           text=torch.randint(0, 4, (2, frames)), text_lengths=torch.tensor([frames] * 2))
    loss.backward()
    assert torch.isfinite(loss) and stats["count_u"] > 0
