"""An entry point that never returns, with a child process of its own (both must be killed)."""

import os
import subprocess
import sys
import time
from pathlib import Path

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
Path("pids.txt").write_text(f"{os.getpid()} {child.pid}")
print("hanging now", flush=True)
time.sleep(600)
