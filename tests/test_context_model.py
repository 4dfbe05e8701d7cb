"""``model: ctx_aware`` (ASR/CTC and CLS) and ``frontend: ssl_upstream_inject`` through ESPnet's model API."""

import pytest
import torch
from context_tiny import build

from espnet2_ext.context.losses import context_loss
from espnet2_ext.context.model import ContextAwareASRModel, ContextAwareCLSModel

LENGTHS = torch.tensor([8000, 6400, 4800])
TEXT = dict(text=torch.tensor([[2, 3], [3, -1], [2, 2]]), text_lengths=torch.tensor([2, 1, 2]))
LABEL = dict(label=torch.tensor([[0], [2], [1]]), label_lengths=torch.tensor([1, 1, 1]))


def speech(seed: int, lengths: torch.Tensor = LENGTHS) -> dict:
    torch.manual_seed(seed)
    wave = torch.randn(len(lengths), int(lengths.max())) * (torch.arange(int(lengths.max())) < lengths[:, None])
    return {"speech": wave, "speech_lengths": lengths}


def neighbours(mask, positions=((0, 5), (1, 5), (2, 5))) -> dict:
    """speech_prev/speech_next inputs, their ctx_mask (columns: offsets -1, 1) and the items'
    (recording, index) rows (by default three recordings: no item is another's neighbour)."""
    prev, nxt = speech(1), speech(2, torch.tensor([7000, 8000, 5000]))
    return {"speech_prev": prev["speech"], "speech_prev_lengths": prev["speech_lengths"],
            "speech_next": nxt["speech"], "speech_next_lengths": nxt["speech_lengths"],
            "ctx_mask": torch.tensor(mask), "ctx_mask_lengths": torch.tensor([2, 2, 2]),
            "utt2pos": torch.tensor(positions), "utt2pos_lengths": torch.tensor([2, 2, 2])}


def ctx(**model_conf) -> dict:
    return {"model": "ctx_aware", "model_conf": {"context_dim": 16, **model_conf}}


def check_backward(model, loss) -> None:
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    for module in (model.context_module, model.context_fusion, model.frontend.upstream.encoder):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


@pytest.mark.parametrize("loss_kind", ["cosine", "infonce", "l2"])
def test_asr_mode_a_forward_backward_and_loss_over_existing_neighbours(tmp_path, loss_kind):
    model = build(tmp_path, "asr", **ctx(context_source="neighbours", context_loss=loss_kind))
    assert isinstance(model, ContextAwareASRModel)
    model.train()
    batch = {**speech(0), **TEXT, **neighbours([[1, 1], [0, 1], [0, 0]])}
    loss, stats, weight = model(**batch)
    check_backward(model, loss)
    assert model.frontend.num_updates.item() == 1  # neighbours are not training batches
    # lambda (1.0) weighs L_ctx against the per-token CTC loss: x the mean target length (5 / 3).
    mean_tokens = TEXT["text_lengths"].float().mean()
    assert torch.allclose(stats["loss"], stats["loss_task"] + mean_tokens * stats["loss_ctx"])
    assert torch.allclose(loss, stats["loss"])
    # The same loss from separately computed vectors (no dropout in this model): pairs
    # (0, prev 0), (0, next 0), (1, next 1); segment 2 has no neighbour.
    with torch.no_grad():
        vec = model.context_vectors
        anchors = vec(batch["speech"], batch["speech_lengths"])
        prev = vec(batch["speech_prev"][:1], batch["speech_prev_lengths"][:1])
        nxt = vec(batch["speech_next"][:2], batch["speech_next_lengths"][:2])
        pairs = torch.tensor([[0, 0], [0, 1], [1, 2]])
        expected = context_loss(loss_kind, anchors, torch.cat([prev, nxt]), pairs)
    assert stats["loss_ctx"].item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-6)


