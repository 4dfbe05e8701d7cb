import multiprocessing
import pickle

import espnet2.tasks.asr as asr_task
import espnet2.tasks.cls as cls_task
import pytest
import torch
from espnet2.asr.encoder.linear_encoder import LinearEncoder
from espnet2.train.class_choices import ClassChoices

from espnet2_ext.registration import register, register_all
from espnet2_ext.tasks import ASRTask, CLSTask
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend
from spawn_probe import frontends_after_unpickling


def test_every_task_knows_the_project_classes():
    for task in (asr_task, cls_task):
        assert task.frontend_choices.get_class("ssl_upstream") is SSLUpstreamFrontend
        assert task.encoder_choices.get_class("linear") is LinearEncoder


def test_register_type_checks_and_refuses_to_shadow():
    choices = ClassChoices("frontend", classes={}, type_check=torch.nn.Module)
    with pytest.raises(TypeError, match="not a subclass"):
        register(choices, "bad", int)
    register(choices, "Mine", LinearEncoder)
    assert choices.get_class("mine") is LinearEncoder
    with pytest.raises(ValueError, match="already taken"):
        register(choices, "mine", SSLUpstreamFrontend)


def test_register_all_is_idempotent():
    register_all()
    register_all()
    assert "ssl_upstream" in asr_task.frontend_choices.choices()


def test_tasks_parse_stock_options_with_project_choices():
    args = ASRTask.get_parser().parse_args(
        ["--frontend", "ssl_upstream", "--encoder", "linear", "--output_dir", "x", "--max_epoch", "3"]
    )
    assert (args.frontend, args.encoder, args.max_epoch) == ("ssl_upstream", "linear", 3)
    assert CLSTask.get_parser().parse_args(["--frontend", "ssl_upstream"]).frontend == "ssl_upstream"


def test_spawned_workers_import_the_registrations():
    # --multiprocessing_distributed spawns workers that unpickle cls.main_worker by module path:
    # the project's task brings the registrations into a fresh process, the stock one does not.
    # One spawned process (each costs an ESPnet import): the stock worker first, then ours.
    workers = [pickle.dumps(task.main_worker) for task in (asr_task.ASRTask, ASRTask)]
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        stock, ours = pool.apply(frontends_after_unpickling, workers)
    assert "ssl_upstream" not in stock
    assert "ssl_upstream" in ours


def test_context_classes_and_batch_type_are_registered():
    from espnet2_ext.context.inject import InjectedContextFrontend
    from espnet2_ext.context.model import ContextAwareASRModel, ContextAwareCLSModel

    assert asr_task.model_choices.get_class("ctx_aware") is ContextAwareASRModel
    assert cls_task.model_choices.get_class("ctx_aware") is ContextAwareCLSModel
    for task in (asr_task, cls_task):
        assert task.frontend_choices.get_class("ssl_upstream_inject") is InjectedContextFrontend
    args = ASRTask.get_parser().parse_args(["--batch_type", "recording", "--recording_chunk_size", "3"])
    assert (args.batch_type, args.recording_chunk_size) == ("recording", 3)
