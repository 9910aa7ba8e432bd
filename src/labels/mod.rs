//! Active label synthesis: attribute schemas, the label store, heuristics, a CNN, queries.
