"""``python -m avpc_plugin.engine``: the same as ``avpc engine``."""

from avpc_plugin.engine.cli import engine_command

if __name__ == "__main__":
    engine_command()
