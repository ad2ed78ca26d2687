"""The one exception type that reaches a user as a one-line message instead of a traceback."""


class PipelineError(Exception):
    """A problem the user can act on: the message says what is wrong and what to do.

    The command line prints it as a single line and exits non-zero.
    """

    exit_code = 1
