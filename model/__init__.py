"""The model core: Python code -> graph -> 978-d features -> GraphSAGE -> four heads, and its checkpoint.

`graph` parses source into a graph of units and edges; `scan` walks the AST into units and
`features` turns each unit into its vector by the table in `layout` (`hashing` serves both);
`engine` runs the network in numpy (what the daemon uses), `network` and `layers` are the same
network in torch (what training uses); `checkpoint` is the file format; `imports` ranks the modules
code needs; `predictor` finds and loads a checkpoint (or the untrained fallback) and answers.
Importing this package imports nothing.
"""