def test_mode_a_infonce_keeps_batch_items_that_are_neighbours_out_of_the_negatives(tmp_path):
    model = build(tmp_path, "asr", **ctx(context_source="neighbours", context_loss="infonce"))
    model.train()
    # Items 0 and 1 are segments 0 and 1 of recording 4: item 0's next is item 1's audio, item 1's
    # previous is item 0's; item 2 (recording 7) has a next neighbour.
    batch = {**speech(0), **TEXT, **neighbours([[0, 1], [1, 0], [0, 1]], positions=((4, 0), (4, 1), (7, 3)))}
    _, stats, _ = model(**batch)
    with torch.no_grad():
        vec = model.context_vectors
        anchors = vec(batch["speech"], batch["speech_lengths"])
        bank = torch.cat([vec(batch["speech_prev"][1:2], batch["speech_prev_lengths"][1:2]),
                          vec(batch["speech_next"][[0, 2]], batch["speech_next_lengths"][[0, 2]])])
        pairs = torch.tensor([[1, 0], [0, 1], [2, 2]])  # bank: item 1's prev = (4, 0), next of 0 = (4, 1), (7, 4)
        exclude = torch.tensor([[True, False, False], [False, True, False], [False, False, False]])
        fixed = context_loss("infonce", anchors, bank, pairs, exclude=exclude)
        buggy = context_loss("infonce", anchors, bank, pairs)  # own audio counted as a negative
    assert stats["loss_ctx"].item() == pytest.approx(fixed.item(), rel=1e-4, abs=1e-6)
    assert abs(fixed.item() - buggy.item()) > 1e-3


@pytest.mark.parametrize("normalize, weight", [(True, 0.3), (False, 2.0)])
def test_context_weight_is_per_target_token_or_per_utterance(tmp_path, normalize, weight):
    model = build(tmp_path, "asr", **ctx(context_source="batch", context_weight=weight,
                                         context_loss_normalize=normalize)).train()
    positions = dict(utt2pos=torch.tensor([[4, 0], [4, 1], [4, 2]]), utt2pos_lengths=torch.tensor([2, 2, 2]))
    _, stats, _ = model(**speech(0), **TEXT, **positions)
    scale = TEXT["text_lengths"].float().mean() if normalize else 1.0
    assert torch.allclose(stats["loss"], stats["loss_task"] + weight * scale * stats["loss_ctx"])
    cls = build(tmp_path / "cls", "cls", **ctx(context_source="batch", context_weight=weight)).train()
    _, stats, _ = cls(**speech(0), **LABEL, **positions)  # a per-utterance loss: no scale
    assert torch.allclose(stats["loss"], stats["loss_task"] + weight * stats["loss_ctx"])


def test_training_logs_the_collapse_figures_and_the_padding(tmp_path):
    model = build(tmp_path, "asr", **ctx(context_source="batch")).train()
    positions = torch.tensor([[4, 0], [4, 1], [7, 3]])
    _, stats, _ = model(**speech(0), **TEXT, utt2pos=positions, utt2pos_lengths=torch.tensor([2, 2, 2]))
    with torch.no_grad():
        vectors = torch.nn.functional.normalize(model.eval().context_vectors(**speech(0)), dim=-1)
    # No dropout in this model: the train-mode vectors are the eval-mode ones.
    assert stats["ctx_cos_pos"].item() == pytest.approx((vectors[0] @ vectors[1]).item(), abs=1e-5)
    assert stats["ctx_cos_other"].item() == pytest.approx(((vectors[0] + vectors[1]) @ vectors[2]).item() / 2, abs=1e-5)
    assert 0 < stats["ctx_spread"].item() and 0 < stats["ctx_erank"].item() <= 2 + 1e-5
    assert stats["pad_share"].item() == pytest.approx(1 - 19200 / 24000)


def test_asr_mode_a_without_any_neighbour_adds_zero(tmp_path):
    model = build(tmp_path, "asr", **ctx(context_source="neighbours"))
    loss, stats, _ = model.train()(**speech(0), **TEXT, **neighbours([[0, 0], [0, 0], [0, 0]]))
    assert stats["loss_ctx"].item() == 0.0 and torch.isfinite(loss).all()


def test_asr_mode_b_pairs_batch_items_from_their_positions(tmp_path):
    model = build(tmp_path, "asr", **ctx(context_source="batch", context_loss="infonce"))
    model.train()
    positions = torch.tensor([[4, 0], [4, 1], [7, 3]])  # items 0 and 1 are neighbours
    loss, stats, _ = model(**speech(0), **TEXT, utt2pos=positions, utt2pos_lengths=torch.tensor([2, 2, 2]))
    check_backward(model, loss)
    assert stats["loss_ctx"].item() > 0


