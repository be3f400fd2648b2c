"""The book's tooling: what only a maintainer runs, never imported by a notebook.

Chapter sources -> notebooks (:mod:`.sources`), the HTML book (:mod:`.book`), the classroom
build (:mod:`.classroom`), the Dask reproduction grid and its records (:mod:`.reproduce`,
:mod:`.gridrecords`), the results tables (:mod:`.tables`), output regression
(:mod:`.regress`), the platform table (:mod:`.platforms`) and the MXNet hook's installer
(:mod:`.mxnet_hook`). Each is a command: ``python -m d2l_booktools.<module>``; the
Makefile names them. The library a notebook imports is ``d2l_compat``; it never imports
this package.
"""
