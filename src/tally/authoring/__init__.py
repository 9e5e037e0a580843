"""Writing dataset files: the reference and JSON Schema a user learns from, a draft inferred
from where the rows already live, and the checks of a directory of files."""
