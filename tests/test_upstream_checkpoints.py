"""Loading upstreams: transformers directories (equivalence with transformers' own forward),
the project's exported format, ESPnet hubert_train checkpoints, and clear errors."""

import pytest
import torch
import yaml
from torchaudio.models import hubert_pretrain_model
from transformers import (
    HubertConfig,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
)

from helpers import TINY_HF

from espnet2_ext.errors import DataError
from espnet2_ext.upstream.architectures import ARCHITECTURES
from espnet2_ext.upstream.checkpoints import ESPNET_HUBERT_PREFIX, export_upstream, load_upstream
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

HF_MODELS = {
    "wav2vec2_base_style": (Wav2Vec2Model, Wav2Vec2Config(**TINY_HF)),
    "wav2vec2_large_style": (
        Wav2Vec2Model,
        Wav2Vec2Config(**TINY_HF, feat_extract_norm="layer", do_stable_layer_norm=True),
    ),
    "hubert": (HubertModel, HubertConfig(**TINY_HF)),
    "wavlm": (WavLMModel, WavLMConfig(**TINY_HF, num_buckets=16, max_bucket_distance=40)),
}
LENGTHS = torch.tensor([16000, 9001, 4000])


@pytest.fixture(scope="module", params=sorted(HF_MODELS))
def hf_dir(request, tmp_path_factory):
    cls, config = HF_MODELS[request.param]
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp(request.param)
    cls(config).eval().save_pretrained(path)
    return path, cls


def padded_batch():
    torch.manual_seed(1)
    mask = torch.arange(int(LENGTHS.max()))[None, :] < LENGTHS[:, None]
    return torch.randn(len(LENGTHS), int(LENGTHS.max())) * mask, mask


def test_transformers_directories_give_transformers_hidden_states(hf_dir):
    path, cls = hf_dir
    wave, mask = padded_batch()
    reference = cls.from_pretrained(path).eval()
    with torch.no_grad():
        expected = reference(wave, attention_mask=mask.long(), output_hidden_states=True)
    expected_lens = reference._get_feat_extract_output_lengths(LENGTHS)
    num_layers = reference.config.num_hidden_layers
    for layer in range(num_layers):
        frontend = SSLUpstreamFrontend(weights=str(path), layer=layer).eval()
        with torch.no_grad():
            feats, lens = frontend(wave, LENGTHS)
        assert lens.tolist() == expected_lens.tolist() == [49, 27, 12]
        top = layer == num_layers - 1
        target = expected.last_hidden_state if top else expected.hidden_states[layer + 1]
        for b, n in enumerate(lens.tolist()):  # valid frames only: padding is free to differ
            torch.testing.assert_close(feats[b, :n], target[b, :n], atol=1e-4, rtol=1e-4)


def test_exported_upstream_round_trips(tmp_path):
    torch.manual_seed(0)
    config = dict(ARCHITECTURES["tiny"], encoder_num_layers=2)
    model = load_upstream("random", "tiny", {"encoder_num_layers": 2}).eval()
    export_upstream(model, config, tmp_path / "up.pth", {"steps": 3})
    loaded = load_upstream(str(tmp_path / "up.pth")).eval()
    wave = torch.randn(1, 8000)
    torch.testing.assert_close(loaded(wave)[0], model(wave)[0])


def tiny_encoder_conf(num_layers: int) -> dict:
    """The tiny architecture as ESPnet's torchaudio_hubert encoder_conf names it."""
    conf = {k: v for k, v in ARCHITECTURES["tiny"].items() if k not in ("aux_num_out", "encoder_layer_drop")}
    return {**conf, "encoder_num_layers": num_layers}


def tiny_hubert_pretrain_model(num_layers: int):
    """torchaudio's HuBERT pretraining model of the tiny architecture (10 clusters)."""
    return hubert_pretrain_model(**tiny_encoder_conf(num_layers), encoder_layer_drop=0.05, mask_prob=0.8,
                                 mask_selection="static", mask_other=0.0, mask_length=10,
                                 no_mask_overlap=False, mask_min_space=1, mask_channel_prob=0.0,
                                 mask_channel_selection="static", mask_channel_other=0.0,
                                 mask_channel_length=10, no_mask_channel_overlap=False,
                                 mask_channel_min_space=1, skip_masked=False, skip_nomask=False,
                                 num_classes=10, final_dim=16, feature_grad_mult=0.1)


def test_espnet_hubert_checkpoint_with_its_config(tmp_path):
    torch.manual_seed(0)
    encoder_conf = tiny_encoder_conf(2)
    pretrain = tiny_hubert_pretrain_model(2)
    state = {"encoder.hubert_pretrain_model." + k: v for k, v in pretrain.state_dict().items()}
    assert any(k.startswith(ESPNET_HUBERT_PREFIX) for k in state)
    torch.save(state, tmp_path / "valid.loss.best.pth")
    conf = {"encoder": "torchaudio_hubert", "encoder_conf": {**encoder_conf, "num_classes": 10}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(conf))
    loaded = load_upstream(str(tmp_path / "valid.loss.best.pth")).eval()
    wave = torch.randn(1, 8000)
    torch.testing.assert_close(loaded(wave)[0], pretrain.wav2vec2.eval()(wave)[0])


def test_bad_checkpoints_name_the_file(tmp_path):
    with pytest.raises(DataError, match="missing.pth: upstream checkpoint not found"):
        load_upstream(str(tmp_path / "missing.pth"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: not a transformers model directory"):
        load_upstream(str(tmp_path / "empty"))
    torch.save({"model": 1}, tmp_path / "other.pth")
    with pytest.raises(DataError, match="other.pth: neither an exported upstream"):
        load_upstream(str(tmp_path / "other.pth"))
    model = load_upstream("random", "tiny", {"encoder_num_layers": 2})
    export_upstream(model, dict(ARCHITECTURES["tiny"], encoder_num_layers=3), tmp_path / "bad.pth", {})
    with pytest.raises(DataError, match="bad.pth: weights do not match"):
        load_upstream(str(tmp_path / "bad.pth"))
    with pytest.raises(ValueError, match=r"defines its own architecture: arch and \['encoder_num_layers'\]"):
        load_upstream(str(tmp_path / "bad.pth"), arch_conf={"encoder_num_layers": 2})


def test_checkpoints_take_dropout_and_layer_drop_from_the_fine_tuning_config(tmp_path, hf_dir):
    regularisation = {"encoder_attention_dropout": 0.0, "encoder_layer_drop": 0.2}
    model = load_upstream("random", "tiny", {"encoder_num_layers": 1})
    export_upstream(model, dict(ARCHITECTURES["tiny"], encoder_num_layers=1), tmp_path / "up.pth", {})
    for weights in (str(tmp_path / "up.pth"), str(hf_dir[0]), str(hf_dir[0] / "config.json")):
        loaded = load_upstream(weights, arch_conf=regularisation)
        assert loaded.encoder.transformer.layer_drop == 0.2
        attention = loaded.encoder.transformer.layers[0].attention
        assert getattr(attention, "attention", attention).dropout == 0.0
