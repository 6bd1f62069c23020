"""CloudFront -> Application Load Balancer -> EC2 Auto Scaling group, one stack per environment.

Wiring only: the settings are read and validated first, so bad config fails before any
resource exists; each component lives in components/.
"""

from components.network import Network
from stack_settings import load_settings

settings = load_settings()

network = Network("network", settings.network)
