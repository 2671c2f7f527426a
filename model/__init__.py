"""The model core: Python code -> graph -> 978-d features -> GraphSAGE -> predictions, and its checkpoint.

From source to vectors: `graph` parses source into a graph of units and edges (`project` indexes
the code's own project for imports); `scan` walks the AST into units and `features` turns each unit
into its vector by the table in `layout` (`hashing` serves both); `batch` packs graphs for one
forward pass. The network: `engine` runs it in numpy (what the daemon uses); `network` and `layers`
are the same network in torch (what training uses), with its shape in `config`. Beside it, `sites`
scores every place where a one-token bug can hide: the daemon's bug reports come from there, and
its `confidence` from `confidence`'s scorer of the same form. `imports` ranks the modules code
needs; `checkpoint` is the file format; `predictor` finds and loads a checkpoint (or the untrained
fallback) and answers with `prediction`'s types; `errors` holds its exceptions, `vocabulary` the
head's label lists, and `native` says whether the extractor runs compiled.
Importing this package imports nothing.
"""
