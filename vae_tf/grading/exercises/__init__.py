"""Exercise checks, one module per lesson (``lesson_NN_name.py``); each registers itself."""
