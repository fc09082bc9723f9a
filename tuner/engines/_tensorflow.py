"""Importing Keras/TensorFlow only when a fit runs, and quietly.

TensorFlow takes seconds to import and prints start-up notices from native code
(oneDNN, missing CUDA) that would bury the tool's own output. Engines call
:func:`import_keras`, as does the writing of a forecast's model files; nothing
else in the package imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType


def import_keras() -> ModuleType:
    """Import Keras on the TensorFlow backend, hiding native start-up notices."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _native_stderr_captured():
        import keras
    return keras


def import_tensorflow() -> ModuleType:
    """Import TensorFlow (through :func:`import_keras`, so it is quiet too).

    The fast engine traces one graph per configuration shape on purpose (XLA needs
    static shapes), so TensorFlow's "triggered tf.function retracing" advice is
    noise for us and is filtered out; every other TensorFlow warning still shows.
    """
    import_keras()
    import tensorflow

    tensorflow.get_logger().addFilter(_drop_retracing_advice)
    return tensorflow


def _drop_retracing_advice(record: logging.LogRecord) -> bool:
    return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _native_stderr_captured() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file; replay it only if the block fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
