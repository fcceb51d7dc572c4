"""Start-up hook for child processes of the test suite: installs the network guard (netguard.py)."""

import os

if os.environ.get("COURSE_NETGUARD") == "1":
    import netguard

    netguard.install()
