"""Scale-out on Ray: one persistent queue, many worker actors (docs/cluster.md).

Modules: ``options`` (what ``--ray`` configures; importable without Ray), ``pool`` (the server side:
starts or joins the cluster, one ``lane`` per actor), ``lane`` (pulls jobs for one actor and relays
its events), ``actor`` (the worker process), ``affinity`` (which job an idle worker takes), ``files``
(inputs and outputs moved between folders). Only ``options`` is imported unless ``--ray`` is given.
"""
