"""``comfy_execution.graph_utils``: GraphBuilder for node expansion, links, execution blockers."""
from core.execution.expansion import GraphBuilder, Node, add_graph_prefix  # noqa: F401
from core.execution.expansion import is_raw_link as is_link  # noqa: F401
from core.execution.node_call import ExecutionBlocker  # noqa: F401
