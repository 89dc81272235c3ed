import os

# Piccolo finds its engine and apps through this module, wherever the process was started from.
os.environ.setdefault("PICCOLO_CONF", "core.piccolo_conf")
