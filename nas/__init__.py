"""nasgraph's search engine: controllers, training, data, dispatch, results, export."""
