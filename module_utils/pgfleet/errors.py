"""The one error type for bad input: a message that names the variable and the form."""


class InputError(ValueError):
    """A value is not in the expected form. The message names it and says what is expected."""
