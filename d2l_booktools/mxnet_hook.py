"""Installs the MXNet numpy hook (:mod:`d2l_compat.mxnet_hook`) into an environment.

``python -m d2l_booktools.mxnet_hook install`` (run by ``make setup``) writes
``d2l_compat_mxnet_hook.pth`` into site-packages: one line that loads the hook's file by
its path at start-up; ``uninstall`` removes it, ``status`` says whether it is there.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from d2l_compat import mxnet_hook as hook

PTH_NAME = "d2l_compat_mxnet_hook.pth"


def pth_line(hook_file: str | Path = hook.__file__) -> str:
    """The one line of the ``.pth``: load ``hook_file`` if it exists, install the finder."""
    return ("import importlib.util as u, os; "
            f"p = {str(Path(hook_file).resolve())!r}; "
            f"s = os.path.exists(p) and u.spec_from_file_location({hook.HOOK_MODULE!r}, p); "
            "m = s and u.module_from_spec(s); "
            "s and (s.loader.exec_module(m), m.install_finder())\n")


def pth_path(site_dir: str | Path | None = None) -> Path:
    """Where the ``.pth`` goes: ``site_dir``, default this environment's site-packages."""
    return Path(site_dir or sysconfig.get_paths()["purelib"]) / PTH_NAME


def main(argv: list[str] | None = None) -> int:
    """``python -m d2l_booktools.mxnet_hook install|uninstall|status [SITE_DIR]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("install", "uninstall", "status") or len(args) > 2:
        print(main.__doc__, file=sys.stderr)
        return 2
    path = pth_path(args[1] if len(args) > 1 else None)
    if args[0] == "install":
        path.write_text(pth_line())
        print(f"wrote {path}")
    elif args[0] == "uninstall":
        path.unlink(missing_ok=True)
        print(f"removed {path}")
    else:
        print(f"{path}: {'installed' if path.exists() else 'missing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
