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
import argparse
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

    The store listens on the master port of a static rendezvous (torchrun's
    default with ``--master-port``) on the node of rank 0, or on the port of
    a c10d rendezvous endpoint on the machine it names; the check binds it
    for an instant.
    """
    port = _served_port(parse_args(argv))
    if port is None:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as torchrun's store does: a closed connection's TIME_WAIT does not
        # hold the port, a listening socket does
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(('', port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                return None
            return (f'error: the master port {port} is in use on this '
                    'machine (by another distributed run?). Choose a free '
                    f'one: PORT={port + 1} tools/dist_train.sh ... (or '
                    '--master-port / --rdzv-endpoint for torchrun).')
    return None


def _served_port(args: argparse.Namespace) -> Optional[int]:
    """The port torchrun's store will listen on in this process: the master
    port of a static rendezvous on the node of rank 0, or the port of a c10d
    rendezvous endpoint on this machine; ``None`` otherwise."""
    if args.rdzv_backend == 'static':
        return args.master_port if args.node_rank == 0 else None
    host, _, port = (args.rdzv_endpoint or '').rpartition(':')
    if args.rdzv_backend == 'c10d' and port.isdigit() and int(port) and \
            host in ('127.0.0.1', 'localhost', socket.gethostname()):
        return int(port)
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
