"""The base layer: the event and alert contracts, YAML with line errors, secrets, the
outbound HTTP guard, the retry policy, Alertmanager matchers. It imports no stage.

kafka-python reads its protocol schemas through importlib.resources' legacy API, which
warns (DeprecationWarning) the first time each client starts; those warnings are the
library's, not the user's, so they are filtered here, where every stage imports from.
"""

import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"kafka(\.|$)")
warnings.filterwarnings("ignore", message=r"(open|read)_text is deprecated", category=DeprecationWarning)