def test_training_without_the_context_inputs_is_an_error(tmp_path):
    model = build(tmp_path, "asr", **ctx(context_source="batch")).train()
    with pytest.raises(ValueError, match="needs the 'utt2pos' input"):
        model(**speech(0), **TEXT)


def test_eval_and_decoding_never_read_the_context_inputs(tmp_path):
    model = build(tmp_path, "asr", **ctx(context_source="neighbours")).eval()
    with torch.no_grad():
        _, plain, _ = model(**speech(0), **TEXT)
        # Bad neighbour inputs are not even looked at.
        _, with_inputs, _ = model(**speech(0), **TEXT, ctx_mask=torch.ones(3, 7), speech_prev=torch.zeros(1))
        encoded, lengths = model.encode(**speech(0))
    assert "loss_ctx" not in plain and torch.equal(plain["loss"], with_inputs["loss"])
    assert encoded.shape[:2] == (3, int(lengths.max()))
    assert model.frontend.num_updates.item() == 0


def test_context_source_none_trains_the_module_without_auxiliary_loss(tmp_path):
    model = build(tmp_path, "asr", **ctx(context_source="none", context_transformer=True, fusion="residual"))
    loss, stats, _ = model.train()(**speech(0), **TEXT)
    loss.sum().backward()
    assert "loss_ctx" not in stats
    # The fusion starts at zero on the context, so the task loss reaches the module once it moves.
    assert all(p.grad is None or not p.grad.any() for p in model.context_module.parameters())
    assert model.context_fusion.linear.weight.grad.any()
    model.zero_grad()
    torch.nn.init.normal_(model.context_fusion.linear.weight)
    check_backward(model, model(**speech(0), **TEXT)[0])


@pytest.mark.parametrize("source", ["neighbours", "batch"])
def test_cls_model_forward_backward(tmp_path, source):
    model = build(tmp_path, "cls", **ctx(context_source=source, context_loss="l2"))
    assert isinstance(model, ContextAwareCLSModel) and model.token_list[0] == "negative"
    inputs = neighbours([[1, 0], [1, 1], [0, 1]]) if source == "neighbours" else {
        "utt2pos": torch.tensor([[0, 2], [0, 3], [0, 4]]), "utt2pos_lengths": torch.tensor([2, 2, 2])}
    loss, stats, _ = model.train()(**speech(0), **LABEL, **inputs)
    check_backward(model, loss)
    assert stats["loss_ctx"].item() > 0
    with torch.no_grad():
        assert model.eval().score(speech(0)["speech"][:1]).shape == (1, 3)  # the labels, not <unk>


@pytest.mark.parametrize("task", ["asr", "cls"])
def test_injection_frontend_model_sees_the_segment_frames(tmp_path, task):
    from context_tiny import TINY_FRONTEND

    model = build(tmp_path, task, frontend="ssl_upstream_inject",
                  frontend_conf={**TINY_FRONTEND, "context_offsets": [-1]})
    batch = speech(0)
    mask = torch.zeros_like(batch["speech"])
    mask[0, 1600:8000], mask[1, 0:6400], mask[2, 320:4800] = 1, 1, 1
    injected = {"speech": torch.stack([batch["speech"], mask], -1), "speech_lengths": LENGTHS}
    loss, _, _ = model.train()(**injected, **(TEXT if task == "asr" else LABEL))
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    _, lengths = model.eval().encode(**injected)
    assert lengths.tolist() == [19, 19, 13]  # the CNN frames of 6400, 6400 and 4480 samples


# The mini_slue default head: a weighted sum of the layers of a 2-layer upstream (32 wide), the
# upstream frozen for the first freeze_steps batches, ``input_layer: linear`` to 24 dimensions.
def default_head(steps: int = 0, **frontend_conf) -> dict:
    from context_tiny import TINY_FRONTEND

    arch_conf = {**TINY_FRONTEND["arch_conf"], "encoder_num_layers": 2}
    return {"frontend_conf": {**TINY_FRONTEND, "arch_conf": arch_conf, "weighted_sum": True,
                              "freeze_steps": steps, **frontend_conf},
            "encoder_conf": {"output_size": 24, "input_layer": "linear"}}


