"""torchrun for mmdla's launch scripts, with clear words on a busy port and
on a stop signal.

``python -m mmdla.engine.torchrun [torchrun arguments]`` runs
``torch.distributed.run`` (torchrun) with the same arguments, and

- refuses a master port that is already in use on this machine, naming the
  port and the variable that changes it (torchrun itself fails with a
  traceback from deep inside its store);
- on a stop signal that torchrun passes on to the training processes
  (``SIGTERM``, and ``SIGUSR1`` where ``--signals-to-handle`` lists it),
  which then save the iteration they are at, ends with a sentence that says
  how to continue and the status :data:`~mmdla.engine.EXIT_STOPPED`,
  instead of torchrun's ``SignalException`` traceback.

``tools/dist_train.sh`` and ``tools/dist_test.sh`` run it.
"""
import errno
import socket
import sys
from typing import List, Optional

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.run import main as torchrun_main
from torch.distributed.run import parse_args

from .preemptible_loop import EXIT_STOPPED

#: Exit status of a busy master port (a usage error, as for bad arguments).
EXIT_PORT_BUSY = 2


def busy_port_message(argv: List[str]) -> Optional[str]:
    """Why torchrun cannot serve its master port on this machine, or
    ``None`` if it can (or another node serves it).

    Only the node of rank 0 of a static rendezvous (torchrun's default with
    ``--master-port``) binds the port; the check binds it for an instant.
    """
    args = parse_args(argv)
    if args.rdzv_backend != 'static' or args.master_port is None \
            or args.node_rank != 0:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(('', args.master_port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                return None
            return (f'error: the master port {args.master_port} is in use '
                    'on this machine (by another distributed run?). Choose '
                    f'a free one: PORT={args.master_port + 1} '
                    'tools/dist_train.sh ... (or --master-port for '
                    'torchrun).')
    return None


def main(argv: Optional[List[str]] = None) -> int:
    """Run torchrun with ``argv`` (default: the command line); return the
    exit status."""
    argv = sys.argv[1:] if argv is None else argv
    message = busy_port_message(argv)
    if message is not None:
        print(message, file=sys.stderr)
        return EXIT_PORT_BUSY
    try:
        torchrun_main(argv)
    except SignalException as stop:
        print(
            f'torchrun: stopped on {stop.sigval.name}, which it passed on to '
            'the training processes: a training with mmdla.Preemptible'
            'EpochBasedTrainLoop saves the iteration it is at (its log names '
            'the checkpoint). Continue with the same command and --resume.',
            file=sys.stderr)
        return EXIT_STOPPED
    return 0


if __name__ == '__main__':
    sys.exit(main())
