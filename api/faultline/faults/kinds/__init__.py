"""One module per fault, each defining `FAULT = FaultSpec(...)`: the catalogue finds them here.

Adding a fault: a module here (its parameter model, its hooks, its spec) and its row in
scenarios/signal-contract.yml. The control API, the console's form, the README's table and the
tests that every fault is exercised and proven all read the catalogue.
"""
