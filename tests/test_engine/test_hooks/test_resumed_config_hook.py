"""ResumedConfigHook gives a restored optimizer the hyper-parameters of the
config, at the resumed point of the schedule."""
import torch
from mmengine.config import Config
from mmengine.optim import MultiStepLR, OptimWrapper
from mmengine.runner import Runner

from mmdla.engine import SafeLoadRunner
from mmdla.engine.hooks import apply_optimizer_settings


def _optimizer(lr: float, weight_decay: float):
    model = torch.nn.Linear(2, 1)
    wrapper = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay))
    scheduler = MultiStepLR(wrapper, milestones=[1], gamma=0.1)
    return wrapper, scheduler


def _built_groups(wrapper):
    return [{k: v
             for k, v in group.items() if k != 'params'}
            for group in wrapper.param_groups]


def test_scheduled_lr_is_scaled_and_the_rest_replaced():
    # the checkpoint's run: lr 0.1, decayed once by its schedule
    restored, scheduler = _optimizer(lr=0.1, weight_decay=0.0)
    scheduler.step()
    assert abs(restored.param_groups[0]['lr'] - 0.01) < 1e-12
    # the config now says lr 0.2 and weight decay 1e-4
    built, _ = _optimizer(lr=0.2, weight_decay=1e-4)

    changes = apply_optimizer_settings(restored.param_groups,
                                       _built_groups(built),
                                       ['lr', 'weight_decay'], [scheduler])
    group = restored.param_groups[0]
    assert abs(group['lr'] - 0.02) < 1e-12  # the same point of the schedule
    assert group['initial_lr'] == 0.2
    assert scheduler.base_values == [0.2]
    assert group['weight_decay'] == 1e-4
    assert changes[0].startswith('lr of param group 0: 0.01')
    assert changes[1] == 'weight_decay of param group 0: 0.0 -> 0.0001'


def test_unchanged_settings_are_left_alone():
    restored, scheduler = _optimizer(lr=0.1, weight_decay=0.0)
    scheduler.step()
    built, _ = _optimizer(lr=0.1, weight_decay=0.0)
    assert apply_optimizer_settings(restored.param_groups,
                                    _built_groups(built), ['lr'],
                                    [scheduler]) == []
    assert abs(restored.param_groups[0]['lr'] - 0.01) < 1e-12


def _toy_run(toy_classes: tuple, work_dir: str, lr: float, max_epochs: int,
             resume: bool) -> Runner:
    """A toy run whose config (as a checkpoint stores it) says ``lr`` and
    ``max_epochs``, with a ResumedConfigHook."""
    model_class, dataset_class = toy_classes
    settings = dict(
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs))
    return SafeLoadRunner(
        model=model_class(),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=dataset_class(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], end=10),
        custom_hooks=[dict(type='mmdla.ResumedConfigHook')],
        resume=resume,
        log_level='WARNING',
        default_scope='mmengine',
        cfg=Config(settings),
        **settings)


def test_resumed_run_trains_with_the_new_lr(tmp_path, toy_classes):
    _toy_run(toy_classes, str(tmp_path), 0.01, max_epochs=1,
             resume=False).train()
    _toy_run(toy_classes, str(tmp_path), 0.05, max_epochs=2,
             resume=True).train()
    group = torch.load(
        str(tmp_path / 'epoch_2.pth'), weights_only=False
    )['optimizer']['param_groups'][0]
    # milestone 1 decayed the new base lr 0.05 once
    assert abs(group['lr'] - 0.005) < 1e-12 and group['initial_lr'] == 0.05
