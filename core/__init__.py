import os

# Piccolo finds its engine and apps through this module, wherever the process was started from. It is named,
# not imported: the assembly above every domain lists the apps, and Piccolo loads it at the first query.
os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")
