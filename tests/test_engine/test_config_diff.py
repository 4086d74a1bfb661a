"""The differences between a checkpoint's config and a resumed run's, and
which value wins for each."""
from mmengine.config import Config

from mmdla.engine.config_diff import (changed_optimizer_settings,
                                      config_differences, describe_differences,
                                      flatten_config)


def _config(**changes) -> Config:
    settings = dict(
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.02)),
        param_scheduler=[dict(type='MultiStepLR', milestones=[8, 11])],
        train_cfg=dict(max_epochs=12),
        metainfo=dict(classes=('a', 'b')),
        load_from=None,
        resume=False)
    settings.update(changes)
    return Config(settings)


def test_flatten_names_settings_as_cfg_options_does():
    flat = flatten_config(_config())
    assert flat['optim_wrapper.optimizer.lr'] == 0.02
    assert flat['param_scheduler.0.milestones'] == [8, 11]
    assert flat['metainfo.classes'] == ('a', 'b')


def test_differences_leave_out_how_the_run_starts():
    saved = Config.fromstring(_config().pretty_text, '.py')
    assert config_differences(saved, _config(load_from='x.pth',
                                             resume=True)) == []
    current = _config(
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4)),
        param_scheduler=[dict(type='MultiStepLR', milestones=[9, 11])],
        train_cfg=dict(max_epochs=24))
    differences = config_differences(saved, current)
    assert differences == [
        ('optim_wrapper.optimizer.lr', 0.02, 0.1),
        ('optim_wrapper.optimizer.weight_decay', '(not set)', 1e-4),
        ('param_scheduler.0.milestones', [8, 11], [9, 11]),
        ('train_cfg.max_epochs', 12, 24),
    ]
    assert changed_optimizer_settings(differences) == ['lr', 'weight_decay']

    message = describe_differences(differences, 'epoch_12.pth')
    assert message.startswith('Resuming epoch_12.pth with a config that '
                              'differs from the one it was saved with')
    assert "optim_wrapper.optimizer.lr: 0.02 -> 0.1; the config's: set on " \
        'the restored optimizer' in message
    assert "param_scheduler.0.milestones: [8, 11] -> [9, 11]; the " \
        "checkpoint's: the schedulers' state, settings included, is " \
        'restored' in message
    assert "train_cfg.max_epochs: 12 -> 24; the config's" in message
