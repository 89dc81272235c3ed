# For the `piccolo` command line (e.g. `piccolo migrations new providers --auto`) run from the project root.
from app.piccolo_conf import APP_REGISTRY, DB  # noqa: F401