@pytest.mark.parametrize("task", ["asr", "cls"])
def test_context_module_reads_the_upstream_top_layer_under_a_weighted_sum_and_linear_head(tmp_path, task):
    model = build(tmp_path, task, **default_head(), **ctx(context_source="none"))
    with torch.no_grad():
        model.frontend.layer_weights.copy_(torch.tensor([2.0, -1.0]))  # the sum is not the top layer
    assert model.context_module.proj.in_features == 32 and model.context_fusion.frame_dim == 24
    batch = speech(0)
    model.eval()
    with torch.no_grad():
        encoded, lengths = model.encode(**batch)
        layers, frame_lengths = model.frontend.iter_layers(batch["speech"], batch["speech_lengths"])
        layers = list(layers)
        mixed = torch.einsum("l,lbtc->btc", torch.softmax(model.frontend.layer_weights, 0), torch.stack(layers))
        head, _, _ = model.encoder(mixed, frame_lengths)
        context = model.context_module(layers[-1], frame_lengths)
        assert torch.allclose(model.context_vectors(**batch), context, atol=1e-5)
        assert not torch.allclose(context, model.context_module(mixed, frame_lengths), atol=1e-3)
    assert torch.equal(lengths, frame_lengths)
    assert torch.allclose(encoded, model.context_fusion(head, context), atol=1e-5)


def test_context_input_encoder_reads_the_head_frames(tmp_path):
    model = build(tmp_path, "asr", **default_head(), **ctx(context_source="none", context_input="encoder"))
    assert model.context_module.proj.in_features == 24
    batch = speech(0)
    with torch.no_grad():
        frames, lengths = model.eval()._frames(**batch)
        assert torch.allclose(model.context_vectors(**batch), model.context_module(frames, lengths), atol=1e-6)


def test_context_input_upstream_needs_an_ssl_frontend(tmp_path, monkeypatch):
    import context_tiny

    fbank = {**context_tiny.BASE, "frontend": "default", "frontend_conf": {"n_fft": 128, "n_mels": 8}}
    monkeypatch.setattr(context_tiny, "BASE", fbank)
    with pytest.raises(ValueError, match="context_input: upstream needs an SSL upstream frontend"):
        build(tmp_path, "asr", **ctx(context_source="none"))
    assert build(tmp_path, "asr", **ctx(context_source="none", context_input="encoder")).context_module


def test_head_warm_up_trains_the_context_module_on_a_frozen_upstream(tmp_path):
    model = build(tmp_path, "asr", **default_head(steps=1), **ctx(context_source="neighbours")).train()
    batch = {**speech(0), **TEXT, **neighbours([[1, 1], [0, 1], [0, 0]])}
    for step in range(2):
        model.zero_grad(set_to_none=True)
        loss, stats, _ = model(**batch)
        loss.backward()
        assert stats["loss_ctx"].item() > 0
        upstream = [p.grad for p in model.frontend.upstream.encoder.parameters()]
        assert all(g is None for g in upstream) == (step == 0)  # frozen for the first batch only
        for module in (model.context_module, model.context_fusion, model.encoder):
            assert all(p.grad is not None for p in module.parameters())
        assert model.frontend.layer_weights.grad is not None
    assert model.frontend.num_updates.item() == 2  # the neighbours' passes are not counted


@pytest.mark.parametrize("task", ["asr", "cls"])
def test_injection_frontend_with_the_default_head(tmp_path, task):
    model = build(tmp_path, task, **default_head(steps=1, context_offsets=[-1]), frontend="ssl_upstream_inject")
    batch = speech(0)
    mask = torch.zeros_like(batch["speech"])
    mask[0, 1600:8000], mask[1, 0:6400], mask[2, 320:4800] = 1, 1, 1
    injected = {"speech": torch.stack([batch["speech"], mask], -1), "speech_lengths": LENGTHS}
    for step in range(2):
        model.zero_grad(set_to_none=True)
        loss, _, _ = model.train()(**injected, **(TEXT if task == "asr" else LABEL))
        loss.sum().backward()
        frozen = all(p.grad is None for p in model.frontend.upstream.encoder.parameters())
        assert frozen == (step == 0) and model.frontend.layer_weights.grad is not None
    with torch.no_grad():
        feats, lengths, top = model.eval().frontend.forward_with_top_layer(**{
            "input": injected["speech"], "input_lengths": LENGTHS})
    assert lengths.tolist() == [19, 19, 13] and feats.shape == top.shape
    assert not torch.allclose(feats, top)
