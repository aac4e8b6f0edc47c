"""reelscribe: videos -> transcript tables (Prefect flows over a Twelve Labs-compatible API).

In a clone, ``reelscribe/`` holds only ``core`` and ``cli``; ``tasks``, ``flows``, ``deployments``
and ``server`` are mapped under this name at install time (pyproject.toml). Prefect imports a
deployment's module entrypoint with the run's working directory first on ``sys.path``, and a
deployment run works in a clone of the repository (deployments/prefect.yaml), so this folder
would shadow the installed package there; extending ``__path__`` lets the installed portions
(``reelscribe.flows``…) be found behind it. Both are the same deployed commit.
"""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
